#!/bin/bash
# The VM's agent, on the second serial port: reads "<id> <base64 script>" lines, runs each with
# bash, answers "<id> <exit code> <base64 stdout> <base64 stderr>". One command at a time.
mount -t tmpfs tmpfs /run
mkdir -p /run/netns /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
# what the lab's kernel needs beyond this host's: IPVS with its schedulers, dummy, br_netfilter,
# ipip (Calico's tunl0: loading it gives every namespace its fallback tunl0)
modprobe -a ip_vs ip_vs_rr ip_vs_wrr ip_vs_lc ip_vs_sh dummy br_netfilter veth vxlan bridge ipip 2>/dev/null
stty -F /dev/ttyS1 raw -echo
exec 3<>/dev/ttyS1
echo "kdl-agent ready $(uname -r)" >&3
while read -r id script <&3; do
  printf '%s' "$script" | base64 -d > /run/kdl-cmd.sh
  bash /run/kdl-cmd.sh > /run/kdl-out 2> /run/kdl-err < /dev/null
  code=$?
  echo "$id $code $(base64 -w0 < /run/kdl-out) $(base64 -w0 < /run/kdl-err)" >&3
done

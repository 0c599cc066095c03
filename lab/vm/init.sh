#!/bin/busybox sh
# The VM's initramfs /init (busybox): loads virtio/9p/overlay, mounts this host's / read-only
# over 9p with a tmpfs overlay on top, the unpacked kernel's modules and the results folder
# (read-write) at their host paths, then hands over to the agent (lab/vm/agent.sh) on the
# host's own userland.
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in $(cat /mods/order); do insmod "/mods/$m" || echo "kdl-init: insmod $m failed"; done
o=trans=virtio,version=9p2000.L,msize=262144
mkdir -p /lower /rw /newroot
mount -t 9p -o "$o,ro,cache=loose" hostroot /lower || echo "kdl-init: 9p root failed"
mount -t tmpfs -o size=70% tmpfs /rw; mkdir -p /rw/up /rw/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/up,workdir=/rw/work /newroot || echo "kdl-init: overlay failed"
V=$(uname -r)
mkdir -p "/newroot/lib/modules/$V" && mount -t 9p -o "$o,ro" modules "/newroot/lib/modules/$V"
for a in $(cat /proc/cmdline); do case $a in kdl.results=*) R=${a#kdl.results=};; kdl.agent=*) A=${a#kdl.agent=};; esac; done
[ -n "$R" ] && mkdir -p "/newroot$R" && mount -t 9p -o "$o" results "/newroot$R"
mount --move /dev /newroot/dev; mount --move /proc /newroot/proc; mount --move /sys /newroot/sys
exec switch_root /newroot /bin/bash "$A"

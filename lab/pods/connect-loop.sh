#!/bin/bash
# count connects (or datagrams) to host:port from inside a namespace, one line per attempt:
#   <socat exit code> TAB <the reply, newlines folded>
# Arguments are checked by the caller (an IPv4 address, a port number, counts).
# usage: connect-loop.sh tcp|udp HOST PORT COUNT TIMEOUT_S
proto=$1 host=$2 port=$3 count=$4 t=$5
for ((i = 0; i < count; i++)); do
  if [ "$proto" = udp ]; then
    # bash's own connected UDP socket: send one datagram, read the one reply with a single
    # read(2) (dd count=1; bash's read would take one byte of it; socat would wait out its
    # half-close timeout after every reply)
    out=$({ exec 3<>"/dev/udp/$host/$port" && printf 'probe\n' >&3 && timeout "$t" dd bs=65536 count=1 status=none <&3; } 2>&1)
  else
    # -t: after its own EOF (stdin is empty) socat waits only 0.5 s for the answer by default,
    # which a loaded machine (the VM guest under TCG) can miss: exit 0 and no reply
    out=$(socat -T "$t" -t "$t" - "TCP:$host:$port,connect-timeout=$t" </dev/null 2>&1)
  fi
  code=$?
  printf '%s\t%s\n' "$code" "${out//$'\n'/ }"
done

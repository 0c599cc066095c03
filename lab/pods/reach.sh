#!/bin/bash
# One attempt at each of many (protocol, host, port) targets from inside one namespace, up to
# MAX at once, one line per target as it finishes:
#   <index> TAB <exit code> TAB <the reply, newlines folded>
# The same attempt as connect-loop.sh's (socat for TCP, bash's UDP socket and one read for UDP);
# one process per source instead of one per pair keeps a 27 x 27 table cheap on a small machine.
# Arguments are checked by the caller (IPv4 addresses, port numbers, counts).
# usage: reach.sh TIMEOUT_S MAX proto:host:port ...
t=$1 max=$2
shift 2
one() {
  local i=$1 proto=$2 host=$3 port=$4 out code
  if [ "$proto" = udp ]; then
    out=$({ exec 3<>"/dev/udp/$host/$port" && printf 'probe\n' >&3 && timeout "$t" dd bs=65536 count=1 status=none <&3; } 2>&1)
  else
    out=$(socat -T "$t" -t "$t" - "TCP:$host:$port,connect-timeout=$t" </dev/null 2>&1)
  fi
  code=$?
  # one printf per line: lines of parallel jobs do not interleave (a pipe write under PIPE_BUF is atomic)
  printf '%s\t%s\t%s\n' "$i" "$code" "${out//$'\n'/ }"
}
i=0 running=0
for target in "$@"; do
  IFS=: read -r proto host port <<<"$target"
  one "$i" "$proto" "$host" "$port" &
  i=$((i + 1)) running=$((running + 1))
  if [ "$running" -ge "$max" ]; then
    wait -n
    running=$((running - 1))
  fi
done
wait

#!/bin/bash
# A pod's listener answers one connection (or datagram) with who served it and who asked, as
# this pod saw it: socat sets SOCAT_PEERADDR/PEERPORT (the client after any NAT on the way)
# and SOCAT_SOCKADDR/SOCKPORT (the address really connected to, after DNAT; for UDP the
# ip-pktinfo option gives SOCAT_IP_DSTADDR and the port comes from KDL_PORT).
# A request line starting with GET/HEAD gets the same text as an HTTP/1.0 response (curl, wget).
reply="pod=${KDL_POD} node=${KDL_NODE} peer=${SOCAT_PEERADDR}:${SOCAT_PEERPORT} local=${SOCAT_SOCKADDR:-$SOCAT_IP_DSTADDR}:${SOCAT_SOCKPORT:-$KDL_PORT} proto=${KDL_PROTO}"
if [ "$KDL_PROTO" = udp ]; then
  # take the datagram first (one read): exiting before socat has written it to us makes its
  # write fail (EPIPE), and socat then drops the reply
  dd bs=65536 count=1 status=none >/dev/null
  printf '%s\n' "$reply"
  exit 0
fi
IFS= read -r -t 2 first || true
case "$first" in
  GET\ * | HEAD\ *)
    # read the headers, so closing does not reset a connection that still has unread data
    while IFS= read -r -t 2 line && [ -n "${line%$'\r'}" ]; do :; done
    printf 'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s\n' $((${#reply} + 1)) "$reply"
    ;;
  *) printf '%s\n' "$reply" ;;
esac

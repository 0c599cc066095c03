#!/bin/bash
# kube-proxy's health check server for one service on one node, as its hcHandler answers
# (pkg/proxy/healthcheck/service_health.go): 200 when the node has local ready endpoints of the
# service, else 503; a JSON body naming the service with the count, the count again in
# X-Load-Balancing-Endpoint-Weight. The state is read per request from $KDL_HC_FILE
# ("<namespace> <name> <count>"), so `lab apply` re-feeds it by rewriting the file; without the
# file (the service's health check port went away, its listener being stopped) the connection
# closes unanswered.
IFS= read -r -t 2 _ || true
# read the headers, so closing does not reset a connection that still has unread data
while IFS= read -r -t 2 line && [ -n "${line%$'\r'}" ]; do :; done
[ -r "$KDL_HC_FILE" ] || exit 0
read -r ns name count <"$KDL_HC_FILE"
if [ "$count" -gt 0 ]; then status='200 OK'; else status='503 Service Unavailable'; fi
body=$(printf '{\n\t"service": {\n\t\t"namespace": "%s",\n\t\t"name": "%s"\n\t},\n\t"localEndpoints": %d,\n\t"serviceProxyHealthy": true\n}' "$ns" "$name" "$count")
printf 'HTTP/1.1 %s\r\nContent-Type: application/json\r\nX-Content-Type-Options: nosniff\r\nX-Load-Balancing-Endpoint-Weight: %d\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
  "$status" "$count" "${#body}" "$body"

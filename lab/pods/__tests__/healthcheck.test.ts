import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTopologyText } from '../../topology/resolve';
import { HEALTHCHECK_SCRIPT, healthCheckDaemon, healthCheckState, planHealthChecks } from '../healthcheck';

// kube-proxy's health check server, planned: one listener per node and healthCheckNodePort,
// counting the node's ready endpoints as LocalReadyEndpoints does (distinct IPs over all the
// service's ports; terminating ones do not count); and the script's answer, byte for byte.

const topo = loadTopologyText(
  `
name: hc
nodes: [{ name: a }, { name: b }, { name: c }]
pods:
  - { name: p1, node: a, labels: { app: x }, ports: [{ port: 80, name: http }, { port: 443, name: https }] }
  - { name: p2, node: a, labels: { app: x }, ports: [{ port: 80, name: http }, { port: 443, name: https }] }
  - { name: p3, node: b, labels: { app: x }, ports: [{ port: 80, name: http }, { port: 443, name: https }], conditions: { terminating: true } }
services:
  - name: lb
    type: LoadBalancer
    externalTrafficPolicy: Local
    healthCheckNodePort: 31000
    selector: { app: x }
    ports: [{ name: http, port: 80 }, { name: https, port: 443 }]
  - { name: cluster, type: LoadBalancer, selector: { app: x }, ports: [{ port: 80 }] }
`,
  'hc.yaml',
);

test('one per node for each service with a healthCheckNodePort; the count is distinct ready endpoint IPs', () => {
  expect(planHealthChecks(topo).map((h) => [h.node, h.ns, h.port, h.localEndpoints])).toEqual([
    ['a', 'kdl.hc.a', 31000, 2],
    ['b', 'kdl.hc.b', 31000, 0], // p3 is terminating: still serving, but the check fails
    ['c', 'kdl.hc.c', 31000, 0],
  ]);
  const [first] = planHealthChecks(topo);
  expect(healthCheckState(first!)).toBe('default lb 2\n');
  expect(healthCheckDaemon(first!, '/run/x/a.31000')).toEqual({
    ns: 'kdl.hc.a',
    argv: ['socat', '-t', '5', 'TCP-LISTEN:31000,reuseaddr,fork', `EXEC:${HEALTHCHECK_SCRIPT}`],
    env: { KDL_HC_FILE: '/run/x/a.31000' },
    ready: { port: 31000, protocol: 'TCP' },
  });
});

test("the script answers as kube-proxy's hcHandler: 200 or 503, the weight header, the JSON body", () => {
  const dir = mkdtempSync(join(tmpdir(), 'kdl-hc-'));
  const answer = (state: string) => {
    writeFileSync(join(dir, 'state'), state);
    return execFileSync(HEALTHCHECK_SCRIPT, {
      input: 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n',
      env: { KDL_HC_FILE: join(dir, 'state') },
    }).toString();
  };
  const body = (n: number) =>
    `{\n\t"service": {\n\t\t"namespace": "ns1",\n\t\t"name": "svc"\n\t},\n\t"localEndpoints": ${n},\n\t"serviceProxyHealthy": true\n}`;
  expect(answer('ns1 svc 2\n')).toBe(
    `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Content-Type-Options: nosniff\r\nX-Load-Balancing-Endpoint-Weight: 2\r\nContent-Length: ${body(2).length}\r\nConnection: close\r\n\r\n${body(2)}`,
  );
  expect(answer('ns1 svc 0\n')).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n[^]*Weight: 0\r\n[^]*"localEndpoints": 0,/);
  expect(execFileSync(HEALTHCHECK_SCRIPT, { input: 'GET / HTTP/1.1\r\n\r\n', env: { KDL_HC_FILE: join(dir, 'gone') } }).toString()).toBe(
    '',
  );
});

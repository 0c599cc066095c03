import { labNamespace, segmentBridgeName } from '../../model/kernel-names';
import { connect } from '../../probe/connect';
import { LB_ROUTE_PROTO } from '../../proxy/lb-routes';
import { describeKernel, host, nsRun, rt } from '../../testing/kernel';
import { uniqueLabName } from '../../testing/names';
import { loadTopologyText } from '../../topology/resolve';
import type { ProxyMode } from '../../topology/types';
import { existsSync } from 'node:fs';
import { healthCheckDir, healthCheckFile } from '../../state/healthcheck';
import { waitFor } from '../../testing/wait';
import { apply } from '../apply';
import { down } from '../down';
import { up } from '../up';

// LoadBalancer and external IPs on the real kernel, reached from @lab (the client outside the
// cluster) through the routes `up` gives it (lab/proxy/lb-routes.ts: a passthrough cloud load
// balancer, one node per address). A second address on @lab's side of the underlay is the
// source loadBalancerSourceRanges leaves out.

const LB = '198.51.100.1'; // the pool's first address: ETP Cluster, source ranges: @lab's gateway only
const LOCAL = '198.51.100.20'; // status.loadBalancer.ingress, ETP Local, one endpoint (loc-1 on node2)
const EXTERNAL = '203.0.113.10'; // a ClusterIP service's external IP
const NODE1 = '192.168.205.4';
const NODE2 = '192.168.205.3';
const GATEWAY = '192.168.205.1'; // @lab's address on the underlay: inside the source ranges
const OUTSIDER = '192.168.205.254'; // a second address of @lab's: outside them
const HC_PORT = 32100; // lb-local's healthCheckNodePort

/** kube-proxy's health check answer of a node, as a load balancer's HTTP check gets it. */
async function healthCheck(lab: string, node: string): Promise<{ status: number; weight: string; body: unknown }> {
  const out = await nsRun(labNamespace(lab), ['curl', '-s', '-i', '--max-time', '3', `http://${node}:${HC_PORT}/healthz`]);
  const [head = '', body = ''] = out.split('\r\n\r\n');
  return {
    status: Number(/^HTTP\/1\.1 (\d+)/.exec(head)?.[1]),
    weight: /X-Load-Balancing-Endpoint-Weight: (\S+)/.exec(head)?.[1] ?? '',
    body: JSON.parse(body) as unknown,
  };
}
const hcBody = (count: number) => ({
  service: { namespace: 'default', name: 'lb-local' },
  localEndpoints: count,
  serviceProxyHealthy: true,
});

const topologyYaml = (lab: string, mode: ProxyMode) => `
name: ${lab}
cluster: { podCIDR: 10.42.0.0/16, serviceCIDR: 10.43.0.0/16, underlay: 192.168.205.0/24, loadBalancerPool: 198.51.100.0/28 }
proxy: { mode: ${mode} }
nodes:
  - { name: node1, ip: ${NODE1}, podSubnet: 10.42.0.0/24 }
  - { name: node2, ip: ${NODE2}, podSubnet: 10.42.1.0/24 }
pods:
  - { name: web-1, node: node2, ip: 10.42.1.10, labels: { app: web }, ports: [80] }
  - { name: loc-1, node: node2, ip: 10.42.1.80, labels: { app: loc }, ports: [80] }
services:
  - { name: lb, type: LoadBalancer, selector: { app: web }, ports: [{ port: 80 }], loadBalancerSourceRanges: [${GATEWAY}/32] }
  - name: lb-local
    type: LoadBalancer
    externalTrafficPolicy: Local
    selector: { app: loc }
    ports: [{ port: 80 }]
    status: { loadBalancer: { ingress: [{ ip: ${LOCAL} }] } }
    healthCheckNodePort: ${HC_PORT}
  - { name: ext, externalIPs: [${EXTERNAL}], selector: { app: web }, ports: [{ port: 80 }] }
`;

/** One TCP connection from @lab bound to `source`: the pod's reply (pod=…, peer=…), or '' when nothing answered. */
async function fromLab(lab: string, source: string, ip: string): Promise<string> {
  const out = await nsRun(labNamespace(lab), ['socat', '-T', '2', '-t', '2', '-', `TCP:${ip}:80,bind=${source},connect-timeout=2`], false);
  return out.trim();
}

describe.each<[ProxyMode]>([['iptables'], ['nftables']])('LoadBalancer and external IPs in %s mode', (mode) => {
  const lab = uniqueLabName(`lb-${mode.slice(0, 3)}`);
  const topo = loadTopologyText(topologyYaml(lab, mode), `${lab}.yaml`);

  describeKernel(`${mode} mode on the real kernel`, () => {
    beforeAll(async () => {
      await up(topo, rt);
      // the source outside loadBalancerSourceRanges: a second address on @lab's underlay bridge
      await nsRun(labNamespace(lab), ['ip', 'addr', 'add', `${OUTSIDER}/32`, 'dev', segmentBridgeName(0)]);
    }, 60_000);
    afterAll(async () => {
      await down(rt, lab);
    });

    test('@lab has a route per LoadBalancer and external IP: ETP Cluster via the first node, ETP Local via the node with the endpoint', async () => {
      const routes = await nsRun(labNamespace(lab), ['ip', 'route', 'show', 'proto', String(LB_ROUTE_PROTO)]);
      expect(
        routes
          .trim()
          .split('\n')
          .map((l) => l.trim())
          .sort(),
      ).toEqual(
        [`${EXTERNAL} via ${NODE1} dev underlay0`, `${LB} via ${NODE1} dev underlay0`, `${LOCAL} via ${NODE2} dev underlay0`].sort(),
      );
    });

    test('a LoadBalancer IP from the pool is reachable from @lab (ETP Cluster: masqueraded, the endpoint is on node2)', async () => {
      const r = await connect(rt, labNamespace(lab), LB, 80, { count: 6 });
      expect(r.failed).toBe(0);
      expect(r.byPod).toEqual({ 'web-1': 6 });
      // node1 masqueraded it towards node2's pod network (flannel.1: 10.42.0.0)
      expect(new Set(r.attempts.map((a) => a.peer?.split(':')[0]))).toEqual(new Set(['10.42.0.0']));
    });

    test('a source outside loadBalancerSourceRanges is dropped; the same source reaches a LoadBalancer without ranges', async () => {
      expect(await fromLab(lab, GATEWAY, LB)).toMatch(/pod=web-1/);
      expect(await fromLab(lab, OUTSIDER, LB)).toBe('');
      expect(await fromLab(lab, OUTSIDER, LOCAL)).toMatch(new RegExp(`pod=loc-1 .*peer=${OUTSIDER.replaceAll('.', '\\.')}:`));
    });

    test('externalTrafficPolicy Local on a LoadBalancer IP: the endpoint sees the client itself', async () => {
      const r = await connect(rt, labNamespace(lab), LOCAL, 80, { count: 6 });
      expect(r.failed).toBe(0);
      expect(r.byPod).toEqual({ 'loc-1': 6 });
      expect(new Set(r.attempts.map((a) => a.peer?.split(':')[0]))).toEqual(new Set([GATEWAY]));
    });

    test('an external IP is reachable from @lab', async () => {
      const r = await connect(rt, labNamespace(lab), EXTERNAL, 80, { count: 4 });
      expect(r.failed).toBe(0);
      expect(r.byPod).toEqual({ 'web-1': 4 });
    });

    test('externalTrafficPolicy Local: a load balancer sending to node1 (no local endpoint) is dropped there', async () => {
      const ns = labNamespace(lab);
      await nsRun(ns, ['ip', 'route', 'replace', `${LOCAL}/32`, 'via', NODE1, 'proto', String(LB_ROUTE_PROTO)]);
      try {
        const r = await connect(rt, ns, LOCAL, 80, { count: 2, timeoutS: 1 });
        expect(r.failed).toBe(2);
        expect(r.attempts.every((a) => !/refused/i.test(a.error ?? ''))).toBe(true);
      } finally {
        await nsRun(ns, ['ip', 'route', 'replace', `${LOCAL}/32`, 'via', NODE2, 'proto', String(LB_ROUTE_PROTO)]);
      }
    });

    test('the health check node port: 200 with the local endpoint count on node2, 503 on node1 (none there)', async () => {
      expect(await healthCheck(lab, NODE2)).toEqual({ status: 200, weight: '1', body: hcBody(1) });
      expect(await healthCheck(lab, NODE1)).toEqual({ status: 503, weight: '0', body: hcBody(0) });
    });

    test('apply re-feeds it: an endpoint added on node1 makes node1 answer 200; ETP Cluster stops the servers, Local starts them again', async () => {
      const withLoc2 = topologyYaml(lab, mode).replace(
        'pods:\n',
        'pods:\n  - { name: loc-2, node: node1, ip: 10.42.0.81, labels: { app: loc }, ports: [80] }\n',
      );
      await apply(loadTopologyText(withLoc2, `${lab}.yaml`), rt);
      expect(await healthCheck(lab, NODE1)).toEqual({ status: 200, weight: '1', body: hcBody(1) });
      expect(await healthCheck(lab, NODE2)).toEqual({ status: 200, weight: '1', body: hcBody(1) });
      const listeners = async () => (await host.run(['pgrep', '-f', `TCP-LISTEN:${HC_PORT},`], { check: false })).stdout.trim();
      expect((await listeners()).split('\n')).toHaveLength(2); // one per node
      // ETP Cluster: the apiserver drops the health check node port, kube-proxy closes its server
      const cluster = withLoc2.replace('    externalTrafficPolicy: Local\n', '').replace(`    healthCheckNodePort: ${HC_PORT}\n`, '');
      await apply(loadTopologyText(cluster, `${lab}.yaml`), rt);
      await waitFor(async () => (await listeners()) === '', { timeoutMs: 5_000, what: 'the health check listeners to stop' });
      const refused = await nsRun(labNamespace(lab), ['curl', '-s', '--max-time', '3', `http://${NODE2}:${HC_PORT}/healthz`], false);
      expect(refused).toBe('');
      expect(existsSync(healthCheckFile(lab, 'node1', HC_PORT))).toBe(false);
      // back to Local: listening again on both nodes, answering from the current counts
      await apply(loadTopologyText(withLoc2, `${lab}.yaml`), rt);
      expect(await healthCheck(lab, NODE1)).toEqual({ status: 200, weight: '1', body: hcBody(1) });
      expect(await healthCheck(lab, NODE2)).toEqual({ status: 200, weight: '1', body: hcBody(1) });
      await down(rt, lab);
      expect(existsSync(healthCheckDir(lab))).toBe(false);
      // no listener of this lab's health check port outlives it (only this lab uses the port here)
      expect(await listeners()).toBe('');
    }, 60_000);
  });
});

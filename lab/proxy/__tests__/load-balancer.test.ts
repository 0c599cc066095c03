import { InputError } from '../../errors';
import { lbRoutes, lbRouteStep } from '../lb-routes';
import { loadTopologyText } from '../../topology/resolve';

// type: LoadBalancer, externalIPs and their fields as the topology takes them (the apiserver's
// rules), the pool allocation, and @lab's routes to the addresses.

// (dns: false: the services listed are the test's own)
const lab = (services: string, cluster = '') => `
name: t
cluster: { underlay: 192.168.205.0/24, dns: false${cluster} }
nodes:
  - { name: a, ip: 192.168.205.2 }
  - { name: b, ip: 192.168.205.3 }
pods:
  - { name: p, node: b, labels: { app: p }, ports: [80] }
services:
${services}
`;
const load = (text: string) => loadTopologyText(text, 'lb.yaml');
function issues(text: string): string[] {
  try {
    load(text);
  } catch (e) {
    if (e instanceof InputError) return e.issues.map((i) => `${i.path}: ${i.message}`);
    throw e;
  }
  throw new Error('expected an InputError');
}

describe('LoadBalancer services in the topology', () => {
  test('ingress IPs as given, else loadBalancerIP, else the pool from its first address; none: pending', () => {
    const t = load(
      lab(
        [
          '  - { name: given, type: LoadBalancer, selector: { app: p }, ports: [{ port: 80 }], status: { loadBalancer: { ingress: [{ ip: 198.51.100.1 }, { ip: 198.51.100.9 }] } } }',
          '  - { name: asked, type: LoadBalancer, selector: { app: p }, ports: [{ port: 80 }], loadBalancerIP: 198.51.100.2 }',
          '  - { name: pooled, type: LoadBalancer, selector: { app: p }, ports: [{ port: 80 }] }',
          '  - { name: pooled2, type: LoadBalancer, selector: { app: p }, ports: [{ port: 80 }] }',
        ].join('\n'),
        ', loadBalancerPool: 198.51.100.0/29',
      ),
    );
    expect(t.services.map((s) => s.loadBalancerIPs)).toEqual([
      ['198.51.100.1', '198.51.100.9'],
      ['198.51.100.2'],
      ['198.51.100.3'],
      ['198.51.100.4'],
    ]);
    const pending = load(lab('  - { name: x, type: LoadBalancer, selector: { app: p }, ports: [{ port: 80 }] }'));
    expect(pending.services[0]!.loadBalancerIPs).toBeUndefined();
  });

  test('node ports for a LoadBalancer unless allocateLoadBalancerNodePorts: false; healthCheckNodePort for ETP Local', () => {
    const t = load(
      lab(
        [
          '  - { name: np, type: LoadBalancer, externalTrafficPolicy: Local, selector: { app: p }, ports: [{ port: 80 }] }',
          '  - { name: nonp, type: LoadBalancer, allocateLoadBalancerNodePorts: false, selector: { app: p }, ports: [{ port: 80 }] }',
          '  - { name: hc, type: LoadBalancer, externalTrafficPolicy: Local, healthCheckNodePort: 31000, selector: { app: p }, ports: [{ port: 80 }] }',
        ].join('\n'),
      ),
    );
    expect(t.services.map((s) => [s.ports[0]!.nodePort, s.healthCheckNodePort])).toEqual([
      [30000, 30002],
      [undefined, undefined],
      [30001, 31000],
    ]);
  });

  test("the apiserver's refusals, each naming its field", () => {
    expect(
      issues(
        lab(
          [
            '  - { name: a, selector: { app: p }, ports: [{ port: 80 }], loadBalancerSourceRanges: [10.0.0.0/8] }',
            '  - { name: b, type: LoadBalancer, healthCheckNodePort: 31000, selector: { app: p }, ports: [{ port: 80 }] }',
            '  - { name: c, externalTrafficPolicy: Local, selector: { app: p }, ports: [{ port: 80 }] }',
            '  - { name: d, type: LoadBalancer, selector: { app: p }, ports: [{ port: 80, nodePort: 30005 }], healthCheckNodePort: 30005, externalTrafficPolicy: Local }',
            '  - { name: e, externalIPs: [300.1.1.1], selector: { app: p }, ports: [{ port: 80 }] }',
          ].join('\n'),
        ),
      ),
    ).toEqual([
      'services[0].loadBalancerSourceRanges: loadBalancerSourceRanges is only for type LoadBalancer (this service is ClusterIP)',
      'services[1].healthCheckNodePort: healthCheckNodePort needs externalTrafficPolicy: Local',
      'services[2].externalTrafficPolicy: externalTrafficPolicy: Local needs type NodePort or LoadBalancer, or externalIPs (a ClusterIP service has no external traffic)',
      'services[3].healthCheckNodePort: nodePort 30005 is taken (also services[3].ports[0].nodePort at line 13)',
      'services[4].externalIPs[0]: 300.1.1.1 is not a valid IPv4 address',
    ]);
  });

  test('an exhausted pool is an error naming the service', () => {
    const svc = (n: string) => `  - { name: ${n}, type: LoadBalancer, selector: { app: p }, ports: [{ port: 80 }] }`;
    expect(issues(lab([svc('a'), svc('b'), svc('c')].join('\n'), ', loadBalancerPool: 198.51.100.0/30'))).toEqual([
      'services[2]: no free LoadBalancer IP left in cluster.loadBalancerPool 198.51.100.0/30',
    ]);
  });
});

describe("@lab's routes to LoadBalancer and external IPs", () => {
  const t = load(
    lab(
      [
        '  - { name: c, type: LoadBalancer, selector: { app: p }, ports: [{ port: 80 }], loadBalancerIP: 198.51.100.1, externalIPs: [203.0.113.5] }',
        '  - { name: l, type: LoadBalancer, externalTrafficPolicy: Local, selector: { app: p }, ports: [{ port: 80 }], loadBalancerIP: 198.51.100.2 }',
        '  - { name: none, type: LoadBalancer, externalTrafficPolicy: Local, selector: { app: nothing }, ports: [{ port: 80 }], loadBalancerIP: 198.51.100.3 }',
      ].join('\n'),
    ),
  );

  test('ETP Cluster: via the first node; ETP Local: via the first node with a local endpoint, else the first node', () => {
    expect(lbRoutes(t).map((r) => `${r.ip} ${r.node} ${r.kind}`)).toEqual([
      '198.51.100.1 a loadBalancer',
      '203.0.113.5 a external',
      '198.51.100.2 b loadBalancer',
      '198.51.100.3 a loadBalancer',
    ]);
  });

  test("one ip -batch in @lab: flush the lab's own routes (proto 99), then replace each", () => {
    expect(lbRouteStep(t)).toEqual({
      ns: 'kdl.t',
      tool: 'ip',
      lines: [
        'route flush proto 99',
        'route replace 198.51.100.1/32 via 192.168.205.2 proto 99',
        'route replace 203.0.113.5/32 via 192.168.205.2 proto 99',
        'route replace 198.51.100.2/32 via 192.168.205.3 proto 99',
        'route replace 198.51.100.3/32 via 192.168.205.2 proto 99',
      ],
    });
    const plain = load(lab('  - { name: s, selector: { app: p }, ports: [{ port: 80 }] }'));
    expect(lbRouteStep(plain)).toBeUndefined();
    // the last LoadBalancer gone: a re-sync still flushes its route
    expect(lbRouteStep(plain, t)?.lines).toEqual(['route flush proto 99']);
  });
});

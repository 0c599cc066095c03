import { loadTopologyText } from '../../topology/resolve';
import { expectedWalk } from '../../trace/path';
import { policyVerdict } from '../verdict';

// The verdict computed from the policies, and the expected walk ending where the packet is dropped.

const yaml = (...lines: string[]) => lines.join('\n') + '\n';
const topo = loadTopologyText(
  yaml(
    'name: np',
    'nodes: [{ name: n1 }, { name: n2 }]',
    'namespaces: [{ name: x, labels: { ns: x } }, { name: y, labels: { ns: y } }]',
    'pods:',
    '  - { name: a, node: n1, namespace: x, labels: { pod: a }, ports: [80, { port: 81, name: serve-81-tcp }] }',
    '  - { name: b, node: n1, namespace: y, labels: { pod: b }, ports: [80] }',
    '  - { name: c, node: n2, namespace: y, labels: { pod: c }, ports: [80] }',
    'networkPolicies:',
    '  - { name: deny-all, namespace: x, podSelector: {} }',
    '  - name: allow-b',
    '    namespace: x',
    '    podSelector: {}',
    '    ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { pod: b } } }], ports: [{ port: serve-81-tcp }] }]',
    '  - { name: no-egress, namespace: y, podSelector: { matchLabels: { pod: c } }, policyTypes: [Egress] }',
  ),
  'topo.yaml',
);
const pod = (n: string) => topo.pods.find((p) => p.name === n)!;

describe('policy verdicts', () => {
  it('allows what a rule allows (named port of the destination), drops the rest in the right chain', () => {
    const v = (src: string, dst: string, port: number) =>
      policyVerdict(topo, { srcIp: pod(src).ip, srcPod: pod(src), dstPod: pod(dst), port, protocol: 'TCP' });
    expect(v('y/b', 'x/a', 81)).toEqual({ allowed: true });
    expect(v('y/b', 'x/a', 80)).toEqual({
      allowed: false,
      direction: 'ingress',
      node: 'n1',
      pod: 'x/a',
      comment: 'x/a: no ingress rule of x/deny-all, x/allow-b allows it',
    });
    expect(v('y/c', 'y/b', 80)).toMatchObject({ allowed: false, direction: 'egress', node: 'n2', pod: 'y/c' });
    expect(v('x/a', 'y/b', 80)).toEqual({ allowed: true });
    // the node itself (kubelet) passes
    expect(policyVerdict(topo, { srcIp: topo.nodes[0]!.cni0!, dstPod: pod('x/a'), port: 80, protocol: 'TCP' })).toEqual({ allowed: true });
  });

  it("ends the expected walk at the drop: before the pod's port (ingress), after the port it came in by (egress)", () => {
    const walk = (src: string, dst: string) =>
      expectedWalk(
        topo,
        { kind: 'pod', pod: pod(src) },
        { kind: 'pod', pod: pod(dst) },
        { protocol: 'tcp', dstport: 80 },
        { bridgeNetfilter: true },
      );
    const denied = walk('y/c', 'x/a');
    expect(denied.hops.map((h) => h.point)).toEqual(['y/c:eth0', 'n2:cni0']);
    expect(denied.denied).toMatchObject({ node: 'n2', direction: 'egress' });
    const ingress = expectedWalk(
      topo,
      { kind: 'node', node: topo.nodes[1]! },
      { kind: 'pod', pod: pod('x/a') },
      { protocol: 'tcp', dstport: 80 },
      { bridgeNetfilter: true },
    );
    expect(ingress.hops.map((h) => h.point)).toEqual(['n2:flannel.1', 'n2:eth0', 'n1:eth0', 'n1:flannel.1']);
    expect(ingress.denied).toMatchObject({ node: 'n1', direction: 'ingress', pod: 'x/a' });
    expect(walk('y/b', 'x/a').denied).toMatchObject({ node: 'n1', direction: 'ingress' });
    // same node, bridged: dropped between b's bridge port and a's (the bridge's forward hook, br_netfilter)
    expect(walk('y/b', 'x/a').hops.map((h) => h.point)).toEqual(['y/b:eth0', expect.stringMatching(/^n1:veth/)]);
  });
});

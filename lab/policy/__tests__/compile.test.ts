import { join } from 'node:path';
import { expectGoldenFile } from '../../testing/golden';
import { loadTopologyText } from '../../topology/resolve';
import { compilePolicies, podPolicies } from '../compile';
import { planPolicy } from '../plan';

// The compiled tables, golden: review a diff as a policy agent's rules would be reviewed.

const yaml = (...lines: string[]) => lines.join('\n') + '\n';
const model = yaml(
  'name: np',
  'cluster: { dns: false }', // the compiler's cases, without the lab's kube-system pods
  'nodes: [{ name: n1 }, { name: n2 }]',
  'namespaces: [{ name: x, labels: { ns: x } }, { name: y, labels: { ns: y } }]',
  'pods:',
  '  - { name: a, node: n1, namespace: x, labels: { pod: a }, ports: [80, { port: 81, name: serve-81-tcp }, { port: 53, protocol: UDP, name: dns }] }',
  '  - { name: b, node: n1, namespace: y, labels: { pod: b }, ports: [80, { port: 8081, name: serve-81-tcp }] }',
  '  - { name: c, node: n2, namespace: y, labels: { pod: c, tier: db }, ports: [80, { port: 9081, name: serve-81-tcp }] }',
);
const topo = (policies: string[]) =>
  loadTopologyText(model + (policies.length ? 'networkPolicies:\n' + policies.join('') : ''), 'topo.yaml');

const denyAllX = yaml('  - { name: deny-all, namespace: x, podSelector: {} }');
const allowY = yaml(
  '  - name: allow-y',
  '    namespace: x',
  '    podSelector: { matchLabels: { pod: a } }',
  '    ingress:',
  '      - from: [{ namespaceSelector: { matchLabels: { ns: y } }, podSelector: { matchExpressions: [{ key: pod, operator: In, values: [b, c] }] } }]',
  '        ports: [{ port: serve-81-tcp }, { port: 80 }, { port: 8000, endPort: 8010 }]',
  '      - from: [{ ipBlock: { cidr: 192.168.205.0/24, except: [192.168.205.1/32] } }]',
);
const egressY = yaml(
  '  - name: egress-dns-and-81',
  '    namespace: y',
  '    podSelector: {}',
  '    policyTypes: [Egress]',
  '    egress:',
  '      - ports: [{ protocol: UDP, port: 53 }]',
  '      - to: [{ namespaceSelector: {} }]',
  '        ports: [{ port: serve-81-tcp }]',
);

describe('the NetworkPolicy compiler', () => {
  const t = topo([denyAllX, allowY, egressY]);

  it('knows which policies isolate each pod, per direction', () => {
    expect(podPolicies(t).map((p) => [p.pod, p.ingress, p.egress])).toEqual([
      ['x/a', ['x/deny-all', 'x/allow-y'], []],
      ['y/b', [], ['y/egress-dns-and-81']],
      ['y/c', [], ['y/egress-dns-and-81']],
    ]);
  });

  it('compiles one table per node (golden)', () => {
    for (const r of compilePolicies(t)) expectGoldenFile(join(__dirname, 'golden', `${r.node}.nft`), r.text);
  });

  it('plans no step for a lab without policies, and re-syncs only the nodes whose table changed', () => {
    expect(planPolicy(topo([]))).toEqual([]);
    const before = topo([denyAllX]);
    // a policy for y's pods changes n1 (y/b) and n2 (y/c); one for x only changes n1
    expect(planPolicy(t, { previous: topo([denyAllX, allowY]) })[0]!.steps.map((s) => s.ns)).toEqual(['kdl.np.n1', 'kdl.np.n2']);
    expect(planPolicy(topo([denyAllX, allowY]), { previous: before })[0]!.steps.map((s) => s.ns)).toEqual(['kdl.np.n1']);
    expect(planPolicy(before, { previous: before })).toEqual([]);
    // a pod's labels changed, a pod added that a selector matches: the sets on other nodes change too
    const relabelled = loadTopologyText(
      model.replace('labels: { pod: c, tier: db }', 'labels: { pod: z }') + 'networkPolicies:\n' + allowY,
      'topo.yaml',
    );
    const r = planPolicy(relabelled, { previous: topo([allowY]) });
    // c (on n2) leaves the set of x/a's chain on n1
    expect(r[0]!.steps.map((s) => s.ns)).toEqual(['kdl.np.n1']);
    expect(r[0]!.steps[0]!.lines).toContain('\t\telements = { 10.42.0.3 }');
    const added = loadTopologyText(
      model + '  - { name: d, node: n2, namespace: y, labels: { pod: b }, ports: [80] }\n' + 'networkPolicies:\n' + allowY + egressY,
      'topo.yaml',
    );
    const a = planPolicy(added, { previous: topo([allowY, egressY]) });
    expect(a[0]!.steps.map((s) => s.ns)).toEqual(['kdl.np.n1', 'kdl.np.n2']);
    expect(a[0]!.steps[0]!.lines.join('\n')).toContain('10.42.1.3');
    // the last policy gone: the table goes
    expect(planPolicy(topo([]), { previous: before })[0]!.steps.map((s) => s.lines)).toEqual([
      ['table ip kube-network-policies', 'delete table ip kube-network-policies'],
      ['table ip kube-network-policies', 'delete table ip kube-network-policies'],
    ]);
  });
});

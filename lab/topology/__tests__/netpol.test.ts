import { topologyIssues as issues } from '../../testing/topology-issues';
import { selects } from '../netpol';
import { loadTopologyText } from '../resolve';

// networkPolicies: the API server's defaults and validation, every problem with file:line:col.

const yaml = (...lines: string[]) => lines.join('\n') + '\n';
const base = yaml('name: np', 'nodes: [{ name: n1 }]', 'namespaces: [{ name: x, labels: { ns: x } }]', 'networkPolicies:');

describe('networkPolicies', () => {
  it('defaults as the API server: namespace default, policyTypes Ingress (+ Egress with egress rules)', () => {
    const t = loadTopologyText(
      base +
        yaml(
          '  - { name: a, podSelector: {} }',
          '  - { name: b, namespace: x, podSelector: {}, egress: [{}] }',
          '  - { name: c, namespace: x, podSelector: {}, egress: [] }',
          '  - { name: d, namespace: z, podSelector: {}, policyTypes: [Egress], ingress: [{}] }',
        ),
      'topo.yaml',
    );
    expect(t.networkPolicies.map((p) => [`${p.namespace}/${p.name}`, p.policyTypes])).toEqual([
      ['default/a', ['Ingress']],
      ['x/b', ['Ingress', 'Egress']],
      ['x/c', ['Ingress']],
      ['z/d', ['Egress']],
    ]);
    expect(t.networkPolicies[1]!.egress).toEqual([{ peers: [], ports: [] }]);
    // a policy's namespace exists in the lab, labelled as the API server labels it
    expect(t.namespaces.find((n) => n.name === 'z')?.labels).toEqual({ 'kubernetes.io/metadata.name': 'z' });
  });

  it('keeps peers and ports, and canonicalises an ipBlock with host bits set', () => {
    const t = loadTopologyText(
      base +
        yaml(
          '  - name: p',
          '    podSelector: { matchLabels: { pod: a } }',
          '    ingress:',
          '      - from:',
          '          - { podSelector: { matchLabels: { pod: b } }, namespaceSelector: { matchLabels: { ns: y } } }',
          '          - ipBlock: { cidr: 192.168.205.7/24, except: [192.168.205.1/32] }',
          '        ports: [{ protocol: UDP, port: 53 }, { port: serve-81-tcp }, { port: 8000, endPort: 8010 }]',
        ),
      'topo.yaml',
    );
    expect(t.networkPolicies[0]!.ingress[0]).toEqual({
      peers: [
        {
          podSelector: { matchLabels: { pod: 'b' }, matchExpressions: [] },
          namespaceSelector: { matchLabels: { ns: 'y' }, matchExpressions: [] },
        },
        { ipBlock: { cidr: '192.168.205.0/24', except: ['192.168.205.1/32'] } },
      ],
      ports: [
        { protocol: 'UDP', port: 53 },
        { protocol: 'TCP', port: 'serve-81-tcp' },
        { protocol: 'TCP', port: 8000, endPort: 8010 },
      ],
    });
  });

  it('refuses what the API server refuses, each problem with file:line:col', () => {
    expect(
      issues(
        base +
          yaml(
            '  - name: p',
            '    podSelector: { matchExpressions: [{ key: a, operator: In }, { key: b, operator: Exists, values: [x] }] }',
            '    ingress:',
            '      - from:',
            '          - ipBlock: { cidr: 10.0.0.0/33 }',
            '          - ipBlock: { cidr: 10.0.0.0/8, except: [10.0.0.0/8, 11.0.0.0/16] }',
            '          - {}',
            '          - { ipBlock: { cidr: 10.0.0.0/8 }, podSelector: {} }',
            '        ports: [{ port: 80, endPort: 79 }, { port: http, endPort: 90 }, { endPort: 9 }, { port: 0 }]',
            '  - { name: p, podSelector: { matchLabels: { "a/b/c": x } }, policyTypes: [Ingress, Ingress] }',
          ),
      ),
    ).toEqual([
      "topo.yaml:6:59: networkPolicies[0].podSelector.matchExpressions[0].operator: values must be given when operator is 'In'",
      "topo.yaml:6:101: networkPolicies[0].podSelector.matchExpressions[1].values: values may not be given when operator is 'Exists'",
      'topo.yaml:9:30: networkPolicies[0].ingress[0].from[0].ipBlock.cidr: 10.0.0.0/33 is not a valid IPv4 CIDR',
      'topo.yaml:10:51: networkPolicies[0].ingress[0].from[1].ipBlock.except[0]: 10.0.0.0/8 must be a strict subset of cidr 10.0.0.0/8',
      'topo.yaml:10:63: networkPolicies[0].ingress[0].from[1].ipBlock.except[1]: 11.0.0.0/16 must be a strict subset of cidr 10.0.0.0/8',
      'topo.yaml:11:13: networkPolicies[0].ingress[0].from[2]: a peer needs podSelector, namespaceSelector or ipBlock',
      'topo.yaml:12:13: networkPolicies[0].ingress[0].from[3]: a peer may not have both ipBlock and a selector',
      'topo.yaml:13:38: networkPolicies[0].ingress[0].ports[0].endPort: endPort 79 must be greater than or equal to port 80',
      "topo.yaml:13:67: networkPolicies[0].ingress[0].ports[1].endPort: endPort may not be given when port is a name ('http')",
      'topo.yaml:13:84: networkPolicies[0].ingress[0].ports[2].endPort: endPort may not be given without port',
      'topo.yaml:13:97: networkPolicies[0].ingress[0].ports[3].port: 0 is not a port (1-65535)',
      "topo.yaml:14:13: networkPolicies[1].name: duplicate network policy 'default/p'",
      "topo.yaml:14:55: networkPolicies[1].podSelector.matchLabels.a/b/c: 'a/b/c' is not a qualified name (at most one '/')",
      'topo.yaml:14:75: networkPolicies[1].policyTypes: a policy type appears twice',
    ]);
  });

  it('refuses unknown fields', () => {
    expect(
      issues(base + yaml('  - { name: p, podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: 10.0.0.0/8, exept: [] } }] }] }')),
    ).toEqual(["topo.yaml:5:83: networkPolicies[0].ingress[0].from[0].ipBlock.exept: unknown key 'exept'"]);
  });

  it('matches selectors as metav1.LabelSelector does', () => {
    const s = (matchLabels: Record<string, string>, ...e: [string, 'In' | 'NotIn' | 'Exists' | 'DoesNotExist', ...string[]][]) => ({
      matchLabels,
      matchExpressions: e.map(([key, operator, ...values]) => ({ key, operator, values })),
    });
    expect(selects(s({}), {})).toBe(true);
    expect(selects(s({ a: '1' }), { a: '1', b: '2' })).toBe(true);
    expect(selects(s({ a: '1' }), { a: '2' })).toBe(false);
    expect(selects(s({}, ['a', 'In', '1', '2']), { a: '2' })).toBe(true);
    expect(selects(s({}, ['a', 'In', '1']), {})).toBe(false);
    expect(selects(s({}, ['a', 'NotIn', '1']), {})).toBe(true);
    expect(selects(s({}, ['a', 'NotIn', '1']), { a: '1' })).toBe(false);
    expect(selects(s({}, ['a', 'Exists']), { a: '' })).toBe(true);
    expect(selects(s({}, ['a', 'DoesNotExist']), { a: '' })).toBe(false);
  });
});

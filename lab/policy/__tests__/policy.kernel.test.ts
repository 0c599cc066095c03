import { connect } from '../../probe/connect';
import { podNamespace, nodeNamespace, labNamespace } from '../../model/kernel-names';
import { describeKernel, nsRun, rt } from '../../testing/kernel';
import { uniqueLabName } from '../../testing/names';
import { loadTopologyText } from '../../topology/resolve';
import { apply } from '../../ops/apply';
import { down } from '../../ops/down';
import { up } from '../../ops/up';
import { POLICY_TABLE } from '../compile';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { traceLab } from '../../ops/trace';

// NetworkPolicy on the real kernel: one lab (flannel, vxlan, kube-proxy iptables), its policies
// changed with `apply`, real connections judged by the nftables table the agent installs.

const lab = uniqueLabName('netpol');
const yaml = (...lines: string[]) => lines.join('\n') + '\n';
const base = yaml(
  `name: ${lab}`,
  'nodes: [{ name: n1 }, { name: n2 }]',
  'namespaces: [{ name: x, labels: { ns: x } }, { name: y, labels: { ns: y } }, { name: z, labels: { ns: z } }]',
  'pods:',
  '  - { name: a, node: n1, namespace: x, ip: 10.42.0.10, labels: { pod: a }, ports: [80, { port: 81, name: serve-81-tcp }] }',
  '  - { name: a2, node: n2, namespace: x, ip: 10.42.1.10, labels: { pod: a2 }, ports: [80, { port: 8081, name: serve-81-tcp }] }',
  '  - { name: b, node: n1, namespace: y, ip: 10.42.0.11, labels: { pod: b }, ports: [80, 8005, 8011] }',
  '  - { name: c, node: n2, namespace: y, ip: 10.42.1.11, labels: { pod: c }, ports: [80] }',
  '  - { name: dns, node: n2, namespace: z, ip: 10.42.1.12, labels: { pod: dns }, ports: [80, { port: 53, protocol: UDP }] }',
  'services:',
  '  - { name: dns, namespace: z, clusterIP: 10.43.0.53, selector: { pod: dns }, ports: [{ port: 53, protocol: UDP }] }',
  '  - { name: a, namespace: x, type: NodePort, selector: { pod: a }, ports: [{ port: 80, nodePort: 30080 }] }',
);
const A = '10.42.0.10';
const A2 = '10.42.1.10';
const B = '10.42.0.11';
const C = '10.42.1.11';
const DNS = '10.42.1.12';
const N1 = '192.168.205.2';

const topo = (...policies: string[]) =>
  loadTopologyText(base + (policies.length ? 'networkPolicies:\n' + policies.join('') : ''), 'topo.yaml');
const denyX = yaml('  - { name: deny-all, namespace: x, podSelector: {} }');
const allowFromY = yaml(
  '  - name: allow-from-y',
  '    namespace: x',
  '    podSelector: {}',
  '    ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: y } } }] }]',
);
const egressDnsOnly = yaml(
  '  - name: egress-dns-only',
  '    namespace: y',
  '    podSelector: {}',
  '    policyTypes: [Egress]',
  '    egress: [{ ports: [{ protocol: UDP, port: 53 }] }]',
);
const fromUnderlay = (except: string) =>
  yaml(
    '  - name: from-underlay',
    '    namespace: x',
    '    podSelector: { matchLabels: { pod: a } }',
    `    ingress: [{ from: [{ ipBlock: { cidr: 192.168.205.0/24, except: [${except}] } }] }]`,
  );
const ranges = yaml(
  '  - name: range',
  '    namespace: y',
  '    podSelector: { matchLabels: { pod: b } }',
  '    ingress: [{ ports: [{ port: 8000, endPort: 8010 }] }]',
);
const named = yaml('  - name: named', '    namespace: x', '    podSelector: {}', '    ingress: [{ ports: [{ port: serve-81-tcp }] }]');
const unrelated = yaml('  - { name: unrelated, namespace: z, podSelector: { matchLabels: { pod: nobody } } }');

type From = 'x/a' | 'x/a2' | 'y/b' | 'y/c' | 'z/dns' | 'n1' | 'n2' | '@lab';
const nsOf = (from: From) => {
  if (from === '@lab') return labNamespace(lab);
  if (from === 'n1' || from === 'n2') return nodeNamespace(lab, from);
  const node = { 'x/a': 'n1', 'x/a2': 'n2', 'y/b': 'n1', 'y/c': 'n2', 'z/dns': 'n2' }[from];
  return podNamespace(lab, node, from);
};
/** Does one connection from `from` to ip:port succeed (1 s timeout)? */
const reaches = async (from: From, ip: string, port: number, protocol: 'TCP' | 'UDP' = 'TCP') =>
  (await connect(rt, nsOf(from), ip, port, { timeoutS: 1, protocol })).failed === 0;
/** Many probes at once: [from, ip, port, protocol?] → reached? */
const table = async (probes: [From, string, number, ('TCP' | 'UDP')?][]) =>
  Promise.all(
    probes.map(
      async ([f, ip, port, proto]) =>
        `${f}→${ip}:${port}${proto === 'UDP' ? '/udp' : ''} ${(await reaches(f, ip, port, proto)) ? 'ok' : 'X'}`,
    ),
  );

describeKernel('NetworkPolicy enforced on the kernel', () => {
  beforeAll(async () => {
    await up(topo(), rt);
  }, 60_000);
  afterAll(async () => {
    await down(rt, lab);
  }, 60_000);

  it('default-deny ingress in a namespace, then allow from one namespace by label', async () => {
    const probes: [From, string, number][] = [
      ['y/b', A, 80],
      ['y/c', A2, 80],
      ['z/dns', A, 80],
      ['x/a', C, 80],
      ['n1', A, 80],
    ];
    expect(await table(probes)).toEqual([
      'y/b→10.42.0.10:80 ok',
      'y/c→10.42.1.10:80 ok',
      'z/dns→10.42.0.10:80 ok',
      'x/a→10.42.1.11:80 ok',
      'n1→10.42.0.10:80 ok',
    ]);
    await apply(topo(denyX), rt);
    // x isolated for ingress: nothing reaches it but its node (kubelet); x's own egress is not isolated
    expect(await table(probes)).toEqual([
      'y/b→10.42.0.10:80 X',
      'y/c→10.42.1.10:80 X',
      'z/dns→10.42.0.10:80 X',
      'x/a→10.42.1.11:80 ok',
      'n1→10.42.0.10:80 ok',
    ]);
    await apply(topo(denyX, allowFromY), rt);
    expect(await table(probes)).toEqual([
      'y/b→10.42.0.10:80 ok',
      'y/c→10.42.1.10:80 ok',
      'z/dns→10.42.0.10:80 X',
      'x/a→10.42.1.11:80 ok',
      'n1→10.42.0.10:80 ok',
    ]);
    // the rule that drops is in the node's table, its comment naming the policies
    const t = await nsRun(nodeNamespace(lab, 'n1'), ['nft', 'list', 'chain', 'ip', POLICY_TABLE, 'ingress-x/a']);
    expect(t).toMatch(/drop comment "x\/a: no ingress rule of x\/deny-all, x\/allow-from-y allows it"/);
    // the trace of a denied packet ends at that rule, and the expected walk (from the policies) agrees
    const dir = mkdtempSync(join(tmpdir(), 'kdl-netpol-trace-'));
    try {
      const w = await traceLab(rt, lab, { from: 'z/dns', to: `${A}:80` }, dir);
      expect({ ok: w.ok, dropped: w.dropped, reached: w.reached, differences: w.differences }).toEqual({
        ok: true,
        dropped: { node: 'n1', chain: 'ingress-x/a', comment: 'x/a: no ingress rule of x/deny-all, x/allow-from-y allows it' },
        reached: undefined,
        differences: [],
      });
      expect(w.hops.at(-1)!.point).toBe('n1:flannel.1');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('egress denied but DNS (UDP 53), to the pod and through its ClusterIP; replies to allowed connections pass', async () => {
    await apply(topo(egressDnsOnly), rt);
    expect(
      await table([
        ['y/b', DNS, 53, 'UDP'],
        ['y/b', '10.43.0.53', 53, 'UDP'],
        ['y/c', '10.43.0.53', 53, 'UDP'],
        ['y/b', DNS, 80],
        ['y/b', C, 80],
        ['y/c', A2, 80],
        // into y is not isolated: b's replies leave it although its egress is
        ['x/a', B, 80],
        ['z/dns', C, 80],
      ]),
    ).toEqual([
      'y/b→10.42.1.12:53/udp ok',
      'y/b→10.43.0.53:53/udp ok',
      'y/c→10.43.0.53:53/udp ok',
      'y/b→10.42.1.12:80 X',
      'y/b→10.42.1.11:80 X',
      'y/c→10.42.1.10:80 X',
      'x/a→10.42.0.11:80 ok',
      'z/dns→10.42.1.11:80 ok',
    ]);
  }, 60_000);

  it('an ipBlock with except, from the lab namespace (a client outside the cluster) through a NodePort', async () => {
    // @lab is the underlay's gateway 192.168.205.1; n2 reaches n1's node port from 192.168.205.3
    await apply(topo(fromUnderlay('192.168.205.1/32')), rt);
    expect(
      await table([
        ['@lab', N1, 30080],
        ['n2', N1, 30080],
        ['y/b', A, 80],
      ]),
    ).toEqual(['@lab→192.168.205.2:30080 X', 'n2→192.168.205.2:30080 ok', 'y/b→10.42.0.10:80 X']);
    await apply(topo(fromUnderlay('192.168.205.128/25')), rt);
    expect(
      await table([
        ['@lab', N1, 30080],
        ['n2', N1, 30080],
      ]),
    ).toEqual(['@lab→192.168.205.2:30080 ok', 'n2→192.168.205.2:30080 ok']);
  }, 60_000);

  it('port ranges with endPort, and named ports with different numbers on different pods', async () => {
    await apply(topo(ranges, named), rt);
    expect(
      await table([
        ['y/c', B, 8005],
        ['y/c', B, 8011],
        ['y/c', B, 80],
        ['y/c', A, 81],
        ['y/c', A2, 8081],
        ['y/c', A, 80],
        ['y/c', A2, 80],
      ]),
    ).toEqual([
      'y/c→10.42.0.11:8005 ok',
      'y/c→10.42.0.11:8011 X',
      'y/c→10.42.0.11:80 X',
      'y/c→10.42.0.10:81 ok',
      'y/c→10.42.1.10:8081 ok',
      'y/c→10.42.0.10:80 X',
      'y/c→10.42.1.10:80 X',
    ]);
  }, 60_000);

  it('re-sync under load: an unrelated policy added breaks none of 200 connections; a denying one stops the next at once', async () => {
    await apply(topo(denyX, allowFromY), rt);
    const t0 = performance.now();
    const load = connect(rt, nsOf('y/c'), A, 80, { count: 200, timeoutS: 1 });
    await new Promise((r) => setTimeout(r, 300));
    const a0 = performance.now();
    await apply(topo(denyX, allowFromY, unrelated), rt);
    const a1 = performance.now();
    const r = await load;
    const t1 = performance.now();
    expect({ failed: r.failed, attempts: r.attempts.length }).toEqual({ failed: 0, attempts: 200 });
    // the apply happened while the connections were being made
    expect(a0 > t0 && a1 < t1).toBe(true);
    await apply(topo(denyX, unrelated), rt);
    const after = await connect(rt, nsOf('y/c'), A, 80, { count: 3, timeoutS: 1 });
    expect(after.attempts.map((x) => x.ok)).toEqual([false, false, false]);
  }, 120_000);
});

// Calico: no bridge, every pod packet routed between cali veths; the same table in the forward hook.
const calicoLab = uniqueLabName('netpol-cal');
describeKernel('NetworkPolicy with Calico (pure L3)', () => {
  const text = (policies: string) =>
    yaml(
      `name: ${calicoLab}`,
      'cluster: { cni: calico }',
      'nodes: [{ name: n1 }, { name: n2 }]',
      'namespaces: [{ name: x, labels: { ns: x } }, { name: y, labels: { ns: y } }]',
      'pods:',
      '  - { name: a, node: n1, namespace: x, labels: { pod: a }, ports: [80] }',
      '  - { name: b, node: n1, namespace: y, labels: { pod: b }, ports: [80] }',
      '  - { name: c, node: n2, namespace: x, labels: { pod: c }, ports: [80] }',
    ) + policies;
  const policies = yaml(
    'networkPolicies:',
    '  - { name: deny-all, namespace: x, podSelector: {} }',
    '  - name: allow-from-y',
    '    namespace: x',
    '    podSelector: { matchLabels: { pod: a } }',
    '    ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: y } } }] }]',
  );
  const t = loadTopologyText(text(policies), 'topo.yaml');
  const ip = (pod: string) => t.pods.find((p) => p.name === pod)!.ip;
  const ns = (pod: string) => podNamespace(calicoLab, t.pods.find((p) => p.name === pod)!.node, pod);
  const ok = async (from: string, to: string) => (await connect(rt, ns(from), ip(to), 80, { timeoutS: 1 })).failed === 0;

  beforeAll(async () => {
    await up(t, rt);
  }, 60_000);
  afterAll(async () => {
    await down(rt, calicoLab);
  }, 60_000);

  it('judges routed same-node and cross-node traffic in the forward hook', async () => {
    const probes: [string, string][] = [
      ['y/b', 'x/a'],
      ['x/c', 'x/a'],
      ['y/b', 'x/c'],
      ['x/a', 'y/b'],
    ];
    expect(await Promise.all(probes.map(async ([f, to]) => `${f}→${to} ${(await ok(f, to)) ? 'ok' : 'X'}`))).toEqual([
      'y/b→x/a ok',
      'x/c→x/a X',
      'y/b→x/c X',
      'x/a→y/b ok',
    ]);
    await apply(loadTopologyText(text(''), 'topo.yaml'), rt);
    expect(await ok('y/b', 'x/c')).toBe(true);
    expect((await nsRun(nodeNamespace(calicoLab, 'n1'), ['nft', 'list', 'tables'])).includes(POLICY_TABLE)).toBe(false);
  }, 60_000);
});

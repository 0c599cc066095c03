import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expectGoldenFile } from '../../testing/golden';
import { type ProxyModel, proxyModel, proxyNodes } from '../../model/proxy';
import { loadTopologyText } from '../../topology/resolve';
import type { ProxyMode, Topology } from '../../topology/types';
import { iptablesTables } from '../iptables';
import { nftablesTable } from '../nftables';
import { planProxy } from '../plan';
import { changedServices, deltaRulesForNodes, elementKey, iptablesDelta, nftablesDelta, sameData } from '../resync';

// The incremental re-sync's batches, as text (golden), and the property that makes generating
// only the changed services safe: the delta made from their part of the rules is the delta made
// from the whole rule sets. (That the kernel ends where a full install of the new topology
// does: lab/ops/__tests__/resync.kernel.test.ts.)

const GOLDEN = join(__dirname, 'golden');
const FIXTURE = readFileSync(join(__dirname, 'fixtures', 'services.yaml'), 'utf8');

const AFFINITY = `  - name: sticky
    clusterIP: 10.43.0.50
    sessionAffinity: ClientIP
    selector: { app: api }
    ports: [{ name: http, port: 80, targetPort: http }]
`;

/** The fixture with edits: [what it says, text → text]. */
const CHANGES: [string, (t: string) => string][] = [
  ['one endpoint changed', (t) => t.replace('ip: 10.42.1.11,', 'ip: 10.42.1.12,')],
  ['an endpoint removed', (t) => t.replace(/^ {2}- \{ name: api-3.*\n/m, '')],
  [
    'a service added',
    (t) => `${t}${AFFINITY.replace('sticky', 'more').replace('10.43.0.50', '10.43.0.60').replace('    sessionAffinity: ClientIP\n', '')}`,
  ],
  ['the service with session affinity removed', (t) => t.replace(AFFINITY, '')],
  ['an endpoint of the service with session affinity removed', (t) => t.replace(/^ {2}- \{ name: api-2.*\n/m, '')],
  ['a service removed', (t) => t.replace(/ {2}- name: nodeweb\n(?: {4}.*\n)+/, '')],
  ['the empty service gets an endpoint', (t) => t.replace('selector: { app: nothing-has-this-label }', 'selector: { app: nodeweb }')],
  ['a port removed from a two-port service', (t) => t.replace(/^ {6}- \{ name: metrics.*\n/m, '')],
  [
    'externalTrafficPolicy Local',
    (t) =>
      t.replace(
        '    type: NodePort\n    clusterIP: 10.43.0.30',
        '    type: NodePort\n    externalTrafficPolicy: Local\n    clusterIP: 10.43.0.30',
      ),
  ],
  ['the settings: another masquerade bit', (t) => t.replace('masqueradeBit: 14', 'masqueradeBit: 13')],
];

const change = (what: string) => CHANGES.find(([w]) => w === what)![1];
const topo = (text: string, mode: ProxyMode): Topology => loadTopologyText(text, '<fixture>', { proxyMode: mode }, () => undefined);
const withAffinity = `${FIXTURE}${AFFINITY}`;
const node = (t: Topology, i = 0) => proxyNodes(t)[i]!;

describe('changedServices', () => {
  const base = proxyModel(topo(FIXTURE, 'nftables'));
  test('nothing changed: no service', () => {
    const c = changedServices(base, proxyModel(topo(FIXTURE, 'nftables')));
    expect(c).toEqual({ all: false, before: [], after: [] });
  });
  test('one endpoint changed: every port of that service, before and after', () => {
    const c = changedServices(base, proxyModel(topo(change('one endpoint changed')(FIXTURE), 'nftables')));
    expect(c.all).toBe(false);
    expect(c.before.map((s) => s.id)).toEqual(['default/api:http', 'default/api:metrics']);
    expect(c.after.map((s) => s.id)).toEqual(['default/api:http', 'default/api:metrics']);
  });
  test('a service added or removed is on one side only', () => {
    const added = changedServices(base, proxyModel(topo(withAffinity, 'nftables')));
    expect([added.before.length, added.after.map((s) => s.id)]).toEqual([0, ['default/sticky:http']]);
  });
  test('settings changed: everything', () => {
    expect(changedServices(base, proxyModel(topo(change('the settings: another masquerade bit')(FIXTURE), 'nftables'))).all).toBe(true);
  });
  test('sameData: plain data member by member', () => {
    expect(sameData({ a: [1, { b: 'x' }] }, { a: [1, { b: 'x' }] })).toBe(true);
    expect(sameData({ a: [1, { b: 'x' }] }, { a: [1, { b: 'y' }] })).toBe(false);
    expect(sameData({ a: 1 }, { a: 1, b: undefined })).toBe(false);
    expect(sameData([1], { 0: 1 })).toBe(false);
  });
});

test('elementKey: the key of a set or map element', () => {
  expect(elementKey('10.43.0.10')).toBe('10.43.0.10');
  expect(elementKey('10.43.0.10 . tcp . 80 : goto service-X')).toBe('10.43.0.10 . tcp . 80');
  expect(elementKey('10.43.0.40 . tcp . 80 comment "default/empty:http" : goto reject-chain')).toBe('10.43.0.40 . tcp . 80');
});

describe.each(['nftables', 'iptables', 'ipvs'] as const)('%s mode', (mode) => {
  const before = topo(withAffinity, mode);
  const mb = proxyModel(before);
  const deltaOf = (after: Topology, i = 0) => deltaRulesForNodes(mb, proxyModel(after))(node(before, i));

  test('nothing changed: nothing to write', () => {
    for (const i of [0, 1]) expect(deltaOf(topo(withAffinity, mode), i)).toEqual({});
  });

  test('golden: one endpoint changed, a service added, a service removed (node1)', () => {
    const added = AFFINITY.replace('sticky', 'sticky2').replace('10.43.0.50', '10.43.0.51');
    const after = topo(change('the service with session affinity removed')(change('one endpoint changed')(withAffinity)) + added, mode);
    const d = deltaOf(after);
    const text = Object.entries(d)
      .map(([tool, lines]) => `# ${tool}\n${lines.join('\n')}\n`)
      .join('');
    expectGoldenFile(join(GOLDEN, `resync.node1.${mode}`), text);
  });

  if (mode !== 'ipvs')
    test.each(CHANGES)('%s: the delta of the changed services is the delta of the whole rule sets, on each node', (_, edit) => {
      const after = topo(edit(withAffinity), mode);
      const ma = proxyModel(after);
      for (const i of [0, 1]) {
        const n = node(before, i);
        const part = deltaOf(after, i);
        const whole =
          mode === 'nftables'
            ? nftablesDelta(nftablesTable(mb, n), nftablesTable(ma, n))
            : textLines(iptablesDelta(sideOf(mb, n), sideOf(ma, n)).text);
        expect(part[mode === 'nftables' ? 'nft' : 'iptables-restore'] ?? []).toEqual(whole);
        expect(whole.length).toBeGreaterThan(0);
      }
    });
});

const textLines = (t: string) => (t ? t.replace(/\n$/, '').split('\n') : []);
const sideOf = (m: ProxyModel, n: ReturnType<typeof node>) => {
  const t = iptablesTables(m, n, { resync: true });
  return {
    tables: new Map([
      ['filter', t.filter.chainRules()],
      ['nat', t.nat.chainRules()],
    ] as const),
  };
};

describe('planProxy incremental', () => {
  test('nodes with nothing to change get no step; iptables batches are restored with --noflush', () => {
    const before = topo(withAffinity, 'iptables');
    const after = topo(change('one endpoint changed')(withAffinity), 'iptables');
    const phases = planProxy(after, { resync: true, previous: before, incremental: true });
    const steps = phases.flatMap((p) => p.steps);
    expect(steps.map((s) => [s.ns, s.tool, s.append])).toEqual([
      ['kdl.proxy-fixture.node1', 'iptables-restore', true],
      ['kdl.proxy-fixture.node2', 'iptables-restore', true],
    ]);
    expect(planProxy(before, { resync: true, previous: before, incremental: true })).toEqual([]);
  });
});

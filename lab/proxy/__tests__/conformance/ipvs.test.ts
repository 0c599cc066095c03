import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { type ProxyNode, proxyModel, proxyNodes } from '../../../model/proxy';
import { resolveSource } from '../../../topology/resolve';
import { YamlSource } from '../../../topology/yaml-source';
import { restoreLines, words } from '../../iptables-parse';
import { ipvsRules, parseIpvsadm, type VirtualService } from '../../ipvs';

// kube-proxy's IPVS conformance: cases of pkg/proxy/ipvs/proxier_test.go as data (one file per
// test under ipvs/), each with the test's inputs as a lab topology and what the test asserts of
// the fake IPVS, ipset and iptables state after a sync. The lab's generated texts for the case's
// node (ipvsadm -R, ipset restore, iptables-restore) are read into one model and compared the way
// the test compares:
//   ipvs      exact: reflect.DeepEqual of the fake IPVS (every virtual server and its real
//             servers, no others); else checkIPVS (the number of virtual servers, and the ones
//             listed, with their real servers unless `realServers: false`)
//   ipsets    checkIPSet: each set named holds exactly these entries (sorted)
//   iptables  checkIptables: a chain's rules, nat's then filter's (getRules), in order, by jump
//             and --match-set (and source, where given)
//   chains    the chains declared per table, in order (TestCreateAndLinkKubeChain)
//   rules     one rule picked as the test picks it (by index, or the first with a jump)
// IPVS tests check parts of the state, never an overall dump: where a case compares a few rules,
// it compares those exactly and nothing else.

const DIR = join(__dirname, 'ipvs');

const ruleSpec = z.strictObject({
  jump: z.string(),
  matchSet: z.string().optional(),
  source: z.string().optional(),
});
const pickSpec = z.strictObject({
  chain: z.string(),
  index: z.number().int().min(0).optional(),
  firstJump: z.string().optional(),
  jump: z.string().optional(),
  source: z.string().optional(),
  randomFully: z.boolean().optional(),
});
const caseSchema = z.strictObject({
  // 'unresolved': the search index serves the file at a version whose commit it does not name
  kubeProxy: z.strictObject({
    commit: z.union([z.string().regex(/^[0-9a-f]{40}$/), z.literal('unresolved')]),
    file: z.string(),
    test: z.string(),
  }),
  node: z.string(),
  /** NewFakeProxier's nodeIPs: the addresses of the fake netlink's eth0, the node's only ones */
  nodeIPs: z.array(z.string()).optional(),
  /** kube-proxy's node port → the lab's, where the lab's range cannot hold the test's */
  nodePorts: z.record(z.string(), z.number().int()).optional(),
  topology: z.record(z.string(), z.unknown()),
  expected: z.strictObject({
    ipvs: z
      .strictObject({
        exact: z.boolean(),
        count: z.number().int().optional(),
        realServers: z.boolean().default(true),
        text: z.string(),
      })
      .optional(),
    ipsets: z.record(z.string(), z.array(z.string())).optional(),
    iptables: z.record(z.string(), z.array(ruleSpec)).optional(),
    chains: z.strictObject({ nat: z.string(), filter: z.string() }).optional(),
    rules: z.array(pickSpec).optional(),
  }),
  differences: z.array(z.string()),
});
type Case = z.infer<typeof caseSchema>;

// --- the lab's state as one model -------------------------------------------------------------

interface Rule {
  table: string;
  chain: string;
  jump?: string;
  matchSet?: string;
  source?: string;
  randomFully: boolean;
  text: string;
}

interface LabState {
  ipvs: Map<string, VirtualService>;
  ipsets: Map<string, { type: string; members: string[] }>;
  /** table → its chains as declared, built-ins included */
  chains: Map<string, string[]>;
  rules: Rule[];
}

const BUILTINS = new Set(['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING']);

function parseIpset(text: string): LabState['ipsets'] {
  const sets: LabState['ipsets'] = new Map();
  for (const line of text.split('\n')) {
    const w = line.trim().split(/\s+/);
    if (w[0] === 'create') sets.set(w[1]!, { type: w[2]!, members: [] });
    else if (w[0] === 'add') sets.get(w[1]!)!.members.push(w[2]!);
  }
  return sets;
}

function parseIptables(text: string): Pick<LabState, 'chains' | 'rules'> {
  const chains = new Map<string, string[]>();
  const rules: Rule[] = [];
  let table = '';
  for (const l of restoreLines(text)) {
    if (l.kind === 'table') chains.set((table = l.table), []);
    else if (l.kind === 'chain') chains.get(table)!.push(l.chain);
    else if (l.kind === 'rule') {
      const w = words(l.rest);
      const after = (opt: string) => (w.includes(opt) ? w[w.indexOf(opt) + 1] : undefined);
      const s = w.indexOf('-s');
      rules.push({
        table,
        chain: l.chain,
        ...(after('-j') !== undefined && { jump: after('-j') }),
        ...(after('--match-set') !== undefined && { matchSet: after('--match-set') }),
        ...(s >= 0 && { source: `${w[s - 1] === '!' ? '!' : ''}${w[s + 1]}` }),
        randomFully: w.includes('--random-fully'),
        text: l.text,
      });
    }
  }
  return { chains, rules };
}

function labState(c: Case, file: string): LabState {
  // kube-proxy's tests have no cluster DNS service: nor do their topologies
  const topo = resolveSource(YamlSource.fromFile(file).sub(['topology']), { dns: false });
  const model = proxyModel(topo);
  const found = proxyNodes(topo).find((n) => n.name === c.node);
  if (!found) throw new Error(`${file}: no node ${c.node}`);
  const node: ProxyNode = c.nodeIPs ? { ...found, localAddresses: c.nodeIPs } : found;
  const r = ipvsRules(model, node);
  return { ipvs: parseIpvsadm(r.ipvsadm).services, ipsets: parseIpset(r.ipset), ...parseIptables(r.iptables) };
}

/** getRules: a chain's rules, the nat table's first, then the filter table's */
const chainRules = (s: LabState, chain: string) => [
  ...s.rules.filter((r) => r.table === 'nat' && r.chain === chain),
  ...s.rules.filter((r) => r.table === 'filter' && r.chain === chain),
];

// --- comparing, with a readable account of every mismatch ---------------------------------------

const showVs = (vs: VirtualService, reals = true) =>
  [
    `${vs.protocol} ${vs.address} ${vs.scheduler}`,
    ...(reals ? vs.reals.map((r) => `  -> ${r.address} ${r.forward} w${r.weight}`) : []),
  ].join('\n');

function compare(c: Case, s: LabState): string[] {
  const out: string[] = [];
  const port = (text: string) =>
    Object.entries(c.nodePorts ?? {}).reduce((t, [from, to]) => t.replace(new RegExp(`:${from}\\b`, 'g'), `:${to}`), text);
  const portValue = (v: string) => String(c.nodePorts?.[v] ?? v);

  const e = c.expected;
  if (e.ipvs) {
    const want = parseIpvsadm(port(e.ipvs.text)).services;
    if (e.ipvs.exact || e.ipvs.count !== undefined) {
      const n = e.ipvs.exact ? want.size : e.ipvs.count!;
      if (s.ipvs.size !== n) out.push(`ipvs: ${n} virtual servers expected, the lab has ${s.ipvs.size}`);
    }
    for (const [key, vs] of want) {
      const got = s.ipvs.get(key);
      const reals = e.ipvs.realServers;
      const same =
        got !== undefined &&
        got.scheduler === vs.scheduler &&
        (!reals ||
          JSON.stringify([...got.reals].sort((a, b) => a.address.localeCompare(b.address))) ===
            JSON.stringify([...vs.reals].sort((a, b) => a.address.localeCompare(b.address))));
      if (!same)
        out.push(`ipvs ${key}:\n  expected:\n${indent(showVs(vs, reals))}\n  the lab:\n${indent(got ? showVs(got, reals) : '(none)')}`);
    }
    if (e.ipvs.exact)
      for (const [key, got] of s.ipvs) if (!want.has(key)) out.push(`ipvs ${key}: not expected, the lab has\n${indent(showVs(got))}`);
  }
  for (const [name, entries] of Object.entries(e.ipsets ?? {})) {
    const want = entries.map(portValue).sort();
    const got = [...(s.ipsets.get(name)?.members ?? [])].sort();
    if (!s.ipsets.has(name)) out.push(`ipset ${name}: the lab does not create it`);
    else if (JSON.stringify(want) !== JSON.stringify(got))
      out.push(`ipset ${name}: expected [${want.join(', ')}], the lab has [${got.join(', ')}]`);
  }
  for (const [chain, want] of Object.entries(e.iptables ?? {})) {
    const got = chainRules(s, chain);
    const bad =
      got.length !== want.length ||
      want.some(
        (w, i) => got[i]!.jump !== w.jump || got[i]!.matchSet !== w.matchSet || (w.source !== undefined && got[i]!.source !== w.source),
      );
    if (bad) {
      const show = (r: { jump?: string; matchSet?: string; source?: string }) =>
        `-j ${r.jump ?? '-'}${r.matchSet ? ` set ${r.matchSet}` : ''}${r.source ? ` -s ${r.source}` : ''}`;
      out.push(
        `chain ${chain} (nat, then filter):\n  expected:\n${indent(want.map(show).join('\n'))}\n  the lab:\n${indent(got.map((r) => `${show(r)}    [${r.table}] ${r.text}`).join('\n'))}`,
      );
    }
  }
  if (e.chains)
    for (const table of ['nat', 'filter'] as const) {
      const want = e.chains[table].trim().split('\n');
      const got = (s.chains.get(table) ?? []).filter((ch) => !BUILTINS.has(ch)).map((ch) => `:${ch} - [0:0]`);
      if (want.join('\n') !== got.join('\n'))
        out.push(`${table} chains:\n  expected:\n${indent(want.join('\n'))}\n  the lab:\n${indent(got.join('\n'))}`);
    }
  for (const p of e.rules ?? []) {
    const rules = chainRules(s, p.chain);
    const r = p.index !== undefined ? rules[p.index] : rules.find((x) => x.jump === p.firstJump);
    const what = `${p.chain} ${p.index !== undefined ? `rule ${p.index}` : `first -j ${p.firstJump}`}`;
    if (!r) out.push(`${what}: no such rule in the lab`);
    else {
      const bad = [
        p.jump !== undefined && r.jump !== p.jump && `jump ${r.jump ?? '-'} (expected ${p.jump})`,
        p.source !== undefined && r.source !== p.source && `source ${r.source ?? '-'} (expected ${p.source})`,
        p.randomFully !== undefined && r.randomFully !== p.randomFully && `--random-fully ${r.randomFully} (expected ${p.randomFully})`,
      ].filter(Boolean);
      if (bad.length) out.push(`${what}: ${bad.join(', ')}\n  the lab: ${r.text}`);
    }
  }
  return out;
}

const indent = (t: string) =>
  t
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');

// --- the suite ----------------------------------------------------------------------------------

const files = readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml'))
  .sort();
const load = (f: string): Case => YamlSource.fromFile(join(DIR, f)).parse(caseSchema);

describe("kube-proxy's IPVS proxier tests, as data (lab/proxy/__tests__/conformance/ipvs/)", () => {
  it('has the cases, each from one commit and with something to compare', () => {
    expect(files.length).toBeGreaterThanOrEqual(9);
    const cases = files.map(load);
    expect(new Set(cases.map((c) => c.kubeProxy.commit)).size).toBe(1);
    for (const c of cases) expect(Object.keys(c.expected).length).toBeGreaterThan(0);
  });

  it.each(files)('%s', (f) => {
    const c = load(f);
    const diff = compare(c, labState(c, join(DIR, f)));
    if (diff.length) throw new Error(`${c.kubeProxy.test} (${f}) differs from kube-proxy:\n${diff.join('\n')}`);
  });

  it('the comparison fails, readably, on a lab that is not like kube-proxy', () => {
    const f = 'node-port-ipv4-udp.yaml';
    const c = load(f);
    const s = labState(c, join(DIR, f));
    // a lab without the health-check rule, with a node port on one more address and an extra set member
    const broken: LabState = {
      ...s,
      rules: s.rules.filter((r) => !(r.table === 'filter' && r.chain === 'KUBE-NODE-PORT')),
      ipvs: new Map([...s.ipvs, ['UDP 10.184.0.1:30001', { ...s.ipvs.get('UDP 100.101.102.103:30001')!, address: '10.184.0.1:30001' }]]),
      ipsets: new Map([...s.ipsets, ['KUBE-NODE-PORT-UDP', { type: 'bitmap:port', members: ['30001', '30002'] }]]),
    };
    const diff = compare(c, broken).join('\n');
    expect(diff).toMatch(/ipvs: 2 virtual servers expected, the lab has 3/);
    expect(diff).toMatch(/ipvs UDP 10\.184\.0\.1:30001: not expected/);
    expect(diff).toMatch(/ipset KUBE-NODE-PORT-UDP: expected \[30001\], the lab has \[30001, 30002\]/);
    expect(diff).toMatch(
      /chain KUBE-NODE-PORT \(nat, then filter\):\n {2}expected:\n {4}-j KUBE-MARK-MASQ set KUBE-NODE-PORT-UDP\n {4}-j ACCEPT set KUBE-HEALTH-CHECK-NODE-PORT/,
    );
  });
});

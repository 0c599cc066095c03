import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { proxyModel, proxyNodes } from '../../../model/proxy';
import { loadTopologyText } from '../../../topology/resolve';
import { nftablesRules } from '../../nftables';
import { diffSummaries, nftSummaryOfDump, nftSummaryOfText, type NftSummary } from '../../nftables-readback';
import { type Flow, traceFlow } from './nft-flow';

// Conformance with kube-proxy's nftables mode: each case in ./nftables/ is one test of
// kube-proxy's pkg/proxy/nftables/proxier_test.go (the commit it was read at is in the case),
// its inputs as a lab topology, its expected dump kept as data. The lab's `nft -f` text and the
// dump are read into one summary (nftables-readback.ts: base chains with type, hook and priority
// as numbers, rules in order per chain, sets and maps with type, flags, comment and elements as a
// set) and must be equal. Ordering is significant only where kube-proxy's own comparison
// (sortNFTablesTransaction) keeps it: the rules of a chain.

const DIR = join(__dirname, 'nftables');

interface Case {
  kubeProxy: { commit: string; file: string; test: string; step?: string };
  node: string;
  topology: unknown;
  differences: string[];
  /** the dump the test compares with (assertNFTablesTransactionEqual) */
  expected?: string;
  /** or the test's packet flows (runPacketFlowTests), with the node IPs it treats as local */
  flows?: Flow[];
  nodeIPs?: string[];
}

function loadCase(file: string): Case {
  const c = parse(readFileSync(join(DIR, file), 'utf8')) as Partial<Case>;
  const bad = (what: string) => new Error(`${file}: ${what}`);
  if (!c.kubeProxy || !/^[0-9a-f]{40}$/.test(c.kubeProxy.commit) || !c.kubeProxy.file || !c.kubeProxy.test)
    throw bad('kubeProxy: { commit (40 hex), file, test } is required');
  if (typeof c.node !== 'string') throw bad('node: is required');
  if (typeof c.expected !== 'string' && !Array.isArray(c.flows)) throw bad('expected: | (the dump) or flows: is required');
  if (c.flows && !Array.isArray(c.nodeIPs)) throw bad('flows: need nodeIPs: (the addresses the test treats as local)');
  if (!Array.isArray(c.differences) || c.differences.some((d) => typeof d !== 'string'))
    throw bad('differences: must be a list of strings');
  return c as Case;
}

/** The lab's rules for the case's node, as the summary of its `nft -f` text. */
function labSummary(c: Case, file: string): NftSummary {
  // kube-proxy's tests have no cluster DNS service: nor do their topologies
  const topo = loadTopologyText(stringify(c.topology), join(DIR, file), { dns: false });
  const node = proxyNodes(topo).find((n) => n.name === c.node);
  if (!node) throw new Error(`${file}: node ${c.node} is not in the topology`);
  return nftSummaryOfText(nftablesRules(proxyModel(topo), node));
}

/** One block per object that differs: kube-proxy's and the lab's version side by side. */
function readableDiff(want: NftSummary, got: NftSummary): string {
  const lines = diffSummaries(want, got);
  if (!lines.length) return '';
  const show = (s: NftSummary, what: string): string => {
    const [kind, name] = what.split(' ');
    if (kind === 'chain') {
      const ch = s.chains[name!];
      return ch
        ? [...(ch.base ? [`  ${ch.base}`] : []), ...ch.rules.map((r, i) => `  ${i + 1}. ${r}`)].join('\n') || '  (empty)'
        : '  (none)';
    }
    const set = s.sets[name!];
    return set ? [`  type ${set.type}`, `  comment ${set.comment ?? '-'}`, ...set.elements.map((e) => `  ${e}`)].join('\n') : '  (none)';
  };
  const objects = [...new Set(lines.map((l) => /^(\S+ [^\s:]+)/.exec(l)![1]!))];
  return objects
    .map((o) =>
      [
        `${o}:`,
        ...lines.filter((l) => l.startsWith(`${o}:`) || l.startsWith(`${o} `)).map((l) => `  ! ${l}`),
        ' kube-proxy:',
        show(want, o),
        ' lab:',
        show(got, o),
      ].join('\n'),
    )
    .join('\n\n');
}

const files = readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml'))
  .sort();

describe("conformance with kube-proxy's nftables proxier_test.go", () => {
  test('the suite has its cases, all read at one kube-proxy commit, TestOverallNFTablesRules among them', () => {
    const cases = files.map(loadCase);
    expect(cases.length).toBeGreaterThanOrEqual(6);
    expect(new Set(cases.map((c) => c.kubeProxy.commit)).size).toBe(1);
    expect(cases.map((c) => c.kubeProxy.test)).toContain('TestOverallNFTablesRules');
  });

  const dumps = files.filter((f) => loadCase(f).expected !== undefined);
  const flows = files.filter((f) => loadCase(f).flows !== undefined);

  test.each(dumps)('%s: the lab writes what kube-proxy writes', (file) => {
    const c = loadCase(file);
    const want = nftSummaryOfDump(c.expected!);
    const got = labSummary(c, file);
    const diff = readableDiff(want, got);
    if (diff) throw new Error(`${file} (${c.kubeProxy.test}${c.kubeProxy.step ? `, ${c.kubeProxy.step}` : ''}) differs:\n\n${diff}`);
    expect(got).toEqual(want);
  });

  test.each(flows)("%s: packets through the lab's rules go where kube-proxy's test says", (file) => {
    const c = loadCase(file);
    const got = labSummary(c, file);
    const wrong = c.flows!.flatMap((f) => {
      const r = traceFlow(got, c.nodeIPs!, f);
      const masq = f.masq ?? false;
      if (r.output === f.output && r.masq === masq) return [];
      return [
        `${f.name} (${f.sourceIP} -> ${f.destIP}:${f.destPort}/${f.protocol ?? 'TCP'}): want '${f.output}' masq ${masq}, got '${r.output}' masq ${r.masq}\n  by: ${r.matched.join('\n      ') || '(nothing)'}`,
      ];
    });
    if (wrong.length) throw new Error(`${file} (${c.kubeProxy.test}):\n${wrong.join('\n')}`);
    expect(c.flows!.length).toBeGreaterThan(0);
  });
});

describe('the dump reader', () => {
  const dump = loadCase('overall-rules.yaml').expected!;
  const base = nftSummaryOfDump(dump);

  test('reads base chains with their priorities as numbers, rules in order, sets with their elements', () => {
    expect(base.chains['filter-output-pre-dnat']?.base).toBe('type filter hook output priority -110 policy accept');
    expect(base.chains['filter-input']?.base).toBe('type filter hook input priority 0 policy accept');
    expect(base.chains['filter-output']?.rules).toEqual([
      'ct state == new jump service-endpoints-check',
      'ct state == new jump cluster-ips-check',
    ]);
    expect(base.sets['nodeport-ips']).toEqual({
      kind: 'set',
      type: 'ipv4_addr',
      comment: 'IPs that accept NodePort traffic',
      elements: ['192.168.0.2'],
    });
    expect(base.sets['cluster-ips']?.elements).toEqual([
      '172.30.0.41',
      '172.30.0.42',
      '172.30.0.43',
      '172.30.0.44',
      '172.30.0.45',
      '172.30.0.46',
    ]);
  });

  test('a swapped rule, a missing element and a changed priority are all noticed and named', () => {
    const swapped = dump.replace(
      /(add rule ip kube-proxy filter-output ct state new jump service-endpoints-check\n)((?:.*\n)*?)(add rule ip kube-proxy filter-output ct state new jump cluster-ips-check\n)/,
      '$3$2$1',
    );
    expect(diffSummaries(base, nftSummaryOfDump(swapped))).toHaveLength(2);
    const noElem = dump.replace('add element ip kube-proxy cluster-ips { 172.30.0.44 }\n', '');
    expect(diffSummaries(base, nftSummaryOfDump(noElem))).toEqual(['set cluster-ips: missing element 172.30.0.44']);
    const prio = dump.replace('hook input priority 0 ;', 'hook input priority -110 ;');
    expect(readableDiff(base, nftSummaryOfDump(prio))).toContain('chain filter-input:');
  });

  test('refuses lines it does not model', () => {
    expect(() => nftSummaryOfDump('add table ip kube-proxy\nflush chain ip kube-proxy x\n')).toThrow(/line 2/);
    expect(() => nftSummaryOfDump('add table ip kube-proxy\nadd element ip kube-proxy nope { 1.2.3.4 }\n')).toThrow(/no earlier line adds/);
    expect(() => nftSummaryOfDump('add table ip kube-proxy\nadd rule ip kube-proxy x counter\n')).toThrow(/counter/);
  });
});

// The flow tracer itself, on kube-proxy's own rules (the overall dump): it must say what
// kube-proxy's tests say of them, or a passing flow case would prove nothing.
describe("the flow tracer on kube-proxy's own dump", () => {
  const kp = nftSummaryOfDump(loadCase('overall-rules.yaml').expected!);
  const nodeIPs = ['192.168.0.2', '192.168.1.2', '192.168.99.11'];
  const flow = (sourceIP: string, destIP: string, destPort: number) =>
    traceFlow(kp, nodeIPs, { name: '', sourceIP, destIP, destPort, output: '' });

  test('cluster IP from a pod: DNAT to the endpoint, no masquerade; from outside the pod CIDR: masqueraded', () => {
    expect(flow('10.0.0.2', '172.30.0.41', 80)).toMatchObject({ output: '10.180.0.1:80', masq: false });
    expect(flow('203.0.113.2', '172.30.0.41', 80)).toMatchObject({ output: '10.180.0.1:80', masq: true });
    expect(flow('10.0.0.2', '172.30.0.44', 80).output).toBe('10.180.0.4:80, 10.180.0.5:80');
  });

  test('node port on the node IP only; no endpoints rejected; wrong port rejected; unallocated dropped', () => {
    expect(flow('203.0.113.2', '192.168.0.2', 3003)).toMatchObject({ output: '10.180.0.3:80', masq: true });
    expect(flow('203.0.113.2', '192.168.1.2', 3003).output).toBe('');
    expect(flow('10.0.0.2', '172.30.0.46', 80).output).toBe('REJECT');
    expect(flow('10.0.0.2', '172.30.0.41', 81).output).toBe('REJECT');
    expect(flow('10.0.0.2', '172.30.0.99', 80).output).toBe('DROP');
  });
});

import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeKernel, labNamespaces, nsRun, REPO, rt } from '../../testing/kernel';
import { parse, stringify } from 'yaml';
import { loadTopology, loadTopologyText } from '../../topology/resolve';
import type { Topology } from '../../topology/types';
import { proxyModel, proxyNodes } from '../../model/proxy';
import { nftablesRules, nftEndpointChain, nftServiceChain } from '../nftables';
import { diffSummaries, nftSummary, nftSummaryOfDump, nftSummaryOfText, type NftSummary } from '../nftables-readback';

// The generated nftables rules on the real kernel, in throw-away namespaces (kdl.t-nft-<pid>...):
// what `nft -j list table ip kube-proxy` reports after `nft -f` must be exactly what the text
// says (both read into the same canonical summary, see nftables.ts), re-applying must replace
// the table atomically.

const NS = `kdl.t-nft-${process.pid}`;
const ALL = [NS];

const topo = (file: string): Topology => loadTopology(join(REPO, file));
const rulesOf = (t: Topology) => {
  const n = t.nodes[0]!;
  return nftablesRules(proxyModel(t), { name: n.name, ip: n.ip });
};

let dir = '';
let serial = 0;

/** nft -f <generated text> inside NS; the text goes through a file, as the lab applies it. */
async function load(text: string, ns = NS): Promise<void> {
  const file = join(dir, `rules-${serial++}.nft`);
  await writeFile(file, text);
  await nsRun(ns, ['nft', '-f', file]);
}

const held = async (ns = NS): Promise<NftSummary> =>
  nftSummary(JSON.parse(await nsRun(ns, ['nft', '-j', 'list', 'table', 'ip', 'kube-proxy'])));

describeKernel('nftables mode rules on the kernel', () => {
  const defaults = rulesOf(topo('scenarios/topologies/default.yaml'));
  const fixture = rulesOf(topo('lab/proxy/__tests__/fixtures/services.yaml'));

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kdl-nft-test-'));
    await rt.deleteNamespaces(ALL.filter((n) => labNamespaces().includes(n))); // left over by a killed run of this pid
    await rt.createNamespaces([NS]);
  });

  afterAll(async () => {
    await rt.deleteNamespaces(ALL);
    await rm(dir, { recursive: true, force: true });
    expect(labNamespaces().filter((n) => ALL.includes(n))).toEqual([]);
  });

  test('a namespace without the table: nft -f loads it and the kernel holds exactly what was generated', async () => {
    expect((await nsRun(NS, ['nft', 'list', 'tables'])).trim()).toBe('');
    await load(defaults);
    expect(diffSummaries(nftSummaryOfText(defaults), await held())).toEqual([]);
    expect(await held()).toEqual(nftSummaryOfText(defaults));
  });

  test("the kernel stores kube-proxy's base-chain priorities: dstnat - 10 = -110, filter = 0, dstnat = -100, srcnat = 100", async () => {
    await load(fixture);
    type Listed = { nftables: { chain?: { name: string; hook?: string; prio?: number } }[] };
    const listed = JSON.parse(await nsRun(NS, ['nft', '-j', 'list', 'table', 'ip', 'kube-proxy'])) as Listed;
    const prios = Object.fromEntries(
      listed.nftables.flatMap((o) => (o.chain?.hook ? [[o.chain.name, `${o.chain.hook} ${o.chain.prio}`]] : [])),
    );
    // as kube-proxy's test dumps (knftables' Fake) write them, pkg/proxy/nftables/proxier_test.go baseRules
    expect(prios).toEqual({
      'filter-prerouting-pre-dnat': 'prerouting -110',
      'filter-output-pre-dnat': 'output -110',
      'filter-forward': 'forward 0',
      'filter-input': 'input 0',
      'filter-output': 'output 0',
      'nat-prerouting': 'prerouting -100',
      'nat-output': 'output -100',
      'nat-postrouting': 'postrouting 100',
    });
  });

  test('loading the same text again replaces the table: nothing doubled', async () => {
    await load(defaults);
    await load(defaults);
    expect(diffSummaries(nftSummaryOfText(defaults), await held())).toEqual([]);
  });

  test('loading other rules replaces everything: nothing of the previous version is left', async () => {
    await load(defaults);
    await load(fixture);
    const got = await held();
    expect(diffSummaries(nftSummaryOfText(fixture), got)).toEqual([]);
    expect(Object.keys(got.chains).filter((c) => c.includes('/nginx-test/') || c.includes('/web/'))).toEqual([]);
    await load(defaults);
    expect(diffSummaries(nftSummaryOfText(defaults), await held())).toEqual([]);
  });

  test('the comparison notices a deleted rule, a deleted element, a flushed chain and an extra chain', async () => {
    const want = nftSummaryOfText(fixture);
    const nft = (...args: string[]) => nsRun(NS, ['nft', ...args]);
    await load(fixture);
    expect(diffSummaries(want, await held())).toEqual([]);

    // a rule: the hairpin rule of one endpoint chain, by handle
    const model = proxyModel(topo('lab/proxy/__tests__/fixtures/services.yaml'));
    const api = model.services.find((p) => p.id === 'default/api:http')!;
    const epChain = nftEndpointChain(api, api.endpoints[1]!);
    const listing = JSON.parse(await nft('-a', '-j', 'list', 'chain', 'ip', 'kube-proxy', epChain)) as {
      nftables: { rule?: { handle: number } }[];
    };
    const handle = listing.nftables.find((o) => o.rule)?.rule?.handle;
    expect(handle).toBeDefined();
    await nft('delete', 'rule', 'ip', 'kube-proxy', epChain, 'handle', String(handle));
    expect(diffSummaries(want, await held())).toEqual([
      `chain ${epChain} rule 1: want 'ip saddr == ${api.endpoints[1]!.ip} jump mark-for-masquerade', got 'meta l4proto == tcp dnat to ${api.endpoints[1]!.ip}:8080'`,
      `chain ${epChain} rule 2: want 'meta l4proto == tcp dnat to ${api.endpoints[1]!.ip}:8080', got '(none)'`,
    ]);

    // an element of service-ips
    await load(fixture);
    await nft('delete', 'element', 'ip', 'kube-proxy', 'service-ips', '{ 10.43.0.10 . udp . 53 }');
    const dns = model.services.find((p) => p.id === 'kube-system/dns:dns')!;
    expect(diffSummaries(want, await held())).toEqual([
      `map service-ips: missing element 10.43.0.10 . udp . 53 : goto ${nftServiceChain(dns)}`,
    ]);

    // a whole chain's rules, and a chain nobody generated
    await load(fixture);
    await nft('flush', 'chain', 'ip', 'kube-proxy', nftServiceChain(api));
    await nft('add', 'chain', 'ip', 'kube-proxy', 'extra');
    const diff = diffSummaries(want, await held());
    expect(diff).toContain('chain extra: unexpected');
    expect(diff.filter((d) => d.startsWith(`chain ${nftServiceChain(api)} rule`))).toHaveLength(2);

    // and a clean reload puts it all right
    await load(fixture);
    expect(diffSummaries(want, await held())).toEqual([]);
  });
  // kube-proxy's expected dumps (conformance/nftables/*.yaml with `expected:`): the lab's text for
  // each case, loaded into the kernel, reads back as exactly what kube-proxy's test expects
  const CONFORMANCE = join(__dirname, 'conformance', 'nftables');
  const dumpCases = readdirSync(CONFORMANCE).filter(
    (f) => f.endsWith('.yaml') && /^expected:/m.test(readFileSync(join(CONFORMANCE, f), 'utf8')),
  );
  test.each(dumpCases)("conformance case %s: the kernel holds what kube-proxy's test expects", async (file) => {
    const c = parse(readFileSync(join(CONFORMANCE, file), 'utf8')) as { topology: unknown; node: string; expected: string };
    // kube-proxy's tests have no cluster DNS service: nor do their topologies
    const t = loadTopologyText(stringify(c.topology), join(CONFORMANCE, file), { dns: false });
    await load(
      nftablesRules(
        proxyModel(t),
        proxyNodes(t).find((n) => n.name === c.node)!,
      ),
    );
    expect(diffSummaries(nftSummaryOfDump(c.expected), await held())).toEqual([]);
  });

  // Packets through these rules: lab/ops/__tests__/services.kernel.test.ts runs a whole lab in
  // nftables mode (spread, SNAT, node ports, hairpin, no-endpoint reject, re-sync under load).
});

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expectGoldenFile } from '../../testing/golden';
import { loadTopology, loadTopologyText } from '../../topology/resolve';
import type { Topology } from '../../topology/types';
import { markHex, type ProxyModel, proxyModel, type ServicePortModel } from '../../model/proxy';
import { hashAndTruncate, nftablesRules, nftEndpointChain, nftExternalChain, nftServiceChain } from '../nftables';
import { diffSummaries, nftSummary, nftSummaryOfText, type NftSummary, summaryTargets } from '../nftables-readback';

const REPO = join(__dirname, '../../..');
const GOLDEN = join(__dirname, 'golden');
const FIXTURE = join(__dirname, 'fixtures', 'services.yaml');

const expectGolden = (name: string, actual: string) => expectGoldenFile(join(GOLDEN, name), actual);

const topologies: [string, () => Topology][] = [
  ['default', () => loadTopology(join(REPO, 'scenarios/topologies/default.yaml'))],
  ['services', () => loadTopology(FIXTURE)],
];

const rulesFor = (topo: Topology, nodeIndex = 0) => {
  const node = topo.nodes[nodeIndex]!;
  return nftablesRules(proxyModel(topo), { name: node.name, ip: node.ip });
};

const sp = (namespace: string, service: string, portName: string, protocol: 'TCP' | 'UDP' = 'TCP') => ({
  namespace,
  service,
  portName,
  protocol,
});

describe("kube-proxy's nftables chain names", () => {
  // Names as they stand in a real cluster's `nft list table ip kube-proxy` and in kube-proxy's own tests.
  test('service and endpoint chains of real clusters', () => {
    expect(nftServiceChain(sp('default', 'kubernetes', 'https'))).toBe('service-2QRHZV4L-default/kubernetes/tcp/https');
    expect(nftServiceChain(sp('kube-system', 'kube-dns', 'dns', 'UDP'))).toBe('service-FY5PMXPG-kube-system/kube-dns/udp/dns');
    expect(nftServiceChain(sp('kube-system', 'kube-dns', 'dns-tcp'))).toBe('service-NWBZK7IH-kube-system/kube-dns/tcp/dns-tcp');
    expect(nftEndpointChain(sp('default', 'kubernetes', 'https'), { ip: '10.34.4.142', port: 6443 })).toBe(
      'endpoint-MIBO4EMV-default/kubernetes/tcp/https__10.34.4.142/6443',
    );
    expect(nftEndpointChain(sp('kube-system', 'kube-dns', 'dns', 'UDP'), { ip: '10.42.0.171', port: 53 })).toBe(
      'endpoint-S4FSIJI2-kube-system/kube-dns/udp/dns__10.42.0.171/53',
    );
  });

  test('an unnamed port leaves the last part empty (external- for node ports)', () => {
    expect(nftServiceChain(sp('riset', 'hellopod-np-svc', ''))).toBe('service-P6J77WGM-riset/hellopod-np-svc/tcp/');
    expect(nftExternalChain(sp('riset', 'hellopod-np-svc', ''))).toBe('external-P6J77WGM-riset/hellopod-np-svc/tcp/');
  });

  test("kube-proxy's unit-test examples", () => {
    expect(nftServiceChain(sp('ns1', 'svc1', 'p80'))).toBe('service-ULMVA6XW-ns1/svc1/tcp/p80');
    expect(nftEndpointChain(sp('ns1', 'svc1', 'p80'), { ip: '10.180.0.1', port: 80 })).toBe(
      'endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80',
    );
  });

  test('names longer than 240 characters are cut, keeping the hash of the whole name', () => {
    const long = 'x'.repeat(300);
    const cut = hashAndTruncate(long);
    expect(cut).toHaveLength(240);
    expect(cut.endsWith('...')).toBe(true);
    expect(cut.slice(0, 9)).toBe(hashAndTruncate(`${long}`).slice(0, 9));
    expect(hashAndTruncate(long.slice(1)).slice(0, 8)).not.toBe(cut.slice(0, 8));
  });
});

describe('golden rule files', () => {
  it.each(topologies)('%s topology, node 1', (name, load) => {
    expectGolden(`${name}.node1.nft`, rulesFor(load()));
  });

  it.each(topologies)('%s: the same text every time, and for every node apart from the header and nodeport-ips', (_name, load) => {
    const topo = load();
    const first = rulesFor(topo);
    expect(rulesFor(load())).toBe(first);
    // the header names the node; nodeport-ips (nftables mode's default `primary`) holds its IP
    const body = (t: string, ip: string) =>
      t.split('\n').filter((l) => !l.startsWith('# kube-proxy nftables mode for node') && l !== `\t\telements = { ${ip} }`);
    for (let i = 1; i < topo.nodes.length; i++) expect(body(rulesFor(topo, i), topo.nodes[i]!.ip)).toEqual(body(first, topo.nodes[0]!.ip));
  });

  it.each(topologies)('%s: one transaction that replaces the table: add, delete, then the table block', (_name, load) => {
    const cmds = rulesFor(load())
      .split('\n')
      .filter((l) => l && !l.startsWith('#') && !/^\s/.test(l) && l !== '}');
    expect(cmds).toEqual(['add table ip kube-proxy', 'delete table ip kube-proxy', 'table ip kube-proxy {']);
  });
});

/** The generated text as nft would read it, checked against the model it came from. */
describe.each(topologies)('structure of the %s rules', (_name, load) => {
  let model: ProxyModel;
  let s: NftSummary;
  let node: Topology['nodes'][number];
  beforeAll(() => {
    const topo = load();
    node = topo.nodes[0]!;
    model = proxyModel(topo);
    s = nftSummaryOfText(rulesFor(topo));
  });
  const withEndpoints = () => model.services.filter((p) => p.endpoints.length > 0);
  const rules = (chain: string) => s.chains[chain]?.rules ?? [];
  const proto = (p: ServicePortModel) => p.protocol.toLowerCase();

  test('every goto/jump target exists as a chain', () => {
    const targets = summaryTargets(s);
    expect(targets.length).toBeGreaterThan(10);
    expect(targets.filter((t) => !s.chains[t.target])).toEqual([]);
  });

  test('every chain but the base chains is reached from somewhere (reject-chain once a service has no endpoints)', () => {
    const reached = new Set(summaryTargets(s).map((t) => t.target));
    // kube-proxy always creates reject-chain; only the no-endpoint maps point at it
    if (model.services.every((p) => p.endpoints.length)) reached.add('reject-chain');
    const orphans = Object.entries(s.chains).filter(([name, c]) => !c.base && !reached.has(name));
    expect(orphans.map(([n]) => n)).toEqual([]);
  });

  test("kube-proxy's base chains, hooks and priorities", () => {
    const bases = Object.fromEntries(Object.entries(s.chains).flatMap(([n, c]) => (c.base ? [[n, c.base]] : [])));
    expect(bases).toEqual({
      'filter-prerouting-pre-dnat': 'type filter hook prerouting priority -110 policy accept',
      'filter-output-pre-dnat': 'type filter hook output priority -110 policy accept',
      'filter-forward': 'type filter hook forward priority 0 policy accept',
      'filter-input': 'type filter hook input priority 0 policy accept',
      'filter-output': 'type filter hook output priority 0 policy accept',
      'nat-prerouting': 'type nat hook prerouting priority -100 policy accept',
      'nat-output': 'type nat hook output priority -100 policy accept',
      'nat-postrouting': 'type nat hook postrouting priority 100 policy accept',
    });
    expect(rules('nat-prerouting')).toEqual(['jump services']);
    expect(rules('nat-output')).toEqual(['jump services']);
    expect(rules('nat-postrouting')).toEqual(['jump masquerading']);
    expect(rules('filter-forward')).toEqual(['ct state == new jump service-endpoints-check', 'ct state == new jump cluster-ips-check']);
    expect(rules('filter-output')).toEqual(['ct state == new jump service-endpoints-check', 'ct state == new jump cluster-ips-check']);
    expect(rules('filter-output-pre-dnat')).toEqual(['ct state == new jump firewall-check']);
    expect(rules('cluster-ips-check')).toEqual([
      'ip daddr == @cluster-ips reject comment "Reject traffic to invalid ports of ClusterIPs"',
      `ip daddr == ${model.serviceCIDR} drop comment "Drop traffic to unallocated ClusterIPs"`,
    ]);
  });

  test('services: cluster IPs through service-ips, then node ports on the nodePortAddresses (last)', () => {
    // nftables mode's default `primary`: the nodeport-ips set with the node's IP; [] (iptables
    // mode's default, used by the default topology) is every local address, as fib says
    const all = model.nodePortAddresses.length === 0;
    expect(rules('services')).toEqual([
      'ip daddr . meta l4proto . th dport vmap @service-ips',
      all
        ? 'fib daddr type == local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports'
        : 'ip daddr == @nodeport-ips meta l4proto . th dport vmap @service-nodeports',
    ]);
    expect(s.sets['nodeport-ips']?.elements).toEqual(all ? undefined : [node.ip]);
    expect(s.sets['service-ips']?.type).toBe('ipv4_addr . inet_proto . inet_service : verdict');
    expect(s.sets['service-nodeports']?.type).toBe('inet_proto . inet_service : verdict');
  });

  test('every cluster IP with endpoints is in service-ips with its protocol and port, nothing else is', () => {
    const want = withEndpoints()
      .map((p) => `${p.clusterIP} . ${proto(p)} . ${p.port} : goto ${nftServiceChain(p)}`)
      .sort();
    expect(s.sets['service-ips']?.elements).toEqual(want);
    expect(s.sets['cluster-ips']?.elements).toEqual([...new Set(model.services.map((p) => p.clusterIP))].sort());
  });

  test('services without endpoints are rejected (no-endpoint maps), and have no nat chains', () => {
    const none = model.services.filter((p) => !p.endpoints.length);
    expect(s.sets['no-endpoint-services']?.elements).toEqual(
      none.map((p) => `${p.clusterIP} . ${proto(p)} . ${p.port} comment "${p.id}" : goto reject-chain`).sort(),
    );
    expect(s.sets['no-endpoint-nodeports']?.elements).toEqual(
      none
        .filter((p) => p.nodePort !== undefined)
        .map((p) => `${proto(p)} . ${p.nodePort} comment "${p.id}" : goto reject-chain`)
        .sort(),
    );
    for (const p of none) expect(s.chains[nftServiceChain(p)]).toBeUndefined();
    expect(rules('reject-chain')).toEqual(['reject']);
    expect(rules('service-endpoints-check')).toEqual(['ip daddr . meta l4proto . th dport vmap @no-endpoint-services']);
    expect(rules('filter-input')).toContain('ct state == new jump nodeport-endpoints-check');
  });

  test('each service chain masquerades off-cluster clients, then picks an endpoint: numgen mod N, keys 0..N-1', () => {
    for (const p of withEndpoints()) {
      const r = rules(nftServiceChain(p));
      expect(r).toHaveLength(2);
      expect(r[0]).toBe(`ip daddr == ${p.clusterIP} ip saddr != ${model.clusterCIDR} jump mark-for-masquerade`);
      const m = /^numgen random mod (\d+) vmap \{ (.*) \}$/.exec(r[1]!);
      expect(m).not.toBeNull();
      const n = p.endpoints.length;
      expect(Number(m![1])).toBe(n);
      const entries = m![2]!.split(', ').map((e) => e.split(' : '));
      expect(entries.map(([k]) => Number(k))).toEqual([...Array(n).keys()]);
      expect(entries.map(([, v]) => v)).toEqual(p.endpoints.map((ep) => `goto ${nftEndpointChain(p, ep)}`));
    }
  });

  test('each endpoint chain marks hairpin traffic and DNATs with the service protocol', () => {
    for (const p of withEndpoints())
      for (const ep of p.endpoints)
        expect(rules(nftEndpointChain(p, ep))).toEqual([
          `ip saddr == ${ep.ip} jump mark-for-masquerade`,
          `meta l4proto == ${proto(p)} dnat to ${ep.ip}:${ep.port}`,
        ]);
  });

  test('node ports: service-nodeports -> external chain -> mark for masquerade, then the service chain', () => {
    const nps = withEndpoints().filter((p) => p.nodePort !== undefined);
    expect(nps.length).toBeGreaterThan(0);
    expect(s.sets['service-nodeports']?.elements).toEqual(
      nps.map((p) => `${proto(p)} . ${p.nodePort} : goto ${nftExternalChain(p)}`).sort(),
    );
    for (const p of nps) expect(rules(nftExternalChain(p))).toEqual(['jump mark-for-masquerade', `goto ${nftServiceChain(p)}`]);
  });

  test('masquerading uses the model mark: set with or, checked with and, cleared with xor, fully random', () => {
    expect(rules('mark-for-masquerade')).toEqual([`meta mark set meta mark | ${model.mark}`]);
    expect(rules('masquerading')).toEqual([
      `meta mark & ${model.mark} == 0 return`,
      `meta mark set meta mark ^ ${model.mark}`,
      'masquerade fully-random',
    ]);
  });
});

describe('coverage of the fixture', () => {
  test('named multi-port, UDP, NodePort, zero, one and three endpoints are all there', () => {
    const model = proxyModel(loadTopology(FIXTURE));
    const ids = model.services.map((p) => `${p.id}/${p.protocol}/${p.endpoints.length}${p.nodePort ? `/np${p.nodePort}` : ''}`);
    expect(ids.sort()).toEqual(
      [
        'default/api:http/TCP/3',
        'default/api:metrics/TCP/3',
        'default/empty:http/TCP/0/np30081',
        'default/nodeweb/TCP/1/np30080',
        'kube-system/dns:dns-tcp/TCP/1',
        'kube-system/dns:dns/UDP/1',
      ].sort(),
    );
  });

  test('another masquerade bit changes every mark', () => {
    const text = readFileSync(FIXTURE, 'utf8').replace('masqueradeBit: 14', 'masqueradeBit: 15');
    const topo = loadTopologyText(text, FIXTURE);
    const rules = rulesFor(topo);
    expect(markHex(proxyModel(topo).mark)).toBe('0x8000');
    expect(rules).toContain('meta mark set meta mark or 0x8000');
    expect(rules).toContain('meta mark and 0x8000 == 0 return');
    expect(rules).not.toContain('0x4000');
  });
});

describe('summaries', () => {
  const text = rulesFor(loadTopology(FIXTURE));
  const base = nftSummaryOfText(text);

  test('removing any one rule line is noticed, and named', () => {
    const lines = text.split('\n');
    let inChain = '';
    let checked = 0;
    lines.forEach((line, i) => {
      const open = /^\tchain (\S+) \{$/.exec(line);
      if (open) inChain = open[1]!;
      else if (line === '\t}') inChain = '';
      else if (inChain && /^\t\t(?!type |comment )/.test(line)) {
        const diff = diffSummaries(base, nftSummaryOfText([...lines.slice(0, i), ...lines.slice(i + 1)].join('\n')));
        expect(diff.length).toBeGreaterThan(0);
        expect(diff.join('\n')).toContain(`chain ${inChain} `);
        checked++;
      }
    });
    expect(checked).toBeGreaterThan(30);
  });

  test('a missing element, a changed modulus, a changed DNAT port and an extra chain are noticed', () => {
    const mutate = (from: string | RegExp, to: string) => {
      const changed = text.replace(from, to);
      expect(changed).not.toBe(text);
      return diffSummaries(base, nftSummaryOfText(changed));
    };
    expect(mutate('10.43.0.10 . udp . 53 : goto service-2YY5BS5C-kube-system/dns/udp/dns,\n\t\t\t     ', '')).toEqual([
      'map service-ips: missing element 10.43.0.10 . udp . 53 : goto service-2YY5BS5C-kube-system/dns/udp/dns',
    ]);
    expect(mutate('mod 3 vmap', 'mod 2 vmap')).toHaveLength(1);
    expect(mutate('dnat to 10.42.1.80:80', 'dnat to 10.42.1.80:81')).toHaveLength(1);
    expect(mutate(/\n}\n$/, '\n\tchain extra {\n\t}\n}\n')).toEqual(['chain extra: unexpected']);
    expect(mutate('elements = { 10.43.0.10,', 'elements = { 10.43.0.11,')).toHaveLength(2);
    expect(mutate('comment "default/empty:http" : goto reject-chain }', 'comment "default/empty" : goto reject-chain }')).toHaveLength(2);
  });

  test('the text parser refuses what it does not model instead of skipping it', () => {
    const wrap = (rule: string) => `table ip kube-proxy {\n\tchain x {\n\t\t${rule}\n\t}\n}\n`;
    expect(() => nftSummaryOfText(wrap('ip daddr 10.0.0.1 counter accept'))).toThrow(/unknown expression 'counter'/);
    expect(() => nftSummaryOfText(wrap('log prefix "x"'))).toThrow();
    expect(() => nftSummaryOfText('flush ruleset\n')).toThrow(/unsupported command/);
    expect(() => nftSummaryOfText('table ip other {\n}\n')).toThrow(/only table ip kube-proxy/);
    expect(() => nftSummaryOfText('table ip kube-proxy {\n\tchain x {\n')).toThrow(/unterminated/);
  });

  test('delete-then-add: only the last table block counts; no table at all gives an empty summary', () => {
    expect(nftSummaryOfText('add table ip kube-proxy\ndelete table ip kube-proxy\n')).toEqual({ chains: {}, sets: {} });
    expect(nftSummaryOfText(`${text}\n${text}`)).toEqual(base);
  });

  // A trimmed capture of `nft -j list table ip kube-proxy` (nft 1.0.6, kernel 6.x) and the
  // text it was loaded from: the JSON reader and the text reader must agree without root.
  test('nft -j output and the text it came from give the same summary', () => {
    const loaded = [
      'table ip kube-proxy {',
      '\tchain nat-output {',
      '\t\ttype nat hook output priority -100; policy accept;',
      '\t\tjump services',
      '\t}',
      '\tchain filter-input {',
      '\t\ttype filter hook input priority dstnat - 10; policy accept;',
      '\t\tct state new jump services',
      '\t}',
      '\tchain services {',
      '\t\tfib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports',
      '\t\tip daddr @cluster-ips reject comment "Reject traffic to invalid ports of ClusterIPs"',
      '\t\tnumgen random mod 2 vmap { 1 : goto e2, 0 : goto e1 }',
      '\t}',
      '\tchain masquerading {',
      '\t\tmeta mark and 0x4000 == 0 return',
      '\t\tmeta mark set meta mark xor 0x4000',
      '\t\tmasquerade fully-random',
      '\t}',
      '\tchain e1 {',
      '\t\tip daddr 10.43.0.10 udp dport 53 ip saddr != 10.42.0.0/16 jump masquerading',
      '\t\tmeta l4proto udp dnat to 10.42.0.53:53',
      '\t}',
      '\tchain e2 {',
      '\t\treject',
      '\t}',
      '\tmap service-nodeports {',
      '\t\ttype inet_proto . inet_service : verdict',
      '\t\tcomment "NodePort traffic"',
      '\t\telements = { tcp . 30081 comment "default/empty:http" : goto e2,',
      '\t\t\t     udp . 53 : goto e1 }',
      '\t}',
      '\tset cluster-ips {',
      '\t\ttype ipv4_addr',
      '\t\telements = { 10.43.0.10 }',
      '\t}',
      '}',
    ].join('\n');
    const chain = (name: string, extra: object = {}) => ({ chain: { family: 'ip', table: 'kube-proxy', name, handle: 1, ...extra } });
    const rule = (chainName: string, expr: unknown[], comment?: string) => ({
      rule: { family: 'ip', table: 'kube-proxy', chain: chainName, handle: 9, expr, ...(comment ? { comment } : {}) },
    });
    const payload = (protocol: string, field: string) => ({ payload: { protocol, field } });
    const mark = { meta: { key: 'mark' } };
    const json = {
      nftables: [
        { metainfo: { version: '1.0.6', release_name: 'Lester Gooch #5', json_schema_version: 1 } },
        { table: { family: 'ip', name: 'kube-proxy', handle: 3 } },
        { table: { family: 'ip', name: 'other', handle: 4 } },
        { chain: { family: 'ip', table: 'other', name: 'ignored', handle: 1 } },
        {
          map: {
            family: 'ip',
            name: 'service-nodeports',
            table: 'kube-proxy',
            type: ['inet_proto', 'inet_service'],
            handle: 26,
            comment: 'NodePort traffic',
            map: 'verdict',
            elem: [
              [{ concat: ['udp', 53] }, { goto: { target: 'e1' } }],
              [{ elem: { val: { concat: ['tcp', 30081] }, comment: 'default/empty:http' } }, { goto: { target: 'e2' } }],
            ],
          },
        },
        { set: { family: 'ip', name: 'cluster-ips', table: 'kube-proxy', type: 'ipv4_addr', handle: 21, elem: ['10.43.0.10'] } },
        chain('nat-output', { type: 'nat', hook: 'output', prio: -100, policy: 'accept' }),
        chain('filter-input', { type: 'filter', hook: 'input', prio: -110, policy: 'accept' }),
        chain('services'),
        chain('masquerading'),
        chain('e1'),
        chain('e2'),
        rule('nat-output', [{ jump: { target: 'services' } }]),
        rule('filter-input', [{ match: { op: 'in', left: { ct: { key: 'state' } }, right: 'new' } }, { jump: { target: 'services' } }]),
        rule('services', [
          { match: { op: '==', left: { fib: { result: 'type', flags: ['daddr'] } }, right: 'local' } },
          { match: { op: '!=', left: payload('ip', 'daddr'), right: { prefix: { addr: '127.0.0.0', len: 8 } } } },
          { vmap: { key: { concat: [{ meta: { key: 'l4proto' } }, payload('th', 'dport')] }, data: '@service-nodeports' } },
        ]),
        rule(
          'services',
          [
            { match: { op: '==', left: payload('ip', 'daddr'), right: '@cluster-ips' } },
            { reject: { type: 'icmp', expr: 'port-unreachable' } },
          ],
          'Reject traffic to invalid ports of ClusterIPs',
        ),
        rule('services', [
          {
            vmap: {
              key: { numgen: { mode: 'random', mod: 2, offset: 0 } },
              data: {
                set: [
                  [0, { goto: { target: 'e1' } }],
                  [1, { goto: { target: 'e2' } }],
                ],
              },
            },
          },
        ]),
        rule('masquerading', [{ match: { op: '==', left: { '&': [mark, 16384] }, right: 0 } }, { return: null }]),
        rule('masquerading', [{ mangle: { key: mark, value: { '^': [mark, 16384] } } }]),
        rule('masquerading', [{ masquerade: { flags: 'fully-random' } }]),
        rule('e1', [
          { match: { op: '==', left: payload('ip', 'daddr'), right: '10.43.0.10' } },
          { match: { op: '==', left: payload('udp', 'dport'), right: 53 } },
          { match: { op: '!=', left: payload('ip', 'saddr'), right: { prefix: { addr: '10.42.0.0', len: 16 } } } },
          { jump: { target: 'masquerading' } },
        ]),
        rule('e1', [{ match: { op: '==', left: { meta: { key: 'l4proto' } }, right: 'udp' } }, { dnat: { addr: '10.42.0.53', port: 53 } }]),
        rule('e2', [{ reject: { type: 'icmp', expr: 'port-unreachable' } }]),
      ],
    };
    const fromText = nftSummaryOfText(loaded);
    expect(diffSummaries(fromText, nftSummary(json))).toEqual([]);
    expect(nftSummary(json)).toEqual(fromText);
    // and an expression neither side models stays visible as a difference
    const odd = structuredClone(json);
    odd.nftables.push(rule('e2', [{ counter: { packets: 0, bytes: 0 } }]));
    expect(diffSummaries(fromText, nftSummary(odd))).toEqual([
      'chain e2 rule 2: want \'(none)\', got \'{"counter":{"packets":0,"bytes":0}}\'',
    ]);
  });
});

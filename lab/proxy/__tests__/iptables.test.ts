import { join } from 'node:path';
import { expectGoldenFile } from '../../testing/golden';
import { topologyFile } from '../../testing/kernel';
import { loadTopology } from '../../topology/resolve';
import { iptablesRules, probability } from '../iptables';
import { danglingJumps, parseTables, ruleKey, words } from '../iptables-parse';
import { extChain, proxyModel, sepChain, svcChain } from '../../model/proxy';
import { nodeNamespace } from '../../model/kernel-names';
import type { Topology } from '../../topology/types';
import { planProxy } from '../plan';

const GOLDEN = join(__dirname, 'golden');
const FIXTURE = join(__dirname, 'fixtures', 'iptables-services.yaml');
const rulesOf = (file: string) => {
  const model = proxyModel(loadTopology(file));
  return { model, text: iptablesRules(model) };
};
const def = rulesOf(topologyFile('default.yaml'));
const fix = rulesOf(FIXTURE);
const chainRules = (text: string, table: string, chain: string) =>
  parseTables(text).rules.filter((r) => r.table === table && r.chain === chain);

describe('iptables mode: generated restore text', () => {
  test.each([
    ['default lab', def.text, 'default.iptables'],
    ['fixture with UDP, named ports, NodePort, no endpoints', fix.text, 'iptables-services.iptables'],
  ])('%s equals its golden file', (_name, text, golden) => expectGoldenFile(join(GOLDEN, golden), text));

  test.each([
    ['default', def.text],
    ['fixture', fix.text],
  ])('%s: every jump targets a chain that exists', (_n, text) => {
    expect(danglingJumps(text)).toEqual([]);
  });

  test('the checker does catch a jump to a chain that is not declared', () => {
    const broken = def.text.replace(/^:KUBE-MARK-MASQ - \[0:0\]\n/m, '');
    expect(danglingJumps(broken).length).toBeGreaterThan(0);
  });

  test.each([
    ['default', def],
    ['fixture', fix],
  ])("%s: each service's endpoint choice is 1/(n-i) with 10 decimals, the last without", (_n, { model, text }) => {
    for (const sp of model.services.filter((s) => s.endpoints.length)) {
      const picks = chainRules(text, 'nat', svcChain(sp)).filter((r) => r.target?.startsWith('KUBE-SEP-'));
      expect(picks).toHaveLength(sp.endpoints.length);
      const written = picks.map((r) => /--probability (\S+)/.exec(r.text)?.[1]);
      const n = sp.endpoints.length;
      written.forEach((p, i) => {
        if (i === n - 1) return expect(p).toBeUndefined();
        expect(p).toMatch(/^\d\.\d{10}$/);
        expect(Number(p)).toBeCloseTo(1 / (n - i), 10);
      });
      // The chance of reaching endpoint i is the same for every i: (prod of misses) * p_i = 1/n.
      let reach = 1;
      const share = written.map((p) => {
        const pi = p === undefined ? 1 : Number(p);
        const s = reach * pi;
        reach *= 1 - pi;
        return s;
      });
      share.forEach((s) => expect(s).toBeCloseTo(1 / n, 9));
    }
  });

  test("article 003's nginx-test rules: as iptables-save showed them on a real node, the same rules", () => {
    // iptables-save prints the kernel's order (-d X/32 first); kube-proxy writes its own
    const saved = [
      '-A KUBE-SERVICES -d 10.43.6.58/32 -m comment --comment "default/nginx-test:80-80 cluster IP" -p tcp -m tcp --dport 80 -j KUBE-SVC-7CWUT4JBGBRVUN2L',
      '-A KUBE-SVC-7CWUT4JBGBRVUN2L -m comment --comment "default/nginx-test:80-80 -> 10.42.1.6:80" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-U2YYZT2C3O6VM4EV',
      '-A KUBE-SVC-7CWUT4JBGBRVUN2L -m comment --comment "default/nginx-test:80-80 -> 10.42.2.6:80" -j KUBE-SEP-GWUIQWA2TNZI4ESX',
      '-A KUBE-SEP-U2YYZT2C3O6VM4EV -p tcp -m comment --comment default/nginx-test:80-80 -m tcp -j DNAT --to-destination 10.42.1.6:80',
    ];
    const keys = new Set(parseTables(def.text).rules.map(ruleKey));
    for (const line of saved) expect(keys).toContain(ruleKey(parseTables(`*nat\n${line}\nCOMMIT\n`).rules[0]!));
    // and word for word as kube-proxy writes the first of them
    expect(def.text.split('\n')).toContain(
      '-A KUBE-SERVICES -m comment --comment "default/nginx-test:80-80 cluster IP" -m tcp -p tcp -d 10.43.6.58 --dport 80 -j KUBE-SVC-7CWUT4JBGBRVUN2L',
    );
  });

  test("layout: kube-proxy's jumps from the built-in chains, the masquerade mark, its SNAT, node ports last", () => {
    const nat = (chain: string) => chainRules(def.text, 'nat', chain);
    const filter = (chain: string) => chainRules(def.text, 'filter', chain);
    // each -I went to the top: the last one inserted comes first, as kube-proxy's -C/-I leave them
    expect(nat('PREROUTING').map((r) => r.target)).toEqual(['KUBE-SERVICES']);
    expect(nat('OUTPUT').map((r) => r.target)).toEqual(['KUBE-SERVICES']);
    expect(nat('POSTROUTING').map((r) => r.target)).toEqual(['KUBE-POSTROUTING']);
    expect(filter('INPUT').map((r) => r.target)).toEqual([
      'KUBE-FIREWALL',
      'KUBE-PROXY-FIREWALL',
      'KUBE-NODEPORTS',
      'KUBE-EXTERNAL-SERVICES',
    ]);
    expect(filter('FORWARD').map((r) => r.target)).toEqual([
      'KUBE-PROXY-FIREWALL',
      'KUBE-FORWARD',
      'KUBE-SERVICES',
      'KUBE-EXTERNAL-SERVICES',
    ]);
    expect(filter('OUTPUT').map((r) => r.target)).toEqual(['KUBE-FIREWALL', 'KUBE-PROXY-FIREWALL', 'KUBE-SERVICES']);
    // the built-in chains are never declared: restored with --noflush, they keep what others put there
    expect(def.text).not.toMatch(/^:(INPUT|FORWARD|OUTPUT|PREROUTING|POSTROUTING) /m);
    expect(nat('KUBE-MARK-MASQ').map((r) => r.text)).toEqual(['-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000']);
    expect(nat('KUBE-POSTROUTING').map((r) => r.text)).toEqual([
      '-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN',
      '-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000',
      '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully',
    ]);
    expect(filter('KUBE-FIREWALL').map((r) => r.text)).toEqual([
      '-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP',
    ]);
    const services = nat('KUBE-SERVICES');
    expect(services.at(-1)?.text).toContain('-m addrtype --dst-type LOCAL -j KUBE-NODEPORTS');
    // first rule of a service chain: traffic to the cluster IP from outside the pod CIDR is marked
    expect(nat('KUBE-SVC-7CWUT4JBGBRVUN2L')[0]!.text).toBe(
      '-A KUBE-SVC-7CWUT4JBGBRVUN2L -m comment --comment "default/nginx-test:80-80 cluster IP" -m tcp -p tcp -d 10.43.6.58 --dport 80 ! -s 10.42.0.0/16 -j KUBE-MARK-MASQ',
    );
    // node port → KUBE-EXT (mark, then the service chain)
    expect(nat('KUBE-NODEPORTS').map((r) => r.text)).toEqual([
      '-A KUBE-NODEPORTS -m comment --comment default/nginx-test:80-80 -m tcp -p tcp --dport 32506 -j KUBE-EXT-7CWUT4JBGBRVUN2L',
    ]);
    expect(nat('KUBE-EXT-7CWUT4JBGBRVUN2L').map((r) => r.target)).toEqual(['KUBE-MARK-MASQ', 'KUBE-SVC-7CWUT4JBGBRVUN2L']);
    // each endpoint marks its own hairpin traffic before the DNAT
    expect(nat('KUBE-SEP-U2YYZT2C3O6VM4EV').map((r) => r.text)).toEqual([
      '-A KUBE-SEP-U2YYZT2C3O6VM4EV -m comment --comment default/nginx-test:80-80 -s 10.42.1.6 -j KUBE-MARK-MASQ',
      '-A KUBE-SEP-U2YYZT2C3O6VM4EV -m comment --comment default/nginx-test:80-80 -m tcp -p tcp -j DNAT --to-destination 10.42.1.6:80',
    ]);
  });

  test('UDP ports match udp, a service without endpoints is rejected in filter, not DNATed', () => {
    expect(fix.text).toContain(
      '-A KUBE-SERVICES -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp -p udp -d 10.96.0.10 --dport 53 -j KUBE-SVC-TCOU7JCQXEZGVUNU',
    );
    const rejects = chainRules(fix.text, 'filter', 'KUBE-SERVICES');
    expect(rejects.map((r) => r.text)).toEqual([
      '-A KUBE-SERVICES -m comment --comment "default/empty has no endpoints" -m tcp -p tcp -d 10.96.0.12 --dport 81 -j REJECT',
    ]);
    expect(chainRules(fix.text, 'nat', 'KUBE-SERVICES').some((r) => r.text.includes('10.96.0.12'))).toBe(false);
  });
});

describe('reading restore/save text back', () => {
  test('words honours iptables-save quoting', () => {
    expect(words('-A X -m comment --comment "a b \\"c\\"" -j Y')).toEqual(['-A', 'X', '-m', 'comment', '--comment', 'a b "c"', '-j', 'Y']);
  });

  test('a rule as written and as iptables-save prints it compare equal', () => {
    // what kube-proxy writes, and what `iptables-save` (nf_tables backend, v1.8.9) printed for it
    const written = parseTables(
      '*nat\n:X - [0:0]\n-A X -m statistic --mode random --probability 0.3333333333 -j KUBE-MARK-MASQ\n-A X -d 10.43.0.10 -j MARK --or-mark 0x4000\nCOMMIT\n',
    );
    const saved = parseTables(
      '*nat\n:X - [0:0]\n-A X -m statistic --mode random --probability 0.33333333349 -j KUBE-MARK-MASQ\n-A X -d 10.43.0.10/32 -j MARK --set-xmark 0x4000/0x4000\nCOMMIT\n',
    );
    expect(written.rules.map(ruleKey)).toEqual(saved.rules.map(ruleKey));
  });

  test('a different probability, address or target does not compare equal', () => {
    const key = (rule: string) => ruleKey(parseTables(`*nat\n${rule}\nCOMMIT\n`).rules[0]!);
    const base = '-A X -d 10.43.0.10/32 -m statistic --mode random --probability 0.5000000000 -j A';
    expect(key(base)).not.toBe(key(base.replace('0.5000000000', '0.2500000000')));
    expect(key(base)).not.toBe(key(base.replace('10.43.0.10', '10.43.0.11')));
    expect(key(base)).not.toBe(key(base.replace('-j A', '-j B')));
    expect(key(base)).not.toBe(key(base.replace('-d', '! -d')));
  });

  test('probability() is 1/(n-i) with 10 decimals', () => {
    expect([0, 1].map((i) => probability(3, i))).toEqual(['0.3333333333', '0.5000000000']);
  });
});

describe('kube-proxy options and re-syncs (planProxy)', () => {
  const topo = loadTopology(topologyFile('default.yaml'));
  const withProxy = (proxy: Partial<Topology['proxy']>): Topology => ({ ...topo, proxy: { ...topo.proxy, ...proxy } });
  const stepsOf = (t: Topology, opts: Parameters<typeof planProxy>[1] = {}) => planProxy(t, opts).flatMap((p) => p.steps);
  const batchOf = (t: Topology, node: string, opts: Parameters<typeof planProxy>[1] = {}) =>
    stepsOf(t, opts).find((s) => s.tool === 'iptables-restore' && s.ns === nodeNamespace(t.name, node))!;
  const lastRules = (text: string) =>
    chainRules(text, 'nat', 'KUBE-SERVICES')
      .filter((r) => r.target === 'KUBE-NODEPORTS')
      .map((r) => r.text);

  test('the batch is restored with --noflush, and route_localnet is set where localhost node ports are on', () => {
    expect(batchOf(topo, 'node1').append).toBe(true);
    expect(
      stepsOf(topo)
        .filter((s) => s.tool === 'sysctl')
        .map((s) => s.lines),
    ).toEqual(topo.nodes.map(() => ['net.ipv4.conf.all.route_localnet=1']));
    expect(stepsOf(withProxy({ localhostNodePorts: false })).filter((s) => s.tool === 'sysctl')).toEqual([]);
  });

  test('localhostNodePorts off: no node ports on 127.0.0.0/8, KUBE-FIREWALL empty', () => {
    const text = batchOf(withProxy({ localhostNodePorts: false }), 'node1').lines.join('\n');
    expect(lastRules(text)).toEqual([
      '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j KUBE-NODEPORTS',
    ]);
    expect(chainRules(text, 'filter', 'KUBE-FIREWALL')).toEqual([]);
  });

  test('nodePortAddresses: one jump per node address it allows (-d), each node its own; without 127.0.0.1 localhost node ports are off', () => {
    const t = withProxy({ nodePortAddresses: ['192.168.205.0/24'] });
    const n1 = batchOf(t, 'node1').lines.join('\n');
    expect(lastRules(n1)).toEqual([
      `-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -d ${topo.nodes[0]!.ip} -j KUBE-NODEPORTS`,
    ]);
    expect(lastRules(batchOf(t, 'node2').lines.join('\n'))[0]).toContain(`-d ${topo.nodes[1]!.ip} -j`);
    expect(chainRules(n1, 'filter', 'KUBE-FIREWALL')).toEqual([]);
    expect(stepsOf(t).filter((s) => s.tool === 'sysctl')).toEqual([]);
    // 127.0.0.0/8 and primary: loopback first (as the kernel lists lo), then the node IP
    const both = lastRules(batchOf(withProxy({ nodePortAddresses: ['127.0.0.0/8', 'primary'] }), 'node1').lines.join('\n'));
    expect(both.map((l) => /-d (\S+)/.exec(l)![1])).toEqual(['127.0.0.1', topo.nodes[0]!.ip]);
    // cni0's subnet: the cni0 address only
    expect(lastRules(batchOf(withProxy({ nodePortAddresses: [`${topo.nodes[0]!.cni0}/32`] }), 'node1').lines.join('\n'))[0]).toContain(
      `-d ${topo.nodes[0]!.cni0} -j`,
    );
  });

  test('a re-sync inserts no jumps again, and deletes (-X) the chains of services and endpoints that went away', () => {
    const fewer: Topology = { ...topo, services: topo.services.filter((s) => s.name !== 'nginx-test') };
    const text = batchOf(fewer, 'node1', { resync: true, previous: topo }).lines.join('\n');
    expect(text).not.toMatch(/^-I /m);
    const gone = parseTables(text).deleted.get('nat')!;
    const nginx = proxyModel(topo).services.find((s) => s.service === 'nginx-test')!;
    expect([...gone].sort()).toEqual([svcChain(nginx), extChain(nginx), ...nginx.endpoints.map((e) => sepChain(nginx, e))].sort());
    // each deleted chain is declared first: that flushes it, so nothing refers to what is deleted
    for (const c of gone) expect(text.indexOf(`:${c} - [0:0]`)).toBeLessThan(text.indexOf(`-X ${c}`));
    expect(danglingJumps(text)).toEqual([]);
    // the first install has the -I lines
    expect(batchOf(topo, 'node1').lines.filter((l) => l.startsWith('-I '))).toHaveLength(14);
  });

  test("given the node's tables (iptables-save), a re-sync inserts only the jumps that are missing and deletes the node's unused service chains", () => {
    // the node as iptables-save shows it: the first install, then PREROUTING flushed, a stale chain and one of the user's
    const saved = [
      '*nat',
      ':PREROUTING ACCEPT [0:0]',
      ':OUTPUT ACCEPT [0:0]',
      ':POSTROUTING ACCEPT [0:0]',
      ':KUBE-SVC-OLDOLDOLDOLDOLDO - [0:0]',
      ':MYCHAIN - [0:0]',
      '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
      '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
      'COMMIT',
      '*filter',
      // the filter jumps, all but KUBE-FIREWALL's
      ...batchOf(topo, 'node1')
        .lines.slice(0, batchOf(topo, 'node1').lines.indexOf('COMMIT'))
        .filter((l) => l.startsWith('-I ') && !l.endsWith('KUBE-FIREWALL'))
        .map((l) => l.replace(/^-I/, '-A')),
      'COMMIT',
    ].join('\n');
    const held = Object.fromEntries(topo.nodes.map((n) => [n.name, saved]));
    const text = batchOf(topo, 'node1', { resync: true, previous: topo, held }).lines.join('\n');
    expect(text.split('\n').filter((l) => l.startsWith('-I '))).toEqual([
      '-I INPUT -j KUBE-FIREWALL',
      '-I OUTPUT -j KUBE-FIREWALL',
      '-I PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    ]);
    expect([...parseTables(text).deleted.get('nat')!]).toEqual(['KUBE-SVC-OLDOLDOLDOLDOLDO']);
  });

  test("another masquerade bit (15: 0x8000) in every rule that marks or tests it, in kube-proxy's words", () => {
    const text = batchOf(withProxy({ masqueradeBit: 15 }), 'node1').lines.join('\n');
    expect(chainRules(text, 'nat', 'KUBE-MARK-MASQ').map((r) => r.text)).toEqual(['-A KUBE-MARK-MASQ -j MARK --or-mark 0x8000']);
    expect(chainRules(text, 'nat', 'KUBE-POSTROUTING').map((r) => r.text.split(' -j ')[0])).toEqual([
      '-A KUBE-POSTROUTING -m mark ! --mark 0x8000/0x8000',
      '-A KUBE-POSTROUTING',
      '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT"',
    ]);
    expect(text).toContain('-j MARK --xor-mark 0x8000');
    expect(text).toContain('-m mark --mark 0x8000/0x8000 -j ACCEPT');
    expect(text).not.toContain('0x4000');
  });

  test("endpoints in kube-proxy's order (ip:port text: 10.42.1.11 before 10.42.1.9) get the probabilities in that order", () => {
    const web2 = topo.pods.find((p) => p.name === 'web-2')!;
    const t: Topology = { ...topo, pods: [...topo.pods, { ...web2, name: 'web-4', ip: '10.42.1.11' }] };
    const web = proxyModel(t).services.find((s) => s.service === 'web')!;
    const picks = chainRules(batchOf(t, 'node1').lines.join('\n'), 'nat', svcChain(web)).filter((r) => r.target?.startsWith('KUBE-SEP-'));
    expect(picks.map((r) => r.opts.get('--comment'))).toEqual([
      'default/web:http -> 10.42.0.66:80',
      'default/web:http -> 10.42.1.11:80',
      'default/web:http -> 10.42.1.9:80',
      'default/web:http -> 10.42.2.9:80',
    ]);
    expect(picks.map((r) => r.opts.get('--probability'))).toEqual(['0.25000000', '0.33333333', '0.50000000', undefined]);
  });

  test('a re-sync does not append an unchanged rule file again (--noflush kept it), a changed one it does', () => {
    const file = {
      nodes: '*' as const,
      tool: 'iptables-restore' as const,
      file: 'own.rules',
      mode: 'append' as const,
      text: '*filter\n-A INPUT -p tcp --dport 9 -j DROP\nCOMMIT\n',
    };
    const t = withProxy({ rules: [file] });
    const appended = (opts: Parameters<typeof planProxy>[1]) => planProxy(t, opts).filter((p) => p.name === 'rules').length;
    expect(appended({})).toBe(1);
    expect(appended({ resync: true, previous: t })).toBe(0);
    expect(appended({ resync: true, previous: withProxy({ rules: [{ ...file, text: '*filter\nCOMMIT\n' }] }) })).toBe(1);
  });
});

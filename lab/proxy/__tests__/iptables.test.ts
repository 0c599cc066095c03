import { join } from 'node:path';
import { expectGoldenFile } from '../../testing/golden';
import { topologyFile } from '../../testing/kernel';
import { loadTopology } from '../../topology/resolve';
import { iptablesRules, probability } from '../iptables';
import { danglingJumps, parseTables, ruleKey, words } from '../iptables-parse';
import { proxyModel, svcChain } from '../../model/proxy';

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

  test("article 003's nginx-test rules, word for word as kube-proxy writes them", () => {
    const lines = def.text.split('\n');
    expect(lines).toContain(
      '-A KUBE-SERVICES -d 10.43.6.58/32 -m comment --comment "default/nginx-test:80-80 cluster IP" -p tcp -m tcp --dport 80 -j KUBE-SVC-7CWUT4JBGBRVUN2L',
    );
    expect(lines).toContain(
      '-A KUBE-SVC-7CWUT4JBGBRVUN2L -m comment --comment "default/nginx-test:80-80 -> 10.42.1.6:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-U2YYZT2C3O6VM4EV',
    );
    expect(lines).toContain(
      '-A KUBE-SVC-7CWUT4JBGBRVUN2L -m comment --comment "default/nginx-test:80-80 -> 10.42.2.6:80" -j KUBE-SEP-GWUIQWA2TNZI4ESX',
    );
    expect(lines).toContain(
      '-A KUBE-SEP-U2YYZT2C3O6VM4EV -m comment --comment default/nginx-test:80-80 -p tcp -m tcp -j DNAT --to-destination 10.42.1.6:80',
    );
  });

  test('layout: portals, the masquerade mark, its SNAT, node ports last', () => {
    const nat = (chain: string) => chainRules(def.text, 'nat', chain);
    expect(nat('PREROUTING').map((r) => r.target)).toEqual(['KUBE-SERVICES']);
    expect(nat('OUTPUT').map((r) => r.target)).toEqual(['KUBE-SERVICES']);
    expect(nat('POSTROUTING').map((r) => r.target)).toEqual(['KUBE-POSTROUTING']);
    expect(nat('KUBE-MARK-MASQ').map((r) => r.text)).toEqual(['-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000']);
    expect(nat('KUBE-POSTROUTING').map((r) => r.text)).toEqual([
      '-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN',
      '-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000',
      '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully',
    ]);
    const services = nat('KUBE-SERVICES');
    expect(services.at(-1)?.text).toContain('-m addrtype --dst-type LOCAL -j KUBE-NODEPORTS');
    // first rule of a service chain: traffic to the cluster IP from outside the pod CIDR is marked
    const first = nat('KUBE-SVC-7CWUT4JBGBRVUN2L')[0]!;
    expect(first.text).toBe(
      '-A KUBE-SVC-7CWUT4JBGBRVUN2L ! -s 10.42.0.0/16 -d 10.43.6.58/32 -m comment --comment "default/nginx-test:80-80 cluster IP" -p tcp -m tcp --dport 80 -j KUBE-MARK-MASQ',
    );
    // node port → KUBE-EXT (mark, then the service chain)
    expect(nat('KUBE-NODEPORTS').map((r) => r.text)).toEqual([
      '-A KUBE-NODEPORTS -m comment --comment default/nginx-test:80-80 -p tcp -m tcp --dport 32506 -j KUBE-EXT-7CWUT4JBGBRVUN2L',
    ]);
    expect(nat('KUBE-EXT-7CWUT4JBGBRVUN2L').map((r) => r.target)).toEqual(['KUBE-MARK-MASQ', 'KUBE-SVC-7CWUT4JBGBRVUN2L']);
    // each endpoint marks its own hairpin traffic before the DNAT
    expect(nat('KUBE-SEP-U2YYZT2C3O6VM4EV').map((r) => r.text)).toEqual([
      '-A KUBE-SEP-U2YYZT2C3O6VM4EV -s 10.42.1.6/32 -m comment --comment default/nginx-test:80-80 -j KUBE-MARK-MASQ',
      '-A KUBE-SEP-U2YYZT2C3O6VM4EV -m comment --comment default/nginx-test:80-80 -p tcp -m tcp -j DNAT --to-destination 10.42.1.6:80',
    ]);
  });

  test('UDP ports match udp, a service without endpoints is rejected in filter, not DNATed', () => {
    expect(fix.text).toContain(
      '-A KUBE-SERVICES -d 10.96.0.10/32 -m comment --comment "kube-system/kube-dns:dns cluster IP" -p udp -m udp --dport 53 -j KUBE-SVC-TCOU7JCQXEZGVUNU',
    );
    const rejects = chainRules(fix.text, 'filter', 'KUBE-SERVICES');
    expect(rejects.map((r) => r.text)).toEqual([
      '-A KUBE-SERVICES -d 10.96.0.12/32 -m comment --comment "default/empty has no endpoints" -p tcp -m tcp --dport 81 -j REJECT --reject-with icmp-port-unreachable',
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

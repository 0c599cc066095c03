import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../cli';
import { InputError } from '../../errors';
import { diffRulesOf } from '../../ops/diff-rules';
import { parse, stringify } from 'yaml';
import { nodeNamespace } from '../../model/kernel-names';
import { planLab } from '../../plan';
import { loadTopologyText } from '../../topology/resolve';
import { detectFormat, diffRules, diffText, isIdentical, type RulesDiff } from '../diff';

// `lab diff-rules`: the fixtures are real output, taken from the default lab's node1 on this
// project's kernel (iptables v1.8.9 nf_tables, nftables v1.0.6): `iptables-save` (and -c) in
// iptables mode, `nft list table ip kube-proxy` in nftables mode, and in ipvs mode `ipset save`
// and `iptables-save` after restoring the lab's ipvs batches into a scratch namespace (this
// kernel has no IPVS); the ipvsadm dump is written in `ipvsadm -Sn`'s form, in a hash order
// unlike the lab's; diff-rules-kind-iptables-save.txt is kind-worker's iptables-save with the
// kind-like lab of diff-rules-kind.yaml up. Each variant below is the real dump with one stated edit.

const FIX = join(__dirname, 'fixtures');
const fixture = (name: string) => readFileSync(join(FIX, name), 'utf8');
// the default lab as it was dumped (web at 10.43.0.10, no cluster DNS)
const TOPO = join(FIX, 'diff-rules-default.yaml');

let dir: string;
beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'diff-rules-'))));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
const dumpFile = (text: string) => {
  const f = join(dir, `dump-${n++}.txt`);
  writeFileSync(f, text);
  return f;
};
/** `text` with `from` replaced, failing when `from` is not there (an edit that did nothing proves nothing) */
const edit = (text: string, from: string | RegExp, to: string) => {
  const out = text.replace(from, to);
  if (out === text) throw new Error(`edit did not apply: ${String(from)}`);
  return out;
};
const diffOf = (text: string, proxy?: string): RulesDiff =>
  diffRulesOf({ node: 'node1', dump: dumpFile(text), file: TOPO, overrides: proxy ? { proxyMode: proxy } : {} }).diff;
const summary = (d: RulesDiff) => ({
  onlyReal: d.onlyReal.map((i) => `${i.where}: ${i.text}`),
  onlyLab: d.onlyLab.map((i) => `${i.where}: ${i.text}`),
  different: d.different.map((x) => `${x.real.where}: ${x.real.text} | ${x.lab.text}`),
});
const NONE = { onlyReal: [], onlyLab: [], different: [] };

describe('diff-rules: iptables-save', () => {
  const save = fixture('diff-rules-iptables-save.txt');

  test('the real dump of the lab node is identical to what the lab generates (options reordered, /32, set-xmark, 0.33333333349)', () => {
    const d = diffOf(save);
    expect(summary(d)).toEqual(NONE);
    expect(d.compared).toEqual(['filter', 'nat']);
    expect(isIdentical(d)).toBe(true);
  });

  test('iptables-save -c: counters are left out', () => {
    expect(summary(diffOf(fixture('diff-rules-iptables-save-c.txt')))).toEqual(NONE);
  });

  test('one rule removed, one endpoint changed, one chain added: exactly those three', () => {
    let t = edit(
      save,
      '-A KUBE-SERVICES -d 10.43.6.58/32 -p tcp -m comment --comment "default/nginx-test:80-80 cluster IP" -m tcp --dport 80 -j KUBE-SVC-7CWUT4JBGBRVUN2L\n',
      '',
    );
    t = edit(t, '--to-destination 10.42.1.9:80', '--to-destination 10.42.1.99:80');
    t = edit(t, ':KUBE-SEP-U2YYZT2C3O6VM4EV - [0:0]\n', ':KUBE-SEP-U2YYZT2C3O6VM4EV - [0:0]\n:KUBE-SEP-STALE7TQX3ABCDEF - [0:0]\n');
    t = edit(
      t,
      /(-A KUBE-SERVICES -d 10.43.0.10)/,
      '-A KUBE-SEP-STALE7TQX3ABCDEF -s 10.42.1.7/32 -m comment --comment "default/web:http" -j KUBE-MARK-MASQ\n' +
        '-A KUBE-SEP-STALE7TQX3ABCDEF -p tcp -m comment --comment "default/web:http" -m tcp -j DNAT --to-destination 10.42.1.7:80\n$1',
    );
    const d = diffOf(t);
    expect(summary(d)).toEqual({
      onlyReal: ['nat chain KUBE-SEP-STALE7TQX3ABCDEF: chain KUBE-SEP-STALE7TQX3ABCDEF (2 rules)'],
      onlyLab: [
        'nat KUBE-SERVICES rule 2: -A KUBE-SERVICES -m comment --comment "default/nginx-test:80-80 cluster IP" -m tcp -p tcp -d 10.43.6.58 --dport 80 -j KUBE-SVC-7CWUT4JBGBRVUN2L',
      ],
      different: [
        'nat KUBE-SEP-PMQPDMKLIC4TLFKA rule 2: -A KUBE-SEP-PMQPDMKLIC4TLFKA -p tcp -m comment --comment "default/web:http" -m tcp -j DNAT --to-destination 10.42.1.99:80 | -A KUBE-SEP-PMQPDMKLIC4TLFKA -m comment --comment default/web:http -m tcp -p tcp -j DNAT --to-destination 10.42.1.9:80',
      ],
    });
    expect(d.onlyReal[0]!.detail).toHaveLength(2);
    const text = diffText(d, { real: 'node1.txt', lab: 'lab' });
    expect(text).toContain('only in the real node (1):');
    expect(text).toContain('only in the lab (1):');
    expect(text).toContain('different (1):');
    expect(text).toMatch(/real: .*10\.42\.1\.99:80 \(node1\.txt:\d+\)/);
    expect(text.trimEnd().endsWith('3 differences')).toBe(true);
  });

  test('numbers as numbers: a probability written 0.3333333333 reads as the kernel 0.33333333349', () => {
    expect(summary(diffOf(edit(save, '0.33333333349', '0.3333333333')))).toEqual(NONE);
  });

  test('a probability that differs beyond the kernel step is a difference', () => {
    expect(summary(diffOf(edit(save, '0.33333333349', '0.25000000000'))).different).toHaveLength(1);
  });

  test('options in another order are the same rule; a comment is compared as text', () => {
    const reordered = edit(
      save,
      '-A KUBE-SERVICES -d 10.43.0.10/32 -p tcp -m comment --comment "default/web:http cluster IP" -m tcp --dport 80',
      '-A KUBE-SERVICES -m comment --comment "default/web:http cluster IP" -p tcp -m tcp --dport 80 -d 10.43.0.10/32',
    );
    expect(summary(diffOf(reordered))).toEqual(NONE);
    const renamed = edit(save, '"default/web:http cluster IP" -m tcp', '"default/web:http  cluster IP" -m tcp');
    expect(summary(diffOf(renamed)).different).toEqual([expect.stringContaining('nat KUBE-SERVICES rule 1:')]);
  });

  test('a rule moved within its chain is one rule only on each side (order matters)', () => {
    const rule = '-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP\n';
    const moved = edit(edit(save, rule, ''), 'COMMIT\n# Completed', `${rule}COMMIT\n# Completed`);
    const d = summary(diffOf(moved));
    expect(d.onlyReal).toEqual([expect.stringMatching(/^filter KUBE-FORWARD rule 3: .*INVALID/)]);
    expect(d.onlyLab).toEqual([expect.stringMatching(/^filter KUBE-FORWARD rule 1: .*INVALID/)]);
  });

  test('KUBE-SERVICES, KUBE-NODEPORTS: in any order (kube-proxy walks a Go map), but the node-ports rule stays last', () => {
    const web =
      '-A KUBE-SERVICES -d 10.43.0.10/32 -p tcp -m comment --comment "default/web:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-CDGGSHYLG3RE2FKL\n';
    const swapped = edit(
      edit(save, web, ''),
      '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports',
      `${web}-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports`,
    );
    expect(summary(diffOf(swapped))).toEqual(NONE);
    const last =
      '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\n';
    const first = edit(edit(save, last, ''), web, `${last}${web}`);
    expect(summary(diffOf(first)).different).toEqual([
      expect.stringMatching(/^nat KUBE-SERVICES rule 1: .*must be the last rule.* \(last\)$/),
    ]);
    // a service's rule with another address: that rule, changed (it jumps to the same chain)
    const moved = edit(
      save,
      '-d 10.43.0.10/32 -p tcp -m comment --comment "default/web:http cluster IP"',
      '-d 10.43.0.11/32 -p tcp -m comment --comment "default/web:http cluster IP"',
    );
    expect(summary(diffOf(moved)).different).toEqual([
      expect.stringMatching(/^nat KUBE-SERVICES rule 1: .*10\.43\.0\.11\/32.* \| .*10\.43\.0\.10 /),
    ]);
  });

  test('a nat-only dump compares nat and says filter was not compared', () => {
    const nat = save.slice(save.indexOf('# Generated', 10));
    const d = diffOf(nat);
    expect(d.compared).toEqual(['nat']);
    expect(d.notes).toEqual(['not in the dump, not compared: table filter']);
    expect(summary(d)).toEqual(NONE);
  });

  test('other chains of the real node (a CNI, kubelet) are reported as only there', () => {
    const t = edit(save, ':KUBE-EXT-7CWUT4JBGBRVUN2L - [0:0]\n', ':FLANNEL-POSTRTG - [0:0]\n:KUBE-EXT-7CWUT4JBGBRVUN2L - [0:0]\n');
    const t2 = edit(
      t,
      '-A POSTROUTING -m comment',
      '-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG\n-A POSTROUTING -m comment',
    );
    expect(summary(diffOf(t2))).toEqual({
      onlyReal: [
        'nat POSTROUTING rule 1: -A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG',
        'nat chain FLANNEL-POSTRTG: chain FLANNEL-POSTRTG (0 rules)',
      ],
      onlyLab: [],
      different: [],
    });
  });

  test('the ipvs mode iptables-save is identical to the ipvs batches', () => {
    expect(summary(diffOf(fixture('diff-rules-ipvs-iptables-save.txt'), 'ipvs'))).toEqual(NONE);
  });
});

describe('diff-rules: a kind-like cluster (fixtures/diff-rules-kind.yaml), iptables-save of kind-worker', () => {
  const KIND = join(FIX, 'diff-rules-kind.yaml');
  const save = fixture('diff-rules-kind-iptables-save.txt');
  const kindDiff = (text: string) => diffRulesOf({ node: 'kind-worker', dump: dumpFile(text), file: KIND }).diff;

  test("the well-known chains of real clusters' services, and identical to the lab", () => {
    // default/kubernetes:https, kube-system/kube-dns:dns, :dns-tcp, :metrics
    for (const c of ['KUBE-SVC-NPX46M4PTMTKRN6Y', 'KUBE-SVC-TCOU7JCQXEZGVUNU', 'KUBE-SVC-ERIFXISQEP7F7OF4', 'KUBE-SVC-JD5MR3NA4I4DYORP'])
      expect(save).toContain(`:${c} - [0:0]`);
    expect(summary(kindDiff(save))).toEqual(NONE);
  });

  test('one rule removed, one endpoint changed, one chain added: exactly those three', () => {
    let t = edit(
      save,
      '-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment "kube-system/kube-dns:metrics cluster IP" -m tcp --dport 9153 -j KUBE-SVC-JD5MR3NA4I4DYORP\n',
      '',
    );
    t = edit(t, '-m udp -j DNAT --to-destination 10.244.0.3:53', '-m udp -j DNAT --to-destination 10.244.0.9:53');
    t = edit(t, ':KUBE-SERVICES - [0:0]\n:KUBE-SVC', ':KUBE-SEP-OLDWEBPODX7Q2ABCD - [0:0]\n:KUBE-SERVICES - [0:0]\n:KUBE-SVC');
    t = edit(
      t,
      /(\n-A KUBE-SERVICES )/,
      '\n-A KUBE-SEP-OLDWEBPODX7Q2ABCD -s 10.244.1.9/32 -m comment --comment "default/web:http" -j KUBE-MARK-MASQ' +
        '\n-A KUBE-SEP-OLDWEBPODX7Q2ABCD -p tcp -m comment --comment "default/web:http" -m tcp -j DNAT --to-destination 10.244.1.9:8080$1',
    );
    const d = kindDiff(t);
    expect(summary(d)).toEqual({
      onlyReal: ['nat chain KUBE-SEP-OLDWEBPODX7Q2ABCD: chain KUBE-SEP-OLDWEBPODX7Q2ABCD (2 rules)'],
      onlyLab: [expect.stringMatching(/^nat KUBE-SERVICES rule \d+: .*kube-dns:metrics cluster IP.*KUBE-SVC-JD5MR3NA4I4DYORP$/)],
      different: [
        expect.stringMatching(
          /^nat KUBE-SEP-\w+ rule 2: .*DNAT --to-destination 10\.244\.0\.9:53 \| .*DNAT --to-destination 10\.244\.0\.3:53$/,
        ),
      ],
    });
  });
});

describe('diff-rules: nft list table ip kube-proxy', () => {
  const nft = fixture('diff-rules-nft.txt');

  test('identical to the lab node', () => {
    const d = diffOf(nft, 'nftables');
    expect(summary(d)).toEqual(NONE);
    expect(d.compared).toEqual(['table ip kube-proxy']);
  });

  test('a map element removed, an endpoint chain changed, a chain added', () => {
    let t = edit(nft, /(elements = \{ 10\.43\.0\.10 \. tcp \. 80 : goto [^,]+,)\s*/, 'elements = { ');
    t = edit(t, 'dnat to 10.42.1.9:80', 'dnat to 10.42.1.99:80');
    t = edit(
      t,
      /(\n\tchain nat-prerouting \{)/,
      '\n\tchain endpoint-STALE000-default/web/tcp/http__10.42.1.7/80 {\n\t\tmeta l4proto tcp dnat to 10.42.1.7:80\n\t}\n$1',
    );
    expect(summary(diffOf(t, 'nftables'))).toEqual({
      onlyReal: [
        'chain endpoint-STALE000-default/web/tcp/http__10.42.1.7/80: chain endpoint-STALE000-default/web/tcp/http__10.42.1.7/80 (1 rule)',
      ],
      onlyLab: ['map service-ips: element 10.43.0.10 . tcp . 80 : goto service-SUSTUHLJ-default/web/tcp/http'],
      different: [
        'endpoint-HA2SAHKF-default/web/tcp/http__10.42.1.9/80 rule 2: meta l4proto == tcp dnat to 10.42.1.99:80 | meta l4proto == tcp dnat to 10.42.1.9:80',
      ],
    });
  });

  test('nft list ruleset: the other tables are named and left aside', () => {
    const ruleset = `table inet filter {\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t\tct state established accept comment "x { y"\n\t}\n}\n${nft}`;
    const d = diffOf(ruleset, 'nftables');
    expect(summary(d)).toEqual(NONE);
    expect(d.notes).toEqual(['other tables, not compared: table inet filter']);
  });

  test('an nft dump against a lab in iptables mode: a note says the lab has no nft batch', () => {
    const d = diffOf(nft);
    expect(d.notes).toEqual(['the lab (proxy mode iptables) generates no nft batch for node1']);
    expect(d.onlyLab).toEqual([]);
    expect(d.onlyReal.length).toBeGreaterThan(10);
  });

  test('a ruleset without the kube-proxy table: everything is only in the lab', () => {
    const d = diffOf('table inet filter {\n}\n', 'nftables');
    expect(d.onlyReal).toEqual([]);
    expect(d.onlyLab.length).toBeGreaterThan(10);
  });
});

describe("diff-rules: kube-proxy's own test dump (knftables' add … lines)", () => {
  test('TestOverallNFTablesRules (conformance/nftables/overall-rules.yaml): identical to the lab; an element removed is found', () => {
    const c = parse(readFileSync(join(__dirname, 'conformance', 'nftables', 'overall-rules.yaml'), 'utf8')) as {
      node: string;
      topology: unknown;
      expected: string;
    };
    // kube-proxy's tests have no cluster DNS service: nor do their topologies
    const topo = loadTopologyText(stringify(c.topology), 'overall-rules.yaml#topology', { dns: false });
    const lab = planLab(topo)
      .phases.flatMap((p) => p.steps)
      .filter((s) => s.ns === nodeNamespace(topo.name, c.node) && s.tool === 'nft')
      .map((s) => ({ text: s.lines.join('\n') }));
    expect(detectFormat(c.expected, 'kube-proxy')).toBe('nft');
    expect(summary(diffRules('nft', lab, { text: c.expected, file: 'kube-proxy' }))).toEqual(NONE);
    const element = c.expected.split('\n').find((l) => l.startsWith('add element ip kube-proxy cluster-ips '))!;
    const d = diffRules('nft', lab, { text: c.expected.replace(`${element}\n`, ''), file: 'kube-proxy' });
    expect(summary(d)).toEqual({ onlyReal: [], onlyLab: [expect.stringMatching(/^set cluster-ips: element /)], different: [] });
  });
});

describe('diff-rules: ipset save and ipvsadm -Sn', () => {
  const ipset = fixture('diff-rules-ipset-save.txt');
  const ipvs = fixture('diff-rules-ipvsadm.txt');

  test('identical: sizes and the random initval are not compared, members and services are order-free', () => {
    expect(summary(diffOf(ipset, 'ipvs'))).toEqual(NONE);
    expect(summary(diffOf(ipvs, 'ipvs'))).toEqual(NONE);
  });

  test('ipset: a member missing, a stale member, a set of another type', () => {
    let t = edit(ipset, 'add KUBE-CLUSTER-IP 10.43.6.58,tcp:80\n', 'add KUBE-CLUSTER-IP 10.43.6.59,tcp:80\n');
    t = edit(t, 'create KUBE-NODE-PORT-UDP bitmap:port range 0-65535', 'create KUBE-NODE-PORT-UDP bitmap:port range 0-32767');
    expect(summary(diffOf(t, 'ipvs'))).toEqual({
      onlyReal: ['set KUBE-CLUSTER-IP: add KUBE-CLUSTER-IP 10.43.6.59,tcp:80'],
      onlyLab: ['set KUBE-CLUSTER-IP: add KUBE-CLUSTER-IP 10.43.6.58,tcp:80'],
      different: [
        'set KUBE-NODE-PORT-UDP: create KUBE-NODE-PORT-UDP bitmap:port range 0-32767 | create KUBE-NODE-PORT-UDP bitmap:port range 0-65535',
      ],
    });
  });

  test('ipvsadm: a real server changed, persistence on a service, a stale virtual service', () => {
    let t = edit(ipvs, '-a -t 10.43.0.10:80 -r 10.42.1.9:80 -m -w 1', '-a -t 10.43.0.10:80 -r 10.42.1.9:80 -m -w 0');
    t = edit(t, '-A -t 10.43.6.58:80 -s rr', '-A -t 10.43.6.58:80 -s rr -p 10800');
    t += '-A -u 10.43.0.53:53 -s rr\n-a -u 10.43.0.53:53 -r 10.42.0.5:53 -m -w 1\n';
    expect(summary(diffOf(t, 'ipvs'))).toEqual({
      onlyReal: [
        'TCP 10.43.0.10:80: -a -t 10.43.0.10:80 -r 10.42.1.9:80 -m -w 0',
        'UDP 10.43.0.53:53: -A -u 10.43.0.53:53 -s rr (1 real server)',
      ],
      onlyLab: ['TCP 10.43.0.10:80: -a -t 10.43.0.10:80 -r 10.42.1.9:80 -m -w 1'],
      different: ['TCP 10.43.6.58:80: -A -t 10.43.6.58:80 -s rr -p 10800 | -A -t 10.43.6.58:80 -s rr'],
    });
  });
});

describe('diff-rules: bad input names the file and line', () => {
  const issue = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      if (e instanceof InputError) return e.issues[0]!;
      throw e;
    }
    throw new Error('no error');
  };

  test.each([
    ['# nothing\n\n', undefined, 'the file is empty'],
    ['# header\nhello world\n', 2, "unknown format: 'hello world'"],
    ['*nat\n:KUBE-SERVICES - [0:0]\n-A KUBE-SERVICES -j RETURN\n', 1, 'table nat has no COMMIT (a cut dump?)'],
    ['*nat\n:KUBE-SERVICES - [0:0]\n-Z KUBE-SERVICES\nCOMMIT\n', 3, "not an iptables-save line: '-Z KUBE-SERVICES'"],
    ['table ip kube-proxy {\n\tchain x {\n\t\tfrobnicate 3\n\t}\n}\n', 3, "unknown expression 'frobnicate'"],
    ['create S hash:ip family inet\nadd T 10.0.0.1\n', 2, 'add to set T, which no earlier line creates'],
    [
      '-A -t 10.43.0.10:80 -s rr\n-a -t 10.43.0.11:80 -r 10.42.0.1:80 -m\n',
      2,
      'real server of TCP 10.43.0.11:80, which no earlier line adds',
    ],
  ])('%j: line %s: %s', (text, line, message) => {
    const f = dumpFile(text);
    const i = issue(() => diffRulesOf({ node: 'node1', dump: f, file: TOPO }));
    expect(i.file).toBe(f);
    expect(i.line).toBe(line);
    expect(i.message).toContain(message);
  });

  test('formats told apart by their first line', () => {
    expect(detectFormat('# Generated by iptables-save\n*filter\n', 'f')).toBe('iptables');
    expect(detectFormat('[3:180] -A KUBE-SERVICES -j RETURN\n', 'f')).toBe('iptables');
    expect(detectFormat('table ip kube-proxy {\n', 'f')).toBe('nft');
    expect(detectFormat('add table ip kube-proxy\n', 'f')).toBe('nft');
    expect(detectFormat('create KUBE-CLUSTER-IP hash:ip,port family inet\n', 'f')).toBe('ipset');
    expect(detectFormat('-A -t 10.43.0.10:80 -s rr\n', 'f')).toBe('ipvsadm');
  });
});

describe('lab diff-rules (CLI): exit 0 identical, 1 on a difference, 2 on bad input', () => {
  let out: string[];
  let errs: string[];
  beforeEach(() => {
    out = [];
    errs = [];
    jest.spyOn(console, 'log').mockImplementation((s: unknown) => void out.push(String(s)));
    jest.spyOn(console, 'error').mockImplementation((s: unknown) => void errs.push(String(s)));
    jest.spyOn(process.stdout, 'write').mockImplementation((s: unknown) => (out.push(String(s)), true));
  });
  afterEach(() => {
    jest.restoreAllMocks();
    process.exitCode = undefined;
  });

  test('identical: 0', async () => {
    expect(await main(['diff-rules', 'node1', join(FIX, 'diff-rules-iptables-save.txt'), '-t', TOPO])).toBe(0);
    expect(out.join('')).toContain('identical');
  });

  test('a difference: 1, with the three sections', async () => {
    const f = dumpFile(edit(fixture('diff-rules-iptables-save.txt'), '10.42.1.9:80\n', '10.42.1.99:80\n'));
    expect(await main(['diff-rules', 'node1', f, '-t', TOPO])).toBe(1);
    const text = out.join('');
    expect(text).toContain('only in the real node (0):');
    expect(text).toContain('different (1):');
  });

  test('--json: the diff as data', async () => {
    expect(await main(['diff-rules', 'node1', join(FIX, 'diff-rules-nft.txt'), '-t', TOPO, '--proxy', 'nftables', '--json'])).toBe(0);
    expect(JSON.parse(out.join(''))).toMatchObject({ node: 'node1', format: 'nft', identical: true });
  });

  test('unreadable file, unknown node: 2', async () => {
    expect(await main(['diff-rules', 'node1', join(dir, 'missing.txt'), '-t', TOPO])).toBe(2);
    expect(errs.join('\n')).toContain('missing.txt: cannot read the dump');
    expect(await main(['diff-rules', 'node9', join(FIX, 'diff-rules-iptables-save.txt'), '-t', TOPO])).toBe(2);
    expect(errs.join('\n')).toContain("no node 'node9'");
  });
});

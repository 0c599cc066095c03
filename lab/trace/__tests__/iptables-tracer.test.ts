import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { iptablesRules } from '../../proxy/iptables';
import { clusterIPs, ipsetMembers, ipvsIptables } from '../../proxy/ipvs';
import { proxyModel } from '../../model/proxy';
import { loadTopology } from '../../topology/resolve';
import { parseRestore, ruleEvents, type TraceContext, traceChain, traceHook, type TracePacket } from '../iptables-tracer';

// The tracer over the rules the generators really write (the same text as the golden files in
// lab/proxy/__tests__/golden), for node1 of the default lab: 192.168.205.4, cni0 10.42.0.1,
// flannel.1 10.42.0.0; web = 10.43.0.20:80 → 10.42.0.66, 10.42.1.9, 10.42.2.9;
// nginx-test = 10.43.6.58:80, NodePort 32506 → 10.42.1.6, 10.42.2.6.

const topo = loadTopology(join(__dirname, '../../../scenarios/topologies/default.yaml'));
const model = proxyModel(topo);
const node1 = { name: 'node1', ip: '192.168.205.4' };
const LOCAL = ['192.168.205.4', '10.42.0.1', '10.42.0.0', '127.0.0.0/8'];

const WEB_SVC = 'KUBE-SVC-CDGGSHYLG3RE2FKL';
const WEB_SEP: Record<string, string> = {
  '10.42.0.66:80': 'KUBE-SEP-BMMOTP4BCFRPG23V',
  '10.42.1.9:80': 'KUBE-SEP-PMQPDMKLIC4TLFKA',
  '10.42.2.9:80': 'KUBE-SEP-SINZ7IJF3CRCZFO3',
};
const NGINX_SVC = 'KUBE-SVC-7CWUT4JBGBRVUN2L';
const NGINX_EXT = 'KUBE-EXT-7CWUT4JBGBRVUN2L';

const podToWeb: TracePacket = { src: '10.42.0.65', dst: '10.43.0.20', protocol: 'tcp', srcport: 40000, dstport: 80 };
const nodeToWeb: TracePacket = { ...podToWeb, src: '192.168.205.4' };
const verdicts = (r: { steps: { verdict: string }[] }) => r.steps.map((s) => s.verdict);

describe('iptables mode (default lab)', () => {
  const rules = parseRestore(iptablesRules(model));
  const ctx = (prefer?: string): TraceContext => ({ localAddresses: LOCAL, ...(prefer && { preferDestination: prefer }) });

  test('pod → cluster IP at prerouting: KUBE-SERVICES → KUBE-SVC → KUBE-SEP, DNAT to the preferred endpoint, no masquerade mark', () => {
    const r = traceHook(rules, 'prerouting', podToWeb, ctx('10.42.1.9:80'));
    expect(r.chains).toEqual(['nat PREROUTING', 'KUBE-SERVICES', WEB_SVC, WEB_SEP['10.42.1.9:80']]);
    expect(verdicts(r)).toEqual(['jump KUBE-SERVICES', `jump ${WEB_SVC}`, `jump ${WEB_SEP['10.42.1.9:80']}`, 'dnat to 10.42.1.9:80']);
    expect(r.steps.at(-1)).toMatchObject({
      hook: 'prerouting',
      table: 'nat',
      chain: WEB_SEP['10.42.1.9:80'],
      rule: '-m comment --comment default/web:http -m tcp -p tcp -j DNAT --to-destination 10.42.1.9:80',
    });
    expect(r).toMatchObject({ verdict: 'accept', dnat: '10.42.1.9:80', packet: { src: '10.42.0.65', dst: '10.42.1.9', dstport: 80 } });
    expect(r.marked).toBeUndefined();
    expect(r.packet.mark).toBeUndefined();
    expect(r.notes).toEqual([]);
  });

  test('…then forward (filter: firewall, KUBE-FORWARD, portals, policy accept) and postrouting (KUBE-POSTROUTING returns: no mark, no SNAT)', () => {
    const pre = traceHook(rules, 'prerouting', podToWeb, ctx('10.42.1.9:80'));
    const fwd = traceHook(rules, 'forward', pre.packet, ctx());
    // kube-proxy's order: each jump was inserted at the top, the last first
    expect(fwd.chains).toEqual(['filter FORWARD', 'KUBE-PROXY-FIREWALL', 'KUBE-FORWARD', 'KUBE-SERVICES', 'KUBE-EXTERNAL-SERVICES']);
    expect(fwd.verdict).toBe('accept');
    expect(fwd.steps.at(-1)).toMatchObject({ chain: 'FORWARD', verdict: 'policy accept' });
    expect(fwd.steps.at(-1)!.rule).toBeUndefined();
    const post = traceHook(rules, 'postrouting', fwd.packet, ctx());
    expect(post.chains).toEqual(['nat POSTROUTING', 'KUBE-POSTROUTING']);
    expect(verdicts(post)).toEqual(['jump KUBE-POSTROUTING', 'return', 'policy accept']);
    expect(post.snat).toBeUndefined();
    expect(post.packet).toEqual({ ...podToWeb, dst: '10.42.1.9' });
  });

  test('node → cluster IP (output): KUBE-MARK-MASQ sets 0x4000; postrouting clears it and masquerades', () => {
    const out = traceHook(rules, 'output', nodeToWeb, ctx('10.42.2.9:80'));
    expect(out.chains).toEqual([
      'nat OUTPUT',
      'KUBE-SERVICES',
      WEB_SVC,
      'KUBE-MARK-MASQ',
      WEB_SEP['10.42.2.9:80'],
      'filter OUTPUT',
      'KUBE-FIREWALL',
      'KUBE-PROXY-FIREWALL',
      'KUBE-SERVICES',
    ]);
    expect(out.steps.filter((s) => s.chain === 'KUBE-MARK-MASQ')).toEqual([
      {
        hook: 'output',
        table: 'nat',
        chain: 'KUBE-MARK-MASQ',
        rule: '-j MARK --or-mark 0x4000',
        line: expect.any(Number),
        verdict: 'continue',
      },
    ]);
    expect(out).toMatchObject({ verdict: 'accept', marked: 0x4000, dnat: '10.42.2.9:80', packet: { dst: '10.42.2.9', mark: 0x4000 } });
    // the filter table saw the DNATed packet, with the mark
    expect(out.steps.find((s) => s.table === 'filter')!.packet).toMatchObject({ dst: '10.42.2.9', mark: 0x4000 });

    const post = traceHook(rules, 'postrouting', out.packet, { ...ctx(), masqueradeAs: '10.42.0.0' });
    expect(post.chains).toEqual(['nat POSTROUTING', 'KUBE-POSTROUTING']);
    expect(verdicts(post)).toEqual(['jump KUBE-POSTROUTING', 'continue', 'masquerade']);
    expect(post).toMatchObject({ snat: 'masquerade', marked: 0, packet: { src: '10.42.0.0', dst: '10.42.2.9', mark: 0 } });
  });

  test('NodePort at the node IP: KUBE-SERVICES → KUBE-NODEPORTS → KUBE-EXT → KUBE-MARK-MASQ → KUBE-SVC → KUBE-SEP', () => {
    const pkt: TracePacket = { src: '192.168.205.1', dst: '192.168.205.4', protocol: 'tcp', srcport: 50000, dstport: 32506 };
    const r = traceHook(rules, 'prerouting', pkt, ctx('10.42.2.6:80'));
    expect(r.chains).toEqual([
      'nat PREROUTING',
      'KUBE-SERVICES',
      'KUBE-NODEPORTS',
      NGINX_EXT,
      'KUBE-MARK-MASQ',
      NGINX_SVC,
      'KUBE-SEP-GWUIQWA2TNZI4ESX',
    ]);
    expect(r.steps[1]!.rule).toContain('-m addrtype --dst-type LOCAL -j KUBE-NODEPORTS');
    expect(r).toMatchObject({ dnat: '10.42.2.6:80', marked: 0x4000, packet: { dst: '10.42.2.6', dstport: 80 } });
    // not local: the same port on another address is no node port
    expect(traceHook(rules, 'prerouting', { ...pkt, dst: '192.168.205.9' }, ctx()).chains).toEqual(['nat PREROUTING', 'KUBE-SERVICES']);
  });

  test('a packet to a non-service address passes with the policy', () => {
    const r = traceHook(rules, 'prerouting', { ...podToWeb, dst: '10.42.1.9' }, ctx());
    expect(r.chains).toEqual(['nat PREROUTING', 'KUBE-SERVICES']);
    expect(verdicts(r)).toEqual(['jump KUBE-SERVICES', 'policy accept']);
    expect(r.dnat).toBeUndefined();
    expect(r.packet).toEqual({ ...podToWeb, dst: '10.42.1.9' });
  });

  test.each(Object.entries(WEB_SEP))('statistic branches follow preferDestination %s', (endpoint, sep) => {
    const r = traceChain(rules, 'nat', 'PREROUTING', podToWeb, ctx(endpoint));
    expect(r.chains).toEqual(['nat PREROUTING', 'KUBE-SERVICES', WEB_SVC, sep]);
    expect(r.dnat).toBe(endpoint);
    expect(r.notes).toEqual([]);
  });

  test('without preferDestination the first branch is taken; with an unknown one too, and a note says so', () => {
    expect(traceChain(rules, 'nat', 'PREROUTING', podToWeb, ctx()).dnat).toBe('10.42.0.66:80');
    const r = traceChain(rules, 'nat', 'PREROUTING', podToWeb, ctx('10.42.9.9:80'));
    expect(r.dnat).toBe('10.42.0.66:80');
    expect(r.notes).toEqual([expect.stringMatching(new RegExp(`^no branch of ${WEB_SVC} leads to 10.42.9.9:80`))]);
  });

  test('hairpin: an endpoint reaching itself through its service is marked for masquerade', () => {
    const r = traceHook(rules, 'prerouting', { ...podToWeb, src: '10.42.0.66' }, ctx('10.42.0.66:80'));
    expect(r.chains).toEqual(['nat PREROUTING', 'KUBE-SERVICES', WEB_SVC, WEB_SEP['10.42.0.66:80'], 'KUBE-MARK-MASQ']);
    expect(r).toMatchObject({ dnat: '10.42.0.66:80', marked: 0x4000 });
  });

  test('ruleEvents: a packet event per base chain, then one event per rule or policy', () => {
    const ev = ruleEvents(traceHook(rules, 'output', nodeToWeb, ctx('10.42.2.9:80')));
    expect(ev[0]).toEqual({
      hook: 'output',
      family: 'ip',
      table: 'nat',
      chain: 'OUTPUT',
      packet: { src: '192.168.205.4', dst: '10.43.0.20', srcport: 40000, dstport: 80 },
    });
    expect(ev[1]).toMatchObject({
      hook: 'output',
      table: 'nat',
      chain: 'OUTPUT',
      verdict: 'jump KUBE-SERVICES',
      rule: expect.stringContaining('kubernetes service portals'),
    });
    expect(ev.filter((e) => e.packet).map((e) => `${e.table} ${e.chain} ${e.packet!.dst} ${e.packet!.mark ?? ''}`)).toEqual([
      'nat OUTPUT 10.43.0.20 ',
      'filter OUTPUT 10.42.2.9 0x4000',
    ]);
    expect(ev.at(-1)).toEqual({ hook: 'output', family: 'ip', table: 'filter', chain: 'OUTPUT', verdict: 'policy accept' });
  });
});

describe('iptables mode (fixture: UDP, a service without endpoints)', () => {
  const fix = proxyModel(loadTopology(join(__dirname, '../../proxy/__tests__/fixtures/iptables-services.yaml')));
  const rules = parseRestore(iptablesRules(fix));
  const ctx: TraceContext = { localAddresses: ['192.168.205.4', '127.0.0.0/8'] };

  test('UDP to kube-dns takes the udp service chain, not the tcp one on the same port', () => {
    const r = traceHook(rules, 'prerouting', { src: '10.244.1.5', dst: '10.96.0.10', protocol: 'udp', srcport: 33333, dstport: 53 }, ctx);
    expect(r.chains).toEqual(['nat PREROUTING', 'KUBE-SERVICES', 'KUBE-SVC-TCOU7JCQXEZGVUNU', 'KUBE-SEP-Z6M7ZHWCTBNMPLD7']);
    expect(r.dnat).toBe('10.244.1.2:53');
  });

  test('a service without endpoints is not DNATed, and filter rejects it at forward', () => {
    const pkt: TracePacket = { src: '10.244.1.5', dst: '10.96.0.12', protocol: 'tcp', srcport: 40000, dstport: 81 };
    expect(traceHook(rules, 'prerouting', pkt, ctx).dnat).toBeUndefined();
    const r = traceHook(rules, 'forward', pkt, ctx);
    expect(r.chains).toEqual(['filter FORWARD', 'KUBE-PROXY-FIREWALL', 'KUBE-FORWARD', 'KUBE-SERVICES']);
    expect(r.verdict).toBe('reject');
    expect(r.steps.at(-1)).toMatchObject({ chain: 'KUBE-SERVICES', verdict: 'reject' });
  });
});

describe('IPVS mode (default lab, node1)', () => {
  const rules = parseRestore(ipvsIptables(model, node1));
  const ipsets = Object.fromEntries(ipsetMembers(model, node1));
  // kube-ipvs0 makes every cluster IP local
  const ctx: TraceContext = { localAddresses: [...LOCAL, ...clusterIPs(model)], ipsets };

  test('pod → cluster IP at prerouting: KUBE-SERVICES accepts on KUBE-CLUSTER-IP dst,dst, no DNAT (IPVS does it later)', () => {
    const r = traceHook(rules, 'prerouting', podToWeb, ctx);
    // the cluster IP is local, so KUBE-NODE-PORT is entered too: port 80 is no node port, it returns
    expect(r.chains).toEqual(['nat PREROUTING', 'KUBE-SERVICES', 'KUBE-NODE-PORT']);
    expect(verdicts(r)).toEqual(['jump KUBE-SERVICES', 'jump KUBE-NODE-PORT', 'accept']);
    expect(r.steps.at(-1)!.rule).toBe('-m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT');
    expect(r.dnat).toBeUndefined();
    expect(r.marked).toBeUndefined();
    expect(r.packet).toEqual(podToWeb);
  });

  test('input: KUBE-IPVS-FILTER returns for a service port; another port of a cluster IP is rejected', () => {
    const r = traceHook(rules, 'input', podToWeb, ctx);
    // then kube-proxy's other INPUT jumps: the firewall (no LoadBalancer source ranges) and the health-check node ports
    expect(r.chains).toEqual(['filter INPUT', 'KUBE-IPVS-FILTER', 'KUBE-PROXY-FIREWALL', 'KUBE-NODE-PORT', 'nat INPUT']);
    expect(verdicts(r)).toEqual([
      'jump KUBE-IPVS-FILTER',
      'return',
      'jump KUBE-PROXY-FIREWALL',
      'jump KUBE-NODE-PORT',
      'policy accept',
      'policy accept',
    ]);
    const ssh = traceHook(rules, 'input', { ...podToWeb, dstport: 22 }, ctx);
    expect(ssh.verdict).toBe('reject');
    expect(ssh.steps.at(-1)!.rule).toBe('-m conntrack --ctstate NEW -m set --match-set KUBE-IPVS-IPS dst -j REJECT');
  });

  test('node → cluster IP (output): KUBE-MARK-MASQ; postrouting masquerades on the mark', () => {
    const out = traceHook(rules, 'output', nodeToWeb, ctx);
    expect(out.chains).toEqual([
      'nat OUTPUT',
      'KUBE-SERVICES',
      'KUBE-MARK-MASQ',
      'KUBE-NODE-PORT',
      'filter OUTPUT',
      'KUBE-IPVS-OUT-FILTER',
    ]);
    expect(out).toMatchObject({ verdict: 'accept', marked: 0x4000 });
    // IPVS DNATs between the hooks: postrouting sees the endpoint
    const post = traceHook(rules, 'postrouting', { ...out.packet, dst: '10.42.1.9' }, ctx);
    expect(post.chains).toEqual(['nat POSTROUTING', 'KUBE-POSTROUTING']);
    expect(verdicts(post)).toEqual(['jump KUBE-POSTROUTING', 'continue', 'masquerade']);
    expect(post.snat).toBe('masquerade');
  });

  test('hairpin: KUBE-LOOP-BACK dst,dst,src masquerades an endpoint reaching itself, without a mark', () => {
    const post = traceHook(rules, 'postrouting', { ...podToWeb, src: '10.42.0.66', dst: '10.42.0.66' }, ctx);
    expect(post.steps.at(-1)).toMatchObject({
      chain: 'KUBE-POSTROUTING',
      verdict: 'masquerade',
      rule: expect.stringContaining('KUBE-LOOP-BACK dst,dst,src'),
    });
    // the same from another pod is not hairpin traffic
    expect(traceHook(rules, 'postrouting', { ...podToWeb, dst: '10.42.0.66' }, ctx).snat).toBeUndefined();
  });

  test('NodePort: KUBE-NODE-PORT-TCP (a bitmap:port) marks for masquerade', () => {
    const pkt: TracePacket = { src: '192.168.205.1', dst: '192.168.205.4', protocol: 'tcp', srcport: 50000, dstport: 32506 };
    const r = traceHook(rules, 'prerouting', pkt, ctx);
    expect(r.chains).toEqual(['nat PREROUTING', 'KUBE-SERVICES', 'KUBE-NODE-PORT', 'KUBE-MARK-MASQ']);
    expect(r).toMatchObject({ verdict: 'accept', marked: 0x4000 });
    expect(r.steps.at(-1)).toMatchObject({ chain: 'PREROUTING', verdict: 'policy accept' });
    expect(traceHook(rules, 'prerouting', { ...pkt, protocol: 'udp' }, ctx).marked).toBeUndefined();
  });

  test('a set the context does not have is an error naming the line and the set', () => {
    expect(() => traceHook(rules, 'prerouting', podToWeb, { localAddresses: LOCAL })).toThrow(
      /^line \d+: --match-set KUBE-CLUSTER-IP: no such set/,
    );
  });
});

describe('parseRestore', () => {
  const wrap = (...rules: string[]) => ['*nat', ':PREROUTING ACCEPT [0:0]', ':X - [0:0]', ...rules, 'COMMIT', ''].join('\n');

  test('tables, chains with their policy, rules with line, text, comment, matches and target', () => {
    const rs = parseRestore(
      wrap(
        '-A PREROUTING ! -s 10.42.0.0/16 -m comment --comment "a b" -p tcp -m tcp --dport 80 -j X',
        '-A X -m mark ! --mark 0x4000/0x4000 -j RETURN',
      ),
    );
    // a table starts with its built-in chains, as in the kernel
    expect([...rs.get('nat')!.values()].map((c) => [c.name, c.policy])).toEqual([
      ['PREROUTING', 'ACCEPT'],
      ['INPUT', 'ACCEPT'],
      ['OUTPUT', 'ACCEPT'],
      ['POSTROUTING', 'ACCEPT'],
      ['X', '-'],
    ]);
    expect(rs.get('nat')!.get('PREROUTING')!.rules).toEqual([
      {
        line: 4,
        text: '! -s 10.42.0.0/16 -m comment --comment "a b" -p tcp -m tcp --dport 80 -j X',
        comment: 'a b',
        matches: [
          { kind: 'addr', dir: 'src', cidr: '10.42.0.0/16', neg: true },
          { kind: 'proto', proto: 'tcp', neg: false },
          { kind: 'port', dir: 'dst', lo: 80, hi: 80, neg: false },
        ],
        target: { kind: 'jump', chain: 'X' },
      },
    ]);
    expect(rs.get('nat')!.get('X')!.rules[0]!.matches).toEqual([{ kind: 'mark', value: 0x4000, mask: 0x4000, neg: true }]);
  });

  test('the golden files parse, both modes', () => {
    const golden = (f: string) => readFileSync(join(__dirname, '../../proxy/__tests__/golden', f), 'utf8');
    for (const f of ['default.iptables', 'iptables-services.iptables', 'default.node1.ipvs-iptables', 'ipvsfix.node1.ipvs-iptables'])
      expect(parseRestore(golden(f)).get('nat')!.get('POSTROUTING')!.rules.length).toBeGreaterThan(0);
  });

  test('a second *table replaces the first; `onto` reads the text as iptables-restore --noflush on top of a ruleset', () => {
    const text = wrap('-A PREROUTING -j X', '-A X -j RETURN');
    expect([...parseRestore(`${text}*nat\n:PREROUTING DROP [0:0]\nCOMMIT\n`).get('nat')!.values()]).toEqual([
      { name: 'PREROUTING', policy: 'DROP', rules: [] },
      ...['INPUT', 'OUTPUT', 'POSTROUTING'].map((name) => ({ name, policy: 'ACCEPT', rules: [] })),
    ]);
    const base = parseRestore(text);
    const added = parseRestore('*nat\n:PREROUTING ACCEPT [0:0]\n:X - [0:0]\n:Y - [0:0]\n-A PREROUTING -j Y\nCOMMIT\n', base);
    const targets = (rs: typeof base, c: string) =>
      rs
        .get('nat')!
        .get(c)!
        .rules.map((r) => r.target);
    expect(targets(added, 'PREROUTING')).toEqual([
      { kind: 'jump', chain: 'X' },
      { kind: 'jump', chain: 'Y' },
    ]);
    expect(targets(added, 'X')).toEqual([]); // a user chain declared again is flushed
    expect(targets(base, 'X')).toEqual([{ kind: 'return' }]); // and the base is left as it was
    expect(targets(base, 'PREROUTING')).toHaveLength(1);
    // -I puts a rule at the top; -X deletes a chain
    const more = parseRestore('*nat\n:Z - [0:0]\n:W - [0:0]\n-I PREROUTING -j Z\n-X W\nCOMMIT\n', added);
    expect(targets(more, 'PREROUTING')).toEqual([
      { kind: 'jump', chain: 'Z' },
      { kind: 'jump', chain: 'X' },
      { kind: 'jump', chain: 'Y' },
    ]);
    expect(more.get('nat')!.has('W')).toBe(false);
  });

  test('goto: RETURN from the chain gone to goes back past the chain that went there', () => {
    const rs = parseRestore(
      [
        '*filter',
        ':INPUT DROP [0:0]',
        ':A - [0:0]',
        ':B - [0:0]',
        '-A INPUT -j A',
        '-A INPUT -j ACCEPT',
        '-A A -g B',
        '-A A -j DROP',
        '-A B -j RETURN',
        'COMMIT',
      ].join('\n'),
    );
    const r = traceChain(rs, 'filter', 'INPUT', podToWeb, { localAddresses: [] });
    expect(r.chains).toEqual(['filter INPUT', 'A', 'B']);
    expect(verdicts(r)).toEqual(['jump A', 'goto B', 'return', 'accept']);
  });

  test.each([
    ['an unknown match', wrap('-A X -m multiport --dports 80,443 -j RETURN'), /^line 4: unknown match -m multiport: /],
    ['an unknown option', wrap('-A X -p tcp --tcp-flags SYN SYN -j RETURN'), /^line 4: unknown option --tcp-flags: /],
    ['--dport without -m tcp', wrap('-A X -p tcp --dport 80 -j RETURN'), /^line 4: --dport without -m tcp or -m udp/],
    ['an unknown target', wrap('-A X -j LOG --log-prefix x'), /^line 4: unknown target LOG/],
    ['a jump to an undeclared chain', wrap('-A X -j KUBE-NOPE'), /^line 4: unknown target or undeclared chain KUBE-NOPE/],
    ['a rule for an undeclared chain', wrap('-A Y -j RETURN'), /^line 4: chain Y is not declared/],
    ['a bad line', wrap('-R X 1 -j RETURN'), /^line 4: not a table, chain, rule or COMMIT line: -R X 1 -j RETURN$/],
    ['-X of a chain that does not exist', wrap('-X NOPE'), /^line 4: chain NOPE does not exist: -X NOPE$/],
    ['a bad probability', wrap('-A X -m statistic --mode random --probability 1.5 -j RETURN'), /^line 4: bad --probability 1.5/],
    ['a bad address', wrap('-A X -d 10.43.0.300/32 -j RETURN'), /^line 4: bad address 10.43.0.300\/32/],
    ['a MARK option not modelled', wrap('-A X -j MARK --set-mark 0x1'), /^line 4: unknown option --set-mark for MARK/],
    [
      'DNAT outside nat',
      '*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j DNAT --to-destination 10.0.0.1\nCOMMIT\n',
      /^line 3: DNAT is only valid in the nat table/,
    ],
    ['a rule outside a table', '-A X -j RETURN\n', /^line 1: not inside a table/],
    ['a table without COMMIT', '*nat\n:X - [0:0]\n', /table nat has no COMMIT/],
  ])('rejects %s, naming the line', (_name, text, why) => {
    expect(() => parseRestore(text)).toThrow(why);
  });
});

describe('iptables mode with sessionAffinity: ClientIP on web', () => {
  const sticky = proxyModel({
    ...topo,
    services: topo.services.map((s) => (s.name === 'web' ? { ...s, affinity: { timeoutSeconds: 10800 } } : s)),
  });
  const rules = parseRestore(iptablesRules(sticky, node1));
  const ctx: TraceContext = { localAddresses: LOCAL, ipsets: {}, preferDestination: '10.42.2.9:80' };

  test('a new client: the -m recent --rcheck rules do not match, the random branch picks, the SEP records it (--set) and DNATs', () => {
    const r = traceHook(rules, 'prerouting', podToWeb, ctx);
    expect(r.chains).toEqual(['nat PREROUTING', 'KUBE-SERVICES', WEB_SVC, WEB_SEP['10.42.2.9:80']]);
    expect(r.steps.at(-1)!.rule).toContain('-m recent --name KUBE-SEP-SINZ7IJF3CRCZFO3 --set');
    expect(r).toMatchObject({ dnat: '10.42.2.9:80' });
  });

  test("iptables-save's order of the recent options reads the same", () => {
    const saved = parseRestore(
      '*nat\n:X - [0:0]\n-A X -m recent --rcheck --seconds 10800 --reap --name KUBE-SEP-A --mask 255.255.255.255 --rsource -j ACCEPT\nCOMMIT\n',
    );
    expect(saved.get('nat')!.get('X')!.rules[0]!.matches).toEqual([{ kind: 'recent', name: 'KUBE-SEP-A', op: 'rcheck', neg: false }]);
  });
});

describe('-m ipvs (IPVS mode: KUBE-IPVS-OUT-FILTER)', () => {
  // kube-proxy's rule for a LoadBalancer IP with source ranges: a node reaching its own LB IP
  const rules = parseRestore(
    '*filter\n:OUTPUT ACCEPT [0:0]\n:KUBE-IPVS-OUT-FILTER - [0:0]\n-A OUTPUT -j KUBE-IPVS-OUT-FILTER\n' +
      '-A KUBE-IPVS-OUT-FILTER -s 198.51.100.1 -m ipvs --vaddr 198.51.100.1 --vproto tcp --vport 80 -j DROP\nCOMMIT\n',
  );
  const ctx: TraceContext = { localAddresses: LOCAL };
  const out = { src: '198.51.100.1', dst: '10.42.1.10', protocol: 'tcp' as const, srcport: 40000, dstport: 80 };

  test('reads the virtual address, protocol and port as one match', () => {
    expect(rules.get('filter')!.get('KUBE-IPVS-OUT-FILTER')!.rules[0]!.matches[1]).toEqual({
      kind: 'ipvs',
      vaddr: '198.51.100.1',
      vproto: 'tcp',
      vport: 80,
      neg: false,
    });
  });

  test('matches a packet IPVS took for that virtual service, not one of another or none', () => {
    const taken = traceChain(rules, 'filter', 'OUTPUT', { ...out, ipvs: { vaddr: '198.51.100.1', vproto: 'tcp', vport: 80 } }, ctx);
    expect(taken.verdict).toBe('drop');
    const other = traceChain(rules, 'filter', 'OUTPUT', { ...out, ipvs: { vaddr: '198.51.100.1', vproto: 'tcp', vport: 81 } }, ctx);
    expect(other.verdict).toBe('accept');
    expect(traceChain(rules, 'filter', 'OUTPUT', out, ctx).verdict).toBe('accept');
  });

  test('-m physdev ! --physdev-is-in: matches what did not come in over a bridge port; unknown, refused', () => {
    const ext = parseRestore(
      '*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT\n-A PREROUTING -j DROP\nCOMMIT\n',
    );
    const fromLab = { src: '192.168.205.1', dst: '203.0.113.10', protocol: 'tcp' as const, srcport: 40000, dstport: 80 };
    expect(traceHook(ext, 'prerouting', fromLab, { localAddresses: LOCAL, bridgedIn: false }).verdict).toBe('accept');
    expect(traceHook(ext, 'prerouting', fromLab, { localAddresses: LOCAL, bridgedIn: true }).verdict).toBe('drop');
    expect(() => traceHook(ext, 'prerouting', fromLab, { localAddresses: LOCAL })).toThrow(
      /line 3: whether the packet came in over a bridge port/,
    );
  });

  test('an ipvs option without -m ipvs is refused, naming the line', () => {
    expect(() => parseRestore('*filter\n:X - [0:0]\n-A X --vaddr 1.2.3.4 -j DROP\nCOMMIT\n')).toThrow(/line 3: --vaddr without -m ipvs/);
  });
});

import { join } from 'node:path';
import { expectGoldenFile } from '../../testing/golden';
import { loadTopology, loadTopologyText } from '../../topology/resolve';
import type { Topology } from '../../topology/types';
import { danglingJumps, parseTables } from '../iptables-parse';
import {
  clusterIPs,
  IPSETS,
  IPVS_CHAINS,
  IPVS_DEVICE,
  ipvsDeviceCreate,
  ipsetMembers,
  ipvsRules,
  nodePortIPs,
  parseIpvsadm,
} from '../ipvs';
import { type ProxyModel, type ProxyNode, proxyModel, proxyNodes } from '../../model/proxy';

const REPO = join(__dirname, '../../..');
const GOLDEN = join(__dirname, 'golden');

const expectGolden = (name: string, actual: string) => expectGoldenFile(join(GOLDEN, name), actual);

const TOPOLOGIES: Record<string, string> = {
  default: join(REPO, 'scenarios/topologies/default.yaml'),
  ipvsfix: join(__dirname, 'fixtures/ipvs.yaml'),
};
const load = (name: string): Topology => loadTopology(TOPOLOGIES[name]!);
// as planProxy sees them: each node with its local addresses (eth0, cni0, flannel.1)
const nodesOf = (t: Topology): ProxyNode[] => proxyNodes(t);
/** every (topology, node) pair */
const cases: [string, string][] = Object.keys(TOPOLOGIES).flatMap((name) =>
  nodesOf(load(name)).map((n): [string, string] => [name, n.name]),
);
const setup = (name: string, node: string): { topo: Topology; model: ProxyModel; node: ProxyNode } => {
  const topo = load(name);
  return { topo, model: proxyModel(topo), node: nodesOf(topo).find((n) => n.name === node)! };
};

/** `ipset restore` text → set name → { type, members }, in the order written. */
function parseIpset(text: string): Map<string, { type: string; members: string[] }> {
  const sets = new Map<string, { type: string; members: string[] }>();
  for (const line of text.split('\n')) {
    const w = line.trim().split(/\s+/);
    if (w[0] === 'create') sets.set(w[1]!, { type: w[2]!, members: [] });
    else if (w[0] === 'add') sets.get(w[1]!)!.members.push(w[2]!);
  }
  return sets;
}

describe('golden IPVS rules', () => {
  it.each([
    ['default', 'node1'],
    ['ipvsfix', 'node1'],
  ])('%s / %s renders as golden/<topology>.<node>.ipvs-link|ipset|ipvs-iptables|ipvsadm', (name, node) => {
    const { model, node: n } = setup(name, node);
    const r = ipvsRules(model, n);
    expectGolden(`${name}.${node}.ipvs-link`, `${r.link.join('\n')}\n`);
    expectGolden(`${name}.${node}.ipset`, r.ipset);
    expectGolden(`${name}.${node}.ipvs-iptables`, r.iptables);
    expectGolden(`${name}.${node}.ipvsadm`, r.ipvsadm);
  });

  it.each(cases)('%s / %s: the same input gives the same text', (name, node) => {
    const a = setup(name, node);
    const b = setup(name, node);
    expect(ipvsRules(b.model, b.node)).toEqual(ipvsRules(a.model, a.node));
  });
});

describe('structure', () => {
  it.each(cases)('%s / %s: no jump to an undeclared chain', (name, node) => {
    const { model, node: n } = setup(name, node);
    expect(danglingJumps(ipvsRules(model, n).iptables)).toEqual([]);
  });

  it.each(cases)('%s / %s: the iptables rules match only on sets the ipset text creates', (name, node) => {
    const { model, node: n } = setup(name, node);
    const r = ipvsRules(model, n);
    const created = new Set(parseIpset(r.ipset).keys());
    const used = parseTables(r.iptables).rules.flatMap((rule) =>
      (rule.opts.get('--match-set') ?? '').split(' ').slice(0, 1).filter(Boolean),
    );
    expect(used.length).toBeGreaterThan(0);
    for (const s of used) expect(created).toContain(s);
  });

  it.each(cases)('%s / %s: every clusterIP:port is in KUBE-CLUSTER-IP and is a virtual service', (name, node) => {
    const { model, node: n } = setup(name, node);
    const r = ipvsRules(model, n);
    const sets = parseIpset(r.ipset);
    const ipvs = parseIpvsadm(r.ipvsadm);
    expect(ipvs.clear).toBe(true);
    expect(sets.get('KUBE-CLUSTER-IP')?.type).toBe('hash:ip,port');
    for (const sp of model.services) {
      expect(sets.get('KUBE-CLUSTER-IP')!.members).toContain(`${sp.clusterIP},${sp.protocol.toLowerCase()}:${sp.port}`);
      expect(ipvs.services.get(`${sp.protocol} ${sp.clusterIP}:${sp.port}`)?.scheduler).toBe(model.scheduler);
    }
    expect(sets.get('KUBE-CLUSTER-IP')!.members).toHaveLength(model.services.length);
  });

  it.each(cases)('%s / %s: node ports are virtual services on every local address, and in KUBE-NODE-PORT-<proto>', (name, node) => {
    const { model, node: n } = setup(name, node);
    const r = ipvsRules(model, n);
    const sets = parseIpset(r.ipset);
    const ipvs = parseIpvsadm(r.ipvsadm);
    const withNodePort = model.services.filter((sp) => sp.nodePort !== undefined);
    // kube-proxy's default: every address but kube-ipvs0's and loopback: eth0, cni0, flannel.1
    expect(nodePortIPs(model, n)).toEqual(n.localAddresses);
    expect(n.localAddresses).toHaveLength(3);
    for (const sp of withNodePort) {
      for (const ip of n.localAddresses!) expect(ipvs.services.has(`${sp.protocol} ${ip}:${sp.nodePort}`)).toBe(true);
      expect(sets.get(`KUBE-NODE-PORT-${sp.protocol}`)!.members).toContain(String(sp.nodePort));
    }
    expect(sets.get('KUBE-NODE-PORT-TCP')?.type).toBe('bitmap:port');
    expect(sets.get('KUBE-NODE-PORT-UDP')?.type).toBe('bitmap:port');
    // nothing else: one virtual service per cluster IP:port and per node port and address
    expect(ipvs.services.size).toBe(model.services.length + withNodePort.length * 3);
  });

  it.each(cases)('%s / %s: every endpoint is a masquerading real server exactly once per virtual service', (name, node) => {
    const { model, node: n } = setup(name, node);
    const ipvs = parseIpvsadm(ipvsRules(model, n).ipvsadm);
    for (const sp of model.services) {
      const vips = [
        `${sp.clusterIP}:${sp.port}`,
        ...(sp.nodePort !== undefined ? n.localAddresses!.map((ip) => `${ip}:${sp.nodePort}`) : []),
      ];
      for (const vip of vips) {
        const reals = ipvs.services.get(`${sp.protocol} ${vip}`)!.reals;
        expect(reals.map((x) => x.address).sort()).toEqual(sp.endpoints.map((ep) => `${ep.ip}:${ep.port}`).sort());
        expect(new Set(reals.map((x) => x.address)).size).toBe(reals.length);
        for (const x of reals) expect(x).toMatchObject({ forward: 'masq', weight: 1 });
      }
    }
  });

  it.each(cases)('%s / %s: KUBE-LOOP-BACK holds exactly the endpoints on this node', (name, node) => {
    const { model, node: n } = setup(name, node);
    const loop = parseIpset(ipvsRules(model, n).ipset).get('KUBE-LOOP-BACK')!;
    expect(loop.type).toBe('hash:ip,port,ip');
    const want = new Set(
      model.services.flatMap((sp) =>
        sp.endpoints.filter((ep) => ep.node === n.name).map((ep) => `${ep.ip},${sp.protocol.toLowerCase()}:${ep.port},${ep.ip}`),
      ),
    );
    expect(new Set(loop.members)).toEqual(want);
    expect(loop.members).toHaveLength(want.size);
  });

  it.each(cases)('%s / %s: kube-ipvs0 gets every cluster IP as /32, once, and the batch never creates the device', (name, node) => {
    const { model, node: n } = setup(name, node);
    const { link } = ipvsRules(model, n);
    expect(link[0]).toBe(`addr flush dev ${IPVS_DEVICE}`);
    expect(link.slice(1)).toEqual(clusterIPs(model).map((ip) => `addr add ${ip}/32 dev ${IPVS_DEVICE}`));
    expect(new Set(clusterIPs(model))).toEqual(new Set(model.services.map((s) => s.clusterIP)));
    expect(link.some((l) => l.startsWith('link add'))).toBe(false);
    expect(ipvsDeviceCreate()).toEqual([`link add ${IPVS_DEVICE} type ifb`]);
    expect(ipvsDeviceCreate('dummy')).toEqual([`link add ${IPVS_DEVICE} type dummy`]);
  });

  it.each(cases)('%s / %s: every set is created with -exist and flushed before members are added (re-sync)', (name, node) => {
    const { model, node: n } = setup(name, node);
    const lines = ipvsRules(model, n).ipset.trimEnd().split('\n');
    for (const s of Object.values(IPSETS)) {
      const create = lines.findIndex((l) => l.startsWith(`create ${s.name} ${s.type} `));
      expect(lines[create]).toMatch(/ -exist$/);
      expect(lines[create + 1]).toBe(`flush ${s.name}`);
      lines.forEach((l, i) => l.startsWith(`add ${s.name} `) && expect(i).toBeGreaterThan(create + 1));
    }
    expect(ipsetMembers(model, n).get('KUBE-IPVS-IPS')).toEqual(clusterIPs(model));
  });

  it('kube-proxy order: KUBE-SERVICES returns localhost first, accepts cluster IPs last; hairpin MASQUERADE comes before the mark RETURN', () => {
    const { model, node } = setup('default', 'node1');
    const rules = parseTables(ipvsRules(model, node).iptables).rules;
    const chain = (c: string) => rules.filter((r) => r.table === 'nat' && r.chain === c).map((r) => r.text);
    expect(chain('KUBE-SERVICES')).toEqual([
      '-A KUBE-SERVICES -s 127.0.0.0/8 -j RETURN',
      '-A KUBE-SERVICES -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP dst,dst ! -s 10.42.0.0/16 -j KUBE-MARK-MASQ',
      '-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT',
      '-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT',
    ]);
    expect(chain('KUBE-POSTROUTING')[0]).toContain('--match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE');
    expect(chain('KUBE-POSTROUTING')[1]).toBe('-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN');
    expect(chain('KUBE-NODE-PORT')).toEqual([
      '-A KUBE-NODE-PORT -p tcp -m comment --comment "Kubernetes nodeport TCP port for masquerade purpose" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ',
    ]);
    // IPVS mode's KUBE-FORWARD has no INVALID drop (the iptables mode's has)
    expect(rules.filter((r) => r.chain === 'KUBE-FORWARD').map((r) => r.opts.get('--ctstate'))).not.toContain('INVALID');
  });

  it('the fixture: lc scheduler, UDP and TCP on one port, a named port only some pods have, services without endpoints', () => {
    const { model, node } = setup('ipvsfix', 'node2');
    const ipvs = parseIpvsadm(ipvsRules(model, node).ipvsadm);
    expect([...ipvs.services.values()].every((s) => s.scheduler === 'lc')).toBe(true);
    expect(ipvs.services.get('UDP 10.43.0.10:53')?.reals.map((r) => r.address)).toEqual(['10.42.0.10:53', '10.42.1.10:53']);
    expect(ipvs.services.get('TCP 10.43.0.10:53')?.reals.map((r) => r.address)).toEqual(['10.42.0.10:53', '10.42.1.10:53']);
    expect(ipvs.services.get('TCP 10.43.1.5:80')?.reals).toHaveLength(3);
    expect(ipvs.services.get('TCP 10.43.1.5:443')?.reals.map((r) => r.address)).toEqual(['10.42.0.20:8443', '10.42.1.20:8443']);
    expect(ipvs.services.get('UDP 192.168.205.3:30514')?.reals.map((r) => r.address)).toEqual(['10.42.1.30:5514']);
    expect(ipvs.services.get('TCP 10.43.9.9:80')?.reals).toEqual([]);
    expect(ipvs.services.get('TCP 192.168.205.3:30999')?.reals).toEqual([]);
    expect(ipvs.services.has('TCP 192.168.205.4:30999')).toBe(false); // node1's address is node1's business
    // node2's cni0 and flannel.1 addresses get the node ports too
    expect(ipvs.services.get('UDP 10.42.1.1:30514')?.reals.map((r) => r.address)).toEqual(['10.42.1.30:5514']);
    expect(ipvs.services.has('TCP 10.42.1.0:30999')).toBe(true);
  });

  it('kube-proxy declares its chains in its order (TestCreateAndLinkKubeChain) and jumps to them from the built-in chains', () => {
    const { model, node } = setup('default', 'node1');
    const t = parseTables(ipvsRules(model, node).iptables);
    const builtins = new Set(['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING']);
    for (const table of ['nat', 'filter'] as const)
      expect([...t.chains.get(table)!].filter((c) => !builtins.has(c))).toEqual(IPVS_CHAINS[table]);
    const jumps = (table: string, chain: string) => t.rules.filter((r) => r.table === table && r.chain === chain).map((r) => r.target);
    // each inserted at the top in kube-proxy's list order: the last one ends up first
    expect(jumps('filter', 'INPUT')).toEqual(['KUBE-IPVS-FILTER', 'KUBE-PROXY-FIREWALL', 'KUBE-NODE-PORT']);
    expect(jumps('filter', 'FORWARD')).toEqual(['KUBE-PROXY-FIREWALL', 'KUBE-FORWARD']);
    expect(jumps('filter', 'OUTPUT')).toEqual(['KUBE-IPVS-OUT-FILTER']);
    expect(jumps('nat', 'POSTROUTING')).toEqual(['KUBE-POSTROUTING']);
  });
});

describe('nodePortIPs: the addresses node ports answer on (--nodeport-addresses)', () => {
  const { topo } = setup('default', 'node1');
  const node1 = nodesOf(topo).find((n) => n.name === 'node1')!;
  const withNpa = (nodePortAddresses: string[]) => nodePortIPs({ ...proxyModel(topo), nodePortAddresses }, node1);

  it.each([
    [[], ['192.168.205.4', '10.42.0.1', '10.42.0.0']],
    [['0.0.0.0/0'], ['192.168.205.4', '10.42.0.1', '10.42.0.0']],
    [['192.168.205.0/24'], ['192.168.205.4']],
    [['primary'], ['192.168.205.4']],
    [['10.42.0.0/24'], ['10.42.0.1', '10.42.0.0']],
    [
      ['10.42.0.1/32', '192.168.205.4/32'],
      ['192.168.205.4', '10.42.0.1'],
    ],
    // a CIDR is matched against every interface's addresses, kube-ipvs0's cluster IPs too
    [['10.43.0.0/16'], ['10.43.0.10', '10.43.0.20', '10.43.6.58']],
    [['172.16.0.0/12'], []],
  ])('%j → %j', (npa, want) => {
    expect(withNpa(npa)).toEqual(want);
  });

  it('loopback never: kube-proxy drops it from both lists', () => {
    expect(nodePortIPs({ ...proxyModel(topo), nodePortAddresses: [] }, { ...node1, localAddresses: ['127.0.0.1', node1.ip] })).toEqual([
      node1.ip,
    ]);
    expect(nodePortIPs({ ...proxyModel(topo), nodePortAddresses: ['127.0.0.0/8'] }, { ...node1, localAddresses: ['127.0.0.1'] })).toEqual(
      [],
    );
  });

  it('a node without any address for node ports gets no node-port virtual services and no KUBE-NODE-PORT-* members', () => {
    const model = { ...proxyModel(topo), nodePortAddresses: ['172.16.0.0/12'] };
    const r = ipvsRules(model, node1);
    expect([...parseIpvsadm(r.ipvsadm).services.keys()]).toEqual([
      'TCP 10.43.0.10:53',
      'UDP 10.43.0.10:53',
      'TCP 10.43.0.20:80',
      'TCP 10.43.6.58:80',
    ]);
    expect(ipsetMembers(model, node1).get('KUBE-NODE-PORT-TCP')).toEqual([]);
    expect(r.iptables).not.toContain('KUBE-NODE-PORT-TCP');
  });
});

describe('parseIpvsadm', () => {
  it('reads what ipvsadm -S -n writes', () => {
    const p = parseIpvsadm('-A -t 10.43.0.10:80 -s rr\n-a -t 10.43.0.10:80 -r 10.42.0.66:80 -m -w 1\n-A -u 10.43.0.10:53 -s lc\n');
    expect(p.clear).toBe(false);
    expect([...p.services.keys()]).toEqual(['TCP 10.43.0.10:80', 'UDP 10.43.0.10:53']);
    expect(p.services.get('TCP 10.43.0.10:80')?.reals).toEqual([{ address: '10.42.0.66:80', forward: 'masq', weight: 1 }]);
  });

  it.each([
    ['-a -t 10.43.0.10:80 -r 10.42.0.66:80 -m -w 1', /undeclared/],
    ['-A -t 10.43.0.10:80', /-s/],
    ['-A -t 10.43.0.10:80 -s rr\n-A -t 10.43.0.10:80 -s rr', /twice/],
    ['-A -t 10.43.0.10 -s rr', /ip:port/],
    ['-A -t 10.43.0.10:80 -u 10.43.0.10:80 -s rr', /exactly one/],
    ['-X', /-t \/ -u|unknown/],
    ['-C now', /no arguments/],
  ])('rejects %j', (text, why) => {
    expect(() => parseIpvsadm(text)).toThrow(why);
  });
});

describe('issue 18 in IPVS mode: persistence, Local policies, external and LoadBalancer IPs', () => {
  const topo = loadTopologyText(
    `
name: ipvs18
proxy: { mode: ipvs }
nodes: [{ name: n1, ip: 192.168.205.2 }, { name: n2, ip: 192.168.205.3 }]
pods:
  - { name: a, node: n1, ip: 10.42.0.10, labels: { app: x }, ports: [80] }
  - { name: b, node: n2, ip: 10.42.1.10, labels: { app: x }, ports: [80] }
services:
  - { name: sticky, clusterIP: 10.43.0.20, externalIPs: [203.0.113.5], selector: { app: x }, ports: [{ port: 80 }], sessionAffinity: ClientIP, sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } } }
  - { name: itp, clusterIP: 10.43.0.21, internalTrafficPolicy: Local, selector: { app: x }, ports: [{ port: 80 }] }
  - { name: lb, type: LoadBalancer, externalTrafficPolicy: Local, clusterIP: 10.43.0.22, loadBalancerIP: 198.51.100.7, selector: { app: x }, ports: [{ port: 80, nodePort: 30080 }] }
`,
    'ipvs18.yaml',
  );
  const model = proxyModel(topo);
  const [n1] = proxyNodes(topo);
  const vs = parseIpvsadm(ipvsRules(model, n1!).ipvsadm).services;
  const reals = (key: string) => vs.get(key)?.reals.map((r) => r.address);

  test('sessionAffinity ClientIP: every virtual service of the port is persistent for timeoutSeconds (-p)', () => {
    expect(vs.get('TCP 10.43.0.20:80')?.persistent).toBe(60);
    expect(vs.get('TCP 203.0.113.5:80')?.persistent).toBe(60);
    expect(vs.get('TCP 10.43.0.21:80')?.persistent).toBeUndefined();
  });

  test('ITP Local: the cluster IP has the local endpoint only; ETP Local: node port and LB IP too, the cluster IP both', () => {
    expect(reals('TCP 10.43.0.21:80')).toEqual(['10.42.0.10:80']);
    expect(reals('TCP 198.51.100.7:80')).toEqual(['10.42.0.10:80']);
    expect(reals('TCP 192.168.205.2:30080')).toEqual(['10.42.0.10:80']);
    expect(reals('TCP 10.43.0.22:80')?.sort()).toEqual(['10.42.0.10:80', '10.42.1.10:80']);
  });

  test('external and LoadBalancer IPs are bound on kube-ipvs0 and in KUBE-IPVS-IPS', () => {
    const r = ipvsRules(model, n1!);
    expect(r.link).toEqual(expect.arrayContaining(['addr add 203.0.113.5/32 dev kube-ipvs0', 'addr add 198.51.100.7/32 dev kube-ipvs0']));
    expect(r.ipset).toMatch(/^add KUBE-IPVS-IPS 198\.51\.100\.7$/m);
    expect(r.ipset).toMatch(/^add KUBE-EXTERNAL-IP 203\.0\.113\.5,tcp:80$/m);
    expect(r.ipset).toMatch(/^add KUBE-LOAD-BALANCER-LOCAL 198\.51\.100\.7,tcp:80$/m);
  });

  test('ETP Local with no local endpoint: all endpoints (kubernetes#97081), so local pods still reach it', () => {
    const t2 = loadTopologyText(
      `
name: ipvs18b
proxy: { mode: ipvs }
nodes: [{ name: n1, ip: 192.168.205.2 }, { name: n2, ip: 192.168.205.3 }]
pods: [{ name: b, node: n2, ip: 10.42.1.10, labels: { app: x }, ports: [80] }]
services: [{ name: lb, type: LoadBalancer, externalTrafficPolicy: Local, clusterIP: 10.43.0.22, loadBalancerIP: 198.51.100.7, selector: { app: x }, ports: [{ port: 80 }] }]
`,
      'ipvs18b.yaml',
    );
    const v = parseIpvsadm(ipvsRules(proxyModel(t2), proxyNodes(t2)[0]!).ipvsadm).services;
    expect(v.get('TCP 198.51.100.7:80')?.reals.map((r) => r.address)).toEqual(['10.42.1.10:80']);
  });
});

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expectGoldenFile } from '../../testing/golden';
import { loadTopology, loadTopologyText } from '../../topology/resolve';
import type { Topology } from '../../topology/types';
import {
  calicoVethName,
  labNamespace,
  nodeNamespace,
  parseNamespace,
  podNamespace,
  podVethName,
  underlayPortName,
  vtepMac,
} from '../../model/kernel-names';
import { planLab, renderPlan } from '../../plan';
import { planPodUnplug } from '../plan';
import type { LabPlan, Step } from '../../plan/types';

const REPO = join(__dirname, '../../..');
const TOPOLOGIES = join(REPO, 'scenarios/topologies');
const GOLDEN = join(__dirname, 'golden');

const expectGolden = (name: string, actual: string) => expectGoldenFile(join(GOLDEN, name), actual);

const topology = (file: string, name?: string) => loadTopology(join(TOPOLOGIES, file), name === undefined ? {} : { name });
const cases: [string, string][] = [
  ['default.yaml', 'default.plan.txt'],
  ['host-gw.yaml', 'host-gw.plan.txt'],
];

/** Every step of a plan, links first. */
const steps = (plan: LabPlan): Step[] => plan.phases.flatMap((p) => p.steps);
const stepOf = (plan: LabPlan, ns: string, tool: Step['tool']): Step | undefined => steps(plan).find((s) => s.ns === ns && s.tool === tool);
/** Every line a namespace gets from one tool, over all phases (a node's pod veths come in 'links'). */
const linesOf = (plan: LabPlan, ns: string, tool: Step['tool']) =>
  steps(plan)
    .filter((s) => s.ns === ns && s.tool === tool)
    .flatMap((s) => s.lines);

describe('golden plans', () => {
  it.each(cases)('%s renders as golden/%s', (topo, golden) => {
    expectGolden(golden, renderPlan(planLab(topology(topo))));
  });

  it('two hosts: an underlay namespace on each, the gateway on the first, the tunnel made in each host and moved in', () => {
    const plan = planLab(loadTopology(join(__dirname, 'fixtures', 'two-hosts.yaml')));
    expectGolden('two-hosts.plan.txt', renderPlan(plan));
    expect(plan.namespaces.slice(0, 2)).toEqual(['kdl.mh@a', 'kdl.mh@b']);
    expect(plan.phases[0]!.name).toBe('hosts');
    const a = linesOf(plan, 'kdl.mh@a', 'ip');
    const b = linesOf(plan, 'kdl.mh@b', 'ip');
    expect(a).toContain('addr add 192.168.205.1/24 dev underlay0');
    expect(b.some((l) => l.includes('192.168.205.1'))).toBe(false);
    // node1 and node3 (spread to a) hang off a's bridge, node2 off b's
    expect(a.filter((l) => /netns kdl\.mh\.node\d/.test(l)).map((l) => /netns (kdl\.mh\.node\d)/.exec(l)![1])).toEqual([
      'kdl.mh.node1',
      'kdl.mh.node3',
    ]);
    expect(b.filter((l) => /netns kdl\.mh\.node\d/.test(l)).map((l) => /netns (kdl\.mh\.node\d)/.exec(l)![1])).toEqual(['kdl.mh.node2']);
    expect(linesOf(plan, '@b', 'ip')[0]).toMatch(
      /^link add kdlu[0-9a-f]{8} address \S+ type vxlan id \d+ local 10\.99\.9\.2 dstport 4790$/,
    );
    expect(linesOf(plan, 'kdl.mh@a', 'bridge')).toEqual([
      expect.stringMatching(/^fdb append 00:00:00:00:00:00 dev kdlu[0-9a-f]{8} dst 10\.99\.9\.2$/),
    ]);
  });

  it.each(cases)('%s renders the same wherever the file lives', (topo) => {
    const text = readFileSync(join(TOPOLOGIES, topo), 'utf8');
    const here = renderPlan(planLab(topology(topo)));
    const elsewhere = renderPlan(planLab(loadTopologyText(text, '/somewhere/else/entirely.yaml')));
    expect(elsewhere).toBe(here);
    expect(here).not.toContain(REPO);
    expect(here).not.toContain(TOPOLOGIES);
    expect(here).not.toContain('.yaml');
  });
});

/** The flannel rules a node needs for every other node, as flannel's vxlan / host-gw backends install them. */
describe('routes to the other nodes', () => {
  it('vxlan: route via <their .0> onlink, permanent neigh and fdb entries for every other node', () => {
    const topo = topology('default.yaml');
    const plan = planLab(topo);
    for (const n of topo.nodes) {
      const ns = nodeNamespace(topo.name, n.name);
      const ip = linesOf(plan, ns, 'ip');
      const fdb = linesOf(plan, ns, 'bridge');
      const others = topo.nodes.filter((o) => o.name !== n.name);
      expect(others).toHaveLength(2);
      for (const o of others) {
        const mac = vtepMac(topo.name, o.name, topo.cluster.vni);
        expect(ip).toContain(`route add ${o.podSubnet} via ${o.vtep} dev flannel.1 onlink`);
        expect(ip).toContain(`neigh add ${o.vtep} lladdr ${mac} dev flannel.1 nud permanent`);
        expect(fdb).toContain(`fdb add ${mac} dev flannel.1 dst ${o.ip} self permanent`);
      }
      // nothing for itself, nothing more than the others
      expect(ip.filter((l) => l.startsWith('route add 10.42.'))).toHaveLength(others.length);
      expect(ip.filter((l) => l.startsWith('neigh add'))).toHaveLength(others.length);
      expect(fdb).toHaveLength(others.length);
      expect(ip).toContain(
        `link add flannel.1 address ${vtepMac(topo.name, n.name, 1)} type vxlan id 1 local ${n.ip} dev eth0 dstport 8472 nolearning`,
      );
      expect(ip).toContain(`addr add ${n.vtep}/32 dev flannel.1`);
      expect(ip).toContain('link set flannel.1 mtu 1450 up');
    }
  });

  it('host-gw: route via <their node IP> on eth0, no vxlan device, no fdb', () => {
    const topo = topology('host-gw.yaml');
    const plan = planLab(topo);
    for (const n of topo.nodes) {
      const ns = nodeNamespace(topo.name, n.name);
      const ip = linesOf(plan, ns, 'ip');
      const others = topo.nodes.filter((o) => o.name !== n.name);
      for (const o of others) expect(ip).toContain(`route add ${o.podSubnet} via ${o.ip} dev eth0`);
      expect(ip.filter((l) => l.startsWith('route add 10.42.'))).toHaveLength(others.length);
      expect(ip.join('\n')).not.toMatch(/flannel|vxlan|neigh/);
      expect(stepOf(plan, ns, 'bridge')).toBeUndefined();
      expect(ip.find((l) => l.startsWith('link add cni0 '))).toMatch(/^link add cni0 address \S+ mtu 1500 type bridge$/);
    }
  });

  it('pods route the default and podCIDR via their cni0', () => {
    const topo = topology('default.yaml');
    const plan = planLab(topo);
    for (const p of topo.pods) {
      const node = topo.nodes.find((n) => n.name === p.node)!;
      const ip = linesOf(plan, podNamespace(topo.name, p.node, p.name), 'ip');
      expect(ip).toEqual([
        'link set lo up',
        'link set eth0 addrgenmode none',
        'link set eth0 mtu 1450 up',
        `addr add ${p.ip}/24 dev eth0`,
        `route add default via ${node.cni0} dev eth0`,
        `route add 10.42.0.0/16 via ${node.cni0} dev eth0`,
      ]);
    }
  });
});

describe('flannel MACs agree between peers', () => {
  it.each(cases)('%s: the MAC node A uses for node B is the one node B gives its flannel.1', (file) => {
    const topo = topology(file);
    const plan = planLab(topo);
    // own MAC from `link add flannel.1 address <mac>`, per node, as the plan says it
    const own = new Map<string, string>();
    for (const n of topo.nodes) {
      const line = linesOf(plan, nodeNamespace(topo.name, n.name), 'ip').find((l) => l.startsWith('link add flannel.1 '));
      if (topo.cluster.backend === 'host-gw') {
        expect(line).toBeUndefined();
        continue;
      }
      const m = /^link add flannel\.1 address ((?:[0-9a-f]{2}:){5}[0-9a-f]{2}) /.exec(line ?? '');
      expect(m).not.toBeNull();
      own.set(n.name, m![1]!);
    }
    if (topo.cluster.backend === 'host-gw') return;
    expect(new Set(own.values()).size).toBe(topo.nodes.length);
    const byVtep = new Map(topo.nodes.map((n) => [n.vtep, n.name]));
    const byIp = new Map(topo.nodes.map((n) => [n.ip, n.name]));
    let checked = 0;
    for (const a of topo.nodes) {
      const ns = nodeNamespace(topo.name, a.name);
      for (const l of linesOf(plan, ns, 'ip')) {
        const m = /^neigh add (\S+) lladdr (\S+) dev flannel\.1 nud permanent$/.exec(l);
        if (!m) continue;
        const b = byVtep.get(m[1]);
        expect(b).toBeDefined();
        expect(b).not.toBe(a.name);
        expect(m[2]).toBe(own.get(b!));
        checked++;
      }
      for (const l of linesOf(plan, ns, 'bridge')) {
        const m = /^fdb add (\S+) dev flannel\.1 dst (\S+) self permanent$/.exec(l);
        expect(m).not.toBeNull();
        const b = byIp.get(m![2]!);
        expect(b).toBeDefined();
        expect(b).not.toBe(a.name);
        expect(m![1]).toBe(own.get(b!));
        checked++;
      }
    }
    expect(checked).toBe(2 * topo.nodes.length * (topo.nodes.length - 1));
  });
});

describe('namespaces', () => {
  it.each(cases)('%s: every namespace named in the links batch is created first', (file) => {
    const plan = planLab(topology(file));
    const named = plan.phases
      .find((p) => p.name === 'links')!
      .steps.flatMap((s) => s.lines)
      .flatMap((l) => [...l.matchAll(/\bnetns (\S+)/g)].map((m) => m[1]!));
    expect(named.length).toBeGreaterThan(0);
    for (const ns of named) expect(plan.namespaces).toContain(ns);
    // and every step runs in a namespace the plan creates
    for (const s of steps(plan)) expect(plan.namespaces).toContain(s.ns);
    expect(plan.namespaces[0]).toBe(labNamespace(plan.lab));
    expect(new Set(plan.namespaces).size).toBe(plan.namespaces.length);
  });

  it('are named kdl.<lab>, kdl.<lab>.<node>, kdl.<lab>.<node>.<pod>', () => {
    const plan = planLab(topology('default.yaml'));
    expect(plan.namespaces).toEqual([
      'kdl.default',
      'kdl.default.node1',
      'kdl.default.node2',
      'kdl.default.node3',
      'kdl.default.node1.client',
      'kdl.default.node1.web-1',
      'kdl.default.node2.web-2',
      'kdl.default.node3.web-3',
      'kdl.default.node2.nginx-test-1',
      'kdl.default.node3.nginx-test-2',
      'kdl.default.node1.kube-system.kube-dns-1',
      'kdl.default.node2.kube-system.kube-dns-2',
    ]);
  });

  it('parseNamespace round-trips every namespace of a plan', () => {
    const topo = topology('default.yaml');
    const plan = planLab(topo);
    const expected = [
      { role: 'lab', lab: 'default' },
      ...topo.nodes.map((n) => ({ role: 'node', lab: 'default', node: n.name })),
      ...topo.pods.map((p) => ({ role: 'pod', lab: 'default', node: p.node, pod: p.name })),
    ];
    expect(plan.namespaces.map(parseNamespace)).toEqual(expected);
    expect(parseNamespace(labNamespace('x'))).toEqual({ role: 'lab', lab: 'x' });
    expect(parseNamespace(nodeNamespace('x', 'n'))).toEqual({ role: 'node', lab: 'x', node: 'n' });
    // a pod of Kubernetes namespace shop is shop/web in the lab, kdl.x.n.shop.web in the kernel
    expect(podNamespace('x', 'n', 'shop/web')).toBe('kdl.x.n.shop.web');
    expect(parseNamespace('kdl.x.n.shop.web')).toEqual({ role: 'pod', lab: 'x', node: 'n', pod: 'shop/web' });
    expect(parseNamespace(podNamespace('x', 'n', 'p'))).toEqual({ role: 'pod', lab: 'x', node: 'n', pod: 'p' });
  });

  it.each(['kdl', 'other.x', 'kdlx.a', 'kdl..n', 'kdl.a.', 'kdl.a.b.c.d.e', '', 'KDL.a'])('parseNamespace refuses %j', (ns) => {
    expect(parseNamespace(ns)).toBeUndefined();
  });

  it('two labs with different names share no namespace, interface name or MAC', () => {
    const a = planLab(topology('default.yaml'));
    const b = planLab(topology('default.yaml', 'other'));
    expect(b.lab).toBe('other');
    expect(b.namespaces.every((ns) => ns === 'kdl.other' || ns.startsWith('kdl.other.'))).toBe(true);
    const shared = a.namespaces.filter((ns) => b.namespaces.includes(ns));
    expect(shared).toEqual([]);
    const macs = (p: LabPlan) => new Set(steps(p).flatMap((s) => s.lines.join('\n').match(/(?:[0-9a-f]{2}:){5}[0-9a-f]{2}/g) ?? []));
    const macsA = macs(a);
    expect([...macs(b)].filter((m) => macsA.has(m))).toEqual([]);
    const topo = topology('default.yaml');
    for (const p of topo.pods) expect(podVethName('default', p.name)).not.toBe(podVethName('other', p.name));
    for (const n of topo.nodes) expect(underlayPortName('default', n.name)).not.toBe(underlayPortName('other', n.name));
  });
});

describe('plan text is safe to hand to ip -batch', () => {
  // Labels and port names are free text; none of it may reach a command line.
  const hostile = [
    'name: evil',
    'nodes: [{ name: n1 }, { name: n2 }]',
    'pods:',
    '  - name: p',
    '    node: n1',
    '    labels: { app: "$(touch /tmp/pwned); `id` | x & y > z < w \'q\' \\"d\\" *?! #c\\\\" }',
    '    ports: [{ port: 80, name: "http;reboot" }]',
  ].join('\n');
  const META = /[;&|$`'"<>(){}*?!#\\\n\t]/;

  it.each([
    ...cases.map(([f]): [string, () => Topology] => [f, () => topology(f)]),
    ['a hostile topology', () => loadTopologyText(hostile, 'evil.yaml')] as [string, () => Topology],
  ])('%s: no line carries a shell metacharacter', (_what, load) => {
    const topo = load();
    const plan = planLab(topo);
    // ip/bridge/sysctl lines; rule batches (quoted comments, nft braces) are checked for the
    // hostile text below and reach their tools on stdin, never through a shell
    const bad = steps(plan)
      .filter((s) => s.tool === 'ip' || s.tool === 'bridge' || s.tool === 'sysctl')
      .flatMap((s) => s.lines)
      .filter((l) => META.test(l));
    expect(bad).toEqual([]);
    expect(plan.namespaces.filter((ns) => META.test(ns))).toEqual([]);
    const text = renderPlan(plan);
    expect(text).not.toContain('pwned');
    expect(text).not.toContain('reboot');
  });

  it('the hostile topology does carry metacharacters into the resolved topology', () => {
    const topo = loadTopologyText(hostile, 'evil.yaml');
    expect(topo.pods[0]!.labels.app).toContain('$(touch /tmp/pwned);');
    expect(topo.pods[0]!.ports[0]!.name).toBe('http;reboot');
  });

  it('every line is one command of the expected tool, sysctls are key=value', () => {
    const plan = planLab(topology('default.yaml'));
    expect(plan.phases.map((p) => p.name)).toEqual(['links', 'configure', 'neighbours', 'proxy']);
    for (const s of steps(plan).filter((s) => s.tool !== 'iptables-restore')) {
      expect(s.lines.length).toBeGreaterThan(0);
      for (const l of s.lines) {
        if (s.tool === 'sysctl') expect(l).toMatch(/^net\.ipv4\.(ip_forward|conf\.all\.route_localnet)=[01]$/);
        else if (s.tool === 'bridge') expect(l).toMatch(/^fdb add /);
        else expect(l).toMatch(/^(link|addr|route|neigh) (add|set) /);
      }
    }
  });
});

describe('underlay segments', () => {
  it('one segment: the lab namespace does not forward; several: it routes between them', () => {
    expect(linesOf(planLab(topology('default.yaml')), 'kdl.default', 'sysctl')).toEqual(['net.ipv4.ip_forward=0']);
    const topo = loadTopologyText(
      [
        'name: two',
        'cluster: { underlay: [192.168.205.0/24, 192.168.206.0/24] }',
        'nodes:',
        '  - { name: a }',
        '  - { name: b, ip: 192.168.206.2 }',
      ].join('\n'),
      'two.yaml',
    );
    const plan = planLab(topo);
    expect(linesOf(plan, 'kdl.two', 'sysctl')).toEqual(['net.ipv4.ip_forward=1']);
    const links = linesOf(plan, 'kdl.two', 'ip');
    expect(links).toContain('addr add 192.168.205.1/24 dev underlay0');
    expect(links).toContain('addr add 192.168.206.1/24 dev underlay1');
    expect(links).toContain(`link set ${underlayPortName('two', 'a')} master underlay0 up`);
    expect(links).toContain(`link set ${underlayPortName('two', 'b')} master underlay1 up`);
    expect(linesOf(plan, 'kdl.two.b', 'ip')).toContain('route add default via 192.168.206.1 dev eth0');
    // vxlan across segments: the fdb points at the peer's underlay address, routed by the lab namespace
    expect(linesOf(plan, 'kdl.two.a', 'bridge')).toEqual([
      `fdb add ${vtepMac('two', 'b', 1)} dev flannel.1 dst 192.168.206.2 self permanent`,
    ]);
  });

  it('a node with no pods and a lab with one node plan without peers', () => {
    const plan = planLab(loadTopologyText('name: solo\nnodes: [{ name: a }]\n', 'solo.yaml'));
    expect(plan.namespaces).toEqual(['kdl.solo', 'kdl.solo.a', 'kdl.solo.a.kube-system.kube-dns-1']);
    expect(stepOf(plan, 'kdl.solo.a', 'bridge')).toBeUndefined();
    expect(linesOf(plan, 'kdl.solo.a', 'ip').filter((l) => /^(route add 10\.|neigh )/.test(l))).toEqual([]);
  });
});

describe('planPodUnplug', () => {
  it("deletes each pod's node-side veth in its node, by the CNI's name for it", () => {
    const flannel = topology('default.yaml');
    const [a, b] = flannel.pods;
    expect(planPodUnplug(flannel, [a!, b!])).toEqual(
      [...new Set([a!.node, b!.node])].map((node) => ({
        ns: nodeNamespace('default', node),
        tool: 'ip',
        lines: [a!, b!].filter((p) => p.node === node).map((p) => `link del ${podVethName('default', p.name)}`),
      })),
    );
    const calico = topology('calico.yaml');
    const p = calico.pods[0]!;
    expect(planPodUnplug(calico, [p])).toEqual([
      { ns: nodeNamespace(calico.name, p.node), tool: 'ip', lines: [`link del ${calicoVethName(p.name)}`] },
    ]);
  });
});

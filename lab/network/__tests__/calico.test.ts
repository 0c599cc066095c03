import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../../errors';
import { calicoVethName } from '../../model/kernel-names';
import { planLab, renderPlan } from '../../plan';
import type { LabPlan, Step } from '../../plan/types';
import { expectGoldenFile } from '../../testing/golden';
import { loadTopology, loadTopologyText } from '../../topology/resolve';
import { meshProtocolName, nodeProtocolName, planBird } from '../cni/bird';

// Calico's plans, pure: goldens of the checked-in bgp lab and a vxlan fixture, the BIRD
// configuration, and the IPAM and wiring rules taken from Calico's CNI plugin and libcalico-go.

const REPO = join(__dirname, '../../..');
const GOLDEN = join(__dirname, 'golden');
const bgpTopo = () => loadTopology(join(REPO, 'scenarios/topologies/calico.yaml'));
const vxlanTopo = () => loadTopology(join(__dirname, 'fixtures', 'calico-vxlan.yaml'));

const linesOf = (plan: LabPlan, ns: string, tool: Step['tool']) =>
  plan.phases
    .flatMap((p) => p.steps)
    .filter((s) => s.ns === ns && s.tool === tool)
    .flatMap((s) => s.lines);

const calicoYaml = (cluster: string, rest = '') =>
  `name: c\ncluster:\n  cni: calico\n${cluster}nodes:\n  - { name: n1 }\n  - { name: n2 }\n${rest}`;
const problems = (text: string): string[] => {
  try {
    loadTopologyText(text);
  } catch (e) {
    if (e instanceof InputError) return e.issues.map((i) => `${i.path}: ${i.message}`);
    throw e;
  }
  return [];
};

describe('golden calico plans', () => {
  it('bgp (scenarios/topologies/calico.yaml) renders as golden/calico-bgp.plan.txt', () => {
    expectGoldenFile(join(GOLDEN, 'calico-bgp.plan.txt'), renderPlan(planLab(bgpTopo())));
  });
  it('vxlan over two segments, a node with two blocks, renders as golden/calico-vxlan.plan.txt', () => {
    expectGoldenFile(join(GOLDEN, 'calico-vxlan.plan.txt'), renderPlan(planLab(vxlanTopo())));
  });
  it("every node's BIRD configuration renders as golden/calico-bgp.bird.txt", () => {
    const text = planBird(bgpTopo())
      .map((c) => `## ${c.ns}\n${c.text}`)
      .join('\n');
    expectGoldenFile(join(GOLDEN, 'calico-bgp.bird.txt'), text);
  });
});

describe("Calico's pod wiring", () => {
  const topo = bgpTopo();
  const plan = planLab(topo);

  it("names the host veth as libcalico-go does: cali + sha1('<namespace>.<pod>')[:11]", () => {
    // printf default.web-1 | sha1sum → 0761ccbeacef8227989813e1a43b2607744edac9
    expect(calicoVethName('web-1')).toBe('cali0761ccbeace');
    expect(calicoVethName('client')).toBe('calia7a3e029a7b');
    // printf shop.web-1 | sha1sum → the pod web-1 of namespace shop, named shop/web-1 in the lab
    expect(calicoVethName('shop/web-1')).toBe(`cali${createHash('sha1').update('shop.web-1').digest('hex').slice(0, 11)}`);
    expect(calicoVethName('shop/web-1')).not.toBe('cali0761ccbeace');
  });

  it('pod: a /32 on eth0, 169.254.1.1 scope link, default via it', () => {
    const web1 = topo.pods.find((p) => p.name === 'web-1')!;
    expect(linesOf(plan, 'kdl.calico.node1.web-1', 'ip')).toEqual([
      'link set lo up',
      'link set eth0 addrgenmode none',
      'link set eth0 mtu 1500 up',
      `addr add ${web1.ip}/32 dev eth0`,
      'route add 169.254.1.1 dev eth0 scope link',
      'route add default via 169.254.1.1 dev eth0',
    ]);
  });

  it('node: no cni0 and no bridge; each cali veth up with MAC ee:ee:ee:ee:ee:ee, no address, a /32 route to it', () => {
    const ip = linesOf(plan, 'kdl.calico.node1', 'ip');
    expect(ip.join('\n')).not.toMatch(/cni0|bridge|master/);
    expect(ip.filter((l) => l.startsWith('addr add'))).toEqual(['addr add 192.168.205.4/24 dev eth0']);
    expect(ip).toContain(
      'link add cali0761ccbeace address ee:ee:ee:ee:ee:ee type veth peer name eth0 netns kdl.calico.node1.web-1 address 0a:85:05:95:5e:e1',
    );
    expect(ip).toContain('route add 10.42.0.1/32 dev cali0761ccbeace scope link');
    // bgp mode: blackholes and routes to the others come from BIRD, none are planned
    expect(ip.filter((l) => /blackhole|via 192\.168\.205\.[35]/.test(l))).toEqual([]);
  });

  it("node: the sysctls Calico's CNI plugin sets on the host veth", () => {
    const configure = { ...plan, phases: plan.phases.filter((p) => p.name === 'configure') };
    expect(linesOf(configure, 'kdl.calico.node2', 'sysctl')).toEqual([
      'net.ipv4.ip_forward=1',
      'net.ipv4.conf.cali9fb0db7f13e.route_localnet=1',
      'net.ipv4.neigh.cali9fb0db7f13e.proxy_delay=0',
      'net.ipv4.conf.cali9fb0db7f13e.proxy_arp=1',
      'net.ipv4.conf.cali9fb0db7f13e.forwarding=1',
      // kube-dns-2, the cluster DNS's server pod on node2
      'net.ipv4.conf.califc070b54c99.route_localnet=1',
      'net.ipv4.neigh.califc070b54c99.proxy_delay=0',
      'net.ipv4.conf.califc070b54c99.proxy_arp=1',
      'net.ipv4.conf.califc070b54c99.forwarding=1',
    ]);
  });

  it('vxlan: vxlan.calico VNI 4096 UDP 4789, routes via the remote tunnel address onlink, a blackhole per own block', () => {
    const t = vxlanTopo();
    const p = planLab(t);
    const [n1, n2] = t.nodes;
    const ip = linesOf(p, 'kdl.cv.node2', 'ip');
    expect(ip).toContainEqual(
      expect.stringMatching(
        /^link add vxlan\.calico address \S+ type vxlan id 4096 local 192\.168\.206\.2 dev eth0 dstport 4789 nolearning$/,
      ),
    );
    expect(ip).toContain(`addr add ${n2!.tunnel}/32 dev vxlan.calico`);
    expect(n1!.blocks).toEqual(['10.42.0.20/30', '10.42.0.4/30']);
    for (const b of n1!.blocks!) expect(ip).toContain(`route add ${b} via ${n1!.tunnel} dev vxlan.calico onlink`);
    expect(ip).toContain('route add blackhole 10.42.0.0/30');
    expect(linesOf(p, 'kdl.cv.node2', 'bridge')).toEqual([
      expect.stringMatching(/^fdb add \S+ dev vxlan\.calico dst 192\.168\.205\.2 self permanent$/),
    ]);
    expect(t.cluster.mtu).toBe(1450);
  });
});

describe('ipip', () => {
  const always = () =>
    loadTopologyText(calicoYaml('  calico: { mode: ipip }\n', 'pods:\n  - { name: a, node: n1 }\n  - { name: b, node: n2 }\n'));
  const cross = () => loadTopology(join(REPO, 'scenarios/topologies/calico-ipip.yaml'));

  it('CrossSubnet (scenarios/topologies/calico-ipip.yaml) renders as golden/calico-ipip.plan.txt', () => {
    expectGoldenFile(join(GOLDEN, 'calico-ipip.plan.txt'), renderPlan(planLab(cross())));
  });

  it("tunl0 with the node's tunnel address and MTU 1480, the other blocks via the node IPs dev tunl0 onlink, no BIRD", () => {
    const t = always();
    const [n1, n2] = t.nodes;
    expect(t.cluster).toMatchObject({ backend: 'calico-ipip', mtu: 1480 });
    expect(n1!.tunnel).toBe('10.42.0.0');
    const ip = linesOf(planLab(t), 'kdl.c.n1', 'ip');
    expect(ip).toEqual(
      expect.arrayContaining([
        'link set tunl0 mtu 1480 up',
        'addr add 10.42.0.0/32 dev tunl0',
        'route add blackhole 10.42.0.0/26',
        `route add ${n2!.blocks![0]} via ${n2!.ip} dev tunl0 onlink`,
      ]),
    );
    // tunl0 is the ipip module's fallback device: never made by the lab
    expect(ip.filter((l) => /tunl0/.test(l) && l.startsWith('link add'))).toEqual([]);
    expect(planBird(t)).toEqual([]);
  });

  it('CrossSubnet: node2 on the same segment directly, node3 on the other through tunl0', () => {
    const t = cross();
    const ip = linesOf(planLab(t), 'kdl.calico-ipip.node1', 'ip');
    expect(ip).toContain('route add 10.42.0.64/26 via 192.168.205.3 dev eth0');
    expect(ip).toContain('route add 10.42.0.128/26 via 192.168.206.5 dev tunl0 onlink');
  });
});

describe('CrossSubnet', () => {
  const t = loadTopology(join(__dirname, 'fixtures', 'calico-cross-subnet.yaml'));

  it('renders as golden/calico-cross-subnet.plan.txt', () => {
    expectGoldenFile(join(GOLDEN, 'calico-cross-subnet.plan.txt'), renderPlan(planLab(t)));
  });

  it('a node on the same segment is routed to directly via its IP, one on another segment through vxlan.calico', () => {
    const [, n2, n3] = t.nodes;
    const ip = linesOf(planLab(t), 'kdl.cx.node1', 'ip');
    expect(ip).toContain(`route add ${n2!.blocks![0]} via ${n2!.ip} dev eth0`);
    expect(ip).toContain(`route add ${n3!.blocks![0]} via ${n3!.tunnel} dev vxlan.calico onlink`);
  });

  it('is refused in bgp mode', () => {
    expect(problems(calicoYaml('  calico: { mode: bgp, crossSubnet: true }\n'))).toEqual([
      'cluster.calico.crossSubnet: crossSubnet is for the vxlan and ipip modes: bgp mode never encapsulates',
    ]);
  });
});

describe("Calico's IPAM (blocks of blockSize, in order)", () => {
  it('one /26 per node in node order; pods take the lowest free address of their node block', () => {
    const t = bgpTopo();
    expect(t.nodes.map((n) => n.blocks)).toEqual([['10.42.0.0/26'], ['10.42.0.64/26'], ['10.42.0.128/26']]);
    expect(t.pods.map((p) => [p.name, p.ip])).toEqual([
      ['client', '10.42.0.0'],
      ['web-1', '10.42.0.1'],
      ['web-2', '10.42.0.64'],
      ['web-3', '10.42.0.128'],
      ['kube-system/kube-dns-1', '10.42.0.2'],
      ['kube-system/kube-dns-2', '10.42.0.65'],
    ]);
    expect(t.cluster).toMatchObject({
      cni: 'calico',
      backend: 'calico-bgp',
      mtu: 1500,
      calico: { mode: 'bgp', blockSize: 26, asNumber: 64512 },
    });
  });

  it("a node whose blocks are full claims the next free one; an explicit pod address claims its block for the pod's node", () => {
    const t = vxlanTopo();
    // big-1's 10.42.0.20 gives node1 10.42.0.20/30 first; node2 then takes the first free block;
    // node1's tunnel (.21) and pods (.22, .23) fill its block, a3 needs a second one
    expect(t.nodes.map((n) => [n.name, n.blocks, n.tunnel])).toEqual([
      ['node1', ['10.42.0.20/30', '10.42.0.4/30'], '10.42.0.21'],
      ['node2', ['10.42.0.0/30'], '10.42.0.0'],
    ]);
    // then the cluster DNS's kube-dns-1 (node1) and kube-dns-2 (node2)
    expect(t.pods.map((p) => p.ip)).toEqual(['10.42.0.20', '10.42.0.22', '10.42.0.23', '10.42.0.4', '10.42.0.1', '10.42.0.5', '10.42.0.2']);
  });

  it('refuses what does not fit Calico, naming the field', () => {
    expect(problems(calicoYaml('  backend: host-gw\n'))).toEqual([
      expect.stringMatching(/^cluster\.backend: cluster\.backend is flannel's/),
    ]);
    expect(problems(calicoYaml('  nodeSubnetPrefix: 24\n'))).toEqual([expect.stringMatching(/^cluster\.nodeSubnetPrefix: .*flannel's/)]);
    expect(problems(calicoYaml('  podCIDR: 10.42.0.0/24\n  calico: { blockSize: 20 }\n'))).toEqual([
      'cluster.calico.blockSize: /20 blocks do not fit in podCIDR 10.42.0.0/24',
    ]);
    expect(problems(calicoYaml('', 'pods:\n  - { name: a, node: n1, ip: 10.42.0.5 }\n  - { name: b, node: n2, ip: 10.42.0.6 }\n'))).toEqual(
      ['pods[1].ip: 10.42.0.6 is in block 10.42.0.0/26, which node n1 owns (a block belongs to one node)'],
    );
    expect(problems(calicoYaml('', 'pods:\n  - { name: a, node: n1, ip: 10.99.0.5 }\n'))).toEqual([
      'pods[0].ip: 10.99.0.5 is not inside podCIDR 10.42.0.0/16',
    ]);
    expect(problems('name: c\ncluster:\n  cni: calico\nnodes:\n  - { name: n1, podSubnet: 10.42.0.0/24 }\n')).toEqual([
      expect.stringMatching(/^nodes\[0\]\.podSubnet: podSubnet is flannel's/),
    ]);
    expect(problems('name: c\ncluster:\n  calico: { mode: vxlan }\nnodes:\n  - { name: n1 }\n')).toEqual([
      'cluster.calico: cluster.calico needs cluster.cni: calico',
    ]);
    expect(
      problems(calicoYaml('  underlay: [192.168.205.0/24, 192.168.206.0/24]\n').replace('{ name: n2 }', '{ name: n2, ip: 192.168.206.2 }')),
    ).toEqual([expect.stringMatching(/^nodes\[1\]\.ip: calico's bgp mode .* needs every node on one L2 segment/)]);
  });
});

describe('BIRD configuration', () => {
  it('router id = node IP, a blackhole per own block, one Mesh_<peer> session per other node in AS 64512', () => {
    const [c1] = planBird(bgpTopo());
    expect(c1!.text).toContain('router id 192.168.205.4;');
    expect(c1!.text).toContain('  route 10.42.0.0/26 blackhole;');
    expect(c1!.peers).toEqual(['192.168.205.3', '192.168.205.5']);
    expect(c1!.text).toContain(`protocol bgp ${meshProtocolName('192.168.205.3')} from mesh {\n  neighbor 192.168.205.3 as 64512;\n}`);
    expect(meshProtocolName('192.168.205.3')).toBe('Mesh_192_168_205_3');
  });
  it("the mesh is one-way as Calico's: of each pair the node with the greater IP (as text) connects, the other is passive", () => {
    const configs = planBird(bgpTopo());
    const passive = (from: string, to: string) => configs.find((c) => c.node === from)!.sessions.find((s) => s.peer === to)!.passive;
    // node1 192.168.205.4, node2 .3, node3 .5
    expect([passive('node1', 'node2'), passive('node2', 'node1')]).toEqual([false, true]);
    expect([passive('node1', 'node3'), passive('node3', 'node1')]).toEqual([true, false]);
    expect([passive('node2', 'node3'), passive('node3', 'node2')]).toEqual([true, false]);
    expect(configs[0]!.text).toContain('protocol bgp Mesh_192_168_205_5 from mesh {\n  neighbor 192.168.205.5 as 64512;\n  passive on;\n}');
    // compared as text, as Calico's template compares them: .10 is "less" than .9
    const ten = loadTopologyText(
      readFileSync(join(REPO, 'scenarios/topologies/calico.yaml'), 'utf8').replace('ip: 192.168.205.5', 'ip: 192.168.205.10'),
      join(REPO, 'scenarios/topologies/calico.yaml'),
    );
    const n3 = planBird(ten).find((c) => c.node === 'node3')!;
    expect(n3.sessions.map((s) => [s.address, s.passive])).toEqual([
      ['192.168.205.4', true],
      ['192.168.205.3', true],
    ]);
  });
  it('route reflectors (golden/calico-rr.bird.txt): a reflector peers with all, rr client to clients; a client with the reflectors only', () => {
    const t = loadTopology(join(__dirname, 'fixtures', 'calico-rr.yaml'));
    const configs = planBird(t);
    expectGoldenFile(join(GOLDEN, 'calico-rr.bird.txt'), configs.map((c) => c.text).join('\n'));
    expect(t.cluster.calico).toMatchObject({ routeReflectors: ['node1', 'node2'], routeReflectorClusterID: '244.0.0.1' });
    const sessions = Object.fromEntries(configs.map((c) => [c.node, c.sessions.map((s) => `${s.peer}${s.rrClient ? ' (client)' : ''}`)]));
    expect(sessions).toEqual({
      node1: ['node2', 'node3 (client)', 'node4 (client)'],
      node2: ['node1', 'node3 (client)', 'node4 (client)'],
      node3: ['node1', 'node2'],
      node4: ['node1', 'node2'],
    });
    expect(configs[0]!.sessions.map((s) => s.protocol)).toEqual([
      nodeProtocolName(t.nodes[1]!.ip),
      'Node_192_168_205_4',
      'Node_192_168_205_5',
    ]);
    // 2 reflectors · 2 clients + the reflectors' own session
    expect(configs.flatMap((c) => c.sessions).length / 2).toBe(5);
  });

  it('route reflectors: refused outside bgp mode, for unknown nodes; a cluster ID needs them', () => {
    expect(problems(calicoYaml('  calico: { mode: vxlan, routeReflectors: [n1] }\n'))).toEqual([
      'cluster.calico.routeReflectors: route reflectors are for bgp mode: vxlan mode runs no BIRD',
    ]);
    expect(problems(calicoYaml('  calico: { routeReflectors: [n1, n9] }\n'))).toEqual([
      "cluster.calico.routeReflectors[1]: no node named 'n9' (nodes: n1, n2)",
    ]);
    expect(problems(calicoYaml('  calico: { routeReflectorClusterID: 244.0.0.2 }\n'))).toEqual([
      'cluster.calico.routeReflectorClusterID: routeReflectorClusterID needs routeReflectors',
    ]);
  });

  it('none in vxlan mode or with flannel', () => {
    expect(planBird(vxlanTopo())).toEqual([]);
    expect(planBird(loadTopology(join(REPO, 'scenarios/topologies/default.yaml')))).toEqual([]);
  });
});

import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expectGoldenFile } from '../../testing/golden';
import { cli } from '../../testing/kernel';
import { loadTopology } from '../../topology/resolve';
import type { Topology } from '../../topology/types';
import { renderGraph, topologyGraph } from '../index';
import { elements, parseXml, textOf } from './xml';

// The topology graph: its model from the default lab and the host-gw lab, the three renderings
// against golden files, the SVG as standalone XML naming everything, and `lab graph`.

const TOPOLOGIES = join(__dirname, '../../../scenarios/topologies');
const golden = (f: string) => join(__dirname, 'golden', f);
const labs: [string, Topology][] = [
  ['default', loadTopology(join(TOPOLOGIES, 'default.yaml'))],
  ['host-gw', loadTopology(join(TOPOLOGIES, 'host-gw.yaml'))],
  ['calico', loadTopology(join(TOPOLOGIES, 'calico.yaml'))],
  ['calico-vxlan', loadTopology(join(TOPOLOGIES, 'calico-vxlan.yaml'))],
  ['calico-ipip', loadTopology(join(TOPOLOGIES, 'calico-ipip.yaml'))],
];
const [, defaultLab] = labs[0]!;

describe('topology graph model', () => {
  it('has the underlay, each node with eth0/flannel.1/cni0, its pods, services with their endpoints, a tunnel per pair', () => {
    const g = topologyGraph(defaultLab);
    expect(g.segments).toEqual([{ id: 'underlay_0', cidr: '192.168.205.0/24', gateway: '192.168.205.1' }]);
    expect(
      g.nodes.map((n) => [n.name, n.eth0.address, n.vtep?.name, n.vtep?.address, n.hub.address, n.pods.map((p) => `${p.name} ${p.ip}`)]),
    ).toEqual([
      [
        'node1',
        '192.168.205.4/24',
        'flannel.1',
        '10.42.0.0/32',
        '10.42.0.1/24',
        ['client 10.42.0.65', 'web-1 10.42.0.66', 'kube-system/kube-dns-1 10.42.0.2'],
      ],
      [
        'node2',
        '192.168.205.3/24',
        'flannel.1',
        '10.42.1.0/32',
        '10.42.1.1/24',
        ['web-2 10.42.1.9', 'nginx-test-1 10.42.1.6', 'kube-system/kube-dns-2 10.42.1.2'],
      ],
      ['node3', '192.168.205.5/24', 'flannel.1', '10.42.2.0/32', '10.42.2.1/24', ['web-3 10.42.2.9', 'nginx-test-2 10.42.2.6']],
    ]);
    expect(g.nodes[0]!.pods[0]!.veth).toMatch(/^veth[0-9a-f]{8}$/);
    expect(g.services.map((s) => [s.name, s.clusterIP, s.port, s.nodePort, s.endpoints.map((e) => e.pod)])).toEqual([
      ['kube-system/kube-dns:dns-tcp', '10.43.0.10', 53, undefined, ['pod_kube_system_kube_dns_1', 'pod_kube_system_kube_dns_2']],
      ['kube-system/kube-dns:dns', '10.43.0.10', 53, undefined, ['pod_kube_system_kube_dns_1', 'pod_kube_system_kube_dns_2']],
      ['default/web:http', '10.43.0.20', 80, undefined, ['pod_web_1', 'pod_web_2', 'pod_web_3']],
      ['default/nginx-test:80-80', '10.43.6.58', 80, 32506, ['pod_nginx_test_1', 'pod_nginx_test_2']],
    ]);
    expect(g.links).toEqual([
      { kind: 'vxlan', a: 'node_node1', b: 'node_node2', port: 8472, vni: 1 },
      { kind: 'vxlan', a: 'node_node1', b: 'node_node3', port: 8472, vni: 1 },
      { kind: 'vxlan', a: 'node_node2', b: 'node_node3', port: 8472, vni: 1 },
    ]);
  });

  it('host-gw: no flannel device, routes both ways between every pair', () => {
    const g = topologyGraph(labs[1]![1]);
    expect(g.nodes.every((n) => n.vtep === undefined)).toBe(true);
    expect(g.links[0]).toEqual({
      kind: 'host-gw',
      a: 'node_node1',
      b: 'node_node2',
      routes: [
        { on: 'node1', to: '10.42.1.0/24', via: '192.168.205.3' },
        { on: 'node2', to: '10.42.0.0/24', via: '192.168.205.4' },
      ],
    });
  });

  it("Calico bgp: no cni0 (the node routes each pod's /32 to its cali veth), BGP sessions carrying each block", () => {
    const g = topologyGraph(labs[2]![1]);
    expect(g.nodes.map((n) => [n.podSubnet, n.vtep, n.hub.name, n.hub.address])).toEqual([
      ['10.42.0.0/26', undefined, 'routed, no bridge', 'blackhole 10.42.0.0/26'],
      ['10.42.0.64/26', undefined, 'routed, no bridge', 'blackhole 10.42.0.64/26'],
      ['10.42.0.128/26', undefined, 'routed, no bridge', 'blackhole 10.42.0.128/26'],
    ]);
    expect(g.nodes[0]!.pods[0]!.veth).toMatch(/^cali[0-9a-f]{11}$/);
    expect(g.links[0]).toEqual({
      kind: 'bgp',
      a: 'node_node1',
      b: 'node_node2',
      asNumber: 64512,
      routes: [
        { on: 'node1', to: '10.42.0.64/26', via: '192.168.205.3' },
        { on: 'node2', to: '10.42.0.0/26', via: '192.168.205.4' },
      ],
    });
    expect(renderGraph(labs[2]![1], 'dot')).not.toContain('cni0');
  });

  it('Calico vxlan: vxlan.calico with the tunnel address, UDP 4789 VNI 4096 between every pair', () => {
    const g = topologyGraph(labs[3]![1]);
    expect(g.nodes.map((n) => `${n.vtep?.name} ${n.vtep?.address}`)).toEqual([
      'vxlan.calico 10.42.0.0/32',
      'vxlan.calico 10.42.0.64/32',
      'vxlan.calico 10.42.0.128/32',
    ]);
    expect(g.links[0]).toEqual({ kind: 'vxlan', a: 'node_node1', b: 'node_node2', port: 4789, vni: 4096 });
  });

  it('Calico ipip CrossSubnet: tunl0 with the tunnel address, direct routes on one segment, IPIP via the node IPs across', () => {
    const g = topologyGraph(labs[4]![1]);
    expect(g.nodes.map((n) => `${n.vtep?.name} ${n.vtep?.address} ${n.segment}`)).toEqual([
      'tunl0 10.42.0.0/32 underlay_0',
      'tunl0 10.42.0.64/32 underlay_0',
      'tunl0 10.42.0.128/32 underlay_1',
    ]);
    expect(g.links.map((l) => `${l.kind} ${l.a} ${l.b}`)).toEqual([
      'direct node_node1 node_node2',
      'ipip node_node1 node_node3',
      'ipip node_node2 node_node3',
    ]);
    expect(g.links[1]).toEqual({
      kind: 'ipip',
      a: 'node_node1',
      b: 'node_node3',
      routes: [
        { on: 'node1', to: '10.42.0.128/26', via: '192.168.206.5' },
        { on: 'node3', to: '10.42.0.0/26', via: '192.168.205.4' },
      ],
    });
    expect(renderGraph(labs[4]![1], 'dot')).toContain('IPIP (proto 4) via tunl0 10.42.0.128/26 via 192.168.206.5');
  });

  it('keeps ids unique when names differ only in punctuation', () => {
    const pods = [
      { name: 'a-b', node: 'node1', ip: '10.42.0.70', labels: {}, ports: [] },
      { name: 'a.b', node: 'node1', ip: '10.42.0.71', labels: {}, ports: [] },
    ];
    const ids = topologyGraph({ ...defaultLab, pods }).nodes[0]!.pods.map((p) => p.id);
    expect(ids).toEqual(['pod_a_b', 'pod_a_b_2']);
  });
});

describe.each(labs)('graph of %s', (name, topo) => {
  it('DOT, Mermaid and SVG match the golden files', () => {
    expectGoldenFile(golden(`${name}.dot`), renderGraph(topo, 'dot'));
    expectGoldenFile(golden(`${name}.mmd`), renderGraph(topo, 'mermaid'));
    expectGoldenFile(golden(`${name}.svg`), renderGraph(topo, 'svg'));
  });

  it('the SVG is standalone XML naming every node, pod and service, sized to its content', () => {
    const svg = parseXml(renderGraph(topo, 'svg'));
    expect(svg.name).toBe('svg');
    expect(svg.attrs.xmlns).toBe('http://www.w3.org/2000/svg');
    const texts = elements(svg)
      .filter((e) => e.name === 'text')
      .map(textOf);
    for (const n of topo.nodes) expect(texts).toContain(n.name);
    for (const p of topo.pods) expect(texts).toContain(p.name);
    for (const s of topologyGraph(topo).services) expect(texts).toContain(s.name);
    // every drawn coordinate lies inside the declared size
    const [w, h] = [Number(svg.attrs.width), Number(svg.attrs.height)];
    expect(svg.attrs.viewBox).toBe(`0 0 ${w} ${h}`);
    for (const e of elements(svg)) {
      for (const k of ['x', 'x1', 'x2', 'cx']) if (e.attrs[k] !== undefined) expect(Number(e.attrs[k])).toBeLessThanOrEqual(w);
      for (const k of ['y', 'y1', 'y2', 'cy']) if (e.attrs[k] !== undefined) expect(Number(e.attrs[k])).toBeLessThanOrEqual(h);
      if (e.name === 'rect' && e.attrs.x !== undefined) expect(Number(e.attrs.x) + Number(e.attrs.width)).toBeLessThanOrEqual(w);
    }
  });
});

describe('the test XML parser', () => {
  it.each([
    ['<a>&</a>', /bare '&'/],
    ['<a>&nbsp;</a>', /unknown entity/],
    ['<a><b></a>', /closes <b>/],
    ['<a x="1" x="2"/>', /duplicate attribute/],
    ['<a x=1/>', /bad attribute/],
    ['<a/><b/>', /after the root/],
    ['<a>', /never closed/],
  ])('refuses %s', (src, why) => expect(() => parseXml(src)).toThrow(why));

  it('reads elements, attributes and entities', () => {
    const el = parseXml('<?xml version="1.0"?>\n<a k="&quot;v&#39;"><b>x &lt; y</b><!-- c --><c/></a>\n');
    expect(el.attrs.k).toBe('"v\'');
    expect(textOf(el)).toBe('x < y');
    expect(elements(el).map((e) => e.name)).toEqual(['a', 'b', 'c']);
  });
});

describe('escaping', () => {
  // names the schema would refuse, set directly: the renderers must still produce valid text
  const odd: Topology = {
    ...defaultLab,
    name: 'a<b>&"c\'',
    pods: defaultLab.pods.map((p) => (p.name === 'client' ? { ...p, name: 'cli<ent>&"x' } : p)),
    services: defaultLab.services.map((s) => (s.name === 'web' ? { ...s, name: 'w&b<"s">' } : s)),
  };

  it('the SVG stays well-formed XML and shows the names as they are', () => {
    const svg = parseXml(renderGraph(odd, 'svg'));
    const texts = elements(svg)
      .filter((e) => e.name === 'text')
      .map(textOf);
    expect(texts).toContain('cli<ent>&"x');
    expect(texts).toContain('default/w&b<"s">:http');
    expect(textOf(elements(svg).find((e) => e.name === 'title')!)).toContain('lab a<b>&"c\'');
  });

  it('DOT quotes and Mermaid entities', () => {
    expect(renderGraph(odd, 'dot')).toContain('[label="cli<ent>&\\"x\\n10.42.0.65"');
    const mmd = renderGraph(odd, 'mermaid');
    expect(mmd).toContain('(["cli#lt;ent#gt;#amp;#quot;x<br/>10.42.0.65"])');
    expect(mmd).not.toMatch(/cli<ent/);
  });
});

describe('lab graph', () => {
  let out: string;
  beforeAll(() => (out = mkdtempSync(join(tmpdir(), 'kdl-graph-'))));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('prints DOT to stdout with --format dot and no --out', async () => {
    const r = await cli(['graph', '--format', 'dot']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(readFileSync(golden('default.dot'), 'utf8'));
  }, 30000);

  it('writes <lab>.svg, .dot and .mmd to --out', async () => {
    const r = await cli(['graph', '-f', join(TOPOLOGIES, 'host-gw.yaml'), '--out', out]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual(['svg', 'dot', 'mmd'].map((ext) => `wrote ${join(out, `hostgw.${ext}`)}`));
    expect(readFileSync(join(out, 'hostgw.mmd'), 'utf8')).toBe(readFileSync(golden('host-gw.mmd'), 'utf8'));
    expect(readFileSync(join(out, 'hostgw.svg'), 'utf8')).toBe(readFileSync(golden('host-gw.svg'), 'utf8'));
  }, 30000);

  it('bad input exits 2 with the invalid-input message, writing nothing', async () => {
    const bad = await cli(['graph', '--format', 'png', '--out', join(out, 'never')]);
    expect(bad).toMatchObject({ code: 2, stderr: "invalid input:\n--format: 'png': expected svg, dot, mermaid or all\n" });
    expect(existsSync(join(out, 'never'))).toBe(false);
    const missing = await cli(['graph', '-f', join(out, 'nope.yaml')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^invalid input:\n.*nope\.yaml: cannot read/);
  }, 30000);
});

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { calicoVethName, labNamespace, macFor, nodeNamespace, podNamespace, segmentBridgeName } from '../../model/kernel-names';
import { vtepMac } from '../../model/kernel-names';
import { proxyModel } from '../../model/proxy';
import { expectGoldenFile } from '../../testing/golden';
import { loadTopology, loadTopologyText } from '../../topology/resolve';
import type { Topology } from '../../topology/types';
import { expectedWalk, type Destination, type ExpectedWalk, type Source } from '../path';
import { headerLine } from '../text';
import type { OuterHeaders } from '../types';

// The walk the lab expects, for the default topology (the articles' addresses): node1
// 192.168.205.4 pods 10.42.0.0/24, node2 .3 10.42.1.0/24, node3 .5 10.42.2.0/24.
const TOPO = join(__dirname, '../../../scenarios/topologies/default.yaml');
const topo = (o: { proxyMode?: string } = {}): Topology => loadTopology(TOPO, { name: 'p', ...o });
const t = topo();
const pod = (name: string) => t.pods.find((p) => p.name === name)!;
const node = (name: string) => t.nodes.find((n) => n.name === name)!;
const podSrc = (name: string): Source => ({ kind: 'pod', pod: pod(name) });
const podMac = (name: string) => macFor('p', podNamespace('p', pod(name).node, name), 'eth0');
const nodeMac = (n: string, i: string) => macFor('p', nodeNamespace('p', n), i);
const service = (tp: Topology, name: string) => proxyModel(tp).services.find((s) => s.service === name)!;
const toService = (tp: Topology, name: string, endpointPod: string): Destination => {
  const sp = service(tp, name);
  return { kind: 'service', service: sp, endpoint: sp.endpoints.find((e) => e.pod === endpointPod)!, via: 'clusterIP' };
};
const outerText = (o: OuterHeaders | undefined) =>
  !o ? '' : o.ipip ? ` [${o.ip.src}>${o.ip.dst} ipip ttl ${o.ip.ttl}]` : ` [${o.ip.src}>${o.ip.dst}:${o.udp.dstport} vni ${o.vni}]`;
const summary = (w: ReturnType<typeof expectedWalk>) =>
  w.hops.map((h) => `${h.point} ${h.headers.ip.src}>${h.headers.ip.dst} ttl ${h.headers.ip.ttl}${outerText(h.headers.outer)}`);

describe('expected walk', () => {
  it('pod to pod across nodes over VXLAN: the article 003 walk', () => {
    const w = expectedWalk(t, podSrc('client'), { kind: 'pod', pod: pod('web-2') }, { protocol: 'icmp', icmpId: 7 });
    expect(summary(w)).toEqual([
      'client:eth0 10.42.0.65>10.42.1.9 ttl 64',
      'node1:cni0 10.42.0.65>10.42.1.9 ttl 64',
      'node1:flannel.1 10.42.0.65>10.42.1.9 ttl 63',
      'node1:eth0 10.42.0.65>10.42.1.9 ttl 63 [192.168.205.4>192.168.205.3:8472 vni 1]',
      'node2:eth0 10.42.0.65>10.42.1.9 ttl 63 [192.168.205.4>192.168.205.3:8472 vni 1]',
      'node2:flannel.1 10.42.0.65>10.42.1.9 ttl 63',
      'node2:cni0 10.42.0.65>10.42.1.9 ttl 62',
      'web-2:eth0 10.42.0.65>10.42.1.9 ttl 62',
    ]);
    // MACs: pod → cni0, then flannel.1 → flannel.1 inside, eth0 → eth0 outside, cni0 → pod
    expect(w.hops[0]!.headers.eth).toEqual({ src: podMac('client'), dst: nodeMac('node1', 'cni0') });
    expect(w.hops[2]!.headers.eth).toEqual({ src: vtepMac('p', 'node1', 1), dst: vtepMac('p', 'node2', 1) });
    expect(w.hops[3]!.headers.outer!.eth).toEqual({ src: nodeMac('node1', 'eth0'), dst: nodeMac('node2', 'eth0') });
    expect(w.hops[6]!.headers.eth).toEqual({ src: nodeMac('node2', 'cni0'), dst: podMac('web-2') });
    expect(w.hops[0]!.headers.l4).toEqual({ icmpType: 'echo-request', icmpId: 7, icmpSeq: 1 });
    expect(w.reached).toBe('web-2');
  });

  it('same node: the bridge alone, nothing routed, TTL kept', () => {
    const w = expectedWalk(t, podSrc('client'), { kind: 'pod', pod: pod('web-1') }, { protocol: 'icmp', icmpId: 1 });
    expect(w.hops.map((h) => h.point)).toEqual([
      'client:eth0',
      expect.stringMatching(/^node1:veth[0-9a-f]{8}$/),
      expect.stringMatching(/^node1:veth/),
      'web-1:eth0',
    ]);
    expect(new Set(w.hops.map((h) => `${h.headers.ip.ttl} ${h.headers.eth!.src}>${h.headers.eth!.dst}`))).toEqual(
      new Set([`64 ${podMac('client')}>${podMac('web-1')}`]),
    );
  });

  it('host-gw: straight from eth0 to the peer node, no encapsulation', () => {
    const hg = loadTopology(TOPO, { name: 'p' });
    hg.cluster.backend = 'host-gw';
    const w = expectedWalk(hg, podSrc('client'), { kind: 'pod', pod: pod('web-2') }, { protocol: 'icmp', icmpId: 1 });
    expect(summary(w)).toEqual([
      'client:eth0 10.42.0.65>10.42.1.9 ttl 64',
      'node1:cni0 10.42.0.65>10.42.1.9 ttl 64',
      'node1:eth0 10.42.0.65>10.42.1.9 ttl 63',
      'node2:eth0 10.42.0.65>10.42.1.9 ttl 63',
      'node2:cni0 10.42.0.65>10.42.1.9 ttl 62',
      'web-2:eth0 10.42.0.65>10.42.1.9 ttl 62',
    ]);
    expect(w.hops[2]!.headers.eth).toEqual({ src: nodeMac('node1', 'eth0'), dst: nodeMac('node2', 'eth0') });
  });

  it('pod to a cluster IP: DNAT on the client node, the client kept; cni0 sees it DNATed only with br_netfilter', () => {
    const probe = { protocol: 'tcp' as const, srcport: 40001, dstport: 80 };
    const plain = expectedWalk(t, podSrc('client'), toService(t, 'web', 'web-3'), probe);
    expect(plain.hops[1]!.headers.ip.dst).toBe('10.43.0.20');
    expect(plain.hops[2]!.headers.ip).toMatchObject({ src: '10.42.0.65', dst: '10.42.2.9', ttl: 63 });
    expect(plain.dnat).toEqual({ node: 'node1', to: '10.42.2.9:80' });
    expect(plain.snat).toBeUndefined();
    const bnf = expectedWalk(t, podSrc('client'), toService(t, 'web', 'web-3'), probe, { bridgeNetfilter: true });
    expect(bnf.hops[1]!.headers.ip.dst).toBe('10.42.2.9');
    expect(bnf.hops.at(-1)!.headers.l4).toEqual({ srcport: 40001, dstport: 80, flags: ['SYN'] });
    // IPVS rewrites at INPUT: cni0 still sees the cluster IP
    const ipvs = topo({ proxyMode: 'ipvs' });
    expect(
      expectedWalk(ipvs, podSrc('client'), toService(ipvs, 'web', 'web-3'), probe, { bridgeNetfilter: true }).hops[1]!.headers.ip.dst,
    ).toBe('10.43.0.20');
  });

  it('bridged DNAT to an endpoint on the same node: switched by the bridge with the pod MACs, TTL kept', () => {
    const w = expectedWalk(
      t,
      podSrc('client'),
      toService(t, 'web', 'web-1'),
      { protocol: 'tcp', srcport: 1, dstport: 80 },
      { bridgeNetfilter: true },
    );
    expect(summary(w)).toEqual([
      'client:eth0 10.42.0.65>10.43.0.20 ttl 64',
      'node1:cni0 10.42.0.65>10.42.0.66 ttl 64',
      'web-1:eth0 10.42.0.65>10.42.0.66 ttl 64',
    ]);
    expect(w.hops[2]!.headers.eth).toEqual({ src: podMac('client'), dst: podMac('web-1') });
  });

  it('a pod reaching itself through its service (hairpin): bridged back, masqueraded after the bridge saw it', () => {
    const w = expectedWalk(
      t,
      podSrc('web-1'),
      toService(t, 'web', 'web-1'),
      { protocol: 'tcp', srcport: 4242, dstport: 80 },
      { bridgeNetfilter: true },
    );
    expect(summary(w)).toEqual([
      'web-1:eth0 10.42.0.66>10.43.0.20 ttl 64',
      'node1:cni0 10.42.0.66>10.42.0.66 ttl 64',
      'web-1:eth0 10.42.0.1>10.42.0.66 ttl 64',
    ]);
    expect(w.hops[1]!.headers.l4!.srcport).toBe(4242);
    expect(w.hops[2]!.headers.l4!.srcport).toBeUndefined();
    expect(w.hops[2]!.headers.eth).toEqual({ src: podMac('web-1'), dst: podMac('web-1') });
    expect(w.snat).toEqual({ node: 'node1', to: '10.42.0.1' });
  });

  it("a node's own packet: DNAT and SNAT to the outgoing interface, the source port left to --random-fully", () => {
    const w = expectedWalk(t, { kind: 'node', node: node('node1') }, toService(t, 'nginx-test', 'nginx-test-1'), {
      protocol: 'tcp',
      srcport: 5,
      dstport: 80,
    });
    expect(w.hops[0]).toMatchObject({
      point: 'node1:flannel.1',
      headers: { ip: { src: '10.42.0.0', dst: '10.42.1.6', ttl: 64 }, l4: { dstport: 80 } },
    });
    expect(w.hops[0]!.headers.l4!.srcport).toBeUndefined();
    expect(w.snat).toEqual({ node: 'node1', to: '10.42.0.0' });
    expect(w.hops.at(-1)!.headers.ip.ttl).toBe(63);
    // IPVS sends the rewritten packet on itself, one TTL less
    const ipvs = topo({ proxyMode: 'ipvs' });
    expect(
      expectedWalk(ipvs, { kind: 'node', node: node('node1') }, toService(ipvs, 'nginx-test', 'nginx-test-1'), {
        protocol: 'tcp',
        dstport: 80,
      }).hops.at(-1)!.headers.ip.ttl,
    ).toBe(62);
  });

  it('a client outside the cluster (the lab namespace) to a node port: over the segment, then DNAT and SNAT there', () => {
    const sp = service(t, 'nginx-test');
    const dest: Destination = {
      kind: 'service',
      service: sp,
      endpoint: sp.endpoints.find((e) => e.pod === 'nginx-test-1')!,
      via: 'nodePort',
      node: node('node1'),
    };
    const w = expectedWalk(t, { kind: 'lab' }, dest, { protocol: 'tcp', srcport: 7, dstport: sp.nodePort });
    expect(summary(w).slice(0, 3)).toEqual([
      '@lab:underlay0 192.168.205.1>192.168.205.4 ttl 64',
      'node1:eth0 192.168.205.1>192.168.205.4 ttl 64',
      'node1:flannel.1 10.42.0.0>10.42.1.6 ttl 63',
    ]);
    expect(w.hops[0]!.headers.eth).toEqual({ src: macFor('p', 'kdl.p', 'underlay0'), dst: nodeMac('node1', 'eth0') });
    expect(w.snat).toEqual({ node: 'node1', to: '10.42.0.0' });
    expect(w.hops.at(-1)).toMatchObject({ point: 'nginx-test-1:eth0', headers: { ip: { src: '10.42.0.0', dst: '10.42.1.6', ttl: 62 } } });
    expect(() => expectedWalk(t, { kind: 'lab' }, toService(t, 'web', 'web-1'), { protocol: 'tcp', dstport: 80 })).toThrow(
      /only node addresses/,
    );
  });

  it('a node port on another node: routed there as is, then DNATed and masqueraded by that node', () => {
    const sp = service(t, 'nginx-test');
    const dest: Destination = {
      kind: 'service',
      service: sp,
      endpoint: sp.endpoints.find((e) => e.pod === 'nginx-test-2')!,
      via: 'nodePort',
      node: node('node2'),
    };
    const w = expectedWalk(t, podSrc('client'), dest, { protocol: 'tcp', srcport: 9, dstport: sp.nodePort });
    expect(summary(w)).toEqual([
      'client:eth0 10.42.0.65>192.168.205.3 ttl 64',
      'node1:cni0 10.42.0.65>192.168.205.3 ttl 64',
      'node1:eth0 10.42.0.65>192.168.205.3 ttl 63',
      'node2:eth0 10.42.0.65>192.168.205.3 ttl 63',
      'node2:flannel.1 10.42.1.0>10.42.2.6 ttl 62',
      'node2:eth0 10.42.1.0>10.42.2.6 ttl 62 [192.168.205.3>192.168.205.5:8472 vni 1]',
      'node3:eth0 10.42.1.0>10.42.2.6 ttl 62 [192.168.205.3>192.168.205.5:8472 vni 1]',
      'node3:flannel.1 10.42.1.0>10.42.2.6 ttl 62',
      'node3:cni0 10.42.1.0>10.42.2.6 ttl 61',
      'nginx-test-2:eth0 10.42.1.0>10.42.2.6 ttl 61',
    ]);
    expect(w.dnat).toEqual({ node: 'node2', to: '10.42.2.6:80' });
  });
});

// Calico (scenarios/topologies/calico.yaml): client 10.42.0.0 and web-1 10.42.0.1 on node1
// (192.168.205.4), web-2 10.42.0.64 on node2 (.3), web-3 10.42.0.128 on node3 (.5); no cni0.
describe('expected walk on Calico', () => {
  const CAL = join(__dirname, '../../../scenarios/topologies/calico.yaml');
  // the shipped lab in another mode: resolved for real, so vxlan mode has its tunnel addresses
  const ct = (mode: 'bgp' | 'vxlan', crossSubnet = false): Topology =>
    loadTopologyText(readFileSync(CAL, 'utf8').replace('mode: bgp,', `mode: ${mode},${crossSubnet ? ' crossSubnet: true,' : ''}`), CAL, {
      name: 'p',
    });
  const bgp = ct('bgp');
  const cpod = (name: string, tp = bgp) => tp.pods.find((p) => p.name === name)!;
  const cveth = (name: string) => calicoVethName(name);
  const cPodMac = (name: string) => macFor('p', podNamespace('p', cpod(name).node, name), 'eth0');
  const EE = 'ee:ee:ee:ee:ee:ee';

  it("bgp, across nodes: from the pod's cali veth routed out of eth0, into the peer's and out of the endpoint's cali veth", () => {
    const w = expectedWalk(bgp, { kind: 'pod', pod: cpod('client') }, { kind: 'pod', pod: cpod('web-2') }, { protocol: 'icmp', icmpId: 3 });
    expect(summary(w)).toEqual([
      'client:eth0 10.42.0.0>10.42.0.64 ttl 64',
      `node1:${cveth('client')} 10.42.0.0>10.42.0.64 ttl 64`,
      'node1:eth0 10.42.0.0>10.42.0.64 ttl 63',
      'node2:eth0 10.42.0.0>10.42.0.64 ttl 63',
      `node2:${cveth('web-2')} 10.42.0.0>10.42.0.64 ttl 62`,
      'web-2:eth0 10.42.0.0>10.42.0.64 ttl 62',
    ]);
    // the pod's gateway MAC is the cali veth's fixed one; the endpoint's frame comes from its own cali veth
    expect(w.hops[0]!.headers.eth).toEqual({ src: cPodMac('client'), dst: EE });
    expect(w.hops[2]!.headers.eth).toEqual({
      src: macFor('p', nodeNamespace('p', 'node1'), 'eth0'),
      dst: macFor('p', nodeNamespace('p', 'node2'), 'eth0'),
    });
    expect(w.hops[4]!.headers.eth).toEqual({ src: EE, dst: cPodMac('web-2') });
  });

  it('same node: routed from one cali veth to the other, TTL decremented (no bridge)', () => {
    const w = expectedWalk(bgp, { kind: 'pod', pod: cpod('client') }, { kind: 'pod', pod: cpod('web-1') }, { protocol: 'icmp', icmpId: 3 });
    expect(summary(w)).toEqual([
      'client:eth0 10.42.0.0>10.42.0.1 ttl 64',
      `node1:${cveth('client')} 10.42.0.0>10.42.0.1 ttl 64`,
      `node1:${cveth('web-1')} 10.42.0.0>10.42.0.1 ttl 63`,
      'web-1:eth0 10.42.0.0>10.42.0.1 ttl 63',
    ]);
  });

  it("vxlan: vxlan.calico to vxlan.calico inside, UDP 4789 VNI 4096 outside (the tunnel holds each block's .0: pods from .1)", () => {
    const vx = ct('vxlan');
    const w = expectedWalk(
      vx,
      { kind: 'pod', pod: cpod('client', vx) },
      { kind: 'pod', pod: cpod('web-2', vx) },
      { protocol: 'icmp', icmpId: 3 },
    );
    expect(summary(w)).toEqual([
      'client:eth0 10.42.0.1>10.42.0.65 ttl 64',
      `node1:${cveth('client')} 10.42.0.1>10.42.0.65 ttl 64`,
      'node1:vxlan.calico 10.42.0.1>10.42.0.65 ttl 63',
      'node1:eth0 10.42.0.1>10.42.0.65 ttl 63 [192.168.205.4>192.168.205.3:4789 vni 4096]',
      'node2:eth0 10.42.0.1>10.42.0.65 ttl 63 [192.168.205.4>192.168.205.3:4789 vni 4096]',
      'node2:vxlan.calico 10.42.0.1>10.42.0.65 ttl 63',
      `node2:${cveth('web-2')} 10.42.0.1>10.42.0.65 ttl 62`,
      'web-2:eth0 10.42.0.1>10.42.0.65 ttl 62',
    ]);
    const vtep = (n: string) => macFor('p', nodeNamespace('p', n), 'vxlan.calico');
    expect(w.hops[2]!.headers.eth).toEqual({ src: vtep('node1'), dst: vtep('node2') });
    // CrossSubnet, all nodes on one segment: routed directly as in bgp mode
    const cross = expectedWalk(
      ct('vxlan', true),
      { kind: 'pod', pod: cpod('client', vx) },
      { kind: 'pod', pod: cpod('web-2', vx) },
      { protocol: 'icmp' },
    );
    expect(cross.hops.map((h) => h.point)).not.toContain('node1:vxlan.calico');
  });

  it("a node's own packet: from eth0's address (bgp) or vxlan.calico's (vxlan), a cluster IP DNATed and masqueraded there", () => {
    const n1 = { kind: 'node' as const, node: bgp.nodes[0]! };
    const toPod = expectedWalk(bgp, n1, { kind: 'pod', pod: cpod('web-2') }, { protocol: 'icmp' });
    expect(toPod.hops[0]!.headers.ip.src).toBe('192.168.205.4');
    const vx = ct('vxlan');
    expect(
      expectedWalk(vx, { kind: 'node', node: vx.nodes[0]! }, { kind: 'pod', pod: cpod('web-2', vx) }, { protocol: 'icmp' }).hops[0]!.headers
        .ip.src,
    ).toBe(vx.nodes[0]!.tunnel);
    const w = expectedWalk(bgp, n1, toService(bgp, 'web', 'web-3'), { protocol: 'tcp', srcport: 40000, dstport: 80 });
    expect(w.dnat).toEqual({ node: 'node1', to: '10.42.0.128:80' });
    expect(w.snat).toEqual({ node: 'node1', to: '192.168.205.4' });
    expect(w.reached).toBe('web-3');
  });

  it("natOutgoing: a pod's packet to a node port on another node leaves its node masqueraded by cali-nat-outgoing", () => {
    const sp = proxyModel(bgp).services.find((x) => x.service === 'web-np')!;
    const dest: Destination = {
      kind: 'service',
      service: sp,
      endpoint: sp.endpoints.find((e) => e.pod === 'web-2')!,
      via: 'nodePort',
      node: bgp.nodes[1]!,
    };
    const w = expectedWalk(bgp, { kind: 'pod', pod: cpod('client') }, dest, { protocol: 'tcp', srcport: 40000, dstport: 30080 });
    expect(w.hops.find((h) => h.point === 'node1:eth0')!.headers.ip.src).toBe('192.168.205.4');
    expect(w.snat).toEqual({ node: 'node2', to: '192.168.205.3' }); // then kube-proxy's masquerade for the node port
    const off = loadTopologyText(readFileSync(CAL, 'utf8').replace('asNumber: 64512 }', 'asNumber: 64512, natOutgoing: false }'), CAL, {
      name: 'p',
    });
    const w2 = expectedWalk(off, { kind: 'pod', pod: cpod('client', off) }, dest, { protocol: 'tcp', srcport: 40000, dstport: 30080 });
    expect(w2.hops.find((h) => h.point === 'node1:eth0')!.headers.ip.src).toBe('10.42.0.0');
  });

  it('a pod reaching itself through its service: DNATed at its node, masqueraded to the node, back out of its own cali veth', () => {
    const w = expectedWalk(bgp, { kind: 'pod', pod: cpod('web-1') }, toService(bgp, 'web', 'web-1'), {
      protocol: 'tcp',
      srcport: 40000,
      dstport: 80,
    });
    expect(summary(w)).toEqual([
      'web-1:eth0 10.42.0.1>10.43.0.20 ttl 64',
      `node1:${cveth('web-1')} 10.42.0.1>10.43.0.20 ttl 64`,
      `node1:${cveth('web-1')} 192.168.205.4>10.42.0.1 ttl 63`,
      'web-1:eth0 192.168.205.4>10.42.0.1 ttl 63',
    ]);
  });
});

describe('expected walk on Calico with IP-in-IP and CrossSubnet across two segments', () => {
  // scenarios/topologies/calico-ipip.yaml: node1 192.168.205.4 and node2 .3 on 192.168.205.0/24,
  // node3 192.168.206.5 on 192.168.206.0/24 (the lab's namespace routes between them); each
  // node's tunnel device holds its block's .0, so client is 10.42.0.1, web-2 .65, web-3 .129
  const IPIP = join(__dirname, '../../../scenarios/topologies/calico-ipip.yaml');
  const variant = (mode: 'ipip' | 'vxlan', crossSubnet: boolean): Topology =>
    loadTopologyText(
      readFileSync(IPIP, 'utf8').replace('mode: ipip, crossSubnet: true,', `mode: ${mode},${crossSubnet ? ' crossSubnet: true,' : ''}`),
      IPIP,
      { name: 'p' },
    );
  const ipip = variant('ipip', false);
  const ipipCross = variant('ipip', true);
  const vxlanCross = variant('vxlan', true);
  const from = (tp: Topology, name: string): Source => ({ kind: 'pod', pod: tp.pods.find((p) => p.name === name)! });
  const to = (tp: Topology, name: string): Destination => ({ kind: 'pod', pod: tp.pods.find((p) => p.name === name)! });
  const ping = { protocol: 'icmp' as const, icmpId: 3 };
  const mac = (n: string, i: string) => macFor('p', nodeNamespace('p', n), i);
  const bridge = (seg: number) => macFor('p', labNamespace('p'), segmentBridgeName(seg));

  it('ipip: tunl0 to tunl0 inside, IP protocol 4 from node IP to node IP outside, the outer TTL inherited (63)', () => {
    const w = expectedWalk(ipip, from(ipip, 'client'), to(ipip, 'web-2'), ping);
    expect(summary(w)).toEqual([
      'client:eth0 10.42.0.1>10.42.0.65 ttl 64',
      `node1:${calicoVethName('client')} 10.42.0.1>10.42.0.65 ttl 64`,
      'node1:tunl0 10.42.0.1>10.42.0.65 ttl 63',
      'node1:eth0 10.42.0.1>10.42.0.65 ttl 63 [192.168.205.4>192.168.205.3 ipip ttl 63]',
      'node2:eth0 10.42.0.1>10.42.0.65 ttl 63 [192.168.205.4>192.168.205.3 ipip ttl 63]',
      'node2:tunl0 10.42.0.1>10.42.0.65 ttl 63',
      `node2:${calicoVethName('web-2')} 10.42.0.1>10.42.0.65 ttl 62`,
      'web-2:eth0 10.42.0.1>10.42.0.65 ttl 62',
    ]);
    // a layer-3 tunnel: no Ethernet header inside, the outer frame node1's eth0 → node2's
    expect(w.hops[2]!.headers.eth).toBeUndefined();
    expect(w.hops[3]!.headers.eth).toBeUndefined();
    expect(w.hops[3]!.headers.outer).toEqual({
      eth: { src: mac('node1', 'eth0'), dst: mac('node2', 'eth0') },
      ip: { src: '192.168.205.4', dst: '192.168.205.3', ttl: 63 },
      ipip: true,
    });
    expect(w.hops[6]!.headers.eth).toEqual({ src: 'ee:ee:ee:ee:ee:ee', dst: macFor('p', podNamespace('p', 'node2', 'web-2'), 'eth0') });
  });

  it('ipip CrossSubnet: bare via eth0 to node2 (one segment); to node3 through tunl0, the router lowering the outer TTL only', () => {
    const direct = expectedWalk(ipipCross, from(ipipCross, 'client'), to(ipipCross, 'web-2'), ping);
    expect(summary(direct)).toEqual([
      'client:eth0 10.42.0.1>10.42.0.65 ttl 64',
      `node1:${calicoVethName('client')} 10.42.0.1>10.42.0.65 ttl 64`,
      'node1:eth0 10.42.0.1>10.42.0.65 ttl 63',
      'node2:eth0 10.42.0.1>10.42.0.65 ttl 63',
      `node2:${calicoVethName('web-2')} 10.42.0.1>10.42.0.65 ttl 62`,
      'web-2:eth0 10.42.0.1>10.42.0.65 ttl 62',
    ]);
    const w = expectedWalk(ipipCross, from(ipipCross, 'client'), to(ipipCross, 'web-3'), ping);
    // as scenarios/calico-ipip.yaml sees it: outer ttl 63 leaving node1, 62 arriving at node3, inner 63
    expect(summary(w)).toEqual([
      'client:eth0 10.42.0.1>10.42.0.129 ttl 64',
      `node1:${calicoVethName('client')} 10.42.0.1>10.42.0.129 ttl 64`,
      'node1:tunl0 10.42.0.1>10.42.0.129 ttl 63',
      'node1:eth0 10.42.0.1>10.42.0.129 ttl 63 [192.168.205.4>192.168.206.5 ipip ttl 63]',
      'node3:eth0 10.42.0.1>10.42.0.129 ttl 63 [192.168.205.4>192.168.206.5 ipip ttl 62]',
      'node3:tunl0 10.42.0.1>10.42.0.129 ttl 63',
      `node3:${calicoVethName('web-3')} 10.42.0.1>10.42.0.129 ttl 62`,
      'web-3:eth0 10.42.0.1>10.42.0.129 ttl 62',
    ]);
    // through the lab's gateway: node1's eth0 → segment 0's bridge, segment 1's bridge → node3's eth0
    expect(w.hops[3]!.headers.outer!.eth).toEqual({ src: mac('node1', 'eth0'), dst: bridge(0) });
    expect(w.hops[4]!.headers.outer!.eth).toEqual({ src: bridge(1), dst: mac('node3', 'eth0') });
  });

  it("ipip: a node's own packet leaves from tunl0's address, the outer TTL 64; on one segment from eth0's, bare", () => {
    const n1: Source = { kind: 'node', node: ipipCross.nodes[0]! };
    const w = expectedWalk(ipipCross, n1, to(ipipCross, 'web-3'), ping);
    expect(summary(w)).toEqual([
      'node1:tunl0 10.42.0.0>10.42.0.129 ttl 64',
      'node1:eth0 10.42.0.0>10.42.0.129 ttl 64 [192.168.205.4>192.168.206.5 ipip ttl 64]',
      'node3:eth0 10.42.0.0>10.42.0.129 ttl 64 [192.168.205.4>192.168.206.5 ipip ttl 63]',
      'node3:tunl0 10.42.0.0>10.42.0.129 ttl 64',
      `node3:${calicoVethName('web-3')} 10.42.0.0>10.42.0.129 ttl 63`,
      'web-3:eth0 10.42.0.0>10.42.0.129 ttl 63',
    ]);
    // on one segment (CrossSubnet) from eth0's address, directly
    expect(expectedWalk(ipipCross, n1, to(ipipCross, 'web-2'), ping).hops[0]!.headers.ip.src).toBe('192.168.205.4');
  });

  it('vxlan CrossSubnet across two segments: vxlan.calico to node3 through the router, bare to node2', () => {
    const w = expectedWalk(vxlanCross, from(vxlanCross, 'client'), to(vxlanCross, 'web-3'), ping);
    expect(summary(w)).toEqual([
      'client:eth0 10.42.0.1>10.42.0.129 ttl 64',
      `node1:${calicoVethName('client')} 10.42.0.1>10.42.0.129 ttl 64`,
      'node1:vxlan.calico 10.42.0.1>10.42.0.129 ttl 63',
      'node1:eth0 10.42.0.1>10.42.0.129 ttl 63 [192.168.205.4>192.168.206.5:4789 vni 4096]',
      'node3:eth0 10.42.0.1>10.42.0.129 ttl 63 [192.168.205.4>192.168.206.5:4789 vni 4096]',
      'node3:vxlan.calico 10.42.0.1>10.42.0.129 ttl 63',
      `node3:${calicoVethName('web-3')} 10.42.0.1>10.42.0.129 ttl 62`,
      'web-3:eth0 10.42.0.1>10.42.0.129 ttl 62',
    ]);
    // VXLAN's outer TTL is its own (64), lowered by the router; the inner frame between the tunnel MACs
    expect(w.hops.map((h) => h.headers.outer?.ip.ttl)).toEqual([undefined, undefined, undefined, 64, 63, undefined, undefined, undefined]);
    expect(w.hops[2]!.headers.eth).toEqual({ src: mac('node1', 'vxlan.calico'), dst: mac('node3', 'vxlan.calico') });
    const direct = expectedWalk(vxlanCross, from(vxlanCross, 'client'), to(vxlanCross, 'web-2'), ping);
    expect(direct.hops.map((h) => h.point)).toEqual([
      'client:eth0',
      `node1:${calicoVethName('client')}`,
      'node1:eth0',
      'node2:eth0',
      `node2:${calicoVethName('web-2')}`,
      'web-2:eth0',
    ]);
  });

  it('the walks, every header, match the golden file', () => {
    const cases: [string, Topology, ExpectedWalk][] = [
      ['ipip client → web-2', ipip, expectedWalk(ipip, from(ipip, 'client'), to(ipip, 'web-2'), ping)],
      ['ipip CrossSubnet client → web-2', ipipCross, expectedWalk(ipipCross, from(ipipCross, 'client'), to(ipipCross, 'web-2'), ping)],
      ['ipip CrossSubnet client → web-3', ipipCross, expectedWalk(ipipCross, from(ipipCross, 'client'), to(ipipCross, 'web-3'), ping)],
      [
        'ipip CrossSubnet client → service web (web-3), tcp 80',
        ipipCross,
        expectedWalk(ipipCross, from(ipipCross, 'client'), toService(ipipCross, 'web', 'web-3'), {
          protocol: 'tcp',
          srcport: 40000,
          dstport: 80,
        }),
      ],
      [
        'ipip CrossSubnet node1 → web-3',
        ipipCross,
        expectedWalk(ipipCross, { kind: 'node', node: ipipCross.nodes[0]! }, to(ipipCross, 'web-3'), ping),
      ],
      ['vxlan CrossSubnet client → web-2', vxlanCross, expectedWalk(vxlanCross, from(vxlanCross, 'client'), to(vxlanCross, 'web-2'), ping)],
      ['vxlan CrossSubnet client → web-3', vxlanCross, expectedWalk(vxlanCross, from(vxlanCross, 'client'), to(vxlanCross, 'web-3'), ping)],
    ];
    const text = cases
      .map(([title, , w]) =>
        [
          `# ${title}: reached ${w.reached}${w.dnat ? `, DNAT on ${w.dnat.node} to ${w.dnat.to}` : ''}${w.snat ? `, SNAT on ${w.snat.node} to ${w.snat.to}` : ''}`,
          ...w.hops.map((h) => `${h.point.padEnd(22)} ${headerLine(h.headers).replace(/\n\s+/g, '\n' + ' '.repeat(23))}`),
        ].join('\n'),
      )
      .join('\n\n');
    expectGoldenFile(join(__dirname, 'golden', 'calico-encap.walk.txt'), `${text}\n`);
  });
});

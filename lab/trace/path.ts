import {
  CALICO_IPIP,
  CALICO_VXLAN,
  calicoVethName,
  labNamespace,
  macFor,
  nodeNamespace,
  podNamespace,
  podVethName,
  segmentBridgeName,
  vxlanName,
} from '../model/kernel-names';
import { vtepMac } from '../model/kernel-names';
import { CALICO_HOST_MAC } from '../network/cni/calico';
import type { Endpoint, ServicePortModel } from '../model/proxy';
import { contains, parseCidr, parseIp } from '../topology/ipv4';
import type { Topology, TopologyNode, TopologyPod } from '../topology/types';
import type { WalkHeaders } from './types';
import { policyVerdict } from '../policy/verdict';

// The walk the lab expects, computed from the topology alone (pure): where a packet from a pod
// or node to a pod, a cluster IP or a node port is seen, with which headers. It follows the
// routes the plan installs — pod: default via cni0 .1, its own /24 on-link; node: other pod
// subnets via flannel.<vni> onlink (VXLAN) or via the node's IP (host-gw) — and kube-proxy's
// NAT: DNAT on the node that owns the destination (the source node for a cluster IP), SNAT to
// the outgoing interface's address when the source is not a pod, the destination is a node
// port, or the pod reaches itself through its service. MACs are the plan's own (macFor).
// Calico (docs/calico.md): no bridge — a pod's packet enters its node at the pod's cali veth
// (MAC ee:ee:ee:ee:ee:ee, the gateway 169.254.1.1 answered by proxy ARP), is routed even to a
// pod of the same node, and leaves by the destination pod's cali veth; between nodes the
// routes BIRD learned (bgp: via the node's IP on eth0) or Felix's (vxlan.calico, VNI 4096,
// UDP 4789; ipip: tunl0, IP protocol 4 from node IP to node IP, the outer TTL inherited from the
// inner packet; CrossSubnet: direct on one segment).

/** How pod traffic is encapsulated between nodes: VXLAN (flannel.<vni>, vxlan.calico) or IP-in-IP (tunl0). */
type Tunnel = { kind: 'vxlan'; dev: string; vni: number; port: number; mac: (n: TopologyNode) => string } | { kind: 'ipip'; dev: string };

/** `lab`: a client outside the cluster, the lab's own namespace (the underlay's gateway address) */
export type Source = { kind: 'pod'; pod: TopologyPod } | { kind: 'node'; node: TopologyNode } | { kind: 'lab' };

export type Destination =
  | { kind: 'pod'; pod: TopologyPod }
  | { kind: 'service'; service: ServicePortModel; endpoint: Endpoint; via: 'clusterIP' }
  | { kind: 'service'; service: ServicePortModel; endpoint: Endpoint; via: 'nodePort'; node: TopologyNode }
  /** a LoadBalancer or external IP: @lab's route sends it to `node` (lab/proxy/lb-routes.ts), which DNATs */
  | { kind: 'service'; service: ServicePortModel; endpoint: Endpoint; via: 'external'; ip: string; node: TopologyNode };

export interface ExpectedHop {
  point: string;
  owner: string;
  ownerKind: 'pod' | 'node' | 'lab';
  interface: string;
  headers: WalkHeaders;
}

export interface ExpectedWalk {
  hops: ExpectedHop[];
  /** the node that rewrites the destination, and to what */
  dnat?: { node: string; to: string };
  /** the node that masquerades, and the address it uses */
  snat?: { node: string; to: string };
  /** the pod the packet ends in (or would, were it not denied) */
  reached: string;
  /** a NetworkPolicy drops it: on which node, in which pod's chain, by the rule with this comment */
  denied?: { node: string; direction: 'ingress' | 'egress'; pod: string; comment: string };
}

export interface Probe {
  protocol: 'icmp' | 'tcp' | 'udp';
  srcport?: number;
  dstport?: number;
  icmpId?: number;
}

export interface PathOptions {
  /**
   * br_netfilter on (net.bridge.bridge-nf-call-iptables = 1, as Kubernetes requires): a pod's
   * packet meets PREROUTING while still on the bridge, so cni0 already sees it DNATed.
   */
  bridgeNetfilter?: boolean;
}

/**
 * The walk, ended where a NetworkPolicy drops the packet (lab/policy/verdict.ts): in the forward
 * hook of the source pod's node (egress: after the port it entered by) or of the destination
 * pod's node (ingress: before the port to the pod).
 */
export function expectedWalk(topo: Topology, src: Source, dest: Destination, probe: Probe, opts: PathOptions = {}): ExpectedWalk {
  const walk = openWalk(topo, src, dest, probe, opts);
  if (!topo.networkPolicies?.length || !walk.hops.length) return walk;
  const dstPod = topo.pods.find((p) => p.name === walk.reached);
  const last = walk.hops.at(-1)!.headers;
  if (!dstPod) return walk;
  const v = policyVerdict(topo, {
    srcIp: last.ip.src,
    ...(src.kind === 'pod' ? { srcPod: src.pod } : {}),
    dstPod,
    port: last.l4?.dstport ?? 0,
    protocol: probe.protocol === 'tcp' ? 'TCP' : probe.protocol === 'udp' ? 'UDP' : 'ICMP',
  });
  if (v.allowed) return walk;
  const on = walk.hops.map((h, i) => (h.owner === v.node ? i : -1)).filter((i) => i >= 0);
  const keep = v.direction === 'egress' ? on[0]! : Math.max(on[0]!, on.at(-1)! - 1);
  const { allowed: _, ...denied } = v;
  return { ...walk, hops: walk.hops.slice(0, keep + 1), denied };
}

function openWalk(topo: Topology, src: Source, dest: Destination, probe: Probe, opts: PathOptions = {}): ExpectedWalk {
  const lab = topo.name;
  const nodeOf = (name: string) => topo.nodes.find((n) => n.name === name)!;
  const podOf = (name: string) => topo.pods.find((p) => p.name === name)!;
  const podMac = (p: TopologyPod) => macFor(lab, podNamespace(lab, p.node, p.name), 'eth0');
  const nodeMac = (n: TopologyNode, ifname: string) => macFor(lab, nodeNamespace(lab, n.name), ifname);
  const inSubnet = (cidr: string, ip: string) => contains(parseCidr(cidr)!, parseIp(ip)!);
  const calico = topo.cluster.calico;
  // the encapsulation between nodes: flannel.<vni> (8472), vxlan.calico (4789, VNI 4096) or
  // Calico's tunl0 (IP-in-IP: a layer-3 device, no MACs inside)
  const tunnel: Tunnel = !calico
    ? {
        kind: 'vxlan',
        dev: vxlanName(topo.cluster.vni),
        vni: topo.cluster.vni,
        port: topo.cluster.port,
        mac: (n: TopologyNode) => vtepMac(lab, n.name, topo.cluster.vni),
      }
    : calico.mode === 'ipip'
      ? { kind: 'ipip', dev: CALICO_IPIP }
      : { kind: 'vxlan', dev: CALICO_VXLAN, vni: calico.vni, port: calico.port, mac: (n: TopologyNode) => nodeMac(n, CALICO_VXLAN) };
  /** the node's own pod addresses: flannel's /24, Calico's IPAM blocks */
  const holds = (n: TopologyNode, ip: string) => (calico ? (n.blocks ?? []) : [n.podSubnet]).some((b) => inSubnet(b, ip));
  /** where a node hands a packet to its pod: cni0, or (Calico) the pod's own cali veth */
  const podPort = (q: TopologyPod) => (calico ? calicoVethName(q.name) : 'cni0');
  /** the MAC a node's pod-side port sends from: cni0's, or the fixed MAC of every cali veth */
  const portMac = (n: TopologyNode) => (calico ? CALICO_HOST_MAC : nodeMac(n, 'cni0'));
  /** the underlay carries it encapsulated from a to b (not for a node's own address) */
  const encapsulated = (a: TopologyNode, b: TopologyNode) =>
    calico ? calico.mode !== 'bgp' && !(calico.crossSubnet && a.underlay === b.underlay) : topo.cluster.backend === 'vxlan';

  const target =
    dest.kind === 'pod'
      ? dest.pod.ip
      : dest.via === 'clusterIP'
        ? dest.service.clusterIP
        : dest.via === 'external'
          ? dest.ip
          : dest.node.ip;
  const targetPort = dest.kind === 'pod' ? probe.dstport : dest.via === 'nodePort' ? dest.service.nodePort : dest.service.port;
  /** node-port and external destinations are treated alike by kube-proxy (KUBE-EXT / external-) */
  const viaExt = dest.kind === 'service' && dest.via !== 'clusterIP';
  const finalPod = dest.kind === 'pod' ? dest.pod : podOf(dest.endpoint.pod);
  const finalPort = dest.kind === 'pod' ? probe.dstport : dest.endpoint.port;

  const hops: ExpectedHop[] = [];
  let h: WalkHeaders;
  const l4 = (dstport: number | undefined): WalkHeaders['l4'] =>
    probe.protocol === 'icmp'
      ? { icmpType: 'echo-request', ...(probe.icmpId !== undefined ? { icmpId: probe.icmpId } : {}), icmpSeq: 1 }
      : {
          ...(probe.srcport !== undefined ? { srcport: probe.srcport } : {}),
          ...(dstport !== undefined ? { dstport } : {}),
          ...(probe.protocol === 'tcp' ? { flags: ['SYN'] } : {}),
        };
  const push = (owner: string, ownerKind: 'pod' | 'node' | 'lab', iface: string, headers: WalkHeaders) =>
    hops.push({ point: `${owner}:${iface}`, owner, ownerKind, interface: iface, headers: structuredClone(headers) });

  let dnat: ExpectedWalk['dnat'];
  let snat: ExpectedWalk['snat'];
  // kube-proxy masquerades what does not come from a pod, node-port traffic, and a pod reaching itself
  // (externalTrafficPolicy Local: KUBE-EXT / external- marks only the node's own packets; a pod
  // short-circuited to the service is masqueraded only reaching itself, anyone else keeps its address)
  const etpLocal = viaExt && dest.service.externalLocal === true;
  const fromDnatNode = src.kind === 'node' && dest.kind === 'service' && dest.via !== 'clusterIP' && src.node.name === dest.node.name;
  const masquerades = (srcIp: string) =>
    dest.kind === 'service' &&
    (etpLocal ? fromDnatNode || srcIp === finalPod.ip : !inSubnet(topo.cluster.podCIDR, srcIp) || viaExt || srcIp === finalPod.ip);

  // --- from the source to the first node that routes it ---------------------------------------
  let at: TopologyNode;
  if (src.kind === 'pod') {
    const p = src.pod;
    at = nodeOf(p.node);
    if (calico) {
      // to the gateway that exists nowhere: the cali veth's MAC answered its ARP; routed from here
      h = {
        eth: { src: podMac(p), dst: CALICO_HOST_MAC },
        ip: { src: p.ip, dst: target, ttl: 64, protocol: probe.protocol },
        l4: l4(targetPort),
      };
      push(p.name, 'pod', 'eth0', h);
      push(at.name, 'node', calicoVethName(p.name), h);
      h.ip.ttl -= 1; // forwarded by the node, also to a pod of its own
      return onwards();
    }
    // the pod's own /24 is on-link: a pod of the same node is reached over the bridge alone
    if (dest.kind === 'pod' && inSubnet(at.podSubnet, target) && dest.pod.node === p.node) {
      h = {
        eth: { src: podMac(p), dst: podMac(dest.pod) },
        ip: { src: p.ip, dst: target, ttl: 64, protocol: probe.protocol },
        l4: l4(targetPort),
      };
      push(p.name, 'pod', 'eth0', h);
      push(at.name, 'node', podVethName(lab, p.name), h);
      push(at.name, 'node', podVethName(lab, dest.pod.name), h);
      push(dest.pod.name, 'pod', 'eth0', h);
      return { hops, reached: dest.pod.name };
    }
    h = {
      eth: { src: podMac(p), dst: nodeMac(at, 'cni0') },
      ip: { src: p.ip, dst: target, ttl: 64, protocol: probe.protocol },
      l4: l4(targetPort),
    };
    push(p.name, 'pod', 'eth0', h);
    // IPVS rewrites at INPUT, after the packet left the bridge; the others at PREROUTING
    if (opts.bridgeNetfilter && topo.proxy.mode !== 'ipvs') natAt(at);
    const local = dnat ? topo.pods.find((q) => q.ip === h.ip.dst && q.node === p.node) : undefined;
    if (local) {
      // bridged DNAT: br_netfilter sees the new destination on the same bridge and switches the
      // frame to that pod's port with its MAC — no routing, so no TTL decrement, the pod's own source MAC
      h.eth = { src: podMac(p), dst: podMac(local) };
      // the bridge's capture sees it between PREROUTING and POSTROUTING: a hairpin's SNAT comes
      // after; its source MAC there is the pod's or cni0's, run by run (seen both ways here), so
      // the MACs are checked where the frame arrives, not on the bridge
      const onBridge = structuredClone(h);
      delete onBridge.eth;
      if (snat) {
        onBridge.ip.src = p.ip;
        if (onBridge.l4 && probe.srcport !== undefined) onBridge.l4.srcport = probe.srcport;
      }
      push(at.name, 'node', 'cni0', onBridge);
      push(local.name, 'pod', 'eth0', h);
      return { hops, reached: local.name, ...(dnat ? { dnat } : {}), ...(snat ? { snat } : {}) };
    }
    push(at.name, 'node', 'cni0', h);
    h.ip.ttl -= 1; // forwarded by the node
  } else if (src.kind === 'lab') {
    // from outside the cluster a node's own address, straight over the segment, or a LoadBalancer
    // or external IP, which @lab routes via the node's address (the same frame, another destination)
    const n = dest.kind === 'service' && dest.via === 'external' ? dest.node : topo.nodes.find((x) => x.ip === target);
    if (!n) throw new Error(`from the lab's namespace only node addresses are reachable, not ${target}`);
    const seg = topo.cluster.underlay.findIndex((x) => x.cidr === n.underlay);
    const bridge = segmentBridgeName(seg);
    h = {
      eth: { src: macFor(lab, labNamespace(lab), bridge), dst: nodeMac(n, 'eth0') },
      ip: { src: topo.cluster.underlay[seg]!.gateway, dst: target, ttl: 64, protocol: probe.protocol },
      l4: l4(targetPort),
    };
    push('@lab', 'lab', bridge, h);
    push(n.name, 'node', 'eth0', h);
    at = n;
    h.ip.ttl -= 1; // forwarded by the node once it has rewritten the destination
  } else {
    at = nodeOf(src.node.name);
    h = { ip: { src: '', dst: target, ttl: 64, protocol: probe.protocol }, l4: l4(targetPort) };
  }

  return onwards();

  /** node to node, until the node that holds the destination */
  function onwards(): ExpectedWalk {
    for (let guard = 0; guard < topo.nodes.length + 1; guard++) {
      // NAT on the node that owns the destination: the source node for a cluster IP
      natAt(at);
      if (!h.ip.src) h.ip.src = outAddress(at, h.ip.dst);
      natOutgoing(at);
      const dst = h.ip.dst;
      if (holds(at, dst)) {
        const q = topo.pods.find((p) => p.ip === dst)!;
        h.eth = { src: portMac(at), dst: podMac(q) };
        push(at.name, 'node', podPort(q), h);
        push(q.name, 'pod', 'eth0', h);
        return { hops, reached: q.name, ...(dnat ? { dnat } : {}), ...(snat ? { snat } : {}) };
      }
      const next = topo.nodes.find((o) => holds(o, dst)) ?? topo.nodes.find((o) => o.ip === dst);
      if (!next) break;
      const viaTunnel = encapsulated(at, next) && next.ip !== dst;
      if (viaTunnel && tunnel.kind === 'ipip') {
        // tunl0 (`ttl inherit`): the outer header from node IP to node IP takes the inner
        // packet's TTL as it leaves; a router between the segments lowers the outer one only
        delete h.eth;
        const inner = structuredClone(h);
        push(at.name, 'node', tunnel.dev, inner);
        const { eth, ttl } = underlay(at, next);
        const outer = { eth: eth.out, ip: { src: at.ip, dst: next.ip, ttl: h.ip.ttl }, ipip: true as const };
        push(at.name, 'node', 'eth0', { ...inner, outer });
        push(next.name, 'node', 'eth0', { ...inner, outer: { ...outer, eth: eth.in, ip: { ...outer.ip, ttl: outer.ip.ttl - ttl } } });
        push(next.name, 'node', tunnel.dev, inner);
      } else if (viaTunnel && tunnel.kind === 'vxlan') {
        h.eth = { src: tunnel.mac(at), dst: tunnel.mac(next) };
        const inner = structuredClone(h);
        push(at.name, 'node', tunnel.dev, inner);
        const { eth, ttl } = underlay(at, next);
        const outerAt = {
          ...inner,
          outer: { eth: eth.out, ip: { src: at.ip, dst: next.ip, ttl: 64 }, udp: { dstport: tunnel.port }, vni: tunnel.vni },
        };
        push(at.name, 'node', 'eth0', outerAt);
        push(next.name, 'node', 'eth0', {
          ...outerAt,
          outer: { ...outerAt.outer, eth: eth.in, ip: { ...outerAt.outer.ip, ttl: 64 - ttl } },
        });
        push(next.name, 'node', tunnel.dev, inner);
      } else {
        const { eth, ttl } = underlay(at, next);
        h.eth = eth.out;
        push(at.name, 'node', 'eth0', h);
        h.eth = eth.in;
        h.ip.ttl -= ttl;
        push(next.name, 'node', 'eth0', h);
      }
      at = next;
      // arriving at a node for one of its pods: forwarded once more (a node port: NATed first)
      if (next.ip !== h.ip.dst) h.ip.ttl -= 1;
      else if (!viaExt) break;
      else h.ip.ttl -= 1;
    }
    return { hops, reached: finalPod.name, ...(dnat ? { dnat } : {}), ...(snat ? { snat } : {}) };
  }

  /** the address a node's packet to dst leaves with: the outgoing interface's */
  function outAddress(n: TopologyNode, dst: string): string {
    // a cali veth has no address: the kernel takes the node's first global one, eth0's
    if (holds(n, dst)) return calico ? n.ip : (n.cni0 ?? n.ip);
    const owner = topo.nodes.find((o) => holds(o, dst));
    if (!owner || !encapsulated(n, owner)) return n.ip;
    return (calico ? n.tunnel : n.vtep) ?? n.ip;
  }

  /**
   * Calico's cali-nat-outgoing (natOutgoing on): the pod's own node masquerades what leaves the
   * pool for an address in no pool — a node port on another node, the lab's namespace.
   */
  function natOutgoing(n: TopologyNode): void {
    if (!calico?.natOutgoing || src.kind !== 'pod' || n.name !== src.pod.node) return;
    const pool = topo.cluster.podCIDR;
    if (!inSubnet(pool, h.ip.src) || inSubnet(pool, h.ip.dst)) return;
    h.ip.src = outAddress(n, h.ip.dst);
    snat = { node: n.name, to: h.ip.src };
    if (h.l4) delete h.l4.srcport; // --random-fully picks the port
  }

  /** kube-proxy's DNAT (and SNAT, when it masquerades) on the node that owns the destination */
  function natAt(n: TopologyNode): void {
    if (dest.kind !== 'service' || dnat) return;
    const srcNode = src.kind === 'pod' ? src.pod.node : src.kind === 'node' ? src.node.name : undefined;
    const owner = dest.via === 'clusterIP' ? srcNode : dest.node.name;
    if (n.name !== owner) return;
    dnat = { node: n.name, to: `${finalPod.ip}${finalPort !== undefined ? `:${finalPort}` : ''}` };
    // IPVS sends the rewritten packet on itself and decrements the TTL, also for the node's own
    // packet (a pod's is decremented once either way: IPVS takes it at INPUT, not FORWARD)
    if (topo.proxy.mode === 'ipvs' && src.kind === 'node' && src.node.name === n.name) h.ip.ttl -= 1;
    const before = h.ip.src || n.ip; // a node's own packet to a cluster IP leaves by its default route
    h.ip.dst = finalPod.ip;
    if (h.l4 && finalPort !== undefined && probe.protocol !== 'icmp') h.l4.dstport = finalPort;
    if (masquerades(before)) {
      h.ip.src = outAddress(n, finalPod.ip);
      snat = { node: n.name, to: h.ip.src };
      if (h.l4) delete h.l4.srcport; // --random-fully picks the port
    } else h.ip.src = before;
  }

  /** the underlay between two nodes: direct on one segment, through the lab's gateway between two */
  function underlay(a: TopologyNode, b: TopologyNode) {
    const ethA = nodeMac(a, 'eth0');
    const ethB = nodeMac(b, 'eth0');
    if (a.underlay === b.underlay) return { eth: { out: { src: ethA, dst: ethB }, in: { src: ethA, dst: ethB } }, ttl: 0 };
    const bridge = (n: TopologyNode) =>
      macFor(lab, labNamespace(lab), segmentBridgeName(topo.cluster.underlay.findIndex((s) => s.cidr === n.underlay)));
    return { eth: { out: { src: ethA, dst: bridge(a) }, in: { src: bridge(b), dst: ethB } }, ttl: 1 };
  }
}

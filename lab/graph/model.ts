import { calicoTunnelDev, calicoVethName, podVethName, vxlanName } from '../model/kernel-names';
import { modelOf } from '../model/lab';
import type { Backend, ProxyMode, Topology } from '../topology/types';

// The topology as a graph: what each renderer (DOT, Mermaid, SVG) draws, decided once so the
// three always show the same nodes, interfaces, pods, services and links. Pure: a Topology in,
// plain data out. Ids are safe in DOT and Mermaid (letters, digits, underscores).

export interface UnderlaySegment {
  id: string;
  cidr: string;
  /** the segment's gateway, in the lab's own namespace */
  gateway: string;
}

export interface GraphIface {
  id: string;
  /** eth0, flannel.<vni>, cni0 */
  name: string;
  /** address with its prefix, e.g. 192.168.205.4/24 */
  address: string;
}

export interface GraphPod {
  id: string;
  name: string;
  ip: string;
  node: string;
  /** the node-side end of its veth (a cni0 port; Calico: cali<11 hex>, routed, no bridge) */
  veth: string;
}

export interface GraphNode {
  id: string;
  name: string;
  /** flannel's /24; Calico: the IPAM blocks it owns */
  podSubnet: string;
  /** docker runtime across machines: the machine running it */
  host?: string;
  /** id of the underlay segment eth0 sits on */
  segment: string;
  eth0: GraphIface;
  /** flannel.<vni> (VXLAN backend) or vxlan.calico (Calico vxlan mode) */
  vtep?: GraphIface;
  /** where the pods' veths end: flannel's cni0 bridge, or Calico's routing table (no bridge) */
  hub: GraphIface;
  pods: GraphPod[];
}

export interface GraphEndpoint {
  /** id of the pod */
  pod: string;
  port: number;
}

export interface GraphService {
  id: string;
  /** kube-proxy's service port name, e.g. default/web:http */
  name: string;
  type: 'ClusterIP' | 'NodePort' | 'LoadBalancer';
  clusterIP: string;
  port: number;
  protocol: 'TCP' | 'UDP';
  nodePort?: number;
  /** the addresses outside the cluster it answers on: LoadBalancer ingress IPs, external IPs */
  loadBalancerIPs?: string[];
  externalIPs?: string[];
  endpoints: GraphEndpoint[];
}

/**
 * How pod traffic crosses between two nodes: a VXLAN tunnel, or routes via eth0 both ways —
 * written by flannel (host-gw), learned by BIRD (Calico bgp, an iBGP session), or Calico's
 * CrossSubnet direct routes between nodes of one segment; Calico ipip: routes via the peer's
 * IP through tunl0 (IP protocol 4).
 */
export type NodeLink =
  | { kind: 'vxlan'; a: string; b: string; port: number; vni: number }
  | { kind: 'host-gw' | 'direct' | 'ipip'; a: string; b: string; routes: { on: string; to: string; via: string }[] }
  | { kind: 'bgp'; a: string; b: string; asNumber: number; routes: { on: string; to: string; via: string }[] };

export interface TopologyGraph {
  lab: string;
  backend: Backend;
  proxy: ProxyMode;
  segments: UnderlaySegment[];
  nodes: GraphNode[];
  services: GraphService[];
  /** one per pair of nodes, in node order */
  links: NodeLink[];
}

const safe = (s: string) => s.replace(/[^A-Za-z0-9]/g, '_');

/** Ids from names, unique within the graph even when two names differ only in punctuation. */
function idMaker(): (prefix: string, name: string) => string {
  const used = new Set<string>();
  return (prefix, name) => {
    const base = `${prefix}_${safe(name)}`;
    let id = base;
    for (let i = 2; used.has(id); i++) id = `${base}_${i}`;
    used.add(id);
    return id;
  };
}

const prefixOf = (cidr: string) => cidr.split('/')[1] ?? '32';

export function topologyGraph(topo: Topology): TopologyGraph {
  const id = idMaker();
  const segments = topo.cluster.underlay.map((u, i) => ({ id: id('underlay', String(i)), cidr: u.cidr, gateway: u.gateway }));
  const podIds = new Map<string, string>();
  const calico = topo.cluster.calico;
  const vxlan = topo.cluster.backend === 'vxlan' || calico?.mode === 'vxlan';
  const tunnelDev = calicoTunnelDev(topo.cluster.backend);
  const blocks = (n: Topology['nodes'][number]) => (calico ? (n.blocks ?? []) : [n.podSubnet]);
  const nodes: GraphNode[] = topo.nodes.map((n) => {
    const nid = id('node', n.name);
    const segment =
      segments[
        Math.max(
          0,
          topo.cluster.underlay.findIndex((u) => u.cidr === n.underlay),
        )
      ]!.id;
    const pods = topo.pods
      .filter((p) => p.node === n.name)
      .map((p) => {
        const pid = id('pod', p.name);
        podIds.set(p.name, pid);
        return { id: pid, name: p.name, ip: p.ip, node: n.name, veth: calico ? calicoVethName(p.name) : podVethName(topo.name, p.name) };
      });
    return {
      id: nid,
      name: n.name,
      podSubnet: blocks(n).join(', '),
      ...(n.host ? { host: n.host } : {}),
      segment,
      eth0: { id: `${nid}_eth0`, name: 'eth0', address: `${n.ip}/${prefixOf(n.underlay)}` },
      ...(vxlan || tunnelDev
        ? {
            vtep: tunnelDev
              ? { id: `${nid}_vtep`, name: tunnelDev, address: `${n.tunnel}/32` }
              : { id: `${nid}_vtep`, name: vxlanName(topo.cluster.vni), address: `${n.vtep}/32` },
          }
        : {}),
      // Calico: no bridge — each pod's /32 is routed to its cali veth, each own block blackholed
      hub: calico
        ? {
            id: `${nid}_routes`,
            name: 'routed, no bridge',
            address: blocks(n)
              .map((b) => `blackhole ${b}`)
              .join(', '),
          }
        : { id: `${nid}_cni0`, name: 'cni0', address: `${n.cni0}/${prefixOf(n.podSubnet)}` },
      pods,
    };
  });

  const services: GraphService[] = modelOf(topo).proxy.services.map((sp) => ({
    id: id('svc', sp.id),
    name: sp.id,
    type: sp.type,
    clusterIP: sp.clusterIP,
    port: sp.port,
    protocol: sp.protocol,
    ...(sp.nodePort !== undefined ? { nodePort: sp.nodePort } : {}),
    ...(sp.loadBalancerIPs ? { loadBalancerIPs: sp.loadBalancerIPs } : {}),
    ...(sp.externalIPs ? { externalIPs: sp.externalIPs } : {}),
    endpoints: sp.endpoints.flatMap((e) => {
      const pod = podIds.get(e.pod);
      return pod ? [{ pod, port: e.port }] : [];
    }),
  }));

  const links: NodeLink[] = [];
  for (let i = 0; i < topo.nodes.length; i++)
    for (let j = i + 1; j < topo.nodes.length; j++) {
      const [a, b] = [topo.nodes[i]!, topo.nodes[j]!];
      const ends = { a: nodes[i]!.id, b: nodes[j]!.id };
      const routes = [...blocks(b).map((to) => ({ on: a.name, to, via: b.ip })), ...blocks(a).map((to) => ({ on: b.name, to, via: a.ip }))];
      // CrossSubnet: nodes of one segment route to each other directly, without the tunnel
      const direct = calico?.crossSubnet && a.underlay === b.underlay;
      links.push(
        calico?.mode === 'bgp'
          ? { kind: 'bgp', ...ends, asNumber: calico.asNumber, routes }
          : direct
            ? { kind: 'direct', ...ends, routes }
            : calico?.mode === 'ipip'
              ? { kind: 'ipip', ...ends, routes }
              : vxlan
                ? { kind: 'vxlan', ...ends, port: calico?.port ?? topo.cluster.port, vni: calico?.vni ?? topo.cluster.vni }
                : { kind: 'host-gw', ...ends, routes },
      );
    }

  return { lab: topo.name, backend: topo.cluster.backend, proxy: topo.proxy.mode, segments, nodes, services, links };
}

// --- labels shared by the renderers ----------------------------------------------------------

export const linkLabel = (l: NodeLink): string => {
  if (l.kind === 'vxlan') return `VXLAN udp/${l.port} vni ${l.vni}`;
  const routes = l.routes.map((r) => `${r.to} via ${r.via}`).join(', ');
  return l.kind === 'bgp'
    ? `BGP AS ${l.asNumber}, proto bird ${routes}`
    : l.kind === 'direct'
      ? `direct (CrossSubnet) ${routes}`
      : l.kind === 'ipip'
        ? `IPIP (proto 4) via tunl0 ${routes}`
        : `host-gw ${routes}`;
};

export const serviceAddress = (s: GraphService): string =>
  `${s.clusterIP}:${s.port}/${s.protocol}${s.nodePort !== undefined ? ` nodePort ${s.nodePort}` : ''}` +
  (s.loadBalancerIPs ?? []).map((ip) => ` LB ${ip}`).join('') +
  (s.externalIPs ?? []).map((ip) => ` external ${ip}`).join('');

/** Every pod by id, for renderers that draw endpoint edges. */
export const podsById = (g: TopologyGraph): Map<string, GraphPod> => new Map(g.nodes.flatMap((n) => n.pods.map((p) => [p.id, p] as const)));

import { labNamespace } from '../model/kernel-names';
import { modelOf } from '../model/lab';
import { localEndpoints } from '../model/proxy';
import type { Step } from '../plan/types';
import type { Topology } from '../topology/types';

// How traffic for LoadBalancer IPs and external IPs reaches the cluster from the lab's own
// namespace (@lab, the client outside the cluster): as a cloud load balancer in passthrough mode
// delivers it (GCE's network LB, AWS NLB with IP targets kept): the packet keeps the LoadBalancer
// IP as its destination and is routed to one node, where kube-proxy's rules (matching -d <LB IP>)
// take it. Here that is a /32 route in @lab via the node's underlay address. The node is the first
// one (topology order) that the load balancer's health check would call healthy: any node for
// externalTrafficPolicy Cluster; for Local the first with a local endpoint (what
// healthCheckNodePort answers 200 on), else the first node (whose rules then drop it). External
// IPs are routed the same way: Kubernetes leaves their routing to the cluster's operator.
// The routes carry their own protocol number, so a re-sync flushes exactly them and writes the
// current set; nothing else in @lab is touched.

/** rtnetlink protocol of the lab's LoadBalancer routes (`ip route show proto 99`): unused by routing daemons. */
export const LB_ROUTE_PROTO = 99;

export interface LbRoute {
  /** the LoadBalancer or external IP */
  ip: string;
  /** the node the load balancer sends it to, and its underlay address */
  node: string;
  via: string;
  /** "<ns>/<name>" and what the address is */
  service: string;
  kind: 'loadBalancer' | 'external';
}

/** Every LoadBalancer and external IP with the node @lab sends it to (the first service naming an IP wins). */
export function lbRoutes(topo: Topology): LbRoute[] {
  const out = new Map<string, LbRoute>();
  const services = modelOf(topo).proxy.services;
  for (const svc of topo.services) {
    const ips: [string, LbRoute['kind']][] = [
      ...(svc.loadBalancerIPs ?? []).map((ip): [string, LbRoute['kind']] => [ip, 'loadBalancer']),
      ...(svc.externalIPs ?? []).map((ip): [string, LbRoute['kind']] => [ip, 'external']),
    ];
    if (!ips.length || !topo.nodes.length) continue;
    const ports = services.filter((sp) => sp.namespace === svc.namespace && sp.service === svc.name);
    const healthy = svc.externalLocal ? topo.nodes.find((n) => ports.some((sp) => localEndpoints(sp, n.name).length > 0)) : undefined;
    const node = healthy ?? topo.nodes[0]!;
    for (const [ip, kind] of ips)
      if (!out.has(ip)) out.set(ip, { ip, node: node.name, via: node.ip, service: `${svc.namespace}/${svc.name}`, kind });
  }
  return [...out.values()];
}

/**
 * The `ip -batch` step in @lab that makes the routes what the topology says: flush the lab's own
 * (protocol 99), then one `route replace` per address. Undefined when there are none now and none
 * before (a re-sync after the last LoadBalancer went still flushes). Multi-host labs: not routed.
 */
export function lbRouteStep(topo: Topology, previous?: Topology): Step | undefined {
  if (topo.hosts.length) return undefined;
  const routes = lbRoutes(topo);
  if (!routes.length && !(previous && lbRoutes(previous).length)) return undefined;
  return {
    ns: labNamespace(topo.name),
    tool: 'ip',
    lines: [`route flush proto ${LB_ROUTE_PROTO}`, ...routes.map((r) => `route replace ${r.ip}/32 via ${r.via} proto ${LB_ROUTE_PROTO}`)],
  };
}

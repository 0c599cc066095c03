import { contains, parseCidr, parseIp } from '../topology/ipv4';
import type { NetworkPolicyRule, TopologyNetworkPolicy } from '../topology/netpol';
import type { Topology, TopologyPod } from '../topology/types';
import { dropComment, peerPods, podPolicies, policyId, resolvePort } from './compile';

// What the compiled tables decide for one connection, computed from the policies (pure): the
// trace's expected walk and the reachability expectations use it. Same semantics as compile.ts.

export interface Connection {
  /** the source address as the destination's node sees it (after any SNAT) */
  srcIp: string;
  /** the source pod, when the connection starts in a pod (its egress is judged on its node) */
  srcPod?: TopologyPod;
  /** the pod that receives it (after DNAT) */
  dstPod: TopologyPod;
  port: number;
  /** ICMP: only rules without ports allow it */
  protocol: 'TCP' | 'UDP' | 'ICMP';
}

export type PolicyVerdict =
  | { allowed: true }
  | {
      allowed: false;
      direction: 'ingress' | 'egress';
      /** the node whose table drops it, and the pod whose chain does */
      node: string;
      pod: string;
      /** the comment of the dropping rule, as compile.ts writes it */
      comment: string;
    };

const inBlock = (ip: string, block: { cidr: string; except: string[] }) => {
  const n = parseIp(ip)!;
  return contains(parseCidr(block.cidr)!, n) && !block.except.some((e) => contains(parseCidr(e)!, n));
};

function ruleAllows(
  topo: Topology,
  np: TopologyNetworkPolicy,
  rule: NetworkPolicyRule,
  peer: { ip: string; pod?: TopologyPod },
  c: Connection,
): boolean {
  const peerOk =
    rule.peers.length === 0 ||
    rule.peers.some((p) => (p.ipBlock ? inBlock(peer.ip, p.ipBlock) : peer.pod !== undefined && peerPods(topo, np, p).includes(peer.pod)));
  if (!peerOk) return false;
  if (rule.ports.length === 0) return true;
  return rule.ports.some((p) => {
    if (p.protocol !== c.protocol) return false;
    // an egress rule's named port to an ipBlock asks no pod (compile.ts writes no rule for it)
    if (typeof p.port === 'string' && rule.peers.length && peer.pod === undefined) return false;
    const r = resolvePort(p, c.dstPod);
    return r === 'any' || (r !== undefined && c.port >= r.from && c.port <= r.to);
  });
}

export function policyVerdict(topo: Topology, c: Connection): PolicyVerdict {
  const sel = new Map(podPolicies(topo).map((p) => [p.pod, p]));
  const byId = new Map(topo.networkPolicies.map((np) => [policyId(np), np]));
  if (c.srcPod) {
    const ids = sel.get(c.srcPod.name)?.egress ?? [];
    const peer = { ip: c.dstPod.ip, pod: c.dstPod };
    if (ids.length && !ids.some((id) => byId.get(id)!.egress.some((r) => ruleAllows(topo, byId.get(id)!, r, peer, c))))
      return {
        allowed: false,
        direction: 'egress',
        node: c.srcPod.node,
        pod: c.srcPod.name,
        comment: dropComment(c.srcPod.name, 'egress', ids),
      };
  }
  const ids = sel.get(c.dstPod.name)?.ingress ?? [];
  if (!ids.length) return { allowed: true };
  const node = topo.nodes.find((n) => n.name === c.dstPod.node)!;
  // the node's own addresses pass (fib saddr type local in compile.ts)
  const own = [node.ip, node.cni0, node.vtep, node.tunnel].filter((x) => x !== undefined);
  if (own.includes(c.srcIp)) return { allowed: true };
  const srcPod = topo.pods.find((p) => p.ip === c.srcIp);
  const peer = { ip: c.srcIp, ...(srcPod ? { pod: srcPod } : {}) };
  if (ids.some((id) => byId.get(id)!.ingress.some((r) => ruleAllows(topo, byId.get(id)!, r, peer, c)))) return { allowed: true };
  return {
    allowed: false,
    direction: 'ingress',
    node: c.dstPod.node,
    pod: c.dstPod.name,
    comment: dropComment(c.dstPod.name, 'ingress', ids),
  };
}

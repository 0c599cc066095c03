import type { Phase, Step } from '../plan/types';
import type { Topology } from '../topology/types';
import { compilePolicies, removeTableText, type NodePolicyRules } from './compile';

// The policy agent's steps: each node's table in one `nft -f` transaction (the table deleted and
// made again in it: atomic, so a connection already allowed keeps passing by its conntrack entry).

export interface PolicyPlanOptions {
  /** `lab apply`: the topology the lab runs now; only nodes whose table changes get a step */
  previous?: Topology;
}

const nftStep = (r: Pick<NodePolicyRules, 'ns' | 'text'>): Step => ({
  ns: r.ns,
  tool: 'nft',
  lines: r.text.replace(/\n$/, '').split('\n'),
});

export function planPolicy(topo: Topology, opts: PolicyPlanOptions = {}): Phase[] {
  const prev = opts.previous;
  const had = prev !== undefined && prev.networkPolicies.length > 0;
  if (!topo.networkPolicies.length && !had) return [];
  const now = compilePolicies(topo);
  if (prev === undefined) {
    // flannel's cni0 is a bridge: same-node pod traffic meets the forward hook only with
    // br_netfilter (per namespace; on by default, said here because the policies rely on it)
    const sysctls: Step[] =
      topo.cluster.cni === 'flannel' ? now.map((r) => ({ ns: r.ns, tool: 'sysctl', lines: ['net.bridge.bridge-nf-call-iptables=1'] })) : [];
    return [{ name: 'policy', steps: [...sysctls, ...now.map(nftStep)] }];
  }
  if (!topo.networkPolicies.length) return [{ name: 'policy', steps: now.map((r) => nftStep({ ns: r.ns, text: removeTableText })) }];
  const before = new Map(had ? compilePolicies(prev).map((r) => [r.node, r.text]) : []);
  const steps = now.filter((r) => before.get(r.node) !== r.text).map(nftStep);
  const sysctls: Step[] =
    !had && topo.cluster.cni === 'flannel'
      ? now.map((r) => ({ ns: r.ns, tool: 'sysctl', lines: ['net.bridge.bridge-nf-call-iptables=1'] }))
      : [];
  return steps.length ? [{ name: 'policy', steps: [...sysctls, ...steps] }] : [];
}

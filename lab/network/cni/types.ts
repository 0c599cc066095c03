import type { Topology, TopologyNode, TopologyPod } from '../../topology/types';

// A CNI as a kind behind one small interface (as containerlab's node kinds are): the common
// planner (../plan.ts) builds the underlay, the namespaces, each node's eth0 and the veth pairs;
// the kind says what the pod network is made of on top: bridges, tunnels, routes, sysctls.

/** A node's share from the CNI: sysctl key=value lines, `ip -batch` lines after eth0. */
export interface CniNodeLines {
  sysctls: string[];
  ip: string[];
}

/** The node side of one pod: what `up` does for every pod and `apply` for a pod added later. */
export interface CniPortLines {
  sysctls: string[];
  ip: string[];
}

export interface CniKind {
  /** the node-side end of a pod's veth: its name and MAC */
  hostVeth(topo: Topology, pod: TopologyPod): { name: string; mac: string };
  /** everything on a node after eth0 and its default route, its pods' ports included */
  node(topo: Topology, node: TopologyNode): CniNodeLines;
  /** the node's `bridge -batch` lines (fdb entries for its tunnel's peers), none for most kinds; asked for apart from `node`, in a later phase */
  fdb(topo: Topology, node: TopologyNode): string[];
  /** the node side of one pod's veth */
  port(topo: Topology, pod: TopologyPod): CniPortLines;
  /** the pod's own batch: lo, eth0, its address and routes */
  pod(topo: Topology, pod: TopologyPod): string[];
}

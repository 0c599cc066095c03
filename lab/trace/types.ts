// A packet walk: one probe packet followed through the lab, point by point (what the captures
// saw) and node by node (which netfilter hooks, chains and rules it went through), next to the
// walk the lab expected from the topology and the generated rules. `lab trace` prints it, the
// scenario `trace` probe stores it in report.json, and the HTML report draws it as a ladder.

/** The outer header of a VXLAN-encapsulated packet: UDP to the VXLAN port, the VNI. */
export interface VxlanOuter {
  eth?: { src: string; dst: string };
  ip: { src: string; dst: string; ttl: number };
  udp: { srcport?: number; dstport: number };
  vni: number;
  ipip?: undefined;
}

/** The outer header of an IP-in-IP packet (Calico's tunl0): IP protocol 4, no UDP, no inner Ethernet. */
export interface IpipOuter {
  eth?: { src: string; dst: string };
  ip: { src: string; dst: string; ttl: number };
  ipip: true;
}

export type OuterHeaders = VxlanOuter | IpipOuter;

/** An encapsulation in words: `VXLAN udp 4789 vni 4096`, `IPIP (IP protocol 4)`. */
export const encapName = (o: OuterHeaders): string => (o.ipip ? 'IPIP (IP protocol 4)' : `VXLAN udp ${o.udp.dstport} vni ${o.vni}`);

/** The headers that matter along a path; `outer` when the packet is encapsulated there (VXLAN, IP-in-IP). */
export interface WalkHeaders {
  eth?: { src: string; dst: string };
  ip: { src: string; dst: string; ttl: number; protocol: string; id?: number };
  /** icmp: type name and id/seq; tcp/udp: ports (tcp with flag names) */
  l4?: { srcport?: number; dstport?: number; icmpType?: string; icmpId?: number; icmpSeq?: number; flags?: string[] };
  outer?: OuterHeaders;
}

/** What changed since the previous point, in words a reader checks against the article. */
export interface WalkChange {
  kind: 'ttl' | 'mac' | 'dnat' | 'snat' | 'encap' | 'decap' | 'port';
  /** e.g. "ttl 64 → 63", "DNAT 10.43.0.20:80 → 10.42.1.9:80", "VXLAN encap 192.168.205.4 → 192.168.205.3 udp 8472 vni 1" */
  text: string;
}

/** A capture point on the way: `client:eth0`, `node1:cni0`, `node1:flannel.1`, `@lab:underlay0`. */
export interface WalkHop {
  point: string;
  /** the pod, node or `@lab` the point is in */
  owner: string;
  ownerKind: 'pod' | 'node' | 'lab';
  interface: string;
  /** the headers the lab expected here; undefined when the packet is not expected here */
  expected?: WalkHeaders;
  /** the probe's packet as captured here; undefined when it was not seen */
  observed?: WalkHeaders;
  /** changes since the previous hop (observed when seen, else expected) */
  changes: WalkChange[];
  /** where observed differs from expected, one line each ("ip.ttl expected 63, saw 64") */
  differences: string[];
  /** the pcap of this point, relative to the walk's folder */
  pcap?: string;
  /** frame number of the packet in that pcap */
  frame?: number;
}

/** One netfilter event inside a node, from `nft monitor trace` (or the expected tracer). */
export interface RuleEvent {
  /** prerouting | input | forward | output | postrouting (of the base chain the walk is in) */
  hook: string;
  family: string;
  table: string;
  chain: string;
  /** the rule as nft prints it; absent for a chain's policy */
  rule?: string;
  /** accept, drop, continue, return, jump KUBE-SVC-…, goto …, policy accept */
  verdict?: string;
  /** the packet's destination/source when this base chain saw it (shows DNAT/SNAT between hooks) */
  packet?: { src: string; dst: string; srcport?: number; dstport?: number; mark?: string };
}

export interface NodeRules {
  node: string;
  /** hooks in the order the packet met them ("prerouting → input → output → postrouting") */
  hooks: string[];
  /** chains entered, in order, e.g. ["nat PREROUTING", "KUBE-SERVICES", "KUBE-SVC-…", "KUBE-SEP-…"] */
  chains: string[];
  events: RuleEvent[];
  /** chains the lab expected, from the generated rules (none for IPVS's own hook) */
  expectedChains?: string[];
  differences: string[];
}

/** One query the pod's resolver sent for a name given to `trace`, as the captures saw it. */
export interface WalkDnsQuery {
  id: number;
  qname: string;
  qtype: string;
  /** where the pod sent it (ip:port): the kube-dns service */
  sentTo: string;
  /** the DNS server pod it reached, and the address it arrived at there (after kube-proxy's DNAT) */
  server?: string;
  arrivedAt?: string;
  /** the answer back in the pod: where it came from (the service again: conntrack reversed the DNAT) */
  answerFrom?: string;
  rcode?: string;
  /** its A records */
  answers: string[];
}

/** The DNS step before the connection, when the target was a name (`web.default:80`). */
export interface WalkDns {
  /** as written */
  name: string;
  /** what resolved it in the pod */
  argv: string[];
  /** from the lab's data: the names the search list tries up to the one that answers, the server */
  expected: { tried: string[]; answered?: string; addresses: string[]; server: string; servers: string[] };
  queries: WalkDnsQuery[];
  /** what the pod's resolver returned, and the name it gave for it */
  addresses: string[];
  canonical?: string;
  differences: string[];
  /** the captures, relative to the walk's folder: the pod's eth0 and each DNS server pod's */
  pcaps: string[];
}

export interface Walk {
  lab: string;
  proxy: string;
  /** the pod network's dataplane (topology's cluster.backend: vxlan, host-gw, calico-bgp, …); older walks lack it */
  backend?: string;
  from: string;
  /** as asked: `web-2`, `service:web`, `10.43.0.20:80`, `node2` */
  to: string;
  protocol: 'icmp' | 'tcp' | 'udp';
  /** the address and port the probe sent to */
  target: { ip: string; port?: number };
  /** the target was a name: its resolution in the pod, before the probe packet */
  dns?: WalkDns;
  /** the pod that answered (services: which endpoint the proxy chose) */
  reached?: string;
  /** dropped by a NetworkPolicy: the node, the pod's chain, the dropping rule's comment (nft monitor trace) */
  dropped?: { node: string; chain: string; comment?: string };
  /** argv of the probe that sent the packet */
  argv: string[];
  ok: boolean;
  hops: WalkHop[];
  rules: NodeRules[];
  /** all differences between the expected and the observed walk, hop and rule ones */
  differences: string[];
  notes: string[];
}

import type { Topology, TopologyNode, TopologyPod } from '../../topology/types';
import { CALICO_IPIP, CALICO_VXLAN, calicoVethName, macFor, nodeNamespace } from '../../model/kernel-names';
import type { Phase } from '../../plan/types';
import { birdSessions } from './bird';
import type { CniKind, CniNodeLines, CniPortLines } from './types';

// Calico's pure-L3 wiring, as its CNI plugin makes it (cni-plugin/pkg/dataplane/linux,
// projectcalico/calico at 02b18b5e): no bridge. The pod's eth0 holds a /32 and reaches
// everything through a gateway that exists nowhere, 169.254.1.1, which the node's end of the
// veth (cali<11 hex>, MAC ee:ee:ee:ee:ee:ee, no address) answers by proxy ARP; the node routes
// each local pod's /32 to its cali veth. Between nodes: in `bgp` mode BIRD learns the other
// nodes' blocks (lab/network/cni/bird.ts plans its config); in `vxlan` mode the routes Felix
// would write go through vxlan.calico, planned here; in `ipip` mode through tunl0, planned
// here too: the routes Felix writes itself with FelixConfiguration programClusterRoutes:
// Enabled (Calico's stock BIRD writes the same ones through its krt_tunnel patch, which
// Debian's bird2 lacks).

/** Calico sets this MAC on every host-side veth, so the kernel never has to make one up. */
export const CALICO_HOST_MAC = 'ee:ee:ee:ee:ee:ee';
/** The pods' gateway: link-local, on no interface; proxy ARP on the cali veth answers for it. */
export const CALICO_GATEWAY = '169.254.1.1';

const spec = (topo: Topology) => topo.cluster.calico!;

/** vxlan.calico's MAC on a node: its peers' neigh and fdb entries need it. */
export const calicoVtepMac = (topo: Topology, node: string) => macFor(topo.name, nodeNamespace(topo.name, node), CALICO_VXLAN);

export const calico: CniKind = {
  hostVeth(_topo, pod) {
    return { name: calicoVethName(pod.name), mac: CALICO_HOST_MAC };
  },

  node(topo: Topology, n: TopologyNode): CniNodeLines {
    const sysctls: string[] = [];
    const ip: string[] = [];
    for (const p of topo.pods.filter((p) => p.node === n.name)) {
      const port = calico.port(topo, p);
      sysctls.push(...port.sysctls);
      ip.push(...port.ip);
    }
    const { mode, vni, port, crossSubnet } = spec(topo);
    if (mode === 'vxlan') {
      // What Felix programs in VXLAN mode: the device with the node's tunnel address, then for
      // every other node's block a route via that node's tunnel address, onlink, with a
      // permanent neigh entry for it and an fdb entry sending its MAC to the node's IP.
      ip.push(
        `link add ${CALICO_VXLAN} address ${calicoVtepMac(topo, n.name)} type vxlan id ${vni} local ${n.ip} dev eth0 dstport ${port} nolearning`,
        `link set ${CALICO_VXLAN} addrgenmode none`,
        `link set ${CALICO_VXLAN} mtu ${topo.cluster.mtu} up`,
        `addr add ${n.tunnel!}/32 dev ${CALICO_VXLAN}`,
      );
      for (const b of n.blocks ?? []) ip.push(`route add blackhole ${b}`);
      for (const other of topo.nodes.filter((o) => o.name !== n.name)) {
        const peerMac = calicoVtepMac(topo, other.name);
        // CrossSubnet: a node on this node's own segment is routed to directly, without encapsulation
        const direct = crossSubnet && other.underlay === n.underlay;
        for (const b of other.blocks ?? [])
          ip.push(direct ? `route add ${b} via ${other.ip} dev eth0` : `route add ${b} via ${other.tunnel!} dev ${CALICO_VXLAN} onlink`);
        ip.push(`neigh add ${other.tunnel!} lladdr ${peerMac} dev ${CALICO_VXLAN} nud permanent`);
      }
    }
    if (mode === 'ipip') {
      // tunl0 is the ipip module's fallback device (no local, no remote: it takes every IP-in-IP
      // packet to this namespace); Felix gives it the node's tunnel address and MTU 1480, and
      // routes every other node's block via that node's IP, onlink: the kernel wraps the
      // packet in an outer header to the gateway (IP protocol 4).
      ip.push(`link set ${CALICO_IPIP} mtu ${topo.cluster.mtu} up`, `addr add ${n.tunnel!}/32 dev ${CALICO_IPIP}`);
      for (const b of n.blocks ?? []) ip.push(`route add blackhole ${b}`);
      for (const other of topo.nodes.filter((o) => o.name !== n.name)) {
        const direct = crossSubnet && other.underlay === n.underlay;
        for (const b of other.blocks ?? [])
          ip.push(direct ? `route add ${b} via ${other.ip} dev eth0` : `route add ${b} via ${other.ip} dev ${CALICO_IPIP} onlink`);
      }
    }
    // bgp: the blackholes and the routes to other nodes come from BIRD (proto bird). Its peers'
    // eth0 MACs are written as permanent neighbours, a stand-in for what each real node's own
    // ARP table would learn: here every namespace's learnt ARP entries count towards one
    // host-wide limit (gc_thresh3, 1024 on this host; permanent entries do not count), and a
    // full mesh needs N·(N−1) of them — past ~30 nodes the kernel refused new ones ("neighbor
    // table overflow"), and sessions hung in Connect with their SYN never sent (docs/benchmarks.md).
    if (mode === 'bgp')
      for (const s of birdSessions(topo, n))
        ip.push(`neigh add ${s.address} lladdr ${macFor(topo.name, nodeNamespace(topo.name, s.peer), 'eth0')} dev eth0 nud permanent`);
    return { sysctls, ip };
  },

  /** vxlan mode: an fdb entry sending each other node's vxlan.calico MAC to its node IP, as Felix writes it. */
  fdb(topo: Topology, n: TopologyNode): string[] {
    if (spec(topo).mode !== 'vxlan') return [];
    return topo.nodes
      .filter((o) => o.name !== n.name)
      .map((other) => `fdb add ${calicoVtepMac(topo, other.name)} dev ${CALICO_VXLAN} dst ${other.ip} self permanent`);
  },

  /** The cali veth: up, no address, the sysctls Calico's CNI plugin sets on it, the pod's /32 routed to it. */
  port(topo: Topology, p: TopologyPod): CniPortLines {
    const v = calicoVethName(p.name);
    return {
      sysctls: [
        // route_localnet: NAT to the node's own 127.0.0.1 works from the pod
        `net.ipv4.conf.${v}.route_localnet=1`,
        // proxy ARP answers at once (the kernel otherwise delays proxied replies)
        `net.ipv4.neigh.${v}.proxy_delay=0`,
        // the node answers ARP for any address it routes elsewhere: 169.254.1.1 included
        `net.ipv4.conf.${v}.proxy_arp=1`,
        `net.ipv4.conf.${v}.forwarding=1`,
      ],
      ip: [`link set ${v} addrgenmode none`, `link set ${v} mtu ${topo.cluster.mtu} up`, `route add ${p.ip}/32 dev ${v} scope link`],
    };
  },

  pod(topo: Topology, p: TopologyPod): string[] {
    return [
      'link set lo up',
      'link set eth0 addrgenmode none',
      `link set eth0 mtu ${topo.cluster.mtu} up`,
      `addr add ${p.ip}/32 dev eth0`,
      `route add ${CALICO_GATEWAY} dev eth0 scope link`,
      `route add default via ${CALICO_GATEWAY} dev eth0`,
    ];
  },
};

// --- Felix's nat chains: natOutgoing --------------------------------------------------------
// As Felix writes them (felix/rules/nat.go and static.go, projectcalico/calico): nat POSTROUTING
// jumps first to cali-POSTROUTING, which goes through cali-fip-snat (floating IPs: none here)
// and cali-nat-outgoing. With the pool's natOutgoing on, that chain masquerades what comes from
// a pool with natOutgoing (ipset cali40masq-ipam-pools) and goes to no pool at all
// (cali40all-ipam-pools): pod to pod and pod to a cluster IP (DNATed to a pod before
// POSTROUTING) keep their source, pod to a node or outside the cluster is masqueraded.

export const CALI_ALL_POOLS = 'cali40all-ipam-pools';
export const CALI_MASQ_POOLS = 'cali40masq-ipam-pools';

/** The ipsets and the nat chains on every node, as two phases (the sets must exist before a rule names them). */
export function calicoRulePhases(topo: Topology): Phase[] {
  const c = topo.cluster.calico;
  if (!c) return [];
  const pool = topo.cluster.podCIDR; // the lab's one IPPool
  const sets = [
    `create ${CALI_ALL_POOLS} hash:net family inet`,
    `add ${CALI_ALL_POOLS} ${pool}`,
    `create ${CALI_MASQ_POOLS} hash:net family inet`,
    ...(c.natOutgoing ? [`add ${CALI_MASQ_POOLS} ${pool}`] : []),
  ];
  const nat = [
    '*nat',
    ':cali-POSTROUTING - [0:0]',
    ':cali-fip-snat - [0:0]',
    ':cali-nat-outgoing - [0:0]',
    '-I POSTROUTING 1 -j cali-POSTROUTING',
    '-A cali-POSTROUTING -j cali-fip-snat',
    '-A cali-POSTROUTING -j cali-nat-outgoing',
    ...(c.natOutgoing
      ? [
          `-A cali-nat-outgoing -m set --match-set ${CALI_MASQ_POOLS} src -m set ! --match-set ${CALI_ALL_POOLS} dst -j MASQUERADE --random-fully`,
        ]
      : []),
    'COMMIT',
  ];
  const nodes = topo.nodes.map((n) => nodeNamespace(topo.name, n.name));
  return [
    { name: 'calico-ipsets', steps: nodes.map((ns) => ({ ns, tool: 'ipset' as const, lines: sets })) },
    { name: 'calico-rules', steps: nodes.map((ns) => ({ ns, tool: 'iptables-restore' as const, append: true, lines: nat })) },
  ];
}

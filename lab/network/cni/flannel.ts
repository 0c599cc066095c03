import { parseCidr } from '../../topology/ipv4';
import type { Topology, TopologyNode, TopologyPod } from '../../topology/types';
import { macFor, nodeNamespace, podVethName, vtepMac, vxlanName } from '../../model/kernel-names';
import type { CniKind, CniNodeLines, CniPortLines } from './types';

// flannel: a cni0 bridge per node holding <subnet>.1, pods on it with a /<subnet> address; between
// nodes either flannel.<vni> (vxlan: route via the peer's .0 onlink, permanent neigh and fdb
// entries, as flanneld writes them) or plain routes via the peer's node IP (host-gw).

export const flannel: CniKind = {
  hostVeth(topo, pod) {
    const name = podVethName(topo.name, pod.name);
    return { name, mac: macFor(topo.name, nodeNamespace(topo.name, pod.node), name) };
  },

  node(topo: Topology, n: TopologyNode): CniNodeLines {
    const { cluster } = topo;
    const lab = topo.name;
    const ns = nodeNamespace(lab, n.name);
    const vx = vxlanName(cluster.vni);
    const subnetPrefix = parseCidr(n.podSubnet)!.prefix;
    const ip: string[] = [
      `link add cni0 address ${macFor(lab, ns, 'cni0')} mtu ${cluster.mtu} type bridge`,
      'link set cni0 addrgenmode none',
      `addr add ${n.cni0!}/${subnetPrefix} dev cni0`,
      'link set cni0 up',
    ];
    for (const p of topo.pods.filter((p) => p.node === n.name)) ip.push(...flannel.port(topo, p).ip);
    const others = topo.nodes.filter((o) => o.name !== n.name);
    if (cluster.backend === 'vxlan') {
      ip.push(
        `link add ${vx} address ${vtepMac(lab, n.name, cluster.vni)} type vxlan id ${cluster.vni} local ${n.ip} dev eth0 dstport ${cluster.port} nolearning`,
        `link set ${vx} addrgenmode none`,
        `link set ${vx} mtu ${cluster.mtu} up`,
        `addr add ${n.vtep!}/32 dev ${vx}`,
      );
      for (const other of others) {
        const peerMac = vtepMac(lab, other.name, cluster.vni);
        ip.push(
          `route add ${other.podSubnet} via ${other.vtep!} dev ${vx} onlink`,
          `neigh add ${other.vtep!} lladdr ${peerMac} dev ${vx} nud permanent`,
        );
      }
    } else {
      for (const other of others) ip.push(`route add ${other.podSubnet} via ${other.ip} dev eth0`);
    }
    return { sysctls: [], ip };
  },

  /** vxlan: an fdb entry sending each other node's VTEP MAC to its node IP, as flanneld writes it. */
  fdb(topo: Topology, n: TopologyNode): string[] {
    const { cluster } = topo;
    if (cluster.backend !== 'vxlan') return [];
    const vx = vxlanName(cluster.vni);
    return topo.nodes
      .filter((o) => o.name !== n.name)
      .map((other) => `fdb add ${vtepMac(topo.name, other.name, cluster.vni)} dev ${vx} dst ${other.ip} self permanent`);
  },

  /** The node's end of the pod's veth as a cni0 port. */
  port(topo: Topology, p: TopologyPod): CniPortLines {
    const veth = podVethName(topo.name, p.name);
    // hairpin on, as flannel's CNI config asks of the bridge plugin (hairpinMode: true): with
    // br_netfilter a pod's packet to its own service is DNATed back out of the port it came in.
    return {
      sysctls: [],
      ip: [
        `link set ${veth} addrgenmode none`,
        `link set ${veth} mtu ${topo.cluster.mtu} master cni0 up`,
        `link set ${veth} type bridge_slave hairpin on`,
      ],
    };
  },

  /** Routes as flannel's CNI config gives them: default and the pod CIDR via cni0's address. */
  pod(topo: Topology, p: TopologyPod): string[] {
    const node = topo.nodes.find((n) => n.name === p.node)!;
    return [
      'link set lo up',
      'link set eth0 addrgenmode none',
      `link set eth0 mtu ${topo.cluster.mtu} up`,
      `addr add ${p.ip}/${parseCidr(node.podSubnet)!.prefix} dev eth0`,
      `route add default via ${node.cni0!} dev eth0`,
      `route add ${topo.cluster.podCIDR} via ${node.cni0!} dev eth0`,
    ];
  },
};

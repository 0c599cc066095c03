import type { Topology, TopologyNode } from '../../topology/types';
import { nodeNamespace } from '../../model/kernel-names';

// The BIRD 2 configuration of each node in Calico's `bgp` mode: pure text, golden-tested. Shaped
// after what Calico's confd renders into bird.cfg (router id = the node's IP, a blackhole for
// each block the node owns exported to the kernel and to the peers, a full iBGP mesh named
// Mesh_<peer IP>, every learned route written to the kernel's main table, where it shows as
// `proto bird`), reduced to what the lab's path needs. Deliberate differences: no graceful
// restart (a stopped BIRD's routes are withdrawn by its peers at once rather than kept stale for
// two minutes), short connect timers (a lab comes up in seconds), and every peer on the node's
// own segment (`direct`).

export interface BirdConfig {
  node: string;
  ns: string;
  /** the peers' addresses, in the order of the topology's nodes */
  peers: string[];
  text: string;
}

/** Calico's name for the mesh session to a peer: Mesh_192_168_205_3. */
export const meshProtocolName = (peerIp: string) => `Mesh_${peerIp.replaceAll('.', '_')}`;

export function birdConfig(topo: Topology, n: TopologyNode): BirdConfig {
  const as = topo.cluster.calico!.asNumber;
  const peers = topo.nodes.filter((o) => o.name !== n.name).map((o) => o.ip);
  const lines = [
    `# BIRD configuration of node ${n.name} (lab ${topo.name}, Calico bgp mode, AS ${as})`,
    `router id ${n.ip};`,
    '',
    '# the IPAM blocks this node owns: a blackhole each (in the kernel as `blackhole <block> proto bird`),',
    '# and what the node announces to its peers',
    'protocol static blocks {',
    '  ipv4;',
    ...(n.blocks ?? []).map((b) => `  route ${b} blackhole;`),
    '}',
    '',
    'protocol device {',
    '  scan time 10;',
    '}',
    '',
    '# everything learned (and the blackholes) into the main table; nothing read back from it',
    'protocol kernel {',
    '  ipv4 {',
    '    import none;',
    '    export all;',
    '  };',
    '}',
    '',
    'template bgp mesh {',
    `  local ${n.ip} as ${as};`,
    '  direct;',
    // BIRD is graceful-restart aware by default: a peer that dies would keep its routes stale
    '  graceful restart off;',
    '  long lived graceful restart off;',
    '  connect delay time 1;',
    '  connect retry time 2;',
    '  error wait time 1, 4;',
    '  ipv4 {',
    '    import all;',
    '    export where proto = "blocks";',
    '  };',
    '}',
    ...peers.flatMap((p) => ['', `protocol bgp ${meshProtocolName(p)} from mesh {`, `  neighbor ${p} as ${as};`, '}']),
  ];
  return { node: n.name, ns: nodeNamespace(topo.name, n.name), peers, text: lines.join('\n') + '\n' };
}

/** Every node's BIRD configuration; none unless the lab runs Calico in bgp mode. */
export function planBird(topo: Topology): BirdConfig[] {
  return topo.cluster.backend === 'calico-bgp' ? topo.nodes.map((n) => birdConfig(topo, n)) : [];
}

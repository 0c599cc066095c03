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

/** One BGP session of a node: the peer node, its address, BIRD's protocol name for it. */
export interface BirdSession {
  peer: string;
  address: string;
  protocol: string;
  /** this node reflects the peer's routes to its other peers (a reflector's session to a client) */
  rrClient: boolean;
  /**
   * the peer opens the TCP connection, this node only listens: Calico's mesh is one-way, the
   * node whose IP is the greater (compared as text, as its template's `gt` does) connects
   */
  passive: boolean;
}

export interface BirdConfig {
  node: string;
  ns: string;
  /** the peers' addresses, in the order of the topology's nodes */
  peers: string[];
  sessions: BirdSession[];
  text: string;
}

/** Calico's name for the mesh session to a peer: Mesh_192_168_205_3. */
export const meshProtocolName = (peerIp: string) => `Mesh_${peerIp.replaceAll('.', '_')}`;
/** Calico's name for a session from a BGPPeer selecting a node: Node_192_168_205_3. */
export const nodeProtocolName = (peerIp: string) => `Node_${peerIp.replaceAll('.', '_')}`;

/**
 * A node's sessions. Full mesh: every other node. With route reflectors (Calico's
 * nodeToNodeMeshEnabled: false, a BGPPeer from all() to the reflectors' selector): a reflector
 * peers with every node — its clients with `rr client`, the other reflectors (same cluster ID)
 * as plain iBGP peers —, a client only with the reflectors.
 */
export function birdSessions(topo: Topology, n: TopologyNode): BirdSession[] {
  const rrs = topo.cluster.calico?.routeReflectors;
  const others = topo.nodes.filter((o) => o.name !== n.name);
  if (!rrs)
    return others.map((o) => ({ peer: o.name, address: o.ip, protocol: meshProtocolName(o.ip), rrClient: false, passive: o.ip > n.ip }));
  const isRr = rrs.includes(n.name);
  return others
    .filter((o) => isRr || rrs.includes(o.name))
    .map((o) => ({
      peer: o.name,
      address: o.ip,
      protocol: nodeProtocolName(o.ip),
      rrClient: isRr && !rrs.includes(o.name),
      passive: false,
    }));
}

export function birdConfig(topo: Topology, n: TopologyNode): BirdConfig {
  const calico = topo.cluster.calico!;
  const as = calico.asNumber;
  const sessions = birdSessions(topo, n);
  const peers = sessions.map((s) => s.address);
  const rr = calico.routeReflectors?.includes(n.name);
  const lines = [
    `# BIRD configuration of node ${n.name} (lab ${topo.name}, Calico bgp mode, AS ${as}${calico.routeReflectors ? (rr ? `, route reflector, cluster ID ${calico.routeReflectorClusterID!}` : ', route reflector client') : ''})`,
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
    // a reflector passes on what it learned too (BIRD sends iBGP-learned routes only to rr clients, or from them)
    rr ? '    export where proto = "blocks" || source = RTS_BGP;' : '    export where proto = "blocks";',
    '  };',
    '}',
    ...sessions.flatMap((s) => [
      '',
      `protocol bgp ${s.protocol} from mesh {`,
      `  neighbor ${s.address} as ${as};`,
      // Calico's mesh: one connection per pair, no collision of two to resolve
      ...(s.passive ? ['  passive on;'] : []),
      ...(s.rrClient ? ['  rr client;', `  rr cluster id ${calico.routeReflectorClusterID!};`] : []),
      '}',
    ]),
  ];
  return { node: n.name, ns: nodeNamespace(topo.name, n.name), peers, sessions, text: lines.join('\n') + '\n' };
}

/** Every node's BIRD configuration; none unless the lab runs Calico in bgp mode. */
export function planBird(topo: Topology): BirdConfig[] {
  return topo.cluster.backend === 'calico-bgp' ? topo.nodes.map((n) => birdConfig(topo, n)) : [];
}

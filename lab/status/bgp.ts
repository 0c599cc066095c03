import { type BirdConfig, planBird } from '../network/cni/bird';
import type { Runtime } from '../runtime/runtime';
import { birdcArgv } from '../state/bird';
import type { Topology } from '../topology/types';

// BGP as the nodes' BIRDs report it (Calico's bgp mode): each session's state from
// `birdc show protocols all`, and the `proto bird` routes in each node's kernel.

export interface BgpSessionView {
  /** the peer node's name and address */
  peer: string;
  address: string;
  /** BIRD's protocol name (Mesh_<peer address>, Node_<peer address> with route reflectors) */
  protocol: string;
  /** up, start, down… and BIRD's info: Established, Active, Connect… ('' when BIRD does not answer) */
  state: string;
  info: string;
  /** routes imported from this peer */
  received?: number;
}

export interface BgpNodeView {
  node: string;
  /** false when the node's BIRD does not answer on its control socket */
  running: boolean;
  sessions: BgpSessionView[];
}

const nsOf = (topo: Topology, node: string) => planBird(topo).find((c) => c.node === node)?.ns;

/** Parses `birdc show protocols [all]`: per BGP protocol, its state, info and (with `all`) imported routes. */
export function parseProtocolsAll(text: string): Map<string, { state: string; info: string; received?: number }> {
  const out = new Map<string, { state: string; info: string; received?: number }>();
  let current: { state: string; info: string; received?: number } | undefined;
  for (const line of text.split('\n')) {
    // Name Proto Table State Since Info   (Since: a time, or a date and a time)
    const head = /^(\S+)\s+(\S+)\s+\S+\s+(\S+)\s+\S+(?: [\d:.]+)?\s*(.*)$/.exec(line);
    if (head && !line.startsWith(' ') && head[1] !== 'Name') {
      current = head[2] === 'BGP' ? { state: head[3]!, info: head[4]!.trim().replace(/\s+/g, ' ') } : undefined;
      if (current) out.set(head[1]!, current);
      continue;
    }
    const routes = /^\s+Routes:\s+(\d+) imported/.exec(line);
    if (routes && current) current.received = Number(routes[1]);
  }
  return out;
}

/** One node's sessions, every peer listed (a missing protocol shows as state ''). */
export async function bgpNode(rt: Runtime, topo: Topology, node: string): Promise<BgpNodeView> {
  const ns = nsOf(topo, node);
  const r = ns ? await rt.run(ns, birdcArgv(topo.name, node, 'show', 'protocols', 'all'), { check: false, timeoutMs: 5000 }) : undefined;
  const running = r?.code === 0;
  const seen = running ? parseProtocolsAll(r.stdout) : new Map<string, { state: string; info: string; received?: number }>();
  const planned = planBird(topo).find((c) => c.node === node)?.sessions ?? [];
  const sessions = planned.map((p): BgpSessionView => {
    const s = seen.get(p.protocol);
    return {
      peer: p.peer,
      address: p.address,
      protocol: p.protocol,
      state: s?.state ?? '',
      info: s?.info ?? '',
      ...(s?.received !== undefined ? { received: s.received } : {}),
    };
  });
  return { node, running, sessions };
}

/** Every node's sessions; [] unless the lab runs Calico in bgp mode. */
export async function inspectBgp(rt: Runtime, topo: Topology): Promise<BgpNodeView[]> {
  return Promise.all(planBird(topo).map((c) => bgpNode(rt, topo, c.node)));
}

/**
 * `up`'s wait: one node's sessions (`birdc show protocols`, one line a session) and its `proto
 * bird` routes read by one command in its namespace, not two. Takes the node's planned BIRD
 * configuration (planning every node's anew for each call costs ~25 ms at 100 nodes).
 */
export async function bgpNodeRoutes(rt: Runtime, lab: string, config: BirdConfig): Promise<{ view: BgpNodeView; routes: Set<string> }> {
  const { node, ns, sessions: planned } = config;
  const [birdc, ...show] = birdcArgv(lab, node, 'show', 'protocols');
  // a fixed script, the socket path and words as its arguments: BIRD's answer, its exit code, the routes
  const script = '"$@"; echo "@@birdc $?"; ip -j route show proto bird';
  const r = await rt.run(ns, ['sh', '-c', script, 'sh', birdc!, ...show], { check: false, timeoutMs: 5000 }).catch(() => undefined);
  const [birdOut = '', rest = ''] = (r?.stdout ?? '').split(/^@@birdc /m);
  const running = /^0\b/.test(rest);
  const seen = running ? parseProtocolsAll(birdOut) : new Map<string, { state: string; info: string }>();
  const sessions = planned.map((p): BgpSessionView => {
    const s = seen.get(p.protocol);
    return { peer: p.peer, address: p.address, protocol: p.protocol, state: s?.state ?? '', info: s?.info ?? '' };
  });
  const json = rest.slice(rest.indexOf('\n') + 1).trim();
  let routes: { dst: string }[] = [];
  try {
    routes = JSON.parse(json || '[]') as { dst: string }[];
  } catch {
    routes = []; // cut short (a timeout): nothing counted as routed
  }
  return { view: { node, running, sessions }, routes: new Set(routes.map((x) => (x.dst.includes('/') ? x.dst : `${x.dst}/32`))) };
}

/** The destinations of a node's `proto bird` routes (blackholes included). */
export async function birdRoutes(rt: Runtime, topo: Topology, node: string): Promise<Set<string>> {
  const ns = nsOf(topo, node);
  if (!ns) return new Set();
  const r = await rt.run(ns, ['ip', '-j', 'route', 'show', 'proto', 'bird'], { check: false, timeoutMs: 5000 });
  if (r.code !== 0) return new Set();
  const routes = JSON.parse(r.stdout || '[]') as { dst: string }[];
  return new Set(routes.map((x) => (x.dst.includes('/') ? x.dst : `${x.dst}/32`)));
}

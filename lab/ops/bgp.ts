import { rmSync } from 'node:fs';
import { LabError } from '../errors';
import { type BirdConfig, planBird } from '../network/cni/bird';
import type { Daemon } from '../pods/servers';
import type { Runtime } from '../runtime/runtime';
import { birdcArgv, birdDir, birdFiles } from '../state/bird';
import { bgpNodeRoutes } from '../status/bgp';
import type { Topology, TopologyNode } from '../topology/types';

export { birdDir } from '../state/bird';

// BIRD in Calico's bgp mode: one per node, a lab process like the pods' socat listeners. It is
// started detached inside the node's namespace (or docker node container) in the foreground
// (`bird -f`, so its pid is the daemon's and it never leaves the namespace), outlives `up` by
// design, and `down` stops it with every other process in the lab's namespaces (found by
// namespace, so also after a crash; on docker, with the container) and removes its files. Its configuration is planned (lab/network/cni/bird.ts); here it is written
// to the lab's folder under the state directory (lab/state/bird.ts), next to the control socket
// birdc talks to; lab/status/bgp.ts reads the sessions back.

function birdDaemon(lab: string, c: BirdConfig): Daemon {
  const f = birdFiles(lab, c.node);
  // ready once it listens on TCP 179 (BGP) in the node's namespace
  return { ns: c.ns, argv: ['bird', '-f', '-c', f.conf, '-s', f.ctl], env: {}, ready: { port: 179, protocol: 'TCP' } };
}

/**
 * How long a full mesh may take to converge: 30 s for a small lab, plus 1 s per node — a mesh
 * has N·(N−1)/2 sessions, and a session that lost the race retries after BIRD's connect timer
 * (seen at 50 nodes: a few sessions still in Connect after 30 s).
 */
export const meshTimeoutMs = (nodes: number) => 30_000 + 1_000 * nodes;

/** Starts BIRD on the nodes named (every node by default) and waits until the mesh has converged. */
export async function startBird(
  rt: Runtime,
  topo: Topology,
  only?: readonly string[],
  timeoutMs = meshTimeoutMs(topo.nodes.length),
): Promise<string> {
  const configs = planBird(topo).filter((c) => !only || only.includes(c.node));
  if (!configs.length) return 'no BGP (not Calico bgp mode)';
  // written where BIRD runs: through the runtime, so also inside a docker node or on another host
  await Promise.all(
    configs.map((c) =>
      rt.run(
        c.ns,
        ['sh', '-c', 'mkdir -p -m 700 "$1" && printf %s "$3" > "$2"', 'sh', birdDir(topo.name), birdFiles(topo.name, c.node).conf, c.text],
        {
          timeoutMs: 10_000,
        },
      ),
    ),
  );
  // N BIRDs starting at once on a shared machine: each gets longer to bind as N grows
  await rt.startDaemons(
    configs.map((c) => birdDaemon(topo.name, c)),
    10_000 + 200 * configs.length,
  );
  return waitConverged(rt, topo, undefined, timeoutMs);
}

/** Stops one node's BIRD (`birdc down`: it closes its sessions with a Cease) and waits until it has exited. */
export async function stopBird(rt: Runtime, topo: Topology, node: string, timeoutMs = 10_000): Promise<void> {
  const ns = planBird(topo).find((c) => c.node === node)?.ns;
  if (!ns) throw new LabError(`node '${node}' runs no BIRD (lab '${topo.name}' is not in Calico's bgp mode, or has no such node)`, 2);
  await rt.run(ns, birdcArgv(topo.name, node, 'down'), { check: false, timeoutMs: 5000 });
  await poll(timeoutMs, `BIRD on ${node} to exit`, async () => !(await birdAnswers(rt, topo, node)));
}

/** Removes a lab's BIRD files (`down`, once its processes are stopped). */
export function removeBirdFiles(lab: string): void {
  rmSync(birdDir(lab), { recursive: true, force: true });
}

async function birdAnswers(rt: Runtime, topo: Topology, node: string): Promise<boolean> {
  const ns = planBird(topo).find((c) => c.node === node)!.ns;
  return (await rt.run(ns, birdcArgv(topo.name, node, 'show', 'status'), { check: false, timeoutMs: 5000 })).code === 0;
}

/** How many nodes up's wait asks at once. */
const ASK_AT_ONCE = 4;

/**
 * Waits until every running node's sessions to every other running node are Established and
 * each of them has the others' blocks in its kernel as `proto bird` routes (and its own
 * blackholes). `down`: nodes whose BIRD is stopped: left out, and their blocks gone from the
 * others' tables. No sleeps: polls — cheaply, since a 100-node mesh is 100 BIRDs with 99
 * sessions each on a machine the polling shares: one command a node (`birdc show protocols`,
 * one line a session, and `ip route`), a few nodes at once; a round asks only the nodes not
 * yet seen converged, in order, and ends at the first batch with one that is not; when every
 * node has been seen converged, one more pass over all of them (a session may have dropped
 * since) ends the wait or puts the ones that fell back in line.
 */
export async function waitConverged(rt: Runtime, topo: Topology, down: readonly string[] = [], timeoutMs = 30_000): Promise<string> {
  const up = topo.nodes.filter((n) => !down.includes(n.name));
  const blocks = up.flatMap((o) => o.blocks ?? []);
  // a stopped node's blocks must have been withdrawn
  const gone = topo.nodes.filter((o) => down.includes(o.name)).flatMap((o) => o.blocks ?? []);
  const configs = new Map(planBird(topo).map((c) => [c.node, c]));
  let asked = 0;
  /** why the node has not converged; '' when it has */
  const notYet = async (n: TopologyNode): Promise<string> => {
    asked++;
    const { view, routes } = await bgpNodeRoutes(rt, topo.name, configs.get(n.name)!);
    // the planned sessions (the mesh, or to and from the route reflectors) to running nodes
    for (const s of view.sessions.filter((x) => !down.includes(x.peer)))
      if (s.info !== 'Established') return `${n.name} → ${s.peer}: ${s.state ? `${s.state} ${s.info}` : 'no session'}`;
    const missing = blocks.filter((b) => !routes.has(b));
    if (missing.length) return `${n.name} lacks proto bird routes to ${missing.join(', ')}`;
    const stale = gone.filter((b) => routes.has(b));
    return stale.length ? `${n.name} still routes ${stale.join(', ')}` : '';
  };
  /** the nodes of the list that have not converged, and the first one's reason */
  const ask = async (nodes: TopologyNode[]) => {
    const why = await Promise.all(nodes.map(notYet));
    return { not: nodes.filter((_, i) => why[i]), first: why.find((w) => w) ?? '' };
  };
  const t0 = Date.now();
  let pending = up;
  let last = '';
  let rounds = 0;
  await poll(
    timeoutMs,
    () => `BGP to converge (${last}; ${up.length - pending.length} of ${up.length} node(s) seen converged)`,
    async () => {
      rounds++;
      while (pending.length) {
        const batch = pending.slice(0, ASK_AT_ONCE);
        const { not, first } = await ask(batch);
        pending = [...not, ...pending.slice(batch.length)];
        if ((last = first)) return false;
      }
      const fell: TopologyNode[] = [];
      for (let i = 0; i < up.length; i += ASK_AT_ONCE) {
        const { not, first } = await ask(up.slice(i, i + ASK_AT_ONCE));
        fell.push(...not);
        last ||= first;
      }
      pending = fell;
      return !fell.length;
    },
  );
  const ends = [...configs.values()]
    .filter((c) => !down.includes(c.node))
    .flatMap((c) => c.sessions.filter((s) => !down.includes(s.peer))).length;
  const rr = topo.cluster.calico!.routeReflectors;
  const took = `${((Date.now() - t0) / 1000).toFixed(1)} s, ${rounds} round(s), ${asked} check(s)`;
  return `BIRD on ${up.length} node(s), ${ends / 2} iBGP session(s) Established (AS ${topo.cluster.calico!.asNumber}${rr ? `, route reflectors ${rr.join(', ')}` : ', full mesh'}), every block routed (${took})`;
}

async function poll(timeoutMs: number, what: string | (() => string), cond: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() >= deadline)
      throw new LabError(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

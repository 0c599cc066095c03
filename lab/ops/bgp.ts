import { rmSync } from 'node:fs';
import { LabError } from '../errors';
import { type BirdConfig, planBird } from '../network/cni/bird';
import type { Daemon } from '../pods/servers';
import type { Runtime } from '../runtime/runtime';
import { birdcArgv, birdDir, birdFiles } from '../state/bird';
import { bgpNode, birdRoutes } from '../status/bgp';
import type { Topology } from '../topology/types';

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

/**
 * Waits until every running node's sessions to every other running node are Established and
 * each of them has the others' blocks in its kernel as `proto bird` routes (and its own
 * blackholes). `down`: nodes whose BIRD is stopped: left out, and their blocks gone from the
 * others' tables. No sleeps: polls.
 */
export async function waitConverged(rt: Runtime, topo: Topology, down: readonly string[] = [], timeoutMs = 30_000): Promise<string> {
  const up = topo.nodes.filter((n) => !down.includes(n.name));
  let last = '';
  await poll(
    timeoutMs,
    () => `BGP to converge (${last})`,
    async () => {
      for (const n of up) {
        // the planned sessions (the mesh, or to and from the route reflectors) to running nodes
        const { sessions } = await bgpNode(rt, topo, n.name);
        for (const s of sessions.filter((x) => !down.includes(x.peer)))
          if (s.info !== 'Established') return !(last = `${n.name} → ${s.peer}: ${s.state ? `${s.state} ${s.info}` : 'no session'}`);
        const routes = await birdRoutes(rt, topo, n.name);
        const missing = up.flatMap((o) => o.blocks ?? []).filter((b) => !routes.has(b));
        if (missing.length) return !(last = `${n.name} lacks proto bird routes to ${missing.join(', ')}`);
        // a stopped node's blocks must have been withdrawn
        const stale = topo.nodes
          .filter((o) => down.includes(o.name))
          .flatMap((o) => o.blocks ?? [])
          .filter((b) => routes.has(b));
        if (stale.length) return !(last = `${n.name} still routes ${stale.join(', ')}`);
      }
      return true;
    },
  );
  const ends = planBird(topo)
    .filter((c) => !down.includes(c.node))
    .flatMap((c) => c.sessions.filter((s) => !down.includes(s.peer))).length;
  const rr = topo.cluster.calico!.routeReflectors;
  return `BIRD on ${up.length} node(s), ${ends / 2} iBGP session(s) Established (AS ${topo.cluster.calico!.asNumber}${rr ? `, route reflectors ${rr.join(', ')}` : ', full mesh'}), every block routed`;
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

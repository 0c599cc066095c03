import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { type HealthCheck, healthCheckDaemon, healthCheckState, planHealthChecks } from '../pods/healthcheck';
import type { Runtime } from '../runtime/runtime';
import { healthCheckDir, healthCheckFile } from '../state/healthcheck';
import type { Topology } from '../topology/types';

// The health check servers of kube-proxy as lab processes (like the pods' listeners and the
// cluster DNS): started detached in the nodes' namespaces by `up`, they outlive it; `down` stops
// them with every other process in the lab's namespaces and removes their state files.

/** Writes every state file; returns the keys `<node>.<port>` written. */
function writeStates(topo: Topology): Set<string> {
  const keys = new Set<string>();
  const checks = planHealthChecks(topo);
  if (checks.length) mkdirSync(healthCheckDir(topo.name), { recursive: true, mode: 0o700 });
  for (const h of checks) {
    writeFileSync(healthCheckFile(topo.name, h.node, h.port), healthCheckState(h));
    keys.add(`${h.node}.${h.port}`);
  }
  return keys;
}

const summary = (topo: Topology) => {
  const checks = planHealthChecks(topo);
  return checks.map((h) => `${h.node}:${h.port} ${h.localEndpoints ? 200 : 503} (${h.localEndpoints})`).join(', ');
};

/** `up`: the state files, then one listener per node and health check port, up once bound. */
export async function startHealthChecks(rt: Runtime, topo: Topology): Promise<string> {
  const checks = planHealthChecks(topo);
  if (!checks.length) return 'no health check node ports';
  writeStates(topo);
  await rt.startDaemons(checks.map((h) => healthCheckDaemon(h, healthCheckFile(topo.name, h.node, h.port))));
  return summary(topo);
}

/**
 * The processes holding a TCP socket listening on `port` in a node's namespace (`ss -p`, read in
 * that namespace: the pids are those of its runtime's process view), as kube-proxy's health check
 * server is found by its port.
 */
async function listenerPids(rt: Runtime, ns: string, port: number): Promise<string[]> {
  const r = await rt.run(ns, ['ss', '-H', '-t', '-l', '-n', '-p', 'sport', '=', `:${port}`], { check: false });
  return [...new Set([...r.stdout.matchAll(/pid=(\d+)/g)].map((m) => m[1]!))];
}

/**
 * `apply`: the state files rewritten (a running listener answers from the new counts at once);
 * a port gone (the service removed, switched to externalTrafficPolicy Cluster or given another
 * health check port) has its listener stopped and its file removed, as kube-proxy closes its
 * server for the service; listeners for new ports, and any planned one that is not listening
 * (it died), started. Only the listener is stopped: the node's other processes keep running.
 */
export async function refeedHealthChecks(rt: Runtime, topo: Topology, old: Topology): Promise<string> {
  const oldChecks = planHealthChecks(old);
  const now = writeStates(topo);
  const checks = planHealthChecks(topo);
  const stopped: string[] = [];
  for (const h of oldChecks) {
    const key = `${h.node}.${h.port}`;
    if (now.has(key)) continue;
    const pids = await listenerPids(rt, h.ns, h.port);
    if (pids.length) await rt.run(h.ns, ['kill', '-TERM', ...pids], { check: false });
    rmSync(`${healthCheckDir(topo.name)}/${key}`, { force: true });
    stopped.push(`${h.node}:${h.port}`);
  }
  const missing: HealthCheck[] = [];
  for (const h of checks) if (!(await listenerPids(rt, h.ns, h.port)).length) missing.push(h);
  if (missing.length) await rt.startDaemons(missing.map((h) => healthCheckDaemon(h, healthCheckFile(topo.name, h.node, h.port))));
  const parts = [
    ...(now.size ? [summary(topo)] : ['no health check node ports']),
    ...(stopped.length ? [`stopped ${stopped.join(', ')}`] : []),
  ];
  return parts.join('; ');
}

/** `down`: the state files (the listeners died with the namespaces' processes). */
export function removeHealthCheckFiles(lab: string): void {
  rmSync(healthCheckDir(lab), { recursive: true, force: true });
}

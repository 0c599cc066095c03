import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { healthCheckDaemon, healthCheckState, planHealthChecks } from '../pods/healthcheck';
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
 * `apply`: the state files rewritten (a running listener answers from the new counts at once);
 * listeners for new ports started; a port gone has its file removed, and its listener then
 * closes every connection unanswered (the node's other processes are not stopped for it).
 */
export async function refeedHealthChecks(rt: Runtime, topo: Topology, old: Topology): Promise<string> {
  const before = new Set(planHealthChecks(old).map((h) => `${h.node}.${h.port}`));
  const now = writeStates(topo);
  for (const k of before) if (!now.has(k)) rmSync(`${healthCheckDir(topo.name)}/${k}`, { force: true });
  const fresh = planHealthChecks(topo).filter((h) => !before.has(`${h.node}.${h.port}`));
  if (fresh.length) await rt.startDaemons(fresh.map((h) => healthCheckDaemon(h, healthCheckFile(topo.name, h.node, h.port))));
  return now.size ? summary(topo) : 'no health check node ports';
}

/** `down`: the state files (the listeners died with the namespaces' processes). */
export function removeHealthCheckFiles(lab: string): void {
  rmSync(healthCheckDir(lab), { recursive: true, force: true });
}

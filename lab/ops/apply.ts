import { isDeepStrictEqual } from 'node:util';
import { LabError, NoSuchLab } from '../errors';
import { inLab, nodeNamespace, podNamespace } from '../model/kernel-names';
import { planPodUnplug, planPods } from '../network/plan';
import { type Listener, listenerDaemon, planListeners } from '../pods/servers';
import { modelOf } from '../model/lab';
import { planProxy } from '../proxy/plan';
import { planPolicy } from '../policy/plan';
import type { Runtime } from '../runtime/runtime';
import { readRecord, writeRecord } from '../state/store';
import type { Topology, TopologyPod } from '../topology/types';
import { refeedDns } from './dns';
import { refeedHealthChecks } from './healthcheck';
import { checkTopologyEnvironment } from './environment';
import { runQuietly, type Stage, type StageRunner } from './up';
import { type Overrides, loadTopology } from '../topology/resolve';
import { type RuntimeHooks, runtimeFor } from '../runtime/select';

// Changes a running lab the way a cluster changes under kube-proxy: pods come and go, services
// and rules change; kube-proxy re-syncs. Nodes and the cluster's network are fixed while up.
//
// Order, so traffic never goes to something that is not there: new pods and their listeners
// first, then every node's rules re-synced (each batch replaces its tables in one
// transaction), then the pods that left are removed.

export interface ApplyResult {
  added: string[];
  removed: string[];
  /** pods whose listeners were restarted because their ports changed */
  restarted: string[];
  /** node count whose rules were re-synced */
  nodes: number;
  /** service port id → endpoint count after the change */
  endpoints: Record<string, number>;
  /** 'incremental': only what changed was written; 'full': every rule (`--full`) */
  resync: 'incremental' | 'full';
}

export interface ApplyOptions {
  /** re-write every rule, as the first install did, instead of only what changed */
  full?: boolean;
}

/** What `apply` cannot change: it would mean rebuilding the network under running pods. */
const FIXED_WHILE_UP: [string, (t: Topology) => unknown][] = [
  ['runtime', (t) => t.runtime],
  ['cluster', (t) => t.cluster],
  ['nodes', (t) => t.nodes],
  ['proxy.mode', (t) => t.proxy.mode],
  ['proxy.masqueradeBit', (t) => t.proxy.masqueradeBit],
];

/** What differs between two topologies that `apply` cannot change (empty: apply can go from one to the other). */
export const fixedWhileUp = (old: Topology, topo: Topology): string[] =>
  FIXED_WHILE_UP.filter(([, part]) => !isDeepStrictEqual(part(old), part(topo))).map(([what]) => what);

export async function apply(
  topo: Topology,
  rt: Runtime,
  runStages: StageRunner = runQuietly,
  opts: ApplyOptions = {},
): Promise<ApplyResult> {
  const lab = topo.name;
  const rec = readRecord(lab);
  const present = (await rt.listNamespaces()).filter((ns) => inLab(ns, lab));
  if (!rec && !present.length) throw new NoSuchLab(lab, "bring it up with 'lab up' first");
  if (rec?.status !== 'up' || !present.length) throw new LabError(`lab '${lab}' is not up: bring it up with 'lab up' first`, 2);
  const old = rec.topology;
  const changed = fixedWhileUp(old, topo);
  if (changed.length)
    throw new LabError(
      `${topo.source}: apply changes pods, services and rule files of a running lab; ${changed.join(', ')} changed: use 'lab up --reconfigure' to rebuild`,
      2,
    );
  await checkTopologyEnvironment(topo);

  const key = (p: TopologyPod) => `${p.name}@${p.node}/${p.ip}`; // moved or readdressed = removed + added
  const oldKeys = new Set(old.pods.map(key));
  const newKeys = new Set(topo.pods.map(key));
  const added = topo.pods.filter((p) => !oldKeys.has(key(p)));
  const removed = old.pods.filter((p) => !newKeys.has(key(p)));

  // listeners of pods that stay but listen differently now (ports edited, or became an endpoint)
  const before = planListeners(old);
  const after = planListeners(topo);
  const portsOf = (ls: Listener[], pod: string) => ls.filter((l) => l.pod === pod).map((l) => `${l.protocol}/${l.port}`);
  const restarted = topo.pods.filter((p) => oldKeys.has(key(p)) && !isDeepStrictEqual(portsOf(before, p.name), portsOf(after, p.name)));

  const podPlan = planPods(topo, added);
  const starting = new Set([...added, ...restarted].map((p) => p.name));
  const newListeners = after.filter((l) => starting.has(l.pod));
  const stages: Stage[] = [];
  // A pod that moved or changed address keeps its name, hence its namespace and veth names:
  // the old one has to go before the new one can be made.
  const replaced = removed.filter((p) => added.some((a) => a.name === p.name));
  const gone = removed.filter((p) => !replaced.includes(p));
  if (added.length)
    stages.push({
      title: 'pods added',
      run: async () => {
        await rt.applySteps(planPodUnplug(old, replaced));
        await rt.deleteNamespaces(replaced.map((p) => podNamespace(lab, p.node, p.name)));
        await rt.createNamespaces(podPlan.namespaces);
        for (const phase of podPlan.phases) await rt.applySteps(phase.steps);
        return added.map((p) => p.name).join(', ');
      },
    });
  if (newListeners.length)
    stages.push({
      title: 'servers',
      run: async () => {
        await rt.stopProcesses(restarted.map((p) => podNamespace(lab, p.node, p.name)));
        await rt.startDaemons(newListeners.map(listenerDaemon));
        return `${newListeners.length} listener(s) started`;
      },
    });
  // Incremental (the default): the rules of the topology the lab was synced with are generated
  // again and only the difference is written (proxy/resync.ts), as kube-proxy's partial syncs.
  // Full: iptables mode reads each node's tables first, as kube-proxy does on a full sync: jumps
  // that are gone are inserted again, chains of services that are gone are deleted.
  // (and after a failed re-sync, as kube-proxy's next sync after a failure is a full one)
  const full = opts.full === true || rec.fullResync === true;
  const held: Record<string, string> = {};
  if (full && topo.proxy.mode === 'iptables')
    for (const n of topo.nodes) {
      const saved = await rt.run(nodeNamespace(lab, n.name), ['iptables-save']);
      if (saved.code === 0) held[n.name] = saved.stdout;
    }
  const proxyPhases = planProxy(topo, { resync: true, previous: old, ...(full ? { held } : { incremental: true }) });
  stages.push({
    title: 'rules re-synced',
    run: async () => {
      for (const phase of proxyPhases) await rt.applySteps(phase.steps);
      const nodes = new Set(proxyPhases.flatMap((p) => p.steps.map((s) => s.ns))).size;
      return full
        ? `${topo.proxy.mode} mode on ${topo.nodes.length} node(s), every rule`
        : `${topo.proxy.mode} mode: what changed, on ${nodes} of ${topo.nodes.length} node(s)`;
    },
  });
  // the policy agent after kube-proxy: each changed node's table replaced in one transaction
  const policyPhases = planPolicy(topo, { previous: old });
  if (policyPhases.length)
    stages.push({
      title: 'policies re-synced',
      run: async () => {
        for (const phase of policyPhases) await rt.applySteps(phase.steps);
        return `${topo.networkPolicies.length} policies, ${policyPhases.reduce((n, p) => n + p.steps.filter((s) => s.tool === 'nft').length, 0)} node(s) changed`;
      },
    });
  // kube-proxy's health check servers answer from the new local endpoint counts
  if ([topo, old].some((t) => t.services.some((s) => s.healthCheckNodePort !== undefined)))
    stages.push({ title: 'health checks re-fed', run: () => refeedHealthChecks(rt, topo, old) });
  // the DNS after the rules: a name answered now leads to an endpoint kube-proxy already knows
  if (topo.cluster.dns) stages.push({ title: 'dns re-fed', run: () => refeedDns(rt, topo, added, removed) });
  if (gone.length)
    stages.push({
      title: 'pods removed',
      run: async () => {
        await rt.deleteNamespaces(gone.map((p) => podNamespace(lab, p.node, p.name)));
        return gone.map((p) => p.name).join(', ');
      },
    });
  try {
    await runStages(stages);
  } catch (e) {
    writeRecord({ ...rec, fullResync: true });
    throw e;
  }
  const { fullResync: _, ...done } = rec;
  writeRecord({ ...done, topology: topo });
  return {
    added: added.map((p) => p.name),
    removed: removed.map((p) => p.name),
    restarted: restarted.map((p) => p.name),
    nodes: topo.nodes.length,
    endpoints: Object.fromEntries(modelOf(topo).proxy.services.map((s) => [s.id, s.endpoints.length])),
    resync: full ? 'full' : 'incremental',
  };
}

/** `lab apply`: the topology file read (with the command line's overrides) and applied to its lab. */
export async function applyFile(req: {
  file: string;
  overrides?: Overrides;
  runStages?: StageRunner;
  hooks?: RuntimeHooks;
  full?: boolean;
}): Promise<ApplyResult & { lab: string }> {
  const topo = loadTopology(req.file, req.overrides);
  return { lab: topo.name, ...(await apply(topo, runtimeFor(topo, req.hooks), req.runStages, { full: req.full === true })) };
}

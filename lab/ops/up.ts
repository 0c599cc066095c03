import { isDeepStrictEqual } from 'node:util';
import { Interrupted, LabError, type StopSignal } from '../errors';
import { HOST_TUNNEL_PORT, calicoTunnelDev, inLab } from '../model/kernel-names';
import { type LabPlanStream, type Phase, type Step } from '../plan/types';
import { streamLab } from '../plan';
import type { Runtime } from '../runtime/runtime';
import { isAlive, readRecord, removeRecord, writeRecord } from '../state/store';
import { inspectLabs, type LabView } from '../status/inspect';
import type { Topology } from '../topology/types';
import { listenerDaemon, planListeners } from '../pods/servers';
import { checkTopologyEnvironment } from './environment';
import { probeLinkType } from '../runtime/kernel-features';
import { startBird } from './bgp';
import { startDns } from './dns';
import { startHealthChecks } from './healthcheck';
import { down } from './down';
import { modelOf } from '../model/lab';
import type { ProxyModel } from '../model/proxy';
import { type Overrides, loadTopology } from '../topology/resolve';
import { type RuntimeHooks, runtimeFor } from '../runtime/select';

export interface Stage {
  title: string;
  /** returns a short detail for the progress line */
  run: () => Promise<string | void>;
}

/** Runs stages in order; the CLI swaps in a listr2 renderer, the bench a silent one. */
export type StageRunner = (stages: Stage[]) => Promise<void>;

export const runQuietly: StageRunner = async (stages) => {
  for (const s of stages) await s.run();
};

export interface UpOptions {
  /** tear down a lab of the same name first, even if it was built from another topology */
  reconfigure?: boolean;
  runStages?: StageRunner;
  /** awaited after each stage has run, before the next one starts */
  afterStage?: (stage: string) => Promise<void>;
}

export interface UpResult {
  view: LabView;
  /** false when the same lab was already up and nothing was changed */
  created: boolean;
}

/**
 * Brings a lab up. Idempotent: the same topology already up is left as it is. Leftovers of an
 * interrupted run are removed first. If any stage fails, everything created is removed again.
 */
export async function up(topo: Topology, rt: Runtime, opts: UpOptions = {}): Promise<UpResult> {
  await checkTopologyEnvironment(topo);
  const lab = topo.name;
  const rec = readRecord(lab);
  const present = (await rt.listNamespaces()).filter((ns) => inLab(ns, lab));
  if (rec?.status === 'creating' && rec.pid !== process.pid && isAlive(rec.pid))
    throw new LabError(`lab '${lab}' is being brought up right now by process ${rec.pid}`, 2);
  if (rec?.status === 'up' && present.length && !opts.reconfigure) {
    const same = isDeepStrictEqual({ ...rec.topology, source: '' }, { ...topo, source: '' });
    if (!same)
      throw new LabError(
        `lab '${lab}' is already up from ${rec.topology.source} with a different topology: run 'lab down --name ${lab}' first, or 'lab up --reconfigure'`,
        2,
      );
    const [view] = await inspectLabs(rt, lab);
    if (view && view.missing.length === 0) return { view, created: false };
  }
  if (present.length || rec) await down(rt, lab); // leftovers, or --reconfigure

  // kube-proxy's kube-ipvs0 is a dummy link; a kernel without dummy (this project's) gets ifb
  const ipvsDevice = topo.proxy.mode === 'ipvs' && topo.runtime === 'netns' && (await probeLinkType('dummy')) ? 'dummy' : 'ifb';
  const plan = streamLab(topo, { ipvsDevice });
  const run = opts.runStages ?? runQuietly;
  let view: LabView | undefined;
  writeRecord({ lab, runtime: rt.kind, status: 'creating', pid: process.pid, createdAt: new Date().toISOString(), topology: topo });
  // Ctrl-C or SIGTERM: the stage running finishes, then everything is removed (below). `on`, not
  // `once`: a terminal's Ctrl-C reaches the process from the tty and again from npm's relay.
  let interrupted: StopSignal | undefined;
  const onSignal = (sig: StopSignal) => (interrupted ??= sig);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await run(
      stagesFor(
        plan,
        topo,
        rt,
        () => interrupted,
        (v) => (view = v),
        opts.afterStage,
      ),
    );
    if (interrupted) throw new Interrupted(interrupted, `removed what up '${lab}' had created`);
    writeRecord({ lab, runtime: rt.kind, status: 'up', pid: process.pid, createdAt: new Date().toISOString(), topology: topo });
    return { view: { ...view!, state: 'up' }, created: true }; // the record, read during verify, said 'creating'
  } catch (e) {
    await down(rt, lab).catch(() => undefined);
    removeRecord(lab);
    // a terminal's Ctrl-C also reaches the tools a stage was running: their failure is the signal's
    throw interrupted ? new Interrupted(interrupted, `removed what up '${lab}' had created`) : e;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

export interface UpRequest extends Omit<UpOptions, 'reconfigure'> {
  file: string;
  overrides?: Overrides;
  reconfigure?: boolean;
  hooks?: RuntimeHooks;
}

export interface UpDone extends UpResult {
  topo: Topology;
  /** the services kube-proxy's rules implement */
  services: ProxyModel;
  seconds: number;
}

/** `lab up`: the topology file read (with the command line's overrides) and the lab brought up. */
export async function upFromFile(req: UpRequest): Promise<UpDone> {
  const topo = loadTopology(req.file, req.overrides);
  const t0 = performance.now();
  const res = await up(topo, runtimeFor(topo, req.hooks), {
    reconfigure: req.reconfigure === true,
    ...(req.runStages ? { runStages: req.runStages } : {}),
    ...(req.afterStage ? { afterStage: req.afterStage } : {}),
  });
  return { ...res, topo, services: modelOf(topo).proxy, seconds: (performance.now() - t0) / 1000 };
}

function stagesFor(
  plan: LabPlanStream,
  topo: Topology,
  rt: Runtime,
  interrupted: () => StopSignal | undefined,
  setView: (v: LabView) => void,
  afterStage?: (stage: string) => Promise<void>,
): Stage[] {
  const guard = async (stage: string) => {
    const sig = interrupted();
    if (sig) throw new Interrupted(sig, `removed what up '${topo.name}' had created`);
    await afterStage?.(stage);
  };
  return [
    {
      title: 'namespaces',
      run: async () => {
        await rt.createNamespaces(plan.namespaces);
        await guard('namespaces');
        const labs = plan.namespaces.length - topo.nodes.length - topo.pods.length;
        return `${plan.namespaces.length} created (${labs} lab, ${topo.nodes.length} nodes, ${topo.pods.length} pods)`;
      },
    },
    ...plan.phases.map((phase): Stage => ({
      title: phase.name,
      run: async () => {
        let count = 0;
        await rt.applySteps(counted(phase.steps(), () => count++));
        await guard(phase.name);
        return phaseDetail(phase.name, count, topo);
      },
    })),
    {
      title: 'servers',
      run: async () => {
        const listeners = planListeners(topo);
        await rt.startDaemons(listeners.map(listenerDaemon));
        await guard('servers');
        return `${listeners.length} listener(s) in ${new Set(listeners.map((l) => l.pod)).size} pod(s) answering with their name`;
      },
    },
    ...(topo.cluster.backend === 'calico-bgp'
      ? [
          {
            title: 'bgp',
            run: async () => {
              const detail = await startBird(rt, topo);
              await guard('bgp');
              return detail;
            },
          },
        ]
      : []),
    ...(topo.services.some((s) => s.healthCheckNodePort !== undefined)
      ? [
          {
            title: 'health checks',
            run: async () => {
              const detail = await startHealthChecks(rt, topo);
              await guard('health checks');
              return detail;
            },
          },
        ]
      : []),
    ...(topo.cluster.dns
      ? [
          {
            title: 'dns',
            run: async () => {
              const detail = await startDns(rt, topo);
              await guard('dns');
              return detail;
            },
          },
        ]
      : []),
    {
      title: 'verify',
      run: async () => {
        const [view] = await inspectLabs(rt, topo.name);
        if (!view) throw new LabError('nothing of the lab is visible in the kernel after up');
        verifyView(view, topo);
        setView(view);
        return 'every node and pod has its addresses in the kernel';
      },
    },
  ];
}

function* counted(steps: Iterable<Step>, each: () => void): Generator<Step> {
  for (const s of steps) {
    each();
    yield s;
  }
}

function phaseDetail(phase: Phase['name'], batches: number, topo: Topology): string {
  const c = topo.cluster;
  switch (phase) {
    case 'ipsets':
      return `kube-ipvs0 and ipsets on ${topo.nodes.length} node(s)`;
    case 'proxy': {
      const ports = topo.services.reduce((n, s) => n + s.ports.length, 0);
      return `kube-proxy ${topo.proxy.mode} mode: ${ports} service port(s), ${batches} batch(es) on ${topo.nodes.length} node(s)`;
    }
    case 'rules':
      return `user rule file(s): ${batches} batch(es)`;
    case 'hosts':
      return `underlay tunnel (VXLAN, UDP ${HOST_TUNNEL_PORT}) on ${topo.hosts.length} hosts: ${topo.hosts.map((h) => `${h.name} ${h.address}`).join(', ')}`;
    case 'links':
      return `${c.underlay.length} underlay segment(s), ${topo.nodes.length + topo.pods.length} veth pairs`;
    case 'configure':
      return `${batches} batches: addresses, routes, cni0 bridges, ${c.backend === 'vxlan' ? `flannel.${c.vni} (VNI ${c.vni}, UDP ${c.port}, MTU ${c.mtu})` : 'host-gw routes'}`;
    case 'neighbours':
      return `fdb entries on ${batches} node(s)`;
    case 'policy':
      return `NetworkPolicy agent: ${topo.networkPolicies.length} policies, one nft transaction per node (${batches} batch(es))`;
    case 'calico-ipsets':
      return `Calico's IPAM pool ipsets on ${batches} node(s)`;
    case 'calico-rules':
      return `Calico's nat chains (cali-POSTROUTING, cali-nat-outgoing${c.calico?.natOutgoing ? ': natOutgoing on' : ', empty: natOutgoing off'}) on ${batches} node(s)`;
  }
}

/** Checks the kernel's view against the topology: a cheap guard against a half-applied batch. */
function verifyView(view: LabView, topo: Topology): void {
  const problems: string[] = [];
  const has = (ifs: { name: string; addresses: string[]; state: string }[], name: string, addrPrefix: string) =>
    ifs.some((i) => i.name === name && i.addresses.some((a) => a.startsWith(`${addrPrefix}/`)));
  const nodes = new Map(view.nodes.map((x) => [x.name, x]));
  const pods = new Map(view.pods.map((x) => [x.name, x]));
  for (const n of topo.nodes) {
    const v = nodes.get(n.name);
    if (!v) problems.push(`node ${n.name}: namespace missing`);
    else {
      if (!has(v.interfaces, 'eth0', n.ip)) problems.push(`node ${n.name}: eth0 lacks ${n.ip}`);
      if (n.cni0 && !has(v.interfaces, 'cni0', n.cni0)) problems.push(`node ${n.name}: cni0 lacks ${n.cni0}`);
      const dev = calicoTunnelDev(topo.cluster.backend);
      if (n.tunnel && dev && !has(v.interfaces, dev, n.tunnel)) problems.push(`node ${n.name}: ${dev} lacks ${n.tunnel}`);
    }
  }
  for (const p of topo.pods) {
    const v = pods.get(p.name);
    if (!v || !has(v.interfaces, 'eth0', p.ip)) problems.push(`pod ${p.name}: eth0 lacks ${p.ip}`);
  }
  if (problems.length) throw new LabError(`the kernel does not hold what was planned:\n  ${problems.join('\n  ')}`);
}

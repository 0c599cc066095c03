import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { isDeepStrictEqual, stripVTControlCharacters } from 'node:util';
import { LabError } from '../errors';
import { inLab } from '../model/kernel-names';
import { down } from '../ops/down';
import { up } from '../ops/up';
import { readPcapFile, vxlanPortsWith } from '../pcap';
import { type RunningCapture, startCapture } from '../probe/capture';
import { connect } from '../probe/connect';
import { ping } from '../probe/ping';
import { traceroute } from '../probe/traceroute';
import { comparisonMarkdown } from '../report/compare';
import { junitXml } from '../report/junit';
import { reportHtml } from '../report/html';
import { type CaptureReport, overall, type ProbeReport, type RunReport, type ScenarioReport, type StepReport, summarize } from '../report/types';
import type { Runtime } from '../runtime/runtime';
import { readRecord } from '../state/store';
import { inspectLabs } from '../status/inspect';
import type { Topology } from '../topology/types';
import { type CaptureOutcome, evaluate, type ProbeOutcome } from './expect';
import type { ProbePlan, Scenario, StepPlan } from './load';
import { LabNames } from '../model/names';
import { walkText } from '../trace/text';
import { traceWalk } from '../trace/walk';

// Runs scenarios: brings each distinct topology up once (or reuses a lab that is up, if asked),
// runs every step — captures confirmed listening, probes, captures stopped and read, expectations
// checked — tears down, and writes results/<run-id>/ with the pcaps, probe outputs, report.json,
// junit.xml and index.html.

export interface RunOptions {
  /** the runtime a topology asks for (kind and hosts) */
  runtimeFor: (topo: Topology) => Runtime;
  /** results/ : the run's folder is made inside */
  resultsRoot: string;
  runId?: string;
  /** use a lab that is already up with the same topology, and leave it up */
  reuse?: boolean;
  /** leave the labs up after the run */
  keep?: boolean;
  /** progress: called as things happen */
  onEvent?: (e: RunEvent) => void;
}

export type RunEvent =
  | { type: 'lab-up'; lab: string; reused: boolean; seconds: number }
  | { type: 'lab-down'; lab: string }
  | { type: 'scenario'; scenario: Scenario }
  | { type: 'step'; scenario: Scenario; step: StepReport; total: number };

export function newRunId(now = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  const stamp = `${now.getFullYear()}${p(now.getMonth() + 1)}${p(now.getDate())}-${p(now.getHours())}${p(now.getMinutes())}${p(now.getSeconds())}`;
  return `${stamp}-${Math.random().toString(36).slice(2, 6)}`;
}

const slug = (s: string) => s.toLowerCase().replace(/[^a-z0-9.]+/g, '-').replace(/^-|-$/g, '').slice(0, 48) || 'x';
const sameTopology = (a: Topology, b: Topology) => isDeepStrictEqual({ ...a, source: '' }, { ...b, source: '' });

export async function runScenarios(scenarios: Scenario[], opts: RunOptions): Promise<RunReport> {
  const started = new Date();
  const runId = opts.runId ?? newRunId(started);
  const dir = join(opts.resultsRoot, runId);
  mkdirSync(dir, { recursive: true });
  const emit = opts.onEvent ?? (() => undefined);

  // One lab per distinct topology, in the order scenarios name them.
  const groups: { topo: Topology; scenarios: Scenario[] }[] = [];
  for (const s of scenarios) {
    const g = groups.find((x) => sameTopology(x.topo, s.topology));
    if (g) g.scenarios.push(s);
    else groups.push({ topo: s.topology, scenarios: [s] });
  }
  // Two topologies under one lab name (the same lab in another proxy mode) run one after the
  // other: each group's lab is down before the next comes up — unless labs are to stay up.
  const names = groups.map((g) => g.topo.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup && (opts.keep || opts.reuse))
    throw new LabError(`scenarios need two different topologies under one lab name '${dup}', which cannot both stay up (--keep/--reuse): run them apart`, 2);
  // Refuse before building anything: a lab of the same name that is up belongs to the user.
  for (const g of groups) {
    const isUp = (await opts.runtimeFor(g.topo).listNamespaces()).some((ns) => inLab(ns, g.topo.name));
    if (isUp && !opts.reuse)
      throw new LabError(`lab '${g.topo.name}' is already up: pass --reuse to run against it (it is left up), or take it down first`, 2);
    const rec = readRecord(g.topo.name);
    if (isUp && opts.reuse && rec && !sameTopology(rec.topology, g.topo))
      throw new LabError(`lab '${g.topo.name}' is up with another topology (from ${rec.topology.source}): --reuse needs the same one`, 2);
  }

  const reports: ScenarioReport[] = [];
  let interrupted = false;
  const onSignal = () => (interrupted = true);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    for (const g of groups) {
      const lab = g.topo.name;
      const rt = opts.runtimeFor(g.topo);
      const isUp = (await rt.listNamespaces()).some((ns) => inLab(ns, lab));
      let skipReason: string | undefined;
      let owned = false;
      let names: LabNames | undefined;
      try {
        const t0 = performance.now();
        if (!(isUp && opts.reuse)) {
          owned = true;
          await up(g.topo, rt);
        }
        const [view] = await inspectLabs(rt, lab);
        names = new LabNames(g.topo, view);
        emit({ type: 'lab-up', lab, reused: !owned, seconds: (performance.now() - t0) / 1000 });
      } catch (e) {
        // A missing kernel feature or tool: the steps are skipped with the reason (exit 2).
        if (!(e instanceof LabError) || e.exitCode !== 2) throw e;
        skipReason = e.message;
      }
      try {
        for (const s of g.scenarios) {
          emit({ type: 'scenario', scenario: s });
          reports.push(await runScenario(s, dir, rt, names, () => (interrupted ? 'interrupted' : skipReason), emit));
        }
      } finally {
        if (owned && !opts.keep) {
          await down(rt, lab);
          emit({ type: 'lab-down', lab });
        }
      }
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }

  const finished = new Date();
  const report: RunReport = {
    runId,
    dir,
    startedAt: started.toISOString(),
    finishedAt: finished.toISOString(),
    durationS: (finished.getTime() - started.getTime()) / 1000,
    status: overall(reports.map((r) => r.status)),
    summary: summarize(reports),
    scenarios: reports,
  };
  writeFileSync(join(dir, 'report.json'), JSON.stringify(report, null, 2) + '\n');
  writeFileSync(join(dir, 'junit.xml'), junitXml(report));
  const comparison = comparisonMarkdown(report);
  if (comparison) writeFileSync(join(dir, 'comparison.md'), comparison);
  writeFileSync(join(dir, 'index.html'), reportHtml(report, scenarios));
  linkLatest(opts.resultsRoot, runId);
  return report;
}

/** results/latest → the newest run, for people opening pcaps by hand. */
function linkLatest(root: string, runId: string): void {
  const link = join(root, 'latest');
  try {
    rmSync(link, { force: true });
    symlinkSync(runId, link);
  } catch {
    /* a convenience only */
  }
}

async function runScenario(
  s: Scenario,
  runDir: string,
  rt: Runtime,
  names: LabNames | undefined,
  skip: () => string | undefined,
  emit: (e: RunEvent) => void,
): Promise<ScenarioReport> {
  const t0 = performance.now();
  const steps: StepReport[] = [];
  for (const step of s.steps) {
    const reason = skip();
    const report = reason || !names ? skipped(step, reason ?? 'the lab is not up') : await runStep(s, step, join(runDir, slug(s.name)), runDir, rt, names);
    steps.push(report);
    emit({ type: 'step', scenario: s, step: report, total: s.steps.length });
  }
  return {
    name: s.name,
    file: s.file,
    ...(s.description ? { description: s.description } : {}),
    lab: s.topology.name,
    proxy: s.topology.proxy.mode,
    status: overall(steps.map((x) => x.status)),
    durationS: (performance.now() - t0) / 1000,
    steps,
  };
}

function skipped(step: StepPlan, reason: string): StepReport {
  return { index: step.index, name: step.name, status: 'skipped', reason, durationS: 0, captures: [], probes: [], expectations: [] };
}

async function runStep(s: Scenario, step: StepPlan, scenarioDir: string, runDir: string, rt: Runtime, names: LabNames): Promise<StepReport> {
  const t0 = performance.now();
  const stepDir = join(scenarioDir, `${String(step.index + 1).padStart(2, '0')}-${slug(step.name)}`);
  mkdirSync(stepDir, { recursive: true });
  const rel = (p: string) => relative(runDir, p);
  const captures = new Map<string, CaptureOutcome>();
  const probes = new Map<string, ProbeOutcome>();
  const errors: string[] = [];

  // Every capture listening before any probe sends a packet.
  const slots = step.captures.map((plan) => ({ plan, file: join(stepDir, `${slug(plan.name)}.pcap`), running: undefined as RunningCapture | undefined }));
  const starts = await Promise.allSettled(slots.map((c) => startCapture(rt, { ns: c.plan.ns, iface: c.plan.iface, file: c.file, ...(c.plan.filter ? { filter: c.plan.filter } : {}) })));
  starts.forEach((r, i) => {
    const slot = slots[i]!;
    if (r.status === 'fulfilled') slot.running = r.value;
    else {
      const error = r.reason instanceof Error ? r.reason.message : String(r.reason);
      errors.push(`capture ${slot.plan.name}: ${error}`);
      captures.set(slot.plan.name, { plan: slot.plan, pcap: rel(slot.file), packets: [], error, warnings: [] });
    }
  });

  try {
    if (!errors.length) for (const p of step.probes) probes.set(p.name, await runProbe(rt, p, stepDir, runDir, names));
  } finally {
    await Promise.all(
      slots.map(async ({ plan, file, running }) => {
        if (!running) return;
        try {
          const stats = await running.stop();
          const { packets, capture } = readPcapFile(file, { vxlanPorts: vxlanPortsWith(s.topology.cluster.port) });
          captures.set(plan.name, { plan, pcap: rel(file), stats, packets, warnings: capture.warnings });
        } catch (e) {
          captures.set(plan.name, { plan, pcap: rel(file), packets: [], error: e instanceof Error ? e.message : String(e), warnings: [] });
        }
      }),
    );
  }

  const expectations = errors.length ? [] : step.expect.map((e) => evaluate(e, { names, probes, captures }));
  const failed = errors.length > 0 || expectations.some((e) => e.status === 'failed') || [...probes.values()].some((p) => p.error);
  const probeErrors = [...probes.values()].filter((p) => p.error).map((p) => `probe ${p.plan.name}: ${p.error}`);
  const reason = [...errors, ...probeErrors].join('; ');
  return {
    index: step.index,
    name: step.name,
    status: failed ? 'failed' : 'passed',
    ...(reason ? { reason } : {}),
    durationS: (performance.now() - t0) / 1000,
    captures: step.captures.map((c) => captureReport(captures.get(c.name)!)),
    probes: step.probes.map((p) => probeReport(probes.get(p.name), p, stepDir, runDir)),
    expectations,
  };
}

function captureReport(c: CaptureOutcome): CaptureReport {
  return {
    name: c.plan.name,
    at: c.plan.at,
    namespace: c.plan.ns,
    interface: c.plan.iface,
    ...(c.plan.filter ? { filter: c.plan.filter } : {}),
    pcap: c.pcap,
    packets: c.packets.length,
    empty: c.packets.length === 0,
    ...(c.stats ? { tcpdump: { captured: c.stats.captured, receivedByFilter: c.stats.receivedByFilter, droppedByKernel: c.stats.droppedByKernel, linkType: c.stats.linkType } } : {}),
    warnings: c.warnings,
    ...(c.error ? { error: c.error } : {}),
  };
}

const probeTo = (p: ProbePlan) => (p.kind === 'connect' ? `${p.target.ip}:${p.target.port}` : p.to);

function probeReport(o: ProbeOutcome | undefined, p: ProbePlan, stepDir: string, runDir: string): ProbeReport {
  const base = { name: p.name, kind: p.kind, from: p.from, to: probeTo(p), output: relative(runDir, join(stepDir, `${slug(p.name)}.txt`)) };
  if (!o) return { ...base, argv: [], durationS: 0, error: 'not run: a capture could not start' };
  const result = o.ping ?? (o.hops ? { hops: o.hops } : (o.connect ?? o.command ?? o.walk));
  return { ...base, argv: o.argv, durationS: o.durationS, ...(o.error ? { error: o.error } : {}), ...(result ? { result } : {}) };
}

async function runProbe(rt: Runtime, p: ProbePlan, stepDir: string, runDir: string, names: LabNames): Promise<ProbeOutcome> {
  const t0 = performance.now();
  const done = (o: Omit<ProbeOutcome, 'plan' | 'durationS'>): ProbeOutcome => {
    writeFileSync(join(stepDir, `${slug(p.name)}.txt`), `$ ${o.argv.join(' ')}\n${o.output}${o.error ? `\nerror: ${o.error}\n` : ''}`);
    return { plan: p, durationS: (performance.now() - t0) / 1000, ...o };
  };
  try {
    switch (p.kind) {
      case 'ping': {
        const r = await ping(rt, p.ns, p.to, { count: p.spec.count, interval: p.spec.interval, timeoutS: p.spec.timeout });
        const { output, argv, ...ping_ } = r;
        return done({ argv, output, ping: ping_ });
      }
      case 'traceroute': {
        const r = await traceroute(rt, p.ns, p.to, {
          method: p.spec.method,
          maxHops: p.spec.maxHops,
          queries: p.spec.queries,
          waitS: p.spec.wait,
          ...(p.spec.port !== undefined ? { port: p.spec.port } : {}),
        });
        return done({ argv: r.argv, output: r.output, hops: r.hops });
      }
      case 'command': {
        const r = await rt.run(p.ns, p.spec.run, { check: false, timeoutMs: p.spec.timeout * 1000 });
        return done({ argv: p.spec.run, output: r.stdout + (r.stderr ? `\n--- stderr\n${r.stderr}` : ''), command: { code: r.code, stdout: r.stdout, stderr: r.stderr } });
      }
      case 'trace': {
        const dir = join(stepDir, slug(p.name));
        const w = await traceWalk(rt, names.topo, names, { from: p.spec.from, to: p.spec.to, ...(p.spec.protocol ? { protocol: p.spec.protocol } : {}) }, dir);
        // in report.json, pcap paths relative to the run's folder like the captures' (walk.json
        // beside the pcaps keeps them relative to its own folder)
        const walk = { ...w, hops: w.hops.map((h) => (h.pcap ? { ...h, pcap: relative(runDir, join(dir, h.pcap)) } : h)) };
        return done({ argv: w.argv, output: stripVTControlCharacters(walkText(w)) + '\n', walk });
      }
      case 'connect': {
        const t = p.target;
        const r = await connect(rt, p.ns, t.ip, t.port, { count: p.spec.count, protocol: t.protocol, timeoutS: p.spec.timeout });
        const lines = r.attempts.map((a, i) => `${i + 1}\t${a.ok ? `pod=${a.pod} peer=${a.peer} local=${a.local}` : `failed: ${a.error}`}`);
        return done({ argv: ['connect-loop.sh', t.protocol.toLowerCase(), t.ip, String(t.port), String(p.spec.count)], output: lines.join('\n') + '\n', connect: r });
      }
    }
  } catch (e) {
    return done({ argv: [], output: '', error: e instanceof Error ? e.message : String(e) });
  }
}

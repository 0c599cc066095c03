import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Interrupted } from '../errors';
import type { LabNames } from '../model/names';
import { readPcapFile, vxlanPortsWith } from '../pcap';
import { type RunningCapture, startCapture } from '../probe/capture';
import {
  type CaptureReport,
  overall,
  type ProbeReport,
  type RunEvent,
  type ScenarioReport,
  type StepReport,
  type StepTopology,
} from '../report/types';
import type { Runtime } from '../runtime/runtime';
import type { Topology } from '../topology/types';
import { evaluate } from './expect';
import { probeKind, type ProbeOutcome } from './kinds';
import type { CaptureOutcome } from './kinds/types';
import type { ProbePlan, Scenario, StepPlan } from './load';

// Runs a scenario's steps on a lab that is up: per step, captures confirmed listening, probes
// run by their kind (kinds/probes/), captures stopped and read, expectations evaluated by their
// kind; the pcaps and each probe's output are written to results/<run-id>/<scenario>/<step>/.

export const slug = (s: string) =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9.]+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, 48) || 'x';

/**
 * ops' seam for a step with `topology:` (the scenario layer cannot bring labs up): moves the run
 * to that topology — re-synced as `lab apply` does, or rebuilt — and hands back the lab to use.
 */
export type SwitchTopology = (topo: Topology) => Promise<{ rt: Runtime; names: LabNames | undefined; change: StepTopology['change'] }>;

export interface ScenarioRunOptions {
  /**
   * Aborted when the run is interrupted (Ctrl-C, SIGTERM): the step running stops its probes and
   * captures and is reported 'interrupted'; the steps after it are skipped with skip()'s reason.
   */
  signal?: AbortSignal;
  /** awaited after each step that ran (lab/testing holds a run there so that a signal lands between two steps) */
  afterStep?: (scenario: string, index: number) => Promise<void>;
}

/** Runs every step of a scenario (or reports each skipped, with the reason skip() gives). */
export async function runScenario(
  s: Scenario,
  runDir: string,
  rt: Runtime,
  names: LabNames | undefined,
  skip: () => string | undefined,
  emit: (e: RunEvent) => void,
  switchTopology?: SwitchTopology,
  opts: ScenarioRunOptions = {},
): Promise<ScenarioReport> {
  const t0 = performance.now();
  const steps: StepReport[] = [];
  // a step not run because the run was interrupted: the scenario did not get to its end
  let cut = false;
  const moves = s.steps.some((st) => st.topology);
  let topo = s.topology;
  for (const step of s.steps) {
    let change: StepTopology['change'];
    if (step.topology) {
      if (!switchTopology)
        throw new Error(`scenario ${s.name}: step ${step.index + 1} moves to another topology, but the runner got no way to switch`);
      ({ rt, names, change } = await switchTopology(step.topology));
      if (change) topo = step.topology;
    }
    const reason = skip();
    if (reason && opts.signal?.aborted) cut = true;
    const lab = names;
    const runs = !reason && lab !== undefined;
    if (runs) emit({ type: 'step-start', scenario: s, index: step.index, name: step.name, total: s.steps.length });
    const ran = runs
      ? await runStep(s, step, join(runDir, slug(s.name)), runDir, rt, lab, opts.signal)
      : skipped(step, reason ?? 'the lab is not up');
    const report: StepReport = moves ? { ...ran, topology: { lab: topo.name, source: topo.source, ...(change ? { change } : {}) } } : ran;
    steps.push(report);
    emit({ type: 'step', scenario: s, step: report, total: s.steps.length });
    if (runs) await opts.afterStep?.(s.name, step.index);
  }
  return {
    name: s.name,
    file: s.file,
    ...(s.description ? { description: s.description } : {}),
    lab: s.topology.name,
    proxy: s.topology.proxy.mode,
    status: cut ? 'interrupted' : overall(steps.map((x) => x.status)),
    durationS: (performance.now() - t0) / 1000,
    steps,
  };
}

function skipped(step: StepPlan, reason: string): StepReport {
  return { index: step.index, name: step.name, status: 'skipped', reason, durationS: 0, captures: [], probes: [], expectations: [] };
}

/** Runs one step: captures, probes, expectations; writes its pcaps and probe outputs. */
export async function runStep(
  s: Scenario,
  step: StepPlan,
  scenarioDir: string,
  runDir: string,
  rt: Runtime,
  names: LabNames,
  signal?: AbortSignal,
): Promise<StepReport> {
  const t0 = performance.now();
  const stepDir = join(scenarioDir, `${String(step.index + 1).padStart(2, '0')}-${slug(step.name)}`);
  mkdirSync(stepDir, { recursive: true });
  const rel = (p: string) => relative(runDir, p);
  const captures = new Map<string, CaptureOutcome>();
  const probes = new Map<string, ProbeOutcome>();
  const errors: string[] = [];

  // Every capture listening before any probe sends a packet.
  const slots = step.captures.map((plan) => ({
    plan,
    file: join(stepDir, `${slug(plan.name)}.pcap`),
    running: undefined as RunningCapture | undefined,
  }));
  const starts = await Promise.allSettled(
    slots.map((c) =>
      startCapture(
        rt,
        { ns: c.plan.ns, iface: c.plan.iface, file: c.file, ...(c.plan.filter ? { filter: c.plan.filter } : {}) },
        5000,
        signal,
      ),
    ),
  );
  starts.forEach((r, i) => {
    const slot = slots[i];
    if (!slot) return;
    if (r.status === 'fulfilled') slot.running = r.value;
    else {
      const error = r.reason instanceof Error ? r.reason.message : String(r.reason);
      errors.push(`capture ${slot.plan.name}: ${error}`);
      captures.set(slot.plan.name, { plan: slot.plan, pcap: rel(slot.file), packets: [], error, warnings: [] });
    }
  });

  try {
    if (!errors.length)
      for (const p of step.probes) {
        if (signal?.aborted) break;
        probes.set(p.name, await runProbe(rt, p, stepDir, runDir, names, signal));
      }
  } finally {
    await Promise.all(
      slots.map(async ({ plan, file, running }) => {
        if (!running) return;
        try {
          const stats = await running.stop();
          const { packets, capture } = readPcapFile(file, { vxlanPorts: vxlanPortsWith(names.topo.cluster.port) });
          captures.set(plan.name, { plan, pcap: rel(file), stats, packets, warnings: capture.warnings });
        } catch (e) {
          captures.set(plan.name, { plan, pcap: rel(file), packets: [], error: e instanceof Error ? e.message : String(e), warnings: [] });
        }
      }),
    );
  }

  // A terminal's Ctrl-C reaches the probe's own process too, which may end (and be read as a
  // result) before the run's handler has run: let pending signal handlers run first.
  await new Promise((r) => setImmediate(r));
  if (signal?.aborted)
    return interruptedStep(step, signal, performance.now() - t0, captureReports(step, captures), (p) =>
      probeReport(probes.get(p.name), p, stepDir, runDir, 'not run: the run was interrupted'),
    );

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
    captures: captureReports(step, captures),
    probes: step.probes.map((p) => probeReport(probes.get(p.name), p, stepDir, runDir)),
    expectations,
  };
}

/** The step that was running when the run was interrupted: what it captured and ran so far, nothing checked. */
function interruptedStep(
  step: StepPlan,
  signal: AbortSignal,
  ms: number,
  captures: CaptureReport[],
  probe: (p: ProbePlan) => ProbeReport,
): StepReport {
  const sig = signal.reason instanceof Interrupted ? ` (${signal.reason.signal})` : '';
  return {
    index: step.index,
    name: step.name,
    status: 'interrupted',
    reason: `interrupted${sig} while this step ran: its probes and captures were stopped, nothing was checked`,
    durationS: ms / 1000,
    captures,
    probes: step.probes.map(probe),
    expectations: [],
  };
}

const captureReports = (step: StepPlan, captures: Map<string, CaptureOutcome>): CaptureReport[] =>
  step.captures.flatMap((c) => {
    const o = captures.get(c.name);
    return o ? [captureReport(o)] : [];
  });

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
    ...(c.stats
      ? {
          tcpdump: {
            captured: c.stats.captured,
            receivedByFilter: c.stats.receivedByFilter,
            droppedByKernel: c.stats.droppedByKernel,
            linkType: c.stats.linkType,
          },
        }
      : {}),
    warnings: c.warnings,
    ...(c.error ? { error: c.error } : {}),
  };
}

function probeReport(
  o: ProbeOutcome | undefined,
  p: ProbePlan,
  stepDir: string,
  runDir: string,
  notRun = 'not run: a capture could not start',
): ProbeReport {
  const base = { name: p.name, kind: p.kind, from: p.from, to: p.to, output: relative(runDir, join(stepDir, `${slug(p.name)}.txt`)) };
  if (!o) return { ...base, argv: [], durationS: 0, error: notRun };
  const kind = probeKind(p.kind);
  const result = o.error !== undefined ? undefined : kind.report ? kind.report(o.result) : o.result;
  return { ...base, argv: o.argv, durationS: o.durationS, ...(o.error ? { error: o.error } : {}), ...(result ? { result } : {}) };
}

async function runProbe(
  rt: Runtime,
  p: ProbePlan,
  stepDir: string,
  runDir: string,
  names: LabNames,
  signal?: AbortSignal,
): Promise<ProbeOutcome> {
  const t0 = performance.now();
  const write = (argv: string[], output: string, error?: string) =>
    writeFileSync(join(stepDir, `${slug(p.name)}.txt`), `$ ${argv.join(' ')}\n${output}${error ? `\nerror: ${error}\n` : ''}`);
  const durationS = () => (performance.now() - t0) / 1000;
  try {
    const r = await probeKind(p.kind).run(p, { rt, names, dir: stepDir, runDir, slug: slug(p.name), ...(signal ? { signal } : {}) });
    write(r.argv, r.output);
    // the kind ran its own plan: the outcome is that kind's
    return { kind: p.kind, plan: p, argv: r.argv, output: r.output, durationS: durationS(), result: r.result } as ProbeOutcome;
  } catch (e) {
    const error = e instanceof Error ? e.message : String(e);
    write([], '', error);
    return { kind: p.kind, plan: p, argv: [], output: '', durationS: durationS(), error } as ProbeOutcome;
  }
}

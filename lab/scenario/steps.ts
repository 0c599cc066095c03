import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
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

/** Runs every step of a scenario (or reports each skipped, with the reason skip() gives). */
export async function runScenario(
  s: Scenario,
  runDir: string,
  rt: Runtime,
  names: LabNames | undefined,
  skip: () => string | undefined,
  emit: (e: RunEvent) => void,
  switchTopology?: SwitchTopology,
): Promise<ScenarioReport> {
  const t0 = performance.now();
  const steps: StepReport[] = [];
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
    const ran =
      reason || !names
        ? skipped(step, reason ?? 'the lab is not up')
        : await runStep(s, step, join(runDir, slug(s.name)), runDir, rt, names);
    const report: StepReport = moves ? { ...ran, topology: { lab: topo.name, source: topo.source, ...(change ? { change } : {}) } } : ran;
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

/** Runs one step: captures, probes, expectations; writes its pcaps and probe outputs. */
export async function runStep(
  s: Scenario,
  step: StepPlan,
  scenarioDir: string,
  runDir: string,
  rt: Runtime,
  names: LabNames,
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
      startCapture(rt, { ns: c.plan.ns, iface: c.plan.iface, file: c.file, ...(c.plan.filter ? { filter: c.plan.filter } : {}) }),
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
    if (!errors.length) for (const p of step.probes) probes.set(p.name, await runProbe(rt, p, stepDir, runDir, names));
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
    captures: step.captures.flatMap((c) => {
      const o = captures.get(c.name);
      return o ? [captureReport(o)] : [];
    }),
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

function probeReport(o: ProbeOutcome | undefined, p: ProbePlan, stepDir: string, runDir: string): ProbeReport {
  const base = { name: p.name, kind: p.kind, from: p.from, to: p.to, output: relative(runDir, join(stepDir, `${slug(p.name)}.txt`)) };
  if (!o) return { ...base, argv: [], durationS: 0, error: 'not run: a capture could not start' };
  const kind = probeKind(p.kind);
  const result = o.error !== undefined ? undefined : kind.report ? kind.report(o.result) : o.result;
  return { ...base, argv: o.argv, durationS: o.durationS, ...(o.error ? { error: o.error } : {}), ...(result ? { result } : {}) };
}

async function runProbe(rt: Runtime, p: ProbePlan, stepDir: string, runDir: string, names: LabNames): Promise<ProbeOutcome> {
  const t0 = performance.now();
  const write = (argv: string[], output: string, error?: string) =>
    writeFileSync(join(stepDir, `${slug(p.name)}.txt`), `$ ${argv.join(' ')}\n${output}${error ? `\nerror: ${error}\n` : ''}`);
  const durationS = () => (performance.now() - t0) / 1000;
  try {
    const r = await probeKind(p.kind).run(p, { rt, names, dir: stepDir, runDir, slug: slug(p.name) });
    write(r.argv, r.output);
    // the kind ran its own plan: the outcome is that kind's
    return { kind: p.kind, plan: p, argv: r.argv, output: r.output, durationS: durationS(), result: r.result } as ProbeOutcome;
  } catch (e) {
    const error = e instanceof Error ? e.message : String(e);
    write([], '', error);
    return { kind: p.kind, plan: p, argv: [], output: '', durationS: durationS(), error } as ProbeOutcome;
  }
}

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { LabError } from '../errors';
import { inLab } from '../model/kernel-names';
import { LabNames } from '../model/names';
import { newRunId } from '../report/run-id';
import { overall, type RunEvent, type RunReport, type ScenarioReport, summarize } from '../report/types';
import type { Runtime } from '../runtime/runtime';
import type { Scenario } from '../scenario/load';
import { writeResults } from '../scenario/results';
import { runScenario } from '../scenario/steps';
import { readRecord } from '../state/store';
import { inspectLabs } from '../status/inspect';
import type { Topology } from '../topology/types';
import { down } from './down';
import { up } from './up';

// `lab run`: brings each distinct topology up once (or reuses a lab that is up, if asked), runs
// its scenarios' steps (scenario/steps.ts), tears down unless the labs are to stay up, and
// writes results/<run-id>/ with the pcaps, probe outputs, report.json, junit.xml and index.html.

export { newRunId };

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
  const labNames = groups.map((g) => g.topo.name);
  const dup = labNames.find((n, i) => labNames.indexOf(n) !== i);
  if (dup && (opts.keep || opts.reuse))
    throw new LabError(
      `scenarios need two different topologies under one lab name '${dup}', which cannot both stay up (--keep/--reuse): run them apart`,
      2,
    );
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
  writeResults(report, scenarios, opts.resultsRoot);
  return report;
}

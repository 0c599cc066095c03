import { setMaxListeners } from 'node:events';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Interrupted, LabError, type StopSignal } from '../errors';
import { inLab } from '../model/kernel-names';
import { LabNames } from '../model/names';
import { newRunId } from '../report/run-id';
import { overall, type RunEvent, type RunReport, type ScenarioReport, summarize } from '../report/types';
import type { Runtime } from '../runtime/runtime';
import { type Scenario, sameTopology, scenarioTopologies } from '../scenario/load';
import { writeResults } from '../scenario/results';
import { runScenario, type SwitchTopology } from '../scenario/steps';
import { readRecord } from '../state/store';
import { inspectLabs } from '../status/inspect';
import type { Topology } from '../topology/types';
import { apply, fixedWhileUp } from './apply';
import { down } from './down';
import { up } from './up';

// `lab run`: brings each distinct topology up once (or reuses a lab that is up, if asked), runs
// its scenarios' steps (scenario/steps.ts), tears down unless the labs are to stay up, and
// writes results/<run-id>/ with the pcaps, probe outputs, report.json, junit.xml and index.html.
// Ctrl-C or SIGTERM: the step that runs stops its probes and captures (the run's AbortSignal) and
// is marked interrupted, the steps after it are skipped, the labs the run brought up are taken
// down and the results written; the report says which signal (the CLI exits 130 / 143).

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
  /** awaited after each step that ran (a test seam: lab/testing holds the run between two steps) */
  afterStep?: (scenario: string, index: number) => Promise<void>;
}

export async function runScenarios(scenarios: Scenario[], opts: RunOptions): Promise<RunReport> {
  const started = new Date();
  const runId = opts.runId ?? newRunId(started);
  const dir = join(opts.resultsRoot, runId);
  mkdirSync(dir, { recursive: true });
  const emit = opts.onEvent ?? (() => undefined);

  // One lab per distinct topology, in the order scenarios name them. A scenario whose steps move
  // to other topologies changes its lab as it goes: it has a group of its own.
  const groups: { topo: Topology; scenarios: Scenario[]; moves: boolean }[] = [];
  for (const s of scenarios) {
    const moves = s.steps.some((st) => st.topology);
    const g = moves ? undefined : groups.find((x) => !x.moves && sameTopology(x.topo, s.topology));
    if (g) g.scenarios.push(s);
    else groups.push({ topo: s.topology, scenarios: [s], moves });
  }
  const moving = groups.find((g) => g.moves)?.scenarios[0];
  if (moving && opts.reuse)
    throw new LabError(
      `scenario ${moving.name} (${moving.file}) moves between topologies, which --reuse cannot do to a lab it leaves up: run it apart`,
      2,
    );
  // Two topologies under one lab name (the same lab in another proxy mode) run one after the
  // other: each group's lab is down before the next comes up — unless labs are to stay up.
  const labNames = groups.flatMap((g) => [...new Set(g.scenarios.flatMap(scenarioTopologies).map((t) => t.name))]);
  const dup = labNames.find((n, i) => labNames.indexOf(n) !== i);
  if (dup && (opts.keep || opts.reuse))
    throw new LabError(
      `scenarios need two different topologies under one lab name '${dup}', which cannot both stay up (--keep/--reuse): run them apart`,
      2,
    );
  // Refuse before building anything: a lab of the same name that is up belongs to the user.
  const every = groups.flatMap((g) => g.scenarios.flatMap(scenarioTopologies));
  for (const topo of every.filter((t, i) => every.findIndex((o) => o.name === t.name) === i)) {
    const isUp = (await opts.runtimeFor(topo).listNamespaces()).some((ns) => inLab(ns, topo.name));
    if (isUp && !opts.reuse)
      throw new LabError(`lab '${topo.name}' is already up: pass --reuse to run against it (it is left up), or take it down first`, 2);
    const rec = readRecord(topo.name);
    if (isUp && opts.reuse && rec && !sameTopology(rec.topology, topo))
      throw new LabError(`lab '${topo.name}' is up with another topology (from ${rec.topology.source}): --reuse needs the same one`, 2);
  }

  const reports: ScenarioReport[] = [];
  // `on`, not `once`: a terminal's Ctrl-C reaches the process from the tty and again from npm's
  // relay; a second signal changes nothing (the teardown that follows is needed either way).
  let interrupted: StopSignal | undefined;
  const stop = new AbortController();
  // every capture, monitor and probe of a step listens on it: a trace alone starts a dozen
  setMaxListeners(0, stop.signal);
  const onSignal = (sig: StopSignal) => {
    if (interrupted) return;
    interrupted = sig;
    emit({ type: 'interrupted', signal: sig });
    stop.abort(new Interrupted(sig, 'the run was stopped'));
  };
  const notRun = () => `not run: the run was interrupted (${interrupted})`;
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    for (const g of groups) {
      // The lab the group is on now (a step's `topology:` moves it), whether this run brought it
      // up, and what its steps use: the names, or why they are skipped.
      let cur = { topo: g.topo, rt: opts.runtimeFor(g.topo), owned: false };
      let names: LabNames | undefined;
      let skipReason: string | undefined;
      const bringUp = async (topo: Topology, reuse: boolean) => {
        cur = { topo, rt: opts.runtimeFor(topo), owned: false };
        names = skipReason = undefined;
        // interrupted before this lab's turn: nothing more is built, its steps are not run
        if (interrupted) return;
        try {
          const t0 = performance.now();
          const isUp = (await cur.rt.listNamespaces()).some((ns) => inLab(ns, topo.name));
          if (!(isUp && reuse)) {
            cur.owned = true;
            await up(topo, cur.rt);
          }
          const [view] = await inspectLabs(cur.rt, topo.name);
          names = new LabNames(topo, view);
          emit({ type: 'lab-up', lab: topo.name, reused: !cur.owned, seconds: (performance.now() - t0) / 1000 });
        } catch (e) {
          // Interrupted while the lab came up (up removed what it had made; the down after finds
          // nothing): the steps are not run, skip() says why.
          if (interrupted || e instanceof Interrupted) return;
          // A missing kernel feature or tool: the steps are skipped with the reason (exit 2).
          if (!(e instanceof LabError) || e.exitCode !== 2) throw e;
          skipReason = e.message;
        }
      };
      const takeDown = async () => {
        if (!cur.owned) return;
        await down(cur.rt, cur.topo.name);
        cur.owned = false;
        emit({ type: 'lab-down', lab: cur.topo.name });
      };
      // The same lab with other pods, services or rules: re-synced as `lab apply` does; anything
      // else (another lab, backend, node set, proxy mode): the lab taken down and the new one up.
      const switchTopology: SwitchTopology = async (topo) => {
        if (interrupted) return { rt: cur.rt, names, change: undefined };
        if (names && topo.name === cur.topo.name && !fixedWhileUp(cur.topo, topo).length) {
          const t0 = performance.now();
          try {
            await apply(topo, cur.rt);
            const [view] = await inspectLabs(cur.rt, topo.name);
            names = new LabNames(topo, view);
            emit({ type: 'lab-applied', lab: topo.name, source: topo.source, seconds: (performance.now() - t0) / 1000 });
          } catch (e) {
            if (!(e instanceof LabError) || e.exitCode !== 2) throw e;
            names = undefined;
            skipReason = e.message;
          }
          cur = { ...cur, topo };
          return { rt: cur.rt, names, change: 'applied' };
        }
        await takeDown();
        await bringUp(topo, false);
        return { rt: cur.rt, names, change: 'rebuilt' };
      };
      try {
        await bringUp(g.topo, opts.reuse === true);
        for (const s of g.scenarios) {
          emit({ type: 'scenario', scenario: s });
          const skip = () => (interrupted ? notRun() : skipReason);
          reports.push(
            await runScenario(s, dir, cur.rt, names, skip, emit, switchTopology, {
              signal: stop.signal,
              ...(opts.afterStep ? { afterStep: opts.afterStep } : {}),
            }),
          );
        }
      } finally {
        if (!opts.keep) await takeDown();
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
    status: interrupted ? 'interrupted' : overall(reports.map((r) => r.status)),
    ...(interrupted ? { interrupted } : {}),
    summary: summarize(reports),
    scenarios: reports,
  };
  writeResults(report, scenarios, opts.resultsRoot);
  return report;
}

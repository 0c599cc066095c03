import { basename, join, relative } from 'node:path';
import { InputError } from '../errors';
import { newRunId } from '../report/run-id';
import type { RunEvent, RunReport } from '../report/types';
import { LocalExecutor } from '../runtime/executor';
import { type RuntimeHooks, runtimeFor } from '../runtime/select';
import { loadScenarios, scenarioFiles } from '../scenario/load';
import { resultsRoot as checkedResults } from './results-dir';
import { runScenarios } from './run';

// `lab run <path>`: the scenario files under a path loaded (with the command line's lab name
// and runtime) and run into a new run folder under `results`.

export interface SuitesRequest {
  path: string;
  /** scenario files left out, by base name without .yaml (`--exclude netpol-e2e`) */
  exclude?: string[];
  name?: string;
  runtime?: string;
  reuse?: boolean;
  keep?: boolean;
  results: string;
  hooks?: RuntimeHooks;
  /** progress; `shown` is the run's folder as the user sees it */
  onEvent?: (e: RunEvent, shown: string) => void;
  /** awaited after each step that ran (a test seam, see lab/testing/paused-cli.ts) */
  afterStep?: (scenario: string, index: number) => Promise<void>;
}

/** The files under `path` but those `exclude` names; a name that matches no file is a typo: exit 2. */
export function suiteFiles(path: string, exclude: readonly string[] = []): string[] {
  const files = scenarioFiles(path);
  const stem = (f: string) => basename(f).replace(/\.ya?ml$/, '');
  for (const x of exclude)
    if (!files.some((f) => stem(f) === x)) throw InputError.of('--exclude', '', `'${x}' names no scenario file under ${path}`);
  return files.filter((f) => !exclude.includes(stem(f)));
}

export async function runSuites(req: SuitesRequest): Promise<{ report: RunReport; shown: string }> {
  const scenarios = await loadScenarios(suiteFiles(req.path, req.exclude), new LocalExecutor(), {
    ...(req.name !== undefined ? { labName: req.name } : {}),
    ...(req.runtime ? { runtime: req.runtime } : {}),
  });
  const resultsRoot = checkedResults(req.results);
  const runId = newRunId();
  const shown = relative(process.cwd(), join(resultsRoot, runId)) || '.';
  const onEvent = req.onEvent;
  const report = await runScenarios(scenarios, {
    runtimeFor: (topo) => runtimeFor(topo, req.hooks),
    resultsRoot,
    runId,
    reuse: req.reuse === true,
    keep: req.keep === true,
    ...(onEvent ? { onEvent: (e: RunEvent) => onEvent(e, shown) } : {}),
    ...(req.afterStep ? { afterStep: req.afterStep } : {}),
  });
  return { report, shown };
}

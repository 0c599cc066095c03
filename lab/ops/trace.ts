import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LabError } from '../errors';
import { walkHtml } from '../report/html';
import type { Runtime } from '../runtime/runtime';
import { LabNames } from '../model/names';
import { readRecord } from '../state/store';
import type { Walk } from '../trace/types';
import { type TraceRequest, traceWalk } from '../trace/walk';
import type { RuntimeHooks } from '../runtime/select';
import { newRunId } from '../report/run-id';
import { resultsRoot } from './results-dir';
import { labRuntime } from './target';

// `lab trace <from> <to>` on a lab that is up: the walk (its pcaps and walk.json, written by
// traceWalk) and index.html in the run's folder.

export async function traceLab(rt: Runtime, lab: string, req: TraceRequest, dir: string): Promise<Walk> {
  const rec = readRecord(lab);
  if (!rec) throw new LabError(`lab '${lab}' has no state record (is it up? 'lab status' shows what is)`, 2);
  const walk = await traceWalk(rt, rec.topology, new LabNames(rec.topology), req, dir);
  // the ladder, the rules and the topology, on one page that opens from disk beside the pcaps
  writeFileSync(join(dir, 'index.html'), walkHtml(walk, rec.topology));
  return walk;
}

/** `lab trace <from> <to>`: the lab meant, the walk traced into a new run folder under `results`. */
export async function traceFrom(
  req: { name?: string; from: string; to: string; udp?: boolean; results: string },
  hooks: RuntimeHooks = {},
): Promise<{ walk: Walk; dir: string }> {
  const { lab, rt } = await labRuntime(req.name, 'trace', hooks);
  const dir = join(resultsRoot(req.results), newRunId());
  const walk = await traceLab(rt, lab, { from: req.from, to: req.to, ...(req.udp ? { protocol: 'udp' as const } : {}) }, dir);
  return { walk, dir };
}

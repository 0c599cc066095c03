import { resolve } from 'node:path';
import { graphFormats, writeGraphs } from '../graph/files';
import { renderGraph } from '../graph';
import { planLab } from '../plan';
import type { LabPlan } from '../plan/types';
import { type Overrides, loadTopology } from '../topology/resolve';
import type { Topology } from '../topology/types';

// The verbs about a topology file alone (nothing is brought up): plan, validate, graph.

export type { Overrides } from '../topology/resolve';

/** `lab plan`: the commands `up` would run. */
export function planFile(file: string, overrides: Overrides = {}): LabPlan {
  return planLab(loadTopology(file, overrides));
}

/** `lab validate`: the topology resolved (every address decided). */
export function validateFile(file: string): Topology {
  return loadTopology(file);
}

/** `lab graph`: one format as text (no --out, one format that is not svg), or the files written. */
export function graphFile(req: {
  file: string;
  overrides?: Overrides;
  out?: string;
  format: string;
}): { text: string } | { files: string[] } {
  const formats = graphFormats(req.format);
  const topo = loadTopology(req.file, req.overrides);
  const [only] = formats;
  if (!req.out && formats.length === 1 && only !== 'svg') return { text: renderGraph(topo, only!) };
  return { files: writeGraphs(topo, formats, resolve(req.out ?? 'results/graph')) };
}

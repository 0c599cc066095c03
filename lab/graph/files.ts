import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../errors';
import type { Topology } from '../topology/types';
import { GRAPH_EXT, GRAPH_FORMATS, type GraphFormat, renderGraph } from './index';

// `lab graph`'s side effects, kept apart from the pure renderers: checking --format and
// writing <out>/<lab>.svg|.dot|.mmd.

/** --format as given: one format, or `all`. Anything else is bad input (exit 2). */
export function graphFormats(format: string): GraphFormat[] {
  if (format === 'all') return [...GRAPH_FORMATS];
  const f = GRAPH_FORMATS.find((x) => x === format);
  if (!f) throw InputError.of('--format', '', `'${format}': expected svg, dot, mermaid or all`);
  return [f];
}

/** Writes each format to <dir>/<lab>.<ext>; returns the files written. */
export function writeGraphs(topo: Topology, formats: GraphFormat[], dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  return formats.map((f) => {
    const file = join(dir, `${topo.name}.${GRAPH_EXT[f]}`);
    writeFileSync(file, renderGraph(topo, f));
    return file;
  });
}

import type { Topology } from '../topology/types';
import { renderDot } from './dot';
import { renderMermaid } from './mermaid';
import { topologyGraph } from './model';
import { renderSvg, type SvgOptions } from './svg';

// The topology as a graph in three forms; `lab graph` writes them, the HTML report inlines the SVG.

export type GraphFormat = 'svg' | 'dot' | 'mermaid';
export const GRAPH_FORMATS: readonly GraphFormat[] = ['svg', 'dot', 'mermaid'];
/** file extension per format */
export const GRAPH_EXT: Record<GraphFormat, string> = { svg: 'svg', dot: 'dot', mermaid: 'mmd' };

export function renderGraph(topo: Topology, format: GraphFormat, opts: SvgOptions = {}): string {
  const g = topologyGraph(topo);
  switch (format) {
    case 'svg':
      return renderSvg(g, opts);
    case 'dot':
      return renderDot(g);
    case 'mermaid':
      return renderMermaid(g);
  }
}

export { topologyGraph, renderDot, renderMermaid, renderSvg };
export type { TopologyGraph } from './model';

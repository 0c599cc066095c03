import { readFileSync } from 'node:fs';
import { InputError } from '../errors';
import { nodeNamespace } from '../model/kernel-names';
import { planLab } from '../plan';
import { type DumpFormat, DUMP_TOOL, detectFormat, diffRules, type LabBatch, type RulesDiff } from '../proxy/diff';
import type { Overrides } from '../topology/resolve';
import { labSource } from './lab-source';

// `lab diff-rules <node> <file>`: the batches the lab's plan gives one node, of the tool the
// dump's format belongs to, against that dump (lab/proxy/diff.ts compares).

export interface DiffRulesResult {
  lab: string;
  node: string;
  file: string;
  format: DumpFormat;
  diff: RulesDiff;
}

export function diffRulesOf(req: { node: string; dump: string; name?: string; file: string; overrides?: Overrides }): DiffRulesResult {
  let text: string;
  try {
    text = readFileSync(req.dump, 'utf8');
  } catch (e) {
    throw InputError.of(req.dump, '', `cannot read the dump: ${e instanceof Error ? e.message : String(e)}`);
  }
  const format = detectFormat(text, req.dump);
  const { topo } = labSource(req);
  const node = topo.nodes.find((n) => n.name === req.node);
  if (!node)
    throw InputError.of('node', '', `no node '${req.node}' in lab '${topo.name}' (nodes: ${topo.nodes.map((n) => n.name).join(', ')})`);
  const ns = nodeNamespace(topo.name, node.name);
  const tool = DUMP_TOOL[format];
  const batches: LabBatch[] = planLab(topo)
    .phases.flatMap((p) => p.steps)
    .filter((s) => s.ns === ns && s.tool === tool)
    .map((s) => ({ text: s.lines.join('\n'), ...(s.append ? { append: true } : {}) }));
  const diff = diffRules(format, batches, { text, file: req.dump });
  // a dump of another mode's tool: say so, rather than only listing the whole dump as "only in the real node"
  if (!batches.length) diff.notes.push(`the lab (proxy mode ${topo.proxy.mode}) generates no ${tool} batch for ${node.name}`);
  return { lab: topo.name, node: node.name, file: req.dump, format, diff };
}

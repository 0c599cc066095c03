import { relative } from 'node:path';
import pc from 'picocolors';
import type { ProxyModel } from '../model/proxy';
import { type Packet, summarize } from '../pcap';
import type { CaptureStats } from '../probe/capture';
import type { ConnectResult } from '../probe/connect';
import type { LabView } from '../status/inspect';
import { walkText } from '../trace/text';
import type { Walk } from '../trace/types';
import { comparisonMarkdown } from './compare';
import { summaryLine } from './console';
import { renderLab, renderServices } from './lab-table';
import type { RunReport } from './types';

// What the CLI's verbs print: each takes the data an ops function returned and gives the lines.

export { renderPlan as planText } from '../plan';
export { renderLab, renderServices } from './lab-table';

/** A path as the user sees it: relative to where they are. */
const shown = (file: string) => relative(process.cwd(), file);

export function upLines(r: { topo: { name: string }; view: LabView; created: boolean; services: ProxyModel; seconds: number }): string[] {
  const lines: string[] = [];
  if (!r.created) lines.push(`lab '${r.topo.name}' is already up with this topology; nothing changed`);
  lines.push(renderLab(r.view));
  const services = renderServices(r.services);
  if (services) lines.push(services);
  if (r.created) lines.push(pc.dim(`up in ${r.seconds.toFixed(2)} s`));
  return lines;
}

export const downLine = (lab: string, namespaces: number) => `lab ${lab}: removed ${namespaces} namespace(s) and everything in them`;
export const NOTHING_TO_REMOVE = 'no lab is up; nothing to remove';
export const nothingToRemove = (name: string) => `no lab '${name}' here; nothing to remove`;

export function statusText(labs: LabView[], name: string | undefined): string {
  if (!labs.length) return name !== undefined ? `no lab '${name}' here` : 'no lab is up';
  return labs.map(renderLab).join('\n\n');
}

export function applyLine(r: {
  lab: string;
  added: string[];
  removed: string[];
  nodes: number;
  endpoints: Record<string, number>;
  resync?: 'incremental' | 'full';
}): string {
  const eps = Object.entries(r.endpoints)
    .map(([id, n]) => `${id}: ${n}`)
    .join(', ');
  return `lab ${r.lab}: ${r.added.length} pod(s) added, ${r.removed.length} removed; rules re-synced on ${r.nodes} node(s)${r.resync === 'full' ? ' (full)' : ''}${eps ? `; endpoints ${eps}` : ''}`;
}

/** connect's spread: one line per pod that answered, with the client addresses it saw; then the failures. */
export function connectLines(r: ConnectResult & { resolved?: { name: string; address: string; canonical?: string } }): string[] {
  const peers = new Map<string, Set<string>>();
  for (const a of r.attempts) if (a.pod) peers.set(a.pod, (peers.get(a.pod) ?? new Set()).add(a.peer?.split(':')[0] ?? '?'));
  const lines = Object.entries(r.byPod)
    .sort()
    .map(([pod, n]) => `${pod.padEnd(20)} ${String(n).padStart(6)}  peer seen: ${[...(peers.get(pod) ?? [])].join(', ')}`);
  if (r.failed) lines.push(pc.red(`${r.failed} of ${r.attempts.length} failed: ${r.attempts.find((a) => !a.ok)?.error ?? ''}`));
  // a name: what the pod's resolver made of it, first
  const n = r.resolved;
  if (n) lines.unshift(pc.dim(`${n.name} → ${n.address}${n.canonical && n.canonical !== n.name ? ` (${n.canonical})` : ''}`));
  return lines;
}

export const listeningLine = (point: string, file: string, linkType: string, bounded: boolean) =>
  `listening on ${point} (${linkType}), writing ${shown(file)}${bounded ? '' : '; Ctrl-C to stop'}`;

export function captureLines(
  done: { file: string; stats: CaptureStats; packets: Packet[] },
  o: { point: string; filter: string; show: number },
): string[] {
  const lines = done.packets.slice(0, o.show).map((p) => summarize(p));
  if (done.packets.length > o.show) lines.push(pc.dim(`... ${done.packets.length - o.show} more`));
  const dropped = done.stats.droppedByKernel ? `, ${done.stats.droppedByKernel} dropped by the kernel` : '';
  const filter = o.filter.trim();
  lines.push(
    done.packets.length
      ? `${done.packets.length} packet(s) in ${shown(done.file)}${dropped}`
      : pc.yellow(`no packets seen at ${o.point}${filter ? ` matching '${filter}'` : ''} (${shown(done.file)})`),
  );
  return lines;
}

export const traceLines = (walk: Walk, dir: string) => [walkText(walk), pc.dim(`pcaps, walk.json and index.html in ${shown(dir)}`)];

export const wroteLines = (files: string[]) => files.map((f) => `wrote ${shown(f).startsWith('..') ? f : shown(f)}`);

/** After a run's progress lines: the comparison of suites that ran the same steps, and the summary. */
export function runEndLines(report: RunReport, shown: string): string[] {
  const comparison = comparisonMarkdown(report);
  return [...(comparison ? [`\n${comparison}`] : []), summaryLine(report, shown)];
}

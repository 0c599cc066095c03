import { join, relative } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { z } from 'zod';
import { probeReachability, type ReachResult, type ReachSource, type ReachTarget } from '../../../probe/reachability';
import { formatTable, selectNames } from '../../../probe/truth-table';
import { walkText } from '../../../trace/text';
import type { Walk } from '../../../trace/types';
import { traceWalk } from '../../../trace/walk';
import type { ProbeKind, ProbeTarget } from '../types';

/** Every pair of a set of clients and a set of server pods, on each port and protocol, at once. */
const selectors = z.union([z.string(), z.array(z.string()).min(1)]);
const schema = z.strictObject({
  /** pods (`x/a`), a namespace's pods (`x/*`), every pod (`*`), nodes, `@lab` */
  from: selectors,
  /** server pods: `x/a`, `x/*`, `*` */
  to: selectors,
  ports: z.array(z.number().int().min(1).max(65535)).min(1).default([80]),
  protocols: z
    .array(z.enum(['TCP', 'UDP']))
    .min(1)
    .default(['TCP']),
  /** per attempt, seconds (the e2e suite's probe waits 1 s) */
  timeout: z.number().int().min(1).max(10).default(1),
  /** attempts at once */
  concurrency: z.number().int().min(1).max(512).default(32),
  /** per port and protocol, the first N denied pairs are traced (lab trace) for the report */
  traceDenied: z.number().int().min(0).max(10).default(1),
});
export type ReachabilityProbe = z.infer<typeof schema>;

/** A denied pair followed by `lab trace`: where its packet went and which rule dropped it. */
export interface DeniedTrace {
  from: string;
  to: string;
  port: number;
  protocol: 'TCP' | 'UDP';
  walk: Walk;
}

export type ReachabilityResult = ReachResult & { traces: DeniedTrace[] };

type Plan = ProbeTarget & { sources: ReachSource[]; targets: ReachTarget[] };

const list = (s: string | string[]) => [s].flat();

export const reachabilityProbe: ProbeKind<'reachability', ReachabilityProbe, Plan, ReachabilityResult> = {
  kind: 'reachability',
  schema,
  compile(spec, { names, fail }) {
    const pods = names.topo.pods.map((p) => p.name);
    const sources: ReachSource[] = [];
    list(spec.from).forEach((sel, i) => {
      const picked = selectNames(sel, pods);
      const found = picked.length ? picked : names.namespaceOf(sel) ? [sel] : [];
      if (!found.length) fail(['from', ...(Array.isArray(spec.from) ? [i] : [])], `'${sel}' selects no pod, node or @lab`);
      for (const n of found) if (!sources.some((s) => s.name === n)) sources.push({ name: n, ns: names.namespaceOf(n)! });
    });
    const targets: ReachTarget[] = [];
    list(spec.to).forEach((sel, i) => {
      const picked = selectNames(sel, pods);
      if (!picked.length) fail(['to', ...(Array.isArray(spec.to) ? [i] : [])], `'${sel}' selects no pod (pods: ${pods.join(', ')})`);
      for (const n of picked)
        if (!targets.some((t) => t.name === n)) targets.push({ name: n, ip: names.topo.pods.find((p) => p.name === n)!.ip });
    });
    if (!sources.length || !targets.length) return undefined;
    return { from: list(spec.from).join(','), ns: sources[0]!.ns, to: list(spec.to).join(','), sources, targets };
  },
  async run(p, { rt, names, dir, runDir, slug, signal }) {
    const s = p.spec;
    const r = await probeReachability(rt, {
      sources: p.sources,
      targets: p.targets,
      ports: s.ports,
      protocols: s.protocols,
      timeoutS: s.timeout,
      concurrency: s.concurrency,
      ...(signal ? { signal } : {}),
    });
    const traces: DeniedTrace[] = [];
    for (const t of r.tables) {
      const denied: [number, number][] = [];
      t.table.cells.forEach((row, i) => row.forEach((ok, j) => ok || denied.push([i, j])));
      for (const [i, j] of denied.slice(0, s.traceDenied)) {
        const from = t.table.from[i]!;
        const to = p.targets[j]!;
        const where = join(dir, slug, `${from}-${to.name}-${t.port}-${t.protocol}`.replace(/[^A-Za-z0-9.-]+/g, '_'));
        // it was dropped (twice): the walk of its first packet is what counts, not a longer wait
        const req = {
          from,
          to: `${to.ip}:${t.port}`,
          protocol: t.protocol === 'TCP' ? ('tcp' as const) : ('udp' as const),
          waitS: s.timeout,
        };
        const w = await traceWalk(rt, names.topo, names, req, where, undefined, signal);
        const walk = { ...w, hops: w.hops.map((h) => (h.pcap ? { ...h, pcap: relative(runDir, join(where, h.pcap)) } : h)) };
        traces.push({ from, to: to.name, port: t.port, protocol: t.protocol, walk });
      }
    }
    const out = [`${r.pairs} pairs in ${r.seconds.toFixed(2)} s (${r.pairsPerSecond.toFixed(1)} pairs/s, ${s.concurrency} at once)`];
    for (const t of r.tables) {
      out.push('', `${t.protocol}/${t.port}:`, formatTable(t.table).trimEnd());
      t.details.forEach((row, i) => row.forEach((d, j) => out.push(`  ${t.table.from[i]} → ${t.table.to[j]}: ${d.detail}`)));
    }
    for (const t of traces)
      out.push('', `trace of denied ${t.from} → ${t.to} ${t.protocol}/${t.port}:`, stripVTControlCharacters(walkText(t.walk)));
    const argv = [
      'connect-loop.sh',
      `{${s.protocols.join(',').toLowerCase()}}`,
      `{${p.to}}`,
      `{${s.ports.join(',')}}`,
      '1',
      String(s.timeout),
    ];
    return { argv, output: out.join('\n') + '\n', result: { ...r, traces } };
  },
};

import { join, relative } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { z } from 'zod';
import { InputError } from '../../../errors';
import { walkText } from '../../../trace/text';
import type { Walk } from '../../../trace/types';
import { resolveTrace, traceWalk } from '../../../trace/walk';
import type { ProbeKind, ProbeTarget } from '../types';

/** One probe packet followed point by point and through each node's netfilter hooks (lab/trace). */
const schema = z.strictObject({
  from: z.string(),
  /** `<pod>` (ICMP echo), `<pod|ip>:<port>`, `service:<name>[:<port>]`, `nodeport:<service>@<node>` */
  to: z.string(),
  protocol: z.enum(['tcp', 'udp', 'icmp']).optional(),
});
export type TraceProbe = z.infer<typeof schema>;

const request = (t: TraceProbe) => ({ from: t.from, to: t.to, ...(t.protocol ? { protocol: t.protocol } : {}) });

export const traceProbe: ProbeKind<'trace', TraceProbe, ProbeTarget, Walk> = {
  kind: 'trace',
  schema,
  compile(spec, ctx) {
    try {
      const r = resolveTrace(ctx.names.topo, ctx.names, request(spec));
      return { from: spec.from, ns: r.fromNs, to: spec.to };
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      ctx.fail([e.issues[0]?.file === 'from' ? 'from' : 'to'], e.issues.map((i) => i.message).join('; '));
      return undefined;
    }
  },
  async run(p, { rt, names, dir: stepDir, runDir, slug, signal }) {
    const dir = join(stepDir, slug);
    const w = await traceWalk(rt, names.topo, names, request(p.spec), dir, undefined, signal);
    // in report.json, pcap paths relative to the run's folder like the captures' (walk.json
    // beside the pcaps keeps them relative to its own folder)
    const walk = { ...w, hops: w.hops.map((h) => (h.pcap ? { ...h, pcap: relative(runDir, join(dir, h.pcap)) } : h)) };
    return { argv: w.argv, output: stripVTControlCharacters(walkText(w)) + '\n', result: walk };
  },
};

import { z } from 'zod';
import { type Hop, traceroute } from '../../../probe/traceroute';
import { seconds } from '../fields';
import type { ProbeKind, ProbeTarget } from '../types';
import { fromAndTo } from './from-to';

const schema = z.strictObject({
  from: z.string(),
  to: z.string(),
  method: z.enum(['udp', 'icmp', 'tcp']).default('udp'),
  port: z.number().int().min(1).max(65535).optional(),
  maxHops: z.number().int().min(1).max(30).default(10),
  queries: z.number().int().min(1).max(5).default(1),
  wait: seconds.default(1),
});
export type TracerouteProbe = z.infer<typeof schema>;

/** traceroute from a pod or node: the hops that answered, in order. */
export const tracerouteProbe: ProbeKind<'traceroute', TracerouteProbe, ProbeTarget, Hop[]> = {
  kind: 'traceroute',
  schema,
  compile: (spec, ctx) => fromAndTo(spec, ctx),
  async run(p, { rt, signal }) {
    const r = await traceroute(rt, p.ns, p.to, {
      method: p.spec.method,
      maxHops: p.spec.maxHops,
      queries: p.spec.queries,
      waitS: p.spec.wait,
      ...(p.spec.port !== undefined ? { port: p.spec.port } : {}),
      ...(signal ? { signal } : {}),
    });
    return { argv: r.argv, output: r.output, result: r.hops };
  },
  report: (hops) => ({ hops }),
};

import { z } from 'zod';
import { ping, type PingResult } from '../../../probe/ping';
import { seconds } from '../fields';
import type { ProbeKind, ProbeTarget } from '../types';
import { fromAndTo } from './from-to';

const schema = z.strictObject({
  from: z.string(),
  to: z.string(),
  count: z.number().int().min(1).max(1000).default(3),
  interval: z.number().min(0.01).max(10).default(0.2),
  timeout: seconds.default(2),
});
export type PingProbe = z.infer<typeof schema>;
export type PingOutcome = Omit<PingResult, 'output' | 'argv'>;

/** ICMP echo from a pod or node to an address or a name of the lab. */
export const pingProbe: ProbeKind<'ping', PingProbe, ProbeTarget, PingOutcome> = {
  kind: 'ping',
  schema,
  compile: (spec, ctx) => fromAndTo(spec, ctx),
  async run(p, { rt, signal }) {
    const { output, argv, ...result } = await ping(rt, p.ns, p.to, {
      count: p.spec.count,
      interval: p.spec.interval,
      timeoutS: p.spec.timeout,
      ...(signal ? { signal } : {}),
    });
    return { argv, output, result };
  },
};

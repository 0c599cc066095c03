import { z } from 'zod';
import { chiSquareUniform } from '../../../probe/connect';
import { joinChecks } from '../checks';
import { probeRef } from '../fields';
import { connectProbe } from '../probes/connect';
import type { Check, ExpectationKind } from '../types';

const schema = z.strictObject({
  ...probeRef,
  /** `all`: every endpoint of the service the probe reached; or the pods that must each serve */
  endpoints: z.union([z.literal('all'), z.array(z.string()).min(1)]).default('all'),
  /** significance of a chi-square test against a uniform spread */
  chiSquare: z.union([z.literal(0.05), z.literal(0.01), z.literal(0.001)]).optional(),
});
export type SpreadExpectation = z.infer<typeof schema>;

export const spreadExpectation: ExpectationKind<'spread', SpreadExpectation, typeof connectProbe> = {
  kind: 'spread',
  schema,
  probe: connectProbe,
  compile(s, { probe, fail, checkPods }) {
    if (s.endpoints === 'all' && !probe.target.service)
      fail(['endpoints'], `'all' needs a probe to a service; ${probe.spec.to} is not one: list the pods`);
    if (Array.isArray(s.endpoints)) checkPods(s.endpoints, ['endpoints']);
    return {};
  },
  evaluate({ spec }, { probe }) {
    const res = probe.result;
    const target = probe.plan.target;
    const pods = spec.endpoints === 'all' ? [...new Set(target.service?.endpoints.map((ep) => ep.pod) ?? [])] : spec.endpoints;
    const counts = pods.map((p) => res.byPod[p] ?? 0);
    const others = Object.keys(res.byPod).filter((p) => !pods.includes(p));
    const shown =
      Object.entries(res.byPod)
        .map(([p, n]) => `${p} ${n}`)
        .join(', ') || 'no pod answered';
    const parts: Check[] = [
      {
        ok: pods.length > 0 && counts.every((c) => c > 0),
        expected: `every one of ${pods.join(', ')} serves`,
        observed: `${shown}${res.failed ? `; ${res.failed} failed` : ''}${others.length ? ` (not expected: ${others.join(', ')})` : ''}`,
      },
    ];
    if (spec.chiSquare !== undefined && pods.length > 1) {
      const chi = chiSquareUniform(counts, spec.chiSquare);
      parts.push({
        ok: chi.uniform,
        expected: `uniform spread: χ² < ${chi.critical} (df ${chi.df}, α ${spec.chiSquare})`,
        observed: `χ² ${chi.statistic.toFixed(2)} over ${counts.reduce((a, b) => a + b, 0)} attempts`,
      });
    }
    return joinChecks(parts);
  },
};

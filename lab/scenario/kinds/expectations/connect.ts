import { z } from 'zod';
import { countCheck, joinChecks } from '../checks';
import { countLike, probeRef } from '../fields';
import { connectProbe } from '../probes/connect';
import type { Check, ExpectationKind } from '../types';

const schema = z.strictObject({
  ...probeRef,
  succeeded: countLike.optional(),
  failed: countLike.optional(),
  /** every successful attempt was served by one of these pods */
  servedBy: z.array(z.string()).min(1).optional(),
});
export type ConnectExpectation = z.infer<typeof schema>;

export const connectExpectation: ExpectationKind<'connect', ConnectExpectation, typeof connectProbe> = {
  kind: 'connect',
  schema,
  probe: connectProbe,
  compile(s, { fail, checkPods }) {
    if (s.servedBy) checkPods(s.servedBy, ['servedBy']);
    if (s.succeeded === undefined && s.failed === undefined && !s.servedBy)
      fail([], 'say what to check: succeeded, failed and/or servedBy');
    return {};
  },
  evaluate({ spec }, { probe }) {
    const res = probe.result;
    const ok = res.attempts.length - res.failed;
    const parts: Check[] = [];
    if (spec.succeeded !== undefined) parts.push(countCheck('succeeded', ok, spec.succeeded));
    if (spec.failed !== undefined) {
      const c = countCheck('failed', res.failed, spec.failed);
      const why = res.attempts.find((a) => !a.ok)?.error;
      parts.push({ ...c, observed: c.observed + (why ? ` (${why.split('\n')[0]})` : '') });
    }
    if (spec.servedBy) {
      const allowed = new Set(spec.servedBy);
      const by = Object.keys(res.byPod);
      parts.push({
        ok: ok > 0 && by.every((p) => allowed.has(p)),
        expected: `served by ${spec.servedBy.join(' or ')}`,
        observed: `served by ${
          Object.entries(res.byPod)
            .map(([p, n]) => `${p} ×${n}`)
            .join(', ') || 'nobody'
        }`,
      });
    }
    return joinChecks(parts);
  },
};

import { z } from 'zod';
import { compare, comparisonText, parseComparison } from '../../values';
import { countCheck, joinChecks } from '../checks';
import { countLike, probeRef } from '../fields';
import { pingProbe } from '../probes/ping';
import type { Check, ExpectationKind } from '../types';

const schema = z.strictObject({ ...probeRef, ttl: countLike.optional(), received: countLike.optional() });
export type PingExpectation = z.infer<typeof schema>;

export const pingExpectation: ExpectationKind<'ping', PingExpectation, typeof pingProbe> = {
  kind: 'ping',
  schema,
  probe: pingProbe,
  compile(spec, ctx) {
    if (spec.ttl === undefined && spec.received === undefined) ctx.fail([], 'say what to check: ttl and/or received');
    return {};
  },
  evaluate({ spec }, { probe }) {
    const p = probe.result;
    const parts: Check[] = [];
    if (spec.received !== undefined) parts.push(countCheck('replies', p.received, spec.received));
    const c = spec.ttl === undefined ? undefined : parseComparison(spec.ttl);
    if (c) {
      const ttls = p.replies.map((r) => r.ttl);
      parts.push({
        ok: ttls.length > 0 && ttls.every((t) => compare(t, c)),
        expected: `reply ttl ${comparisonText(c)}`,
        observed: ttls.length
          ? `reply ttl ${ttls.join(', ')}`
          : `no replies${p.errors.length ? ` (${p.errors.slice(0, 2).join('; ')})` : ''}`,
      });
    }
    return joinChecks(parts, `${p.received}/${p.transmitted} replies`);
  },
};

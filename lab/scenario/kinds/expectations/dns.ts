import { z } from 'zod';
import { joinChecks } from '../checks';
import { probeRef } from '../fields';
import { dnsProbe } from '../probes/dns';
import type { Check, ExpectationKind } from '../types';

const schema = z.strictObject({
  ...probeRef,
  /** NOERROR, NXDOMAIN, REFUSED, SERVFAIL */
  rcode: z
    .string()
    .regex(/^[A-Z]+$/, { error: 'an rcode as dig prints it: NOERROR, NXDOMAIN, ...' })
    .optional(),
  /** the answer section's data, in any order (A: addresses; SRV: "prio weight port target.") */
  answers: z.array(z.union([z.string(), z.number().transform(String)])).optional(),
  /** the answer came from this address (dig's SERVER, without #port): the service address after DNAT */
  from: z.string().optional(),
  /** one of these DNS server pods saw the query */
  answeredBy: z.array(z.string()).min(1).optional(),
});
export type DnsExpectation = z.infer<typeof schema>;

const sorted = (xs: readonly string[]) => [...xs].sort();

export const dnsExpectation: ExpectationKind<'dns', DnsExpectation, typeof dnsProbe> = {
  kind: 'dns',
  schema,
  probe: dnsProbe,
  compile(spec, ctx) {
    if (spec.rcode === undefined && spec.answers === undefined && spec.from === undefined && spec.answeredBy === undefined)
      ctx.fail([], 'say what to check: rcode, answers, from and/or answeredBy');
    if (spec.answeredBy) ctx.checkPods(spec.answeredBy, ['answeredBy']);
    return {};
  },
  evaluate({ spec }, { probe }) {
    const r = probe.result;
    const parts: Check[] = [];
    if (spec.rcode !== undefined)
      parts.push({ ok: r.status === spec.rcode, expected: `rcode ${spec.rcode}`, observed: `rcode ${r.status ?? `none (${r.error})`}` });
    if (spec.answers !== undefined) {
      const got = sorted(r.answers.map((a) => a.data));
      const want = sorted(spec.answers);
      parts.push({
        ok: got.join('\n') === want.join('\n'),
        expected: `answers ${want.join(', ') || '(none)'}`,
        observed: `answers ${got.join(', ') || '(none)'}`,
      });
    }
    if (spec.from !== undefined) {
      const server = r.server?.replace(/#.*$/, '');
      parts.push({ ok: server === spec.from, expected: `answer from ${spec.from}`, observed: `answer from ${server ?? 'nobody'}` });
    }
    const allowed = spec.answeredBy;
    if (allowed !== undefined) {
      const by = r.answeredBy ?? [];
      parts.push({
        ok: by.length > 0 && by.every((p) => allowed.includes(p)),
        expected: `answered by ${allowed.join(' or ')}`,
        observed:
          r.answeredBy === undefined
            ? 'no DNS server pods watched (cluster.dns is off)'
            : `answered by ${by.join(', ') || 'none of the server pods'}`,
      });
    }
    return joinChecks(parts, `${probe.plan.spec.name} ${probe.plan.spec.type}: ${r.status ?? 'no answer'}`);
  },
};

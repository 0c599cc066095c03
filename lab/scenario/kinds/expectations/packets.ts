import { z } from 'zod';
import type { LabNames } from '../../../model/names';
import { field, isFieldPath, summarize } from '../../../pcap/fields';
import { compare, comparisonText, compileMatcher, type Matcher, parseComparison, showValue } from '../../values';
import { countLike, fieldMap } from '../fields';
import type { CapturePlan, ExpectationKind } from '../types';

const schema = z.strictObject({
  /** a capture name of this step (the capture's `at` when it has no name) */
  at: z.string().optional(),
  where: fieldMap.default({}),
  count: countLike.default('>= 1'),
  fields: fieldMap.default({}),
});
export type PacketsExpectation = z.infer<typeof schema>;

const MAX_SHOWN = 5;

function compileAll(map: Record<string, string | number | boolean | (string | number | boolean)[]>, names: LabNames): [string, Matcher][] {
  return Object.entries(map).map(([f, v]) => {
    const m = compileMatcher(f, v, names);
    // load checked every name; a MAC missing now means the interface is not in the kernel
    return [f, typeof m === 'string' ? { text: `${String(v)} (${m})`, test: () => false } : m];
  });
}

/** Packets of one capture of the step: how many match `where`, and that each has `fields`. */
export const packetsExpectation: ExpectationKind<'packets', PacketsExpectation, undefined, { capture?: CapturePlan }> = {
  kind: 'packets',
  schema,
  probe: undefined,
  compile(s, { captures, names, fail }) {
    let capture: CapturePlan | undefined;
    if (s.at === undefined) {
      if (captures.length !== 1) fail([], `say which capture with at: (${captures.map((c) => c.name).join(', ') || 'this step has none'})`);
      capture = captures[0];
    } else {
      capture = captures.find((c) => c.name === s.at);
      if (!capture) fail(['at'], `no capture '${s.at}' in this step (${captures.map((c) => c.name).join(', ') || 'none'})`);
    }
    for (const part of ['where', 'fields'] as const)
      for (const [f, v] of Object.entries(s[part])) {
        if (!isFieldPath(f)) {
          fail(
            [part],
            `unknown field '${f}' (e.g. eth.src, ip.ttl, ip.src, udp.dstport, vxlan.vni, inner.ip.src, tcp.flags, icmp.type)`,
            f,
          );
          continue;
        }
        const m = compileMatcher(f, v, names, false);
        if (typeof m === 'string') fail([part, f], m);
      }
    return capture ? { capture } : {};
  },
  evaluate({ spec, capture: plan }, obs) {
    const cap = plan ? obs.captures.get(plan.name) : undefined;
    const where = compileAll(spec.where, obs.names);
    const fields = compileAll(spec.fields, obs.names);
    const countC = parseComparison(spec.count) ?? { op: '>=', value: 1 };
    const whereText = where.length ? ` where ${where.map(([f, m]) => `${f} = ${m.text}`).join(', ')}` : '';
    const expected =
      `packets at ${plan?.name ?? spec.at}${whereText}: count ${comparisonText(countC)}` +
      (fields.length ? `; each with ${fields.map(([f, m]) => `${f} = ${m.text}`).join(', ')}` : '');
    if (!cap || cap.error) return { ok: false, expected, observed: `capture failed: ${cap?.error ?? 'it did not run'}` };
    const matched = cap.packets.filter((p) => where.every(([f, m]) => m.test(field(p, f))));
    const shown = (matched.length ? matched : cap.packets).slice(0, MAX_SHOWN).map(summarize);
    const total = cap.packets.length;
    const countOk = compare(matched.length, countC);
    let observed = total === 0 ? `the capture saw no packets` : `${matched.length} of ${total} captured packets matched`;
    let ok = countOk;
    for (const [f, m] of fields) {
      const bad = matched.filter((p) => !m.test(field(p, f)));
      if (!bad.length) continue;
      ok = false;
      const values = [...new Set(bad.map((p) => showValue(field(p, f), obs.names)))];
      observed += `; ${f} = ${values.slice(0, 4).join(', ')} in ${bad.length} of ${matched.length}`;
    }
    if (ok && fields.length) observed += `; every one had ${fields.map(([f]) => f).join(', ')} as expected`;
    return { ok, expected, observed, checked: shown, pcap: cap.pcap };
  },
};

import { z } from 'zod';
import { excerpt, joinChecks } from '../checks';
import { probeRef } from '../fields';
import { commandProbe } from '../probes/command';
import type { Check, ExpectationKind } from '../types';

const schema = z.strictObject({
  ...probeRef,
  /** each must appear in the output (runs of spaces count as one: column layouts vary) */
  contains: z.array(z.string()).optional(),
  /** each must not appear */
  lacks: z.array(z.string()).optional(),
  /** regular expressions (multiline), each must match */
  matches: z.array(z.string()).optional(),
  exitCode: z.number().int().default(0),
});
export type OutputExpectation = z.infer<typeof schema>;

export const outputExpectation: ExpectationKind<'output', OutputExpectation, typeof commandProbe> = {
  kind: 'output',
  schema,
  probe: commandProbe,
  compile(s, { fail }) {
    s.matches?.forEach((re, i) => {
      try {
        new RegExp(re, 'm');
      } catch (err) {
        fail(['matches', i], `not a regular expression: ${(err as Error).message}`);
      }
    });
    if (!s.contains && !s.matches && !s.lacks) fail([], 'say what the output must hold: contains, lacks and/or matches');
    return {};
  },
  evaluate({ spec }, { probe }) {
    const out = probe.result;
    const squash = (t: string) => t.replace(/[ \t]+/g, ' ');
    const text = squash(out.stdout + out.stderr);
    const parts: Check[] = [{ ok: out.code === spec.exitCode, expected: `exit code ${spec.exitCode}`, observed: `exit code ${out.code}` }];
    const missing = (spec.contains ?? []).filter((c) => !text.includes(squash(c)));
    if (spec.contains)
      parts.push({
        ok: !missing.length,
        expected: `output containing ${spec.contains.map((c) => `'${c}'`).join(', ')}`,
        observed: missing.length ? `no '${missing.join("', no '")}' in:\n${excerpt(out.stdout)}` : 'all there',
      });
    const present = (spec.lacks ?? []).filter((c) => text.includes(squash(c)));
    if (spec.lacks)
      parts.push({
        ok: !present.length,
        expected: `output without ${spec.lacks.map((c) => `'${c}'`).join(', ')}`,
        observed: present.length ? `'${present.join("', '")}' is there` : 'none there',
      });
    const unmatched = (spec.matches ?? []).filter((re) => !new RegExp(re, 'm').test(out.stdout + out.stderr));
    if (spec.matches)
      parts.push({
        ok: !unmatched.length,
        expected: `output matching ${spec.matches.map((m) => `/${m}/`).join(', ')}`,
        observed: unmatched.length ? `no match for /${unmatched.join('/, /')}/ in:\n${excerpt(out.stdout)}` : 'all matched',
      });
    return joinChecks(parts);
  },
};

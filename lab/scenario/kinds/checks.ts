import { compare, comparisonText, parseComparison } from '../values';
import type { Check } from './types';

// Helpers the expectation kinds share to say what they checked.

/** `what <comparison>` against `what <n>` (the spec was checked at load: it parses). */
export function countCheck(what: string, n: number, want: number | string): Check {
  const c = parseComparison(want);
  if (!c) return { ok: false, expected: `${what} ${String(want)}`, observed: `${what} ${n}` };
  return { ok: compare(n, c), expected: `${what} ${comparisonText(c)}`, observed: `${what} ${n}` };
}

/** All parts must hold; a failure shows only the parts that failed. */
export function joinChecks(parts: Check[], note?: string): Check {
  const failed = parts.filter((p) => !p.ok);
  const shown = failed.length ? failed : parts;
  return {
    ok: failed.length === 0,
    expected: shown.map((p) => p.expected).join('; '),
    observed: shown.map((p) => p.observed).join('; ') + (note && failed.length ? ` (${note})` : ''),
  };
}

/** The first lines of a command's output, for a failure message. */
export const excerpt = (t: string) =>
  t
    .split('\n')
    .slice(0, 12)
    .map((l) => `    ${l}`)
    .join('\n');

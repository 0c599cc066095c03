import { z } from 'zod';
import { firstOutOfOrder } from '../../../trace/walk';
import { joinChecks } from '../checks';
import { probeRef } from '../fields';
import { traceProbe } from '../probes/trace';
import type { Check, ExpectationKind } from '../types';

const schema = z.strictObject({
  ...probeRef,
  /** the observed walk equals the one the lab computed from the topology and rules */
  asExpected: z.boolean().default(true),
  /** the pod the packet ended in (one of these) */
  reached: z.union([z.string(), z.array(z.string()).min(1)]).optional(),
  /** node → the netfilter hooks the packet met there, exactly, in order */
  hooks: z.record(z.string(), z.array(z.enum(['prerouting', 'input', 'forward', 'output', 'postrouting'])).min(1)).optional(),
  /** node → chains the packet entered there, in this order (others may come between) */
  chains: z.record(z.string(), z.array(z.string()).min(1)).optional(),
  /** texts that must appear among the changes along the way ("DNAT 10.43.0.20:80", "ttl 63 → 62") */
  changes: z.array(z.string()).optional(),
});
export type WalkExpectation = z.infer<typeof schema>;

export const walkExpectation: ExpectationKind<'walk', WalkExpectation, typeof traceProbe> = {
  kind: 'walk',
  schema,
  probe: traceProbe,
  compile(s, { names, fail, checkPods }) {
    if (s.reached !== undefined) checkPods([s.reached].flat(), ['reached']);
    for (const part of ['hooks', 'chains'] as const)
      for (const node of Object.keys(s[part] ?? {}))
        if (!names.isNode(node)) fail([part], `no node '${node}' (nodes: ${names.topo.nodes.map((n) => n.name).join(', ')})`, node);
    return {};
  },
  evaluate({ spec: s }, { probe }) {
    const w = probe.result;
    const parts: Check[] = [];
    if (s.asExpected)
      parts.push({
        ok: w.differences.length === 0,
        expected: 'the walk the lab computed',
        observed: w.differences.length ? w.differences.join('\n') : 'the same walk',
      });
    if (s.reached !== undefined) {
      const want = [s.reached].flat();
      parts.push({
        ok: w.reached !== undefined && want.includes(w.reached),
        expected: `reaching ${want.join(' or ')}`,
        observed: `reached ${w.reached ?? 'nothing'}`,
      });
    }
    for (const [node, hooks] of Object.entries(s.hooks ?? {})) {
      const got = w.rules.find((r) => r.node === node)?.hooks ?? [];
      parts.push({
        ok: got.join(' ') === hooks.join(' '),
        expected: `${node} hooks ${hooks.join(' → ')}`,
        observed: `${node} hooks ${got.join(' → ') || 'none traced'}`,
      });
    }
    for (const [node, chains] of Object.entries(s.chains ?? {})) {
      const got = w.rules.find((r) => r.node === node)?.chains ?? [];
      // a base chain may be named without its table ('PREROUTING' for 'nat PREROUTING')
      const missing = firstOutOfOrder(chains, got, (g, c) => g === c || g.endsWith(` ${c}`));
      parts.push({
        ok: !missing,
        expected: `${node} chains in order ${chains.join(' → ')}`,
        observed: missing ? `no ${missing} in order in ${got.join(' → ') || 'none traced'}` : 'in order',
      });
    }
    const texts = w.hops.flatMap((h) => h.changes.map((c) => c.text));
    const absent = (s.changes ?? []).filter((c) => !texts.some((t) => t.includes(c)));
    if (s.changes)
      parts.push({
        ok: !absent.length,
        expected: `changes ${s.changes.map((c) => `'${c}'`).join(', ')}`,
        observed: absent.length ? `no '${absent.join("', no '")}' among: ${texts.join('; ')}` : 'all seen',
      });
    return joinChecks(parts);
  },
};

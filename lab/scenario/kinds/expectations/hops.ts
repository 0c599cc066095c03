import { z } from 'zod';
import { showValue } from '../../values';
import { countCheck, joinChecks } from '../checks';
import { countLike, probeRef } from '../fields';
import { tracerouteProbe } from '../probes/traceroute';
import type { Check, ExpectationKind } from '../types';

const schema = z.strictObject({
  ...probeRef,
  /** the exact hop list: symbolic names (node2.flannel.1, pod:web-1), addresses, or '*' for a hop that did not answer */
  equals: z.array(z.string()).optional(),
  count: countLike.optional(),
});
export type HopsExpectation = z.infer<typeof schema>;

export const hopsExpectation: ExpectationKind<'hops', HopsExpectation, typeof tracerouteProbe> = {
  kind: 'hops',
  schema,
  probe: tracerouteProbe,
  compile(spec, { names, fail }) {
    spec.equals?.forEach((h, i) => {
      if (h !== '*' && !names.ip(h))
        fail(['equals', i], `'${h}' is not an address, '*', or a name of this lab (e.g. node1.cni0, node2.flannel.1, pod:web-1)`);
    });
    if (!spec.equals && spec.count === undefined) fail([], 'say what the hops must be: equals: [...] or count');
    return {};
  },
  evaluate({ spec }, { probe, names }) {
    const hops = probe.result;
    const seen = hops.map((h) => (h.address ? showValue(h.address, names) : '*'));
    const parts: Check[] = [];
    if (spec.equals) {
      const want = spec.equals.map((h) => (h === '*' ? undefined : names.ip(h)));
      const ok = want.length === hops.length && want.every((w, i) => w === hops[i]?.address);
      parts.push({
        ok,
        expected: `hops ${spec.equals.map((h, i) => (h === '*' || want[i] === h ? h : `${want[i]} (${h})`)).join(' → ')}`,
        observed: `hops ${seen.join(' → ') || '(none)'}`,
      });
    }
    if (spec.count !== undefined) parts.push(countCheck('hop count', hops.length, spec.count));
    return joinChecks(parts);
  },
};

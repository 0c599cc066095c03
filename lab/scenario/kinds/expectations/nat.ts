import { z } from 'zod';
import { showValue } from '../../values';
import { joinChecks } from '../checks';
import { probeRef } from '../fields';
import { connectProbe } from '../probes/connect';
import type { Check, ExpectationKind } from '../types';

const schema = z.strictObject({
  ...probeRef,
  /** `endpoint`: the endpoint saw itself reached on its own pod IP (DNAT); or a name/address */
  destination: z.string().optional(),
  /** `client` (source kept), `snat` (rewritten), `node` (an address of a node), or a name/address */
  source: z.string().optional(),
});
export type NatExpectation = z.infer<typeof schema>;

export const natExpectation: ExpectationKind<'nat', NatExpectation, typeof connectProbe> = {
  kind: 'nat',
  schema,
  probe: connectProbe,
  compile(s, { names, fail }) {
    if (s.destination === undefined && s.source === undefined) fail([], 'say what to check: destination and/or source');
    if (s.destination !== undefined && s.destination !== 'endpoint' && !names.ip(s.destination))
      fail(['destination'], `'${s.destination}': expected 'endpoint', an address or a name of this lab`);
    if (s.source !== undefined && !['client', 'snat', 'node'].includes(s.source) && !names.ip(s.source) && !names.namespaceOf(s.source))
      fail(['source'], `'${s.source}': expected client, snat, node, an address or a name of this lab`);
    return {};
  },
  evaluate({ spec }, { probe, names }) {
    const res = probe.result;
    const okAttempts = res.attempts.filter((a) => a.ok);
    const parts: Check[] = [];
    if (!okAttempts.length)
      return {
        ok: false,
        expected: 'connections that reach a pod',
        observed: `all ${res.attempts.length} attempts failed: ${res.attempts[0]?.error ?? ''}`,
      };
    const ipOf = (hostPort: string | undefined) => hostPort?.replace(/:\d+$/, '') ?? '';
    const tally = (values: string[]) => {
      const m = new Map<string, number>();
      for (const v of values) m.set(v, (m.get(v) ?? 0) + 1);
      return [...m].map(([v, n]) => `${showValue(v, names)} ×${n}`).join(', ');
    };
    if (spec.destination !== undefined) {
      const want = spec.destination;
      const bad = okAttempts.filter((a) => {
        const local = ipOf(a.local);
        return want === 'endpoint' ? local !== names.ip(`pod:${a.pod}`) : local !== names.ip(want);
      });
      parts.push({
        ok: bad.length === 0,
        expected:
          want === 'endpoint' ? 'the endpoint reached on its own pod IP (DNAT)' : `the endpoint reached on ${names.ip(want)} (${want})`,
        observed: `reached on ${tally(okAttempts.map((a) => ipOf(a.local)))}`,
      });
    }
    if (spec.source !== undefined) {
      const want = spec.source;
      // @lab sends from its underlay gateway address
      const client = names.ip(probe.plan.from === '@lab' ? '@lab.gateway' : probe.plan.from) ?? '';
      const nodes = new Set(names.topo.nodes.map((n) => n.name));
      const accepts = (ip: string): boolean => {
        if (want === 'client') return ip === client;
        if (want === 'snat') return ip !== client;
        if (want === 'node') return nodes.has(names.ownerOfIp(ip) ?? '');
        const bare = /^(?:node:|pod:)?([a-z0-9-]+(?:\/[a-z0-9-]+)?)$/.exec(want)?.[1];
        if (bare && names.namespaceOf(bare)) return names.addressesOf(bare).includes(ip); // any of its addresses
        return ip === names.ip(want);
      };
      const words: Record<string, string> = {
        client: `the client's own address ${client} (${probe.plan.from}): not rewritten`,
        snat: `a rewritten source, not the client's ${client} (SNAT)`,
        node: 'an address of a node (SNAT to the node)',
      };
      parts.push({
        ok: okAttempts.every((a) => accepts(ipOf(a.peer))),
        expected: `source seen by the endpoint: ${words[want] ?? want}`,
        observed: `source seen ${tally(okAttempts.map((a) => ipOf(a.peer)))}`,
      });
    }
    if (res.failed)
      parts.push({
        ok: false,
        expected: 'every attempt answered',
        observed: `${res.failed} of ${res.attempts.length} failed: ${res.attempts.find((a) => !a.ok)?.error ?? ''}`,
      });
    return joinChecks(parts);
  },
};

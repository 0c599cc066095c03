import type { LabNames } from '../model/names';
import type { ExpectationResult } from '../report/types';
import { expectationKind, type ExpectationPlan, type ProbeOutcome } from './kinds';
import type { CaptureOutcome } from './kinds/types';

// Checks one expectation against what the step's probes and captures observed, by its kind
// (kinds/expectations/), and says both sides in words: the expected value with names resolved,
// the observed value with the names it has in the lab, and for packets a one-line summary of
// those checked and the pcap to open.

export type { CaptureOutcome, ExpectationResult, ProbeOutcome };

export interface Observed {
  names: LabNames;
  probes: Map<string, ProbeOutcome>;
  captures: Map<string, CaptureOutcome>;
}

const describe = (e: ExpectationPlan) => `${e.kind} ${JSON.stringify(e.spec)}`;

export function evaluate(e: ExpectationPlan, obs: Observed): ExpectationResult {
  const base = { kind: e.kind, ...(e.name ? { name: e.name } : {}), ...(e.line !== undefined ? { line: e.line } : {}) };
  const outcome = e.probe ? obs.probes.get(e.probe.name) : undefined;
  let probe: { plan: ProbeOutcome['plan']; argv: string[]; output: string; result: unknown } | undefined;
  if (e.probe) {
    if (!outcome || outcome.error !== undefined)
      return {
        ...base,
        status: 'failed',
        expected: describe(e),
        observed: `probe '${e.probe.name}' failed: ${outcome?.error ?? 'it did not run'}`,
      };
    probe = { plan: outcome.plan, argv: outcome.argv, output: outcome.output, result: outcome.result };
  }
  const r = expectationKind(e.kind).evaluate(e, { names: obs.names, probe, captures: obs.captures });
  return {
    ...base,
    status: r.ok ? 'passed' : 'failed',
    expected: r.expected,
    observed: r.observed,
    ...(r.checked ? { checked: r.checked } : {}),
    ...(r.pcap ? { pcap: r.pcap } : {}),
    ...(r.table ? { table: r.table } : {}),
  };
}

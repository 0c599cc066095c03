import type { ExpectationResult } from '../../report/types';
import { connectExpectation } from './expectations/connect';
import { dnsExpectation } from './expectations/dns';
import { hopsExpectation } from './expectations/hops';
import { natExpectation } from './expectations/nat';
import { outputExpectation } from './expectations/output';
import { packetsExpectation } from './expectations/packets';
import { pingExpectation } from './expectations/ping';
import { reachabilityExpectation } from './expectations/reachability';
import { spreadExpectation } from './expectations/spread';
import { walkExpectation } from './expectations/walk';
import { commandProbe } from './probes/command';
import { connectProbe } from './probes/connect';
import { dnsProbe } from './probes/dns';
import { pingProbe } from './probes/ping';
import { reachabilityProbe } from './probes/reachability';
import { traceProbe } from './probes/trace';
import { tracerouteProbe } from './probes/traceroute';
import type {
  AnyExpectationKind,
  AnyProbeKind,
  ExpectationKind,
  ExpectationPlanOf,
  PlanOfProbe,
  ProbeKind,
  ProbePlanOf,
  ProbeTarget,
  ResultOfProbe,
} from './types';

// The registry: every probe kind and every expectation kind, one line each, in the order the
// scenario reference and the error messages list them. A new kind is a module of its own
// (probes/ or expectations/) and one line here; the scenario schema, loading, running and
// evaluating all go through these lists.

export const PROBES = [pingProbe, tracerouteProbe, connectProbe, commandProbe, traceProbe, dnsProbe, reachabilityProbe] as const;

export const EXPECTATIONS = [
  pingExpectation,
  hopsExpectation,
  packetsExpectation,
  natExpectation,
  spreadExpectation,
  outputExpectation,
  walkExpectation,
  connectExpectation,
  dnsExpectation,
  reachabilityExpectation,
] as const;

type Probes = (typeof PROBES)[number];
type Expectations = (typeof EXPECTATIONS)[number];

export type ProbeKindName = Probes['kind'];
export type ExpectationKindName = Expectations['kind'];
export const PROBE_KINDS: readonly ProbeKindName[] = PROBES.map((k) => k.kind);
export const EXPECTATION_KINDS: readonly ExpectationKindName[] = EXPECTATIONS.map((k) => k.kind);

/** A compiled probe, one member per kind. */
export type ProbePlan = Probes extends infer P
  ? P extends ProbeKind<infer K, infer S, infer C, unknown>
    ? ProbePlanOf<K, S, C>
    : never
  : never;

/** A compiled expectation, one member per kind. */
export type ExpectationPlan = Expectations extends infer E
  ? E extends ExpectationKind<infer K, infer S, infer P, infer X>
    ? ExpectationPlanOf<K, S, P, X>
    : never
  : never;

/** What a probe did, one member per kind: its plan and, unless it failed, its kind's result. */
export type ProbeOutcome = Probes extends infer P
  ? P extends AnyProbeKind
    ? { kind: P['kind']; plan: PlanOfProbe<P>; argv: string[]; output: string; durationS: number } & (
        { result: ResultOfProbe<P>; error?: undefined } | { result?: undefined; error: string }
      )
    : never
  : never;

/** An expectation's result in the report, its kind one of the registry's. */
export type KindExpectationResult = { [K in ExpectationKindName]: ExpectationResult & { kind: K } }[ExpectationKindName];

const probeKinds = new Map<string, AnyProbeKind>(PROBES.map((k) => [k.kind, k]));
const expectationKinds = new Map<string, AnyExpectationKind>(EXPECTATIONS.map((k) => [k.kind, k]));

export function probeKind(kind: string): AnyProbeKind {
  const k = probeKinds.get(kind);
  if (!k) throw new Error(`no probe kind '${kind}'`);
  return k;
}

export function expectationKind(kind: string): AnyExpectationKind {
  const k = expectationKinds.get(kind);
  if (!k) throw new Error(`no expectation kind '${kind}'`);
  return k;
}

export type { ProbeTarget };

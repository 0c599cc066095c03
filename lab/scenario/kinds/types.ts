import type { z } from 'zod';
import type { LabNames } from '../../model/names';
import type { Packet } from '../../pcap/decode';
import type { CaptureStats } from '../../probe/capture';
import type { TruthTableReport } from '../../report/types';
import type { Runtime } from '../../runtime/runtime';

// The two small interfaces every probe kind and every expectation kind implements (one module
// each under probes/ and expectations/, listed in index.ts). A probe kind compiles its spec
// against the lab's names and runs it; an expectation kind compiles its spec (the probe it
// checks is found for it, by kind and name) and evaluates what the probe and captures observed.

/** where in the scenario file (YAML path) */
export type Path = (string | number)[];
/** records a problem at a path below the kind's own key (`steps[0].probes[1].ping` + at) */
export type Fail = (at: Path, message: string, key?: string) => void;

export interface CapturePlan {
  name: string;
  /** as written: node1:eth0 */
  at: string;
  owner: string;
  iface: string;
  ns: string;
  filter?: string;
  path: Path;
}

export interface CaptureOutcome {
  plan: CapturePlan;
  /** path of the pcap, relative to the run's folder */
  pcap: string;
  stats?: CaptureStats;
  packets: Packet[];
  /** the capture could not be started, stopped or read */
  error?: string;
  warnings: string[];
}

/** What every compiled probe says: where it runs and what it is aimed at (as the report shows it). */
export interface ProbeTarget {
  from: string;
  ns: string;
  to: string;
}

export type ProbePlanOf<K extends string, S, C extends ProbeTarget> = { name: string; kind: K; path: Path; spec: S } & C;

export interface ProbeCompileContext {
  names: LabNames;
  fail: Fail;
}

export interface ProbeRunContext {
  rt: Runtime;
  names: LabNames;
  /** the step's folder: a probe may write files of its own under `<dir>/<slug>` */
  dir: string;
  /** the run's folder: paths in the report are relative to it */
  runDir: string;
  /** this probe's name as a file name */
  slug: string;
  /**
   * Aborted when the run is interrupted (Ctrl-C, SIGTERM): a kind passes it to every command it
   * runs, so that nothing it started outlives the run; what it rejects with then is not a result.
   */
  signal?: AbortSignal;
}

/** What a probe run produced: the command line, what it printed, and its kind's result. */
export interface ProbeRun<R> {
  argv: string[];
  output: string;
  result: R;
}

// Methods (not function properties) on purpose: their parameters compare bivariantly, so each
// kind's typed object is also an AnyProbeKind / AnyExpectationKind for the registry, which only
// ever hands a kind the plans that kind compiled.
export interface ProbeKind<K extends string = string, S = unknown, C extends ProbeTarget = ProbeTarget, R = unknown> {
  readonly kind: K;
  readonly schema: z.ZodType<S>;
  /** checks the spec against the lab's names; undefined after ctx.fail */
  compile(spec: S, ctx: ProbeCompileContext): C | undefined;
  run(plan: ProbePlanOf<K, S, C>, ctx: ProbeRunContext): Promise<ProbeRun<R>>;
  /** the result as report.json keeps it (the result itself when absent) */
  report?(result: R): unknown;
}

export type AnyProbeKind = ProbeKind<string, unknown, ProbeTarget, unknown>;
export type PlanOfProbe<P> = P extends ProbeKind<infer K, infer S, infer C, unknown> ? ProbePlanOf<K, S, C> : undefined;
export type ResultOfProbe<P> = P extends ProbeKind<string, unknown, ProbeTarget, infer R> ? R : never;

/** A probe that ran and produced its result, as an expectation sees it. */
export type ProbeDone<P> = P extends AnyProbeKind
  ? { plan: PlanOfProbe<P>; argv: string[]; output: string; result: ResultOfProbe<P> }
  : undefined;

export interface Check {
  ok: boolean;
  expected: string;
  observed: string;
  /** one-line summaries of the packets checked */
  checked?: string[];
  pcap?: string;
  /** a reachability expectation's tables (report.json and the HTML report draw them) */
  table?: TruthTableReport;
}

export interface ExpectationCompileContext<P> {
  names: LabNames;
  /** the probe this expectation checks (found by kind and name before compile is called) */
  probe: P;
  /** the step's captures */
  captures: CapturePlan[];
  fail: Fail;
  /** fails for each name that is not a pod of the lab */
  checkPods: (list: string[], at: Path) => void;
}

export interface Observed<D> {
  names: LabNames;
  probe: D;
  captures: Map<string, CaptureOutcome>;
}

export type ExpectationPlanOf<K extends string, S, P, X> = {
  kind: K;
  spec: S;
  name?: string;
  path: Path;
  /** line of the expectation in its scenario file */
  line?: number;
  probe: PlanOfProbe<P>;
} & X;

export interface ExpectationKind<
  K extends string = string,
  S = unknown,
  P extends AnyProbeKind | undefined = AnyProbeKind | undefined,
  X extends object = object,
> {
  readonly kind: K;
  readonly schema: z.ZodType<S>;
  /** the probe kind it checks (undefined: it checks captures) */
  readonly probe: P;
  /** checks the spec against the lab's names; what it returns joins the plan */
  compile(spec: S, ctx: ExpectationCompileContext<PlanOfProbe<P>>): X;
  evaluate(plan: ExpectationPlanOf<K, S, P, X>, observed: Observed<ProbeDone<P>>): Check;
}

export type AnyExpectationKind = ExpectationKind<string, unknown, AnyProbeKind | undefined, object>;

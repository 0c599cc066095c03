import type { StopSignal } from '../errors';
import type { Topology } from '../topology/types';

export type { StopSignal };

// report.json: everything a run did and saw, per scenario and step, with paths relative to
// the run's folder (results/<run-id>/) so the folder can be moved or archived whole. The
// scenario runner produces these types; the renderers beside this file show them.

/**
 * 'interrupted': the run was stopped by a signal while this step ran (its probes and captures
 * were stopped, nothing was checked); a scenario or run that did not get to its end.
 */
export type Status = 'passed' | 'failed' | 'skipped' | 'interrupted';

/** One expectation checked: expected against observed, in words. */
export interface ExpectationResult {
  kind: string;
  name?: string;
  /** line of the expectation in its scenario file */
  line?: number;
  status: 'passed' | 'failed';
  expected: string;
  observed: string;
  /** one-line summaries of the packets checked (at most 5) */
  checked?: string[];
  pcap?: string;
  /** reachability: the expected and observed truth tables */
  table?: TruthTableReport;
}

/** A reachability expectation's tables: cells[i][j] is from[i] → to[j], true = allowed. */
export interface TruthTableReport {
  port: number;
  protocol: 'TCP' | 'UDP';
  from: string[];
  to: string[];
  expected: boolean[][];
  observed: boolean[][];
  /** a pod's connections to itself were left out of the comparison */
  ignoreLoopback: boolean;
  /** each differing cell, with the probe's output for it and, when denied, one denied probe's trace */
  differences: {
    from: string;
    to: string;
    expected: boolean;
    observed: boolean;
    detail: string;
    trace?: { from: string; to: string; text: string };
  }[];
}

/** What the report needs of a scenario besides its report: where it is and the topology it ran on. */
export interface ScenarioTopology {
  file: string;
  name: string;
  topology: Topology;
  /** the topologies its steps move to (steps[].topology), if any */
  steps?: readonly { topology?: Topology }[];
}

/** Progress of a run, as it happens. */
export type RunEvent =
  | { type: 'lab-up'; lab: string; reused: boolean; seconds: number }
  | { type: 'lab-down'; lab: string }
  | { type: 'lab-applied'; lab: string; source: string; seconds: number }
  | { type: 'scenario'; scenario: ScenarioTopology }
  | { type: 'step-start'; scenario: ScenarioTopology; index: number; name: string; total: number }
  | { type: 'step'; scenario: ScenarioTopology; step: StepReport; total: number }
  | { type: 'interrupted'; signal: StopSignal };

export interface CaptureReport {
  name: string;
  at: string;
  namespace: string;
  interface: string;
  filter?: string;
  pcap: string;
  /** packets in the pcap, as our decoder read them */
  packets: number;
  /** true when tcpdump saw nothing: reported, never taken as success */
  empty: boolean;
  tcpdump?: { captured?: number; receivedByFilter?: number; droppedByKernel?: number; linkType?: string };
  warnings: string[];
  error?: string;
}

/** A probe as the report keeps it, whatever its kind: `result` is its kind's result. */
export interface ProbeReport {
  name: string;
  kind: string;
  from: string;
  to: string;
  argv: string[];
  /** file with what the probe printed */
  output: string;
  durationS: number;
  error?: string;
  result?: unknown;
}

/** A step's topology when its scenario moves: `applied` re-synced the lab as `lab apply` does, `rebuilt` brought a new one up. */
export interface StepTopology {
  lab: string;
  /** the topology file (or the scenario file, for one written inline) */
  source: string;
  /** set on the step that moved the scenario */
  change?: 'applied' | 'rebuilt';
}

export interface StepReport {
  index: number;
  name: string;
  status: Status;
  /** why it was skipped or could not run */
  reason?: string;
  /** in a scenario that moves between topologies: the lab this step ran on, and how it got there */
  topology?: StepTopology;
  durationS: number;
  captures: CaptureReport[];
  probes: ProbeReport[];
  expectations: ExpectationResult[];
}

export interface ScenarioReport {
  name: string;
  file: string;
  description?: string;
  lab: string;
  proxy: string;
  status: Status;
  durationS: number;
  steps: StepReport[];
}

export interface RunSummary {
  scenarios: number;
  steps: number;
  passed: number;
  failed: number;
  skipped: number;
  /** steps that were running when the run was stopped by a signal */
  interrupted: number;
  expectations: { passed: number; failed: number };
}

export interface RunReport {
  runId: string;
  /** the run's folder: pcaps, probe outputs, report.json, junit.xml */
  dir: string;
  startedAt: string;
  finishedAt: string;
  durationS: number;
  status: Status;
  /** the signal that stopped the run before its end (the steps after it are skipped: not run) */
  interrupted?: StopSignal;
  summary: RunSummary;
  scenarios: ScenarioReport[];
}

export function summarize(scenarios: ScenarioReport[]): RunSummary {
  const steps = scenarios.flatMap((s) => s.steps);
  const exps = steps.flatMap((s) => s.expectations);
  return {
    scenarios: scenarios.length,
    steps: steps.length,
    passed: steps.filter((s) => s.status === 'passed').length,
    failed: steps.filter((s) => s.status === 'failed').length,
    skipped: steps.filter((s) => s.status === 'skipped').length,
    interrupted: steps.filter((s) => s.status === 'interrupted').length,
    expectations: { passed: exps.filter((e) => e.status === 'passed').length, failed: exps.filter((e) => e.status === 'failed').length },
  };
}

/** interrupted if anything was, else failed if anything failed, else skipped if anything was skipped */
export function overall(statuses: Status[]): Status {
  if (statuses.includes('interrupted')) return 'interrupted';
  if (statuses.includes('failed')) return 'failed';
  if (statuses.includes('skipped')) return 'skipped';
  return 'passed';
}

import type { ExpectationResult } from '../scenario/expect';

// report.json: everything a run did and saw, per scenario and step, with paths relative to
// the run's folder (results/<run-id>/) so the folder can be moved or archived whole.

export type Status = 'passed' | 'failed' | 'skipped';

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

export interface StepReport {
  index: number;
  name: string;
  status: Status;
  /** why it was skipped or could not run */
  reason?: string;
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
    expectations: { passed: exps.filter((e) => e.status === 'passed').length, failed: exps.filter((e) => e.status === 'failed').length },
  };
}

/** failed if anything failed, else skipped if anything was skipped */
export function overall(statuses: Status[]): Status {
  if (statuses.includes('failed')) return 'failed';
  if (statuses.includes('skipped')) return 'skipped';
  return 'passed';
}

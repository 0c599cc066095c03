// The plan as data: what to build, in phases of batched commands. Planners (lab/network,
// lab/proxy) produce these; runtimes apply them. Nothing here starts a process.

/** Each tool reads one batch: `ip|bridge -batch F`, `iptables-restore F`, `nft -f F`, `ipset restore -file F`, `ipvsadm -R < F`. */
export type Tool = 'ip' | 'bridge' | 'sysctl' | 'iptables-restore' | 'nft' | 'ipset' | 'ipvsadm';

/** One batched command in one namespace: the batch's lines, or sysctl key=value. */
export interface Step {
  ns: string;
  tool: Tool;
  lines: string[];
  /** iptables-restore --noflush / ipvsadm without clearing: add to what is there */
  append?: boolean;
  /** a user's file the lines came from (`proxy.rules[i]`): errors then point into it */
  origin?: { file: string; path: string };
}

export type PhaseName =
  'hosts' | 'links' | 'configure' | 'neighbours' | 'ipsets' | 'proxy' | 'rules' | 'calico-ipsets' | 'calico-rules' | 'policy';

export interface Phase {
  name: PhaseName;
  steps: Step[];
}

/** A configuration a lab daemon reads (Calico's BIRD): up writes it, then starts the daemon in ns. */
export interface DaemonConfig {
  ns: string;
  daemon: 'bird';
  text: string;
}

export interface LabPlan {
  lab: string;
  namespaces: string[];
  phases: Phase[];
  /** after the phases: the daemons' configurations (none for most labs) */
  daemons?: DaemonConfig[];
}

/**
 * A phase whose steps are made when they are asked for, one at a time: each call of `steps()`
 * plans them afresh (pure, the same steps every time). A 1,000-node flannel lab's configure and
 * neighbours phases are ~3 million lines; `up` writes each step's batch as it is made and
 * drops it, so they are never all held at once.
 */
export interface PhaseStream {
  name: PhaseName;
  steps: () => Iterable<Step>;
}

/** The plan with its phases as streams: what `up` applies. `planLab` is this, made whole. */
export interface LabPlanStream extends Omit<LabPlan, 'phases'> {
  phases: PhaseStream[];
}

/** A phase already made, as a stream (its steps handed out as they are). */
export const streamOf = (phase: Phase): PhaseStream => ({ name: phase.name, steps: () => phase.steps });

/** Every step of every phase made and held: for golden files, `lab plan` and small labs. */
export function planOf(stream: LabPlanStream): LabPlan {
  return { ...stream, phases: stream.phases.map((p) => ({ name: p.name, steps: [...p.steps()] })) };
}

/** The command a step runs, reading its batch from `file`, or from stdin when no file is given. */
export function toolCommand(s: Pick<Step, 'tool' | 'append'>, file?: string): string[] {
  switch (s.tool) {
    case 'ip':
    case 'bridge':
      return [s.tool, '-batch', file ?? '-'];
    case 'iptables-restore':
      return ['iptables-restore', ...(s.append ? ['--noflush'] : []), ...(file ? [file] : [])];
    case 'nft':
      return ['nft', '-f', file ?? '-'];
    case 'ipset':
      return ['ipset', 'restore', ...(file ? ['-file', file] : [])];
    case 'ipvsadm':
      return ['ipvsadm', '-R']; // stdin only
    case 'sysctl':
      return ['sysctl', '-q', '-w'];
  }
}

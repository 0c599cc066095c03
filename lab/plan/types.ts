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

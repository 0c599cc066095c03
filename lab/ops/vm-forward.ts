import { resolve } from 'node:path';
import { InputError } from '../errors';
import { newRunId } from '../report/run-id';
import { loadTopology } from '../topology/resolve';
import { downVm, type Forwarded, forwardToVm, vmLabs } from '../vm/forward';
import { stopVm } from '../vm/machine';
import { labNames } from './select';

// Which command lines go into a VM: `up` and `run` with `--kernel vm`, and every command about a
// lab that lives in one (status, exec, connect, capture, trace, apply, down). Decided from the
// options commander parsed (so `--name=x` and `--name x` mean the same); the guest gets the
// command line as it was given, without --kernel.

export type { Forwarded } from '../vm/forward';

/** The verbs that may take `--kernel vm`; the others find a lab's VM by themselves. */
export const KERNEL_VERBS: ReadonlySet<string> = new Set(['up', 'run']);
/** The verbs about a lab that is up: forwarded when that lab lives in a VM. */
export const LAB_VERBS: ReadonlySet<string> = new Set(['status', 'exec', 'connect', 'capture', 'trace', 'apply', 'down']);

/** What forwarding needs of the VMs; the real ones by default, a stand-in in tests. */
export interface VmSeam {
  vmLabs(): string[];
  labNames(): Promise<string[]>;
  forwardToVm(lab: string, args: readonly string[], boot?: { results: string; onProgress?: (l: string) => void }): Promise<Forwarded>;
  downVm(lab: string, args: readonly string[]): Promise<Forwarded>;
  stopVm(lab: string): Promise<unknown>;
}

export const REAL_VMS: VmSeam = { vmLabs, labNames, forwardToVm, downVm, stopVm };

export interface ForwardRequest {
  verb: string;
  /** the command line from the verb on, as commander was given it */
  argv: readonly string[];
  /** the parsed options that matter here */
  kernel?: string;
  name?: string;
  /** up: the topology file (the lab's name when --name is not given) */
  file?: string;
  /** down --all */
  all?: boolean;
  /** run: --results, and whether it was given on the command line */
  results?: string;
  resultsGiven?: boolean;
}

export interface Forwarding {
  /** what the guest's CLI printed, in order */
  outputs: Forwarded[];
  /** the exit code when the VM handled the command; undefined: the host's CLI goes on */
  code?: number;
}

/** The command line without its --kernel option (either form). */
export function withoutKernel(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') return [...out, ...argv.slice(i)];
    if (a === '--kernel') i++;
    else if (!a.startsWith('--kernel=')) out.push(a);
  }
  return out;
}

export async function vmForward(req: ForwardRequest, progress: (line: string) => void, vms: VmSeam = REAL_VMS): Promise<Forwarding> {
  const { verb, kernel } = req;
  if (kernel !== undefined && kernel !== 'vm' && kernel !== 'host') throw InputError.of('--kernel', '', `'${kernel}': expected host or vm`);
  const inner = withoutKernel(req.argv);
  const results = resolve(req.results ?? 'results');
  if (kernel === 'vm' && verb === 'up') {
    // checked here first: bad input exits 2 before a VM boots
    const lab = req.file ? loadTopology(req.file, req.name !== undefined ? { name: req.name } : {}).name : (req.name ?? 'default');
    const f = await offOnSignal(lab, vms, () => vms.forwardToVm(lab, inner, { results, onProgress: progress }));
    if (f.code !== 0) await vms.stopVm(lab); // nothing left behind when up failed inside
    return f;
  }
  if (kernel === 'vm' && verb === 'run') {
    const name = `run-${newRunId().slice(-4)}`;
    try {
      const withResults = req.resultsGiven ? inner : [...inner, '--results', results];
      return await offOnSignal(name, vms, () => vms.forwardToVm(name, withResults, { results, onProgress: progress }));
    } finally {
      await vms.stopVm(name);
    }
  }
  if (kernel === 'vm') throw InputError.of('--kernel', '', `--kernel vm is for up and run; ${verb} finds the lab's VM by itself`);
  if (!LAB_VERBS.has(verb)) return { outputs: [] };
  const inVm = vms.vmLabs();
  if (!inVm.length) return { outputs: [] };
  if (verb === 'down' && req.all) {
    const outputs: Forwarded[] = [];
    for (const lab of inVm) outputs.push(await vms.downVm(lab, ['down', '--name', lab]));
    return { outputs }; // then the host's own labs
  }
  const onHost = (await vms.labNames()).filter((l) => !inVm.includes(l));
  const lab = req.name ?? (onHost.length === 0 && inVm.length === 1 ? inVm[0] : undefined);
  if (!lab || !inVm.includes(lab)) return { outputs: [] };
  const r = verb === 'down' ? await vms.downVm(lab, inner) : await vms.forwardToVm(lab, inner);
  return { outputs: [r], code: r.code };
}

/**
 * `up` or `run` with `--kernel vm` stopped by Ctrl-C or SIGTERM: QEMU runs detached (its own
 * process group, so a terminal's Ctrl-C does not reach it) and would outlive the command. The VM
 * is powered off — again every half second until the work has settled, in case the signal came
 * before QEMU's pid was on record — and the command ends 130 / 143 like a host run.
 */
export async function offOnSignal(lab: string, vms: Pick<VmSeam, 'stopVm'>, work: () => Promise<Forwarded>): Promise<Forwarding> {
  let sig: NodeJS.Signals | undefined;
  let again: NodeJS.Timeout | undefined;
  const onSignal = (s: NodeJS.Signals) => {
    if (sig) return;
    sig = s;
    const stop = () => void vms.stopVm(lab).catch(() => undefined);
    stop();
    again = setInterval(stop, 500);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const r = await work().catch((e: unknown) => {
      if (!sig) throw e;
      return { code: 1, stdout: '', stderr: '' };
    });
    if (!sig) return { outputs: [r], code: r.code };
    const note = `interrupted (${sig}): the VM of '${lab}' was powered off\n`;
    return { outputs: [{ ...r, stderr: r.stderr + note }], code: sig === 'SIGINT' ? 130 : 143 };
  } finally {
    if (again) clearInterval(again);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

import { LabError } from '../errors';
import { shellWord } from '../remote/ssh';
import { ensureVmAssets } from './assets';
import { guestCli } from './guest-cli';
import type { ExecResult } from '../runtime/executor';
import { runningVms, stopVm, Vm } from './machine';

// `--kernel vm`: a lab lives in its own VM (named after the lab), and the lab's CLI runs inside
// the guest with the same arguments — the same code, on a kernel with IPVS. The VM stays up
// between commands (its agent socket under /run/k8s-dataplane-lab/vm/<lab>/); `down` powers it
// off. Output comes back when the command inside has ended.

export interface Forwarded {
  code: number;
  stdout: string;
  stderr: string;
}

/** Labs that live in a VM right now. */
export const vmLabs = (): string[] => runningVms();

/** The guest's command line: the CLI bundle (lab/vm/guest-cli.ts) with the same arguments, in the same folder. */
export const cliInGuest = (bundle: string, args: readonly string[]) =>
  `cd ${shellWord(process.cwd())} && NO_COLOR=1 node ${shellWord(bundle)} ${args.map(shellWord).join(' ')}`;

/**
 * Node crashing while it loads the CLI under TCG: tsx's wasm module lexer faulting ("memory
 * access out of bounds" in parseEsm), or node itself dying of SIGSEGV (exit 139; CI saw both
 * of a run's guest starts fail so once) — before the command printed anything.
 */
export function crashedAtStart(r: Pick<ExecResult, 'code' | 'stdout' | 'stderr'>): boolean {
  if (r.code === 0 || r.stdout.trim() !== '') return false;
  return r.code === 139 || /Segmentation fault/.test(r.stderr) || /RuntimeError: memory access out of bounds[\s\S]*parseEsm/.test(r.stderr);
}

/** The lab's CLI inside a guest; a crash at start (nothing done yet) is run again, twice at most. */
export async function cliInVm(
  vm: Pick<Vm, 'script'>,
  args: readonly string[],
  timeoutMs = 1_800_000,
  bundle?: string,
): Promise<ExecResult> {
  const cmd = cliInGuest(bundle ?? (await guestCli()), args);
  let r = await vm.script(cmd, timeoutMs);
  for (let retry = 0; retry < 2 && crashedAtStart(r); retry++) r = await vm.script(cmd, timeoutMs);
  return r;
}

/** Runs the lab CLI with `args` in the lab's VM, booting it first when `boot` says where results go. */
export async function forwardToVm(
  lab: string,
  args: readonly string[],
  boot?: { results: string; onProgress?: (l: string) => void },
): Promise<Forwarded> {
  let vm = await Vm.attach(lab);
  if (!vm) {
    if (!boot) throw new LabError(`lab '${lab}' has no VM running (start it with up --kernel vm)`, 2);
    const assets = await ensureVmAssets(boot.onProgress);
    vm = await Vm.boot(assets, { name: lab, results: boot.results });
    boot.onProgress?.(`vm: ${vm.kernel} booted in ${vm.bootSeconds.toFixed(1)} s (QEMU pid ${vm.pid})`);
  }
  try {
    const r = await cliInVm(vm, args);
    return { code: r.code ?? 1, stdout: r.stdout, stderr: r.stderr };
  } finally {
    vm.detach();
  }
}

/** `down` of a lab in a VM: the lab inside first (its own down), then the VM off. */
export async function downVm(lab: string, args: readonly string[]): Promise<Forwarded> {
  const vm = await Vm.attach(lab);
  let r: Forwarded = { code: 0, stdout: '', stderr: '' };
  if (vm) {
    const inner = await vm
      .script(cliInGuest(await guestCli(), args), 300_000)
      .catch((e: unknown) => ({ code: 1, stdout: '', stderr: String(e), signal: null }));
    r = { code: inner.code ?? 1, stdout: inner.stdout, stderr: inner.stderr };
    await vm.poweroff();
  } else await stopVm(lab);
  return { ...r, stdout: `${r.stdout}lab ${lab}: VM powered off\n` };
}

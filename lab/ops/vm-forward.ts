import { resolve } from 'node:path';
import { InputError } from '../errors';
import { labNames } from './select';
import { newRunId } from '../scenario/run';
import { loadTopology } from '../topology/resolve';
import { downVm, type Forwarded, forwardToVm, vmLabs } from '../vm/forward';
import { stopVm } from '../vm/machine';

// Which command lines go into a VM: `up` and `run` with `--kernel vm`, and every command about a
// lab that lives in one (status, exec, connect, capture, trace, apply, down). Returns the exit code when
// it handled the command, undefined to let the host's CLI handle it.

const LAB_VERBS = new Set(['status', 'exec', 'connect', 'capture', 'trace', 'apply', 'down']);

function option(argv: readonly string[], ...names: string[]): string | undefined {
  for (let i = 0; i < argv.length - 1; i++) if (names.includes(argv[i]!)) return argv[i + 1];
  return undefined;
}

function without(argv: readonly string[], name: string): string[] {
  const out = [...argv];
  const i = out.indexOf(name);
  if (i >= 0) out.splice(i, 2);
  return out;
}

function print(r: Forwarded): number {
  process.stdout.write(r.stdout);
  process.stderr.write(r.stderr);
  return r.code;
}

export async function vmDispatch(argv: readonly string[], progress: (line: string) => void): Promise<number | undefined> {
  const verb = argv[0];
  const kernel = option(argv, '--kernel');
  if (kernel !== undefined && kernel !== 'vm' && kernel !== 'host') throw InputError.of('--kernel', '', `'${kernel}': expected host or vm`);
  const inner = without(argv, '--kernel');
  const results = resolve(option(argv, '--results') ?? 'results');
  if (kernel === 'vm' && verb === 'up') {
    // checked here first: bad input exits 2 before a VM boots
    const file = option(argv, '-f', '--file');
    const topo = file ? loadTopology(file, { ...(option(argv, '-n', '--name') ? { name: option(argv, '-n', '--name')! } : {}) }) : undefined;
    const lab = option(argv, '-n', '--name') ?? topo?.name ?? 'default';
    const r = await forwardToVm(lab, inner, { results, onProgress: progress });
    if (r.code !== 0) await stopVm(lab); // nothing left behind when up failed inside
    return print(r);
  }
  if (kernel === 'vm' && verb === 'run') {
    const name = `run-${newRunId().slice(-4)}`;
    try {
      const withResults = option(inner, '--results') ? inner : [...inner, '--results', results];
      return print(await forwardToVm(name, withResults, { results, onProgress: progress }));
    } finally {
      await stopVm(name);
    }
  }
  if (kernel === 'vm') throw InputError.of('--kernel', '', `--kernel vm is for up and run; ${verb} finds the lab's VM by itself`);
  if (!verb || !LAB_VERBS.has(verb)) return undefined;
  const inVm = vmLabs();
  if (!inVm.length) return undefined;
  const named = option(argv, '-n', '--name');
  if (verb === 'down' && argv.includes('--all')) {
    for (const lab of inVm) print(await downVm(lab, ['down', '--name', lab]));
    return undefined; // then the host's own labs
  }
  const onHost = (await labNames()).filter((l) => !inVm.includes(l));
  const lab = named ?? (onHost.length === 0 && inVm.length === 1 ? inVm[0] : undefined);
  if (!lab || !inVm.includes(lab)) return undefined;
  if (verb === 'down') return print(await downVm(lab, inner));
  return print(await forwardToVm(lab, inner));
}

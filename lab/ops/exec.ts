import { spawnSync } from 'node:child_process';
import { InputError } from '../errors';
import type { RuntimeHooks } from '../runtime/select';
import { resolveTarget } from './select';
import { labRuntime } from './target';

// `lab exec <target> <command...>`: the command in a node's or pod's namespace, on this
// terminal (stdio inherited); a node on another machine runs it through the runtime's exec,
// and its output is handed back to be passed on.

export interface ExecDone {
  code: number;
  /** what a command run through the runtime printed (nothing: it wrote to the terminal itself) */
  output?: { stdout: string; stderr: string };
}

export async function execIn(req: { name?: string; target: string; command: string[] }, hooks: RuntimeHooks = {}): Promise<ExecDone> {
  const { lab, rt } = await labRuntime(req.name, 'exec', hooks);
  const ns = await resolveTarget(rt, lab, req.target);
  const argv = req.command[0] === '--' ? req.command.slice(1) : req.command; // passThroughOptions keeps a '--'
  if (!argv.length) throw InputError.of('command', '', 'nothing to run: give a command after the target');
  const interactive = rt.interactiveArgv(ns, argv);
  if (!interactive) {
    const r = await rt.run(ns, argv, { check: false });
    return { code: r.code ?? 1, output: { stdout: r.stdout, stderr: r.stderr } };
  }
  const [cmd, ...args] = interactive;
  return { code: spawnSync(cmd!, args, { stdio: 'inherit' }).status ?? 1 };
}

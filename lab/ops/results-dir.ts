import { statSync } from 'node:fs';
import { parse, resolve } from 'node:path';
import { InputError } from '../errors';

// `--results <dir>` (run, capture, trace): the folder run folders are made in. It is a path of the
// user's choosing, like any tool's output folder (`../out`, `/tmp/ci`, `Results` are all fine),
// taken from where they typed it. What the lab does inside it is narrow: it makes one new
// `<run-id>/` folder (mkdir; the id is generated, never taken from input) and points the
// `latest` symlink at it, and never removes or overwrites anything else there. Refused, exit 2,
// before anything runs: an empty path (it would quietly mean "here"), control characters, shell
// metacharacters (`$HOME/x` or `a;b` reaching us unexpanded was never meant as a folder name), the
// filesystem root, and a path that exists but is not a folder.

const SHELL_META = /[$`;|&<>*?'"\\]/;
// eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
const CONTROL = /[\u0000-\u001f\u007f]/;

/** The folder `--results` names, resolved from `base`; an InputError (exit 2) when the rule above refuses it. */
export function resultsRoot(dir: string, base = process.cwd()): string {
  const refuse = (why: string) => InputError.of('--results', '', `'${dir}': ${why}`);
  if (dir === '') throw refuse('empty: give a folder (default: results)');
  if (CONTROL.test(dir)) throw refuse('control characters in a folder name');
  if (SHELL_META.test(dir)) throw refuse('shell metacharacters in a folder name (an unexpanded $VAR, a glob or a ; ?): give a plain path');
  const abs = resolve(base, dir);
  if (parse(abs).root === abs) throw refuse('the filesystem root: give a folder of its own');
  let isDir: boolean | undefined;
  try {
    isDir = statSync(abs).isDirectory();
  } catch {
    isDir = undefined; // not there yet: made when the run starts
  }
  if (isDir === false) throw refuse(`${abs} exists and is not a folder`);
  return abs;
}

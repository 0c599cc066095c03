import { NoSuchLab } from '../errors';
import type { Runtime } from '../runtime/runtime';
import { type RuntimeHooks, runtimeOfLab } from '../runtime/select';
import { labNames, selectLab } from './select';

// The lab a command about a running lab means (named, or the only one up) and the runtime it
// was built with; the hooks carry the runtime's progress and notices to whoever prints them.

export type { RuntimeHooks } from '../runtime/select';

export async function labRuntime(name: string | undefined, what: string, hooks: RuntimeHooks = {}): Promise<{ lab: string; rt: Runtime }> {
  const lab = await selectLab(name, what);
  if (!lab) throw new NoSuchLab(undefined);
  // exit 3, not an error further on: a script can tell "not there" from "bad input" or "failed"
  if (name !== undefined && !(await labNames()).includes(lab)) throw new NoSuchLab(lab, "'lab status' lists the labs that are up");
  return { lab, rt: await runtimeOfLab(lab, hooks) };
}

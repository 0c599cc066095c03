import { type RuntimeHooks, runtimeOfLab } from '../runtime/select';
import { inspectLabs, type LabView } from '../status/inspect';
import { checkLabName } from '../topology/schema';
import { labNames } from './select';

// `lab status`: what is up, read from the kernel — the named lab, or every lab found. A named lab
// that is not there gives no view (the CLI exits 3 then); an empty name is refused, not "all".

export type { LabView } from '../status/inspect';

export async function labStatus(name: string | undefined, hooks: RuntimeHooks = {}): Promise<LabView[]> {
  const found = await labNames();
  const names = name === undefined ? found : found.includes(checkLabName(name)) ? [name] : [];
  return (await Promise.all(names.map(async (lab) => inspectLabs(await runtimeOfLab(lab, hooks), lab)))).flat();
}

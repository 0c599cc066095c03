import { type RuntimeHooks, runtimeOfLab } from '../runtime/select';
import { inspectLabs, type LabView } from '../status/inspect';
import { labNames } from './select';

// `lab status`: what is up, read from the kernel — the named lab, or every lab found.

export type { LabView } from '../status/inspect';

export async function labStatus(name: string | undefined, hooks: RuntimeHooks = {}): Promise<LabView[]> {
  const names = name ? [name] : await labNames();
  return (await Promise.all(names.map(async (lab) => inspectLabs(await runtimeOfLab(lab, hooks), lab)))).flat();
}

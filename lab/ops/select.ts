import { InputError } from '../errors';
import { labNamespace, parseNamespace } from '../model/kernel-names';
import type { Runtime } from '../runtime/runtime';
import { listRecords } from '../state/store';
import { dockerLabs } from '../runtime/select';
import { vmLabs } from '../vm/forward';

/** Names of every lab present in the kernel or in a state record. */
export async function labNames(rt: Runtime): Promise<string[]> {
  const names = new Set([...listRecords(), ...(await dockerLabs()), ...vmLabs()]);
  for (const ns of await rt.listNamespaces()) {
    const r = parseNamespace(ns);
    if (r) names.add(r.lab);
  }
  return [...names].sort();
}

/** The lab a command means: the named one, or the only one up. */
export async function selectLab(rt: Runtime, name: string | undefined, what: string): Promise<string | undefined> {
  if (name !== undefined) return name;
  const labs = await labNames(rt);
  if (labs.length > 1) throw InputError.of('--name', '', `several labs are up (${labs.join(', ')}): say which with --name for ${what}`);
  return labs[0];
}

/** The namespace of a node or pod by name; '@lab' is the lab's own (underlay) namespace. */
export async function resolveTarget(rt: Runtime, lab: string, target: string): Promise<string> {
  if (target === '@lab' || target === '@underlay') return labNamespace(lab);
  const known: string[] = [];
  for (const ns of await rt.listNamespaces()) {
    const r = parseNamespace(ns);
    if (!r || r.lab !== lab || r.role === 'lab') continue;
    const name = r.role === 'node' ? r.node : r.pod;
    if (name === target) return ns;
    known.push(name);
  }
  throw InputError.of(
    'target',
    '',
    known.length ? `no node or pod named '${target}' in lab '${lab}' (known: ${known.join(', ')}, @lab)` : `lab '${lab}' is not up`,
  );
}

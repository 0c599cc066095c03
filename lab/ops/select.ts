import { InputError } from '../errors';
import { labNamespace, parseNamespace } from '../model/kernel-names';
import type { Runtime } from '../runtime/runtime';
import { NAME_RE } from '../topology/schema';

// Which lab and which namespace a command means. Labs are found by the one registry
// (lab/runtime/labs.ts: state records, namespaces, Docker labels, VMs), not by a runtime.

export { findLabs, type FoundLab, labNames, selectLab } from '../runtime/labs';

/** The namespace of a node or pod by name; '@lab' is the lab's own (underlay) namespace. */
export async function resolveTarget(rt: Runtime, lab: string, target: string): Promise<string> {
  if (target === '@lab' || target === '@underlay') return labNamespace(lab);
  // a node's or pod's name is a DNS label, a pod outside namespace default <ns>/<name>: anything
  // else names nothing (and never reaches a namespace path)
  const parts = target.split('/');
  if (parts.length > 2 || parts.some((p) => !NAME_RE.test(p) || p.length > 63))
    throw InputError.of(
      'target',
      '',
      `'${target}' is not a node or pod name (lowercase letters, digits and '-'; <namespace>/<pod> outside default), nor @lab`,
    );
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

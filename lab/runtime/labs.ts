import { connectLocal, engineAvailable } from '../docker/engine';
import { LABEL_LAB } from '../docker/container';
import { InputError } from '../errors';
import { parseNamespace } from '../model/kernel-names';
import { listRecords } from '../state/store';
import { checkLabName } from '../topology/schema';
import { runningVms } from '../vm/machine';
import { listLabNamespaces } from './netns';

// The one lab registry: which labs exist right now, wherever they live. A lab is found by its
// state record (written by `up`), by its namespaces on this host (/run/netns: netns labs, and a
// docker lab's underlay namespace), by containers labelled with it on the local engine (so a
// docker lab is found after a crash), and by a running VM named after it. Listing and selection
// (`down --all`, `status`, the lab a command means) ask this, not any one runtime.

export type LabSource = 'record' | 'namespace' | 'docker' | 'vm';

export interface FoundLab {
  name: string;
  /** where it was found, in this order: record, namespace, docker, vm */
  sources: LabSource[];
}

/** Labs that have containers on the local engine (none when no engine answers). */
export async function dockerLabs(): Promise<string[]> {
  const docker = connectLocal();
  if (!(await engineAvailable(docker))) return [];
  const list = await docker.listContainers({ all: true, filters: JSON.stringify({ label: [LABEL_LAB] }) });
  return [...new Set(list.map((c) => c.Labels[LABEL_LAB]!))].sort();
}

/** Labs with a namespace on this host. */
export async function namespaceLabs(): Promise<string[]> {
  const names = new Set<string>();
  for (const ns of await listLabNamespaces()) {
    const r = parseNamespace(ns);
    if (r) names.add(r.lab);
  }
  return [...names].sort();
}

/** Every lab present, from state records, namespaces, Docker labels and VMs; sorted by name. */
export async function findLabs(): Promise<FoundLab[]> {
  const [namespaces, docker] = await Promise.all([namespaceLabs(), dockerLabs()]);
  const found = new Map<string, LabSource[]>();
  const add = (source: LabSource, names: readonly string[]) => {
    for (const n of names) found.set(n, [...(found.get(n) ?? []), source]);
  };
  add('record', listRecords());
  add('namespace', namespaces);
  add('docker', docker);
  add('vm', runningVms());
  return [...found.keys()].sort().map((name) => ({ name, sources: found.get(name)! }));
}

/** Names of every lab present (findLabs). */
export async function labNames(): Promise<string[]> {
  return (await findLabs()).map((l) => l.name);
}

/** The lab a command means: the named one (a valid name, exit 2 else), or the only one up (undefined: none is up). */
export async function selectLab(name: string | undefined, what: string): Promise<string | undefined> {
  if (name !== undefined) return checkLabName(name);
  const labs = await labNames();
  if (labs.length > 1) throw InputError.of('--name', '', `several labs are up (${labs.join(', ')}): say which with --name for ${what}`);
  return labs[0];
}

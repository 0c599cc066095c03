import { InputError, NoSuchLab } from '../errors';
import { readRecord } from '../state/store';
import { checkLabName } from '../topology/schema';
import { type Overrides, loadTopology } from '../topology/resolve';
import type { Topology } from '../topology/types';

// The lab a read-only verb (get, export, diff-rules) looks at: a running lab's topology as its
// state record keeps it (with the time it was brought up), or a topology file, resolved as
// `lab plan` resolves it. Nothing is read from the kernel: these verbs show the lab's model.

export interface LabSource {
  topo: Topology;
  /** when the running lab was brought up; undefined for a topology file */
  createdAt?: string;
}

export function labSource(req: { name?: string; file: string; overrides?: Overrides }): LabSource {
  if (req.name !== undefined) {
    // a running lab is what it was brought up as: a mode of another lab is a topology file's (-t)
    if (req.overrides?.proxyMode !== undefined)
      throw InputError.of('--proxy', '', 'is for a topology file (-t), not a lab that is up (--name)');
    const rec = readRecord(checkLabName(req.name));
    // exit 3, as status --name: a script can tell "not there" from bad input
    if (!rec) throw new NoSuchLab(req.name, "'lab status' lists the labs that are up; -t reads a topology file instead");
    return { topo: rec.topology, createdAt: rec.createdAt };
  }
  return { topo: loadTopology(req.file, req.overrides ?? {}) };
}

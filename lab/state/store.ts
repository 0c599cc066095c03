import { lstatSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkLabName, labNameProblem } from '../topology/schema';
import type { Topology } from '../topology/types';

// One JSON record per lab under /run (tmpfs): it disappears on reboot together with the
// namespaces it describes. It is a convenience; `down` and `status` also work from the kernel.

export const STATE_DIR = process.env.KDL_STATE_DIR ?? '/run/k8s-dataplane-lab';

export interface LabRecord {
  lab: string;
  runtime: Topology['runtime'];
  status: 'creating' | 'up';
  pid: number; // the process that built it: a 'creating' record with a dead pid was interrupted
  createdAt: string;
  topology: Topology;
  /** a re-sync failed part-way: what the nodes hold is not known, so the next `apply` re-writes every rule */
  fullResync?: boolean;
}

/**
 * A lab's record file. The name is checked here too, whoever passed it: a name is a file name
 * inside STATE_DIR and a namespace prefix, so `..`, `/` or `.` in it would reach elsewhere.
 */
function file(lab: string): string {
  checkLabName(lab);
  return join(STATE_DIR, `${lab}.json`);
}

/** A regular file of ours: a symlink planted in the state folder is not followed. */
const isPlainFile = (path: string) => {
  try {
    return lstatSync(path).isFile();
  } catch {
    return false;
  }
};

const isRecord = (v: unknown, lab: string): v is LabRecord =>
  typeof v === 'object' && v !== null && (v as LabRecord).lab === lab && typeof (v as LabRecord).topology === 'object';

export function readRecord(lab: string): LabRecord | undefined {
  const path = file(lab);
  if (!isPlainFile(path)) return undefined;
  try {
    const rec: unknown = JSON.parse(readFileSync(path, 'utf8'));
    return isRecord(rec, lab) ? rec : undefined;
  } catch {
    return undefined;
  }
}

export function writeRecord(rec: LabRecord): void {
  mkdirSync(STATE_DIR, { recursive: true });
  const tmp = `${file(rec.lab)}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(rec, null, 2));
  renameSync(tmp, file(rec.lab)); // atomic: a reader never sees half a record
}

export function removeRecord(lab: string): void {
  const path = file(lab);
  if (isPlainFile(path)) rmSync(path, { force: true });
}

export function listRecords(): string[] {
  try {
    return readdirSync(STATE_DIR)
      .filter((f) => f.endsWith('.json'))
      .map((f) => f.slice(0, -5))
      .filter((lab) => labNameProblem(lab) === undefined && isPlainFile(join(STATE_DIR, `${lab}.json`)));
  } catch {
    return [];
  }
}

/** A zombie (killed, not yet reaped by its parent) counts as dead: it will never finish `up`. */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

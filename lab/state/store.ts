import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
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
}

const file = (lab: string) => join(STATE_DIR, `${lab}.json`);

export function readRecord(lab: string): LabRecord | undefined {
  try {
    return JSON.parse(readFileSync(file(lab), 'utf8')) as LabRecord;
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
  rmSync(file(lab), { force: true });
}

export function listRecords(): string[] {
  try {
    return readdirSync(STATE_DIR)
      .filter((f) => f.endsWith('.json'))
      .map((f) => f.slice(0, -5));
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

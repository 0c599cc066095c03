import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

// The repository's root, found from wherever this code runs: its sources (lab/…) under tsx, or
// the one-file bundle the VM's guest runs (node_modules/.cache/…). Files the lab reads or runs
// by path — pod scripts, the VM's init and agent, the node image's context, the default
// topology — are named from here, so both ways find them.

function findRepo(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'k8s-dataplane-lab') return dir;
    if (dirname(dir) === dir) throw new Error(`k8s-dataplane-lab's package.json not found above ${from}`);
  }
}

export const REPO = findRepo(__dirname);
export const inRepo = (...parts: string[]) => join(REPO, ...parts);

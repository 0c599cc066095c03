import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { STATE_DIR } from './store';

// Where a lab's BIRDs (Calico's bgp mode) keep their files: the configuration `up` writes and
// the control socket birdc talks to, under <state>/bird/<lab>/. `down` removes the folder.

export const birdDir = (lab: string) => join(STATE_DIR, 'bird', lab);

/** A unix socket's path has at most 107 bytes: a long node name gets a short hashed file name. */
export function birdFiles(lab: string, node: string): { conf: string; ctl: string } {
  const dir = birdDir(lab);
  const base = join(dir, node).length + 4 <= 107 ? node : createHash('sha256').update(node).digest('hex').slice(0, 12);
  return { conf: join(dir, `${base}.conf`), ctl: join(dir, `${base}.ctl`) };
}

/** `birdc -s <socket> …` of a node: what `lab exec <node> -- birdc -s …` also runs. */
export const birdcArgv = (lab: string, node: string, ...command: string[]) => ['birdc', '-s', birdFiles(lab, node).ctl, ...command];

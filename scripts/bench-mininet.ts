// `npm run bench -- up --against mininet`: Debian's mininet bringing up and down as many hosts
// as the lab has namespaces, on Linux bridges with no controller (bench-mininet.py does the
// timing through mininet's Python API). Installed here when asked, never at import.
//
// Mininet puts its switches (the bridges and their veth ends) in the namespace it runs in, so
// it runs inside a namespace of the bench's own that is deleted afterwards: the host's own
// network namespace is never changed. `mn -c` is not used: it kills processes by pattern
// (pkill -f mininet:, killall controller …) and removes /tmp/*.log and /tmp/*.out, whoever's.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { LocalExecutor } from '../lab/runtime/executor';

export interface MininetRun {
  hosts: number;
  switches: number;
  upSeconds: number;
  downSeconds: number;
  /** mininet's Python process (its hosts' shells are processes of their own) */
  peakMiB: number;
}

const sh = new LocalExecutor();
const NS = 'kdl.bench-mininet';
// Debian's python3 has mininet's module; a python3 earlier on PATH (pyenv) may not.
const PYTHON = '/usr/bin/python3';

/** apt-get install mininet (without its recommended Open vSwitch) and bridge-utils (lxbr's brctl). */
export async function ensureMininet(log: (s: string) => void): Promise<void> {
  if (existsSync('/usr/bin/mn') && existsSync('/usr/sbin/brctl')) return;
  log('  installing mininet and bridge-utils (apt-get)');
  await sh.run(['env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', 'install', '-y', '--no-install-recommends', 'mininet', 'bridge-utils']);
}

const hostLinks = async () => (await sh.run(['ip', '-o', 'link', 'show'])).stdout.trim().split('\n').length;

/** One mininet up + down of `hosts` hosts; checks that the host's namespace is as it was. */
export async function runMininet(hosts: number): Promise<MininetRun> {
  const before = await hostLinks();
  await sh.run(['ip', 'netns', 'del', NS], { check: false }); // an interrupted bench's
  await sh.run(['ip', 'netns', 'add', NS]);
  try {
    const script = join(__dirname, 'bench-mininet.py');
    const out = await sh.run(['ip', 'netns', 'exec', NS, PYTHON, script, String(hosts)]);
    const left = (await sh.run(['ip', '-n', NS, '-o', 'link', 'show'])).stdout.trim().split('\n');
    if (left.length !== 1) throw new Error(`mininet left ${left.length - 1} links behind in ${NS}`);
    return JSON.parse(out.stdout.trim().split('\n').at(-1)!) as MininetRun;
  } finally {
    await sh.run(['ip', 'netns', 'del', NS], { check: false });
    const after = await hostLinks();
    if (after !== before) console.error(`warning: the host namespace had ${before} links before mininet, ${after} after`);
  }
}

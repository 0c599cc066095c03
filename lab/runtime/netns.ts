import { readdir, readlink, stat } from 'node:fs/promises';
import { PREFIX } from '../network/names';
import type { Step } from '../network/plan';
import { type Executor, type ExecResult, LocalExecutor, type RunOptions } from './executor';
import type { Runtime } from './runtime';

const NETNS_DIR = '/run/netns';

/**
 * Nodes and pods as network namespaces on this host. Only `ip netns add/del` touch anything
 * outside the lab's namespaces (the name files under /run/netns); every link, address, route
 * and sysctl is set inside a lab namespace.
 */
export class NetnsRuntime implements Runtime {
  readonly kind = 'netns' as const;

  constructor(private readonly exec: Executor = new LocalExecutor()) {}

  async listNamespaces(): Promise<string[]> {
    try {
      return (await readdir(NETNS_DIR)).filter((n) => n.startsWith(`${PREFIX}.`)).sort();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
  }

  async createNamespaces(names: readonly string[]): Promise<void> {
    if (!names.length) return;
    await this.exec.run(['ip', '-batch', '-'], { input: names.map((n) => `netns add ${n}\n`).join(''), where: 'creating namespaces' });
  }

  async deleteNamespaces(names: readonly string[]): Promise<void> {
    if (!names.length) return;
    await killProcessesIn(names);
    // -force: keep going past names that are already gone, so down is idempotent.
    await this.exec.run(['ip', '-force', '-batch', '-'], {
      input: names.map((n) => `netns del ${n}\n`).join(''),
      check: false,
    });
    const left = (await this.listNamespaces()).filter((n) => names.includes(n));
    if (left.length) throw new Error(`could not remove namespaces: ${left.join(', ')}`);
  }

  async applyStep(step: Step): Promise<void> {
    const where = `${step.tool} in ${step.ns}`;
    if (step.tool === 'sysctl') {
      // nsenter joins only the network namespace: sysctls under net/ follow it, and it costs
      // less than `ip netns exec` (which also builds a mount namespace).
      await this.exec.run(['nsenter', `--net=${NETNS_DIR}/${step.ns}`, 'sysctl', '-q', '-w', ...step.lines], { where });
    } else {
      await this.exec.run([step.tool, '-n', step.ns, '-batch', '-'], { input: step.lines.join('\n') + '\n', where });
    }
  }

  run(ns: string, argv: readonly string[], opts?: RunOptions): Promise<ExecResult> {
    return this.exec.run(this.interactiveArgv(ns, argv), opts);
  }

  interactiveArgv(ns: string, argv: readonly string[]): string[] {
    // `ip netns exec` also mounts the namespace's own /sys, so /sys/class/net shows its links.
    return ['ip', 'netns', 'exec', ns, ...argv];
  }
}

/** SIGTERM, then SIGKILL, every process whose network namespace is one of `names`. */
async function killProcessesIn(names: readonly string[]): Promise<void> {
  const inodes = new Set<string>();
  for (const n of names) {
    try {
      inodes.add(`net:[${(await stat(`${NETNS_DIR}/${n}`)).ino}]`);
    } catch {
      /* already gone */
    }
  }
  if (!inodes.size) return;
  const find = async () => {
    const pids: number[] = [];
    for (const entry of await readdir('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        if (inodes.has(await readlink(`/proc/${entry}/ns/net`))) pids.push(Number(entry));
      } catch {
        /* exited meanwhile */
      }
    }
    return pids;
  };
  const signal = (pids: number[], sig: NodeJS.Signals) =>
    pids.forEach((p) => {
      try {
        process.kill(p, sig);
      } catch {
        /* exited meanwhile */
      }
    });
  let pids = await find();
  if (!pids.length) return;
  signal(pids, 'SIGTERM');
  for (let i = 0; i < 20 && pids.length; i++) {
    await new Promise((r) => setTimeout(r, 50));
    pids = await find();
  }
  signal(pids, 'SIGKILL');
}

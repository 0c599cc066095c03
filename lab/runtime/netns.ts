import { mkdtemp, readdir, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandError } from '../errors';
import { PREFIX } from '../network/names';
import type { Step } from '../network/plan';
import { type Executor, type ExecResult, LocalExecutor, type RunOptions } from './executor';
import type { Runtime } from './runtime';

const NETNS_DIR = '/run/netns';
/** processes xargs keeps running at once: the work is mostly in the kernel, under RTNL */
const FAN_OUT = 8;
const READ_STREAMS = 4;

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

  /**
   * Node's spawn costs ~2.7 ms a process here (it forks a large process), more than the `ip`
   * it starts; so one `xargs -P` starts every batch of a phase instead. Each line is
   * `nsenter --net=<ns> <tool> ...`: nsenter joins only the network namespace, which costs
   * ~25% less than `ip -n` (that also builds a mount namespace and remounts /sys each time).
   * The lines are argv words (namespace names, our own temp file paths, sysctl key=value),
   * never a shell.
   */
  async applySteps(steps: readonly Step[]): Promise<void> {
    if (!steps.length) return;
    const dir = await mkdtemp(join(tmpdir(), 'kdl-batch-'));
    try {
      const files = new Map<string, Step>();
      const lines: string[] = [];
      for (const [i, step] of steps.entries()) {
        const enter = `--net=${NETNS_DIR}/${step.ns}`;
        if (step.tool === 'sysctl') {
          lines.push(`${enter} sysctl -q -w ${step.lines.join(' ')}`);
        } else {
          const file = join(dir, `${i}.${step.ns}.${step.tool}`);
          await writeFile(file, step.lines.join('\n') + '\n');
          files.set(file, step);
          lines.push(`${enter} ${step.tool} -batch ${file}`);
        }
      }
      const r = await this.exec.run(['xargs', '-L', '1', '-P', String(FAN_OUT), 'nsenter'], { input: lines.join('\n') + '\n', check: false });
      if (r.code !== 0) throw new CommandError(['xargs', 'nsenter', '...'], r.code, explainBatchError(r.stderr, files), 'applying batches');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  async readAddresses(names: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    if (!names.length) return out;
    // READ_STREAMS ordered streams: line k of a stream is its k-th namespace's JSON.
    const per = Math.ceil(names.length / READ_STREAMS);
    const groups = Array.from({ length: READ_STREAMS }, (_, i) => names.slice(i * per, (i + 1) * per)).filter((g) => g.length);
    await Promise.all(
      groups.map(async (group) => {
        const input = group.map((ns) => `--net=${NETNS_DIR}/${ns} ip -j -d addr show\n`).join('');
        const r = await this.exec.run(['xargs', '-L', '1', '-P', '1', 'nsenter'], { input, check: false });
        const lines = r.stdout.split('\n').filter((l) => l.startsWith('['));
        if (r.code === 0 && lines.length === group.length) return group.forEach((ns, i) => out.set(ns, lines[i]!));
        // Some namespace vanished meanwhile: ask one by one to keep names and answers paired.
        for (const ns of group) {
          const one = await this.exec.run(['ip', '-n', ns, '-j', '-d', 'addr', 'show'], { check: false });
          if (one.code === 0) out.set(ns, one.stdout);
        }
      }),
    );
    return out;
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

/** Turns `Command failed FILE:LINE` into the namespace and the line of the batch that failed. */
function explainBatchError(stderr: string, files: Map<string, Step>): string {
  return stderr.replace(/Command failed (\S+):(\d+)/g, (all, file: string, line: string) => {
    const step = files.get(file);
    const text = step?.lines[Number(line) - 1];
    return step && text !== undefined ? `${step.tool} batch in ${step.ns}, line ${line}: ${text}` : all;
  });
}

import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandError, LabError } from '../errors';
import { PREFIX } from '../model/kernel-names';
import { type Step, toolCommand } from '../plan/types';
import type { Daemon } from '../pods/servers';
import { type ExecResult, LocalExecutor, type RunOptions, type Started } from './executor';
import { HostSide } from './host-side';
import { isBound } from './listening';
import type { Runtime, RuntimeFile } from './runtime';

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

  /** this machine's side: namespaces made, stopped and removed as the docker runtime does on a host */
  private readonly side: HostSide;

  constructor(private readonly exec: LocalExecutor = new LocalExecutor()) {
    this.side = new HostSide('', exec, true, { stop: killProcessesIn });
  }

  listNamespaces(): Promise<string[]> {
    return listLabNamespaces();
  }

  createNamespaces(names: readonly string[]): Promise<void> {
    return this.side.create(names);
  }

  async deleteNamespaces(names: readonly string[]): Promise<void> {
    if (!names.length) return;
    await this.side.remove(names);
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
  async applySteps(steps: Iterable<Step>): Promise<void> {
    const batchTool = (s: Step) => s.tool === 'ip' || s.tool === 'bridge' || s.tool === 'sysctl';
    // One pass over the steps (they may be made as they are read): batches go to xargs as they
    // come, rule batches are kept and run beside the batches' tail.
    const rules: Step[] = [];
    let read!: () => void;
    const allRead = new Promise<void>((resolve) => (read = resolve));
    const batched = function* (): Generator<Step> {
      try {
        for (const s of steps) {
          if (batchTool(s)) yield s;
          else rules.push(s);
        }
      } finally {
        read();
      }
    };
    await Promise.all([this.applyBatches(batched()), allRead.then(() => this.applyRules(rules))]);
  }

  /**
   * Rule batches (iptables-restore, nft, ipset, ipvsadm), one per node. Their errors name only a
   * line ("line 12 failed"), so a user's own file gets a process of its own: the error can then
   * name the file, the node and the line. The generated ones go through one `xargs` (a Node
   * spawn per batch costs more than the batch: 1,000 nodes' iptables-restore took 15 s that way,
   * 6 s through xargs); if one fails, each is checked again in its tool's test mode to name the
   * node (the lab is taken down after a failure anyway).
   */
  private async applyRules(steps: readonly Step[]): Promise<void> {
    const together = steps.filter((s) => !s.origin && TEST_MODE[s.tool] !== undefined);
    const alone = steps.filter((s) => !together.includes(s));
    await Promise.all([this.applyRuleFiles(together), this.applyRulesOneByOne(alone)]);
  }

  private async applyRulesOneByOne(steps: readonly Step[]): Promise<void> {
    const errors: string[] = [];
    const userErrors: string[] = [];
    await this.eachAtOnce(steps, async (step) => {
      const text = step.lines.join('\n') + '\n';
      const argv = ['nsenter', `--net=${NETNS_DIR}/${step.ns}`, ...toolCommand(step)];
      const timeoutMs = ruleBatchTimeoutMs(step.lines.length);
      const r = await this.exec.run(argv, { input: text, check: false, timeoutMs });
      if (r.code === 0) return;
      // killed by the timeout: it has nothing on stderr to say so (this was the 5,000 x 10 nftables "exit 1, empty stderr")
      const why = r.signal ? timedOut(timeoutMs, step.lines.length) : explainRuleError(r.stderr.trim(), step);
      const what = `${toolCommand(step).join(' ')} in ${step.ns} failed: ${why}`;
      // a user's own file is input: say which file, and fail as bad input does
      if (step.origin) userErrors.push(`${step.origin.file}: ${step.origin.path}: ${what}`);
      else errors.push(what);
    });
    if (userErrors.length) throw new LabError(`a rule file of yours was refused:\n${[...new Set(userErrors)].join('\n')}`, 2);
    if (errors.length) throw new CommandError(['nsenter', '...'], 1, errors.join('\n'), 'installing rules');
  }

  /** Runs `each` over the steps, FAN_OUT at a time. */
  private async eachAtOnce(steps: readonly Step[], each: (s: Step) => Promise<void>): Promise<void> {
    const queue = [...steps];
    const worker = async () => {
      for (let step = queue.shift(); step; step = queue.shift()) await each(step);
    };
    await Promise.all(Array.from({ length: Math.min(FAN_OUT, queue.length) }, worker));
  }

  /** Generated rule batches from files, through one `xargs -P`, each under `timeout` (as the one-by-one path's). */
  private async applyRuleFiles(steps: readonly Step[]): Promise<void> {
    if (!steps.length) return;
    const dir = await mkdtemp(join(tmpdir(), 'kdl-rules-'));
    try {
      const files = new Map<Step, string>();
      const lines: string[] = [];
      for (const [i, step] of steps.entries()) {
        const file = join(dir, `${i}.${step.ns}.${step.tool}`);
        await writeFile(file, step.lines.join('\n') + '\n');
        files.set(step, file);
        const seconds = Math.ceil(ruleBatchTimeoutMs(step.lines.length) / 1000);
        lines.push(`${seconds} nsenter --net=${NETNS_DIR}/${step.ns} ${toolCommand(step, file).join(' ')}`);
      }
      // timeout -v says on stderr when it kills a batch; -s KILL: as the one-by-one path's timeout
      const r = await this.exec.run(['xargs', '-L', '1', '-P', String(FAN_OUT), 'timeout', '-v', '-s', 'KILL'], {
        input: lines.join('\n') + '\n',
        check: false,
      });
      if (r.code === 0) return;
      // Which batches: each checked again in its tool's test mode, in its namespace.
      const errors: string[] = [];
      await this.eachAtOnce(steps, async (step) => {
        const argv = ['nsenter', `--net=${NETNS_DIR}/${step.ns}`, ...TEST_MODE[step.tool]!(step, files.get(step)!)];
        const t = await this.exec.run(argv, { check: false, timeoutMs: ruleBatchTimeoutMs(step.lines.length) });
        if (t.code !== 0 && !t.signal)
          errors.push(`${toolCommand(step).join(' ')} in ${step.ns} failed: ${explainRuleError(t.stderr.trim(), step)}`);
      });
      const killed = r.stderr.includes('timeout: sending signal')
        ? `a batch was killed after the time allowed for it (120 s + 2 ms a line; a machine this loaded may need longer)\n`
        : '';
      // none of them refused in test mode: what the tools said, with the line quoted when every
      // node got the same batch (as without per-node rules), else the namespaces it was one of
      const texts = new Set(steps.map((st) => st.lines));
      const said = r.stderr.trim() || `xargs exited ${r.code ?? r.signal}`;
      const what = errors.length
        ? errors.join('\n')
        : texts.size === 1
          ? `${explainRuleError(said, steps[0]!)}\n  (the same batch in each of ${steps.length} namespaces)`
          : `${said}\n  (in one of ${steps.length} namespaces: ${steps[0]!.ns} ... ${steps.at(-1)!.ns})`;
      throw new CommandError(['nsenter', '...'], 1, killed + what, 'installing rules');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /**
   * Each step's batch is written to a file as the step is made and its `nsenter` line handed to
   * xargs at once: xargs starts the batches while the later ones are still being planned, and a
   * step's lines are dropped once written (a 1,000-node lab's configure phase is 2 million
   * lines). The files are removed when the phase is done.
   */
  private async applyBatches(steps: Iterator<Step>): Promise<void> {
    let next = steps.next();
    if (next.done) return;
    const dir = await mkdtemp(join(tmpdir(), 'kdl-batch-'));
    const files = new Map<string, Pick<Step, 'ns' | 'tool'>>();
    async function* xargsLines(): AsyncGenerator<string> {
      for (let i = 0; !next.done; i++, next = steps.next()) {
        const step = next.value;
        const enter = `--net=${NETNS_DIR}/${step.ns}`;
        if (step.tool === 'sysctl') {
          yield `${enter} sysctl -q -w ${step.lines.join(' ')}\n`;
        } else {
          const file = join(dir, `${i}.${step.ns}.${step.tool}`);
          await writeFile(file, step.lines.join('\n') + '\n');
          files.set(file, { ns: step.ns, tool: step.tool });
          yield `${enter} ${step.tool} -batch ${file}\n`;
        }
      }
    }
    try {
      const r = await this.exec.run(['xargs', '-L', '1', '-P', String(FAN_OUT), 'nsenter'], { input: xargsLines(), check: false });
      if (r.code !== 0)
        throw new CommandError(['xargs', 'nsenter', '...'], r.code, await explainBatchError(r.stderr, files), 'applying batches');
    } finally {
      steps.return?.(); // stopped early: the steps left are not made (and the caller hears the reading is over)
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
          const one = await this.side.addresses(ns);
          if (one !== undefined) out.set(ns, one);
        }
      }),
    );
    return out;
  }

  /**
   * Starts each daemon detached inside its namespace (nsenter execs it, so the pid is the
   * daemon's) and waits until its port is bound, read from /proc/<pid>/net/{tcp,udp}: that
   * file shows the sockets of the process's own network namespace, so no process is spawned
   * to ask. `down` stops them with the namespaces.
   */
  async startDaemons(daemons: readonly Daemon[], timeoutMs = 10_000): Promise<void> {
    const pending = daemons.map((d) => {
      const child = spawn('nsenter', [`--net=${NETNS_DIR}/${d.ns}`, ...d.argv], {
        detached: true,
        stdio: 'ignore',
        env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...d.env },
      });
      const state = { d, child, exited: undefined as string | undefined };
      child.on('error', (e) => (state.exited = e.message));
      child.on('exit', (code, sig) => (state.exited = `exited (${sig ?? `code ${code}`})`));
      child.unref();
      return state;
    });
    const deadline = Date.now() + timeoutMs;
    let waiting = pending;
    while (waiting.length) {
      const failed = waiting.filter((w) => w.exited);
      if (failed.length)
        throw new Error(`could not start: ${failed.map((w) => `${w.d.argv.join(' ')} in ${w.d.ns}: ${w.exited}`).join('; ')}`);
      waiting = waiting.filter((w) => !w.child.pid || !isBound(w.child.pid, w.d.ready.port, w.d.ready.protocol));
      if (!waiting.length) break;
      if (Date.now() > deadline)
        throw new Error(
          `not listening after ${timeoutMs} ms: ${waiting.map((w) => `${w.d.ready.protocol}/${w.d.ready.port} in ${w.d.ns}`).join(', ')}`,
        );
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  stopProcesses(names: readonly string[]): Promise<void> {
    return this.side.stop(names);
  }

  run(ns: string, argv: readonly string[], opts?: RunOptions): Promise<ExecResult> {
    // `ip netns exec` (also mounts the namespace's own /sys), as interactiveArgv
    return this.side.run(ns, argv, opts);
  }

  start(ns: string, argv: readonly string[]): Started {
    // nsenter execs the command, so signals reach it directly (tcpdump flushes on SIGINT).
    return this.exec.start(['nsenter', `--net=${NETNS_DIR}/${ns}`, ...argv]);
  }

  /** Namespaces on this host share its filesystem: the command writes the file where it goes. */
  fileFor(_ns: string, hostPath: string): Promise<RuntimeFile> {
    return Promise.resolve(this.side.fileFor(hostPath));
  }

  interactiveArgv(ns: string, argv: readonly string[]): string[] {
    // `ip netns exec` also mounts the namespace's own /sys, so /sys/class/net shows its links.
    return ['ip', 'netns', 'exec', ns, ...argv];
  }

  /** Nothing held open: commands run on this host. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Every namespace with the lab prefix on this host (the name files under /run/netns), sorted. */
export async function listLabNamespaces(): Promise<string[]> {
  try {
    return (await readdir(NETNS_DIR)).filter((n) => n.startsWith(`${PREFIX}.`)).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
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

/** The tools whose batches can go through one xargs: each reads a file and has a mode that checks it without applying it. */
const TEST_MODE: Partial<Record<Step['tool'], (s: Step, file: string) => string[]>> = {
  'iptables-restore': (s, file) => ['iptables-restore', '--test', ...(s.append ? ['--noflush'] : []), file],
  nft: (_s, file) => ['nft', '-c', '-f', file],
};

/** Turns `Command failed FILE:LINE` into the namespace and the line of the batch that failed (read back from its file). */
async function explainBatchError(stderr: string, files: Map<string, Pick<Step, 'ns' | 'tool'>>): Promise<string> {
  const quoted = new Map<string, string>();
  for (const [all, file, line] of stderr.matchAll(/Command failed (\S+):(\d+)/g)) {
    const step = files.get(file!);
    const text = step && (await readFile(file!, 'utf8').catch(() => undefined))?.split('\n')[Number(line) - 1];
    if (step && text !== undefined) quoted.set(all, `${step.tool} batch in ${step.ns}, line ${line}: ${text}`);
  }
  return stderr.replace(/Command failed (\S+):(\d+)/g, (all) => quoted.get(all) ?? all);
}

/**
 * How long a rule batch may take: 2 minutes, plus 2 ms a line. The tools' time grows faster than
 * their input: `nft -f` of 5,000 services x 10 endpoints (343,000 lines, 55,000 chains) takes
 * 40-100 s on two idle cores and more on loaded ones; a flat 2 minutes killed it.
 */
export const ruleBatchTimeoutMs = (lines: number) => 120_000 + 2 * lines;

export const timedOut = (timeoutMs: number, lines: number) =>
  `killed after ${Math.round(timeoutMs / 1000)} s, the time allowed for a batch of ${lines} lines (a machine this loaded may need longer)`;

/** Quotes the batch line a rule tool complained about (iptables-restore, nft, ipset name only its number). */
function explainRuleError(stderr: string, step: Step): string {
  const m = /line:? (\d+)|^[^:\s]*:(\d+):\d+/m.exec(stderr);
  const n = Number(m?.[1] ?? m?.[2]);
  const text = n ? step.lines[n - 1] : undefined;
  if (text === undefined) return stderr;
  return `${stderr}\n  ${step.origin ? `${step.origin.file}:${n}` : `line ${n}`}: ${text}`;
}

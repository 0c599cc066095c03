import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { CommandError, LabError } from '../errors';
import { type Step, toolCommand } from '../plan/types';
import type { Executor, ExecResult, RunOptions, Started } from './executor';
import type { RuntimeFile } from './runtime';

// What a runtime does on a host itself, through that host's shell (this machine's processes, or
// an ssh connection): network namespaces made, stopped and removed there, and commands run in
// them. The netns runtime is this on this machine (its nodes and pods are such namespaces); the
// docker runtime uses it for the lab's underlay namespace, naming node containers' namespaces,
// and the underlay tunnel in the host's own namespace. Every command is argv.

export interface HostSideOptions {
  /**
   * Stops every process in these namespaces before they are removed; default: SIGKILL to the
   * pids `ip netns pids` names, through the shell. (The netns runtime reads /proc itself.)
   */
  stop?: (names: readonly string[]) => Promise<void>;
}

export class HostSide {
  constructor(
    /** the host's name in messages ('' for this machine of the netns runtime) */
    readonly name: string,
    readonly shell: Executor,
    /** this machine: files the commands write are already here */
    readonly local: boolean,
    private readonly opts: HostSideOptions = {},
  ) {}

  private get onHost(): string {
    return this.name ? ` on ${this.name}` : '';
  }

  async list(): Promise<string[]> {
    const r = await this.shell.run(['ip', 'netns', 'list'], { check: false });
    return r.stdout
      .split('\n')
      .map((l) => l.split(' ')[0]!)
      .filter(Boolean);
  }

  async create(names: readonly string[]): Promise<void> {
    if (names.length)
      await this.shell.run(['ip', '-batch', '-'], {
        input: names.map((n) => `netns add ${n}\n`).join(''),
        where: `creating namespaces${this.onHost}`,
      });
  }

  /** Stops every process inside, then removes the namespaces; names already gone are fine. */
  async remove(names: readonly string[]): Promise<void> {
    if (!names.length) return;
    await this.stop(names);
    // -force: keep going past names that are already gone, so down is idempotent.
    await this.shell.run(['ip', '-force', '-batch', '-'], { input: names.map((n) => `netns del ${n}\n`).join(''), check: false });
  }

  /** Stops every process in these namespaces (captures, probes left running). */
  async stop(names: readonly string[]): Promise<void> {
    if (this.opts.stop) return this.opts.stop(names);
    const pids = (await Promise.all(names.map((n) => this.shell.run(['ip', 'netns', 'pids', n], { check: false })))).flatMap((r) =>
      r.stdout.split(/\s+/).filter(Boolean),
    );
    if (pids.length) await this.shell.run(['kill', '-9', ...pids], { check: false });
  }

  attach(name: string, pid: number): Promise<ExecResult> {
    return this.shell.run(['ip', 'netns', 'attach', name, String(pid)], { where: `naming ${name}'s network namespace on ${this.name}` });
  }

  /** argv inside a namespace of this host; `undefined`: the host's own namespace. */
  private inside(ns: string | undefined, argv: readonly string[]): string[] {
    return ns ? ['ip', 'netns', 'exec', ns, ...argv] : [...argv];
  }

  /** One step, its batch on stdin. Errors name the host and namespace; a user's file exits 2. */
  async apply(ns: string | undefined, step: Step): Promise<void> {
    const argv = step.tool === 'sysctl' ? ['sysctl', '-q', '-w', ...step.lines] : toolCommand(step);
    const r = await this.shell.run(this.inside(ns, argv), {
      ...(step.tool === 'sysctl' ? {} : { input: step.lines.join('\n') + '\n' }),
      check: false,
      timeoutMs: 120_000,
    });
    if (r.code === 0) return;
    const what = `${argv.join(' ')} in ${ns ?? 'the host namespace'} on ${this.name} failed: ${r.stderr.trim().split('\n').slice(0, 4).join('; ')}`;
    if (step.origin) throw new LabError(`a rule file of yours was refused:\n${step.origin.file}: ${step.origin.path}: ${what}`, 2);
    throw new CommandError(argv, r.code, what, 'applying the plan');
  }

  async addresses(ns: string): Promise<string | undefined> {
    const r = await this.shell.run(['ip', '-n', ns, '-j', '-d', 'addr', 'show'], { check: false });
    return r.code === 0 ? r.stdout : undefined;
  }

  /** argv in one of this host's namespaces, or in the host's own (ns undefined) */
  run(ns: string | undefined, argv: readonly string[], opts?: RunOptions): Promise<ExecResult> {
    return this.shell.run(this.inside(ns, argv), opts);
  }

  start(ns: string | undefined, argv: readonly string[]): Started {
    return this.shell.start(this.inside(ns, argv));
  }

  /** A file written on this host that must end up at hostPath here (captures at @lab). */
  fileFor(hostPath: string): RuntimeFile {
    return this.local ? { path: hostPath, collect: () => Promise.resolve() } : copiedFile(this.shell, hostPath);
  }
}

/**
 * A file written where `shell` runs (another machine, a container) that must end up at hostPath
 * here: a temporary path there, brought back by base64 over the shell (its output is text; a
 * pcap of a few MB is fine this way) and removed there.
 */
export function copiedFile(shell: Executor, hostPath: string): RuntimeFile {
  const there = `/tmp/kdl-${randomBytes(6).toString('hex')}-${basename(hostPath)}`;
  return {
    path: there,
    collect: async () => {
      const r = await shell.run(['base64', '-w0', there]);
      await writeFile(hostPath, Buffer.from(r.stdout, 'base64'));
      await shell.run(['rm', '-f', there], { check: false });
    },
  };
}

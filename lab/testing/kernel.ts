import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { inLab, PREFIX } from '../model/kernel-names';
import { LocalExecutor } from '../runtime/executor';
import { NetnsRuntime } from '../runtime/netns';

// Helpers for tests that build labs on the real kernel. They need root; outside CI a non-root
// run skips them with the reason printed, in CI (CI=true) a non-root run fails instead.

export const isRoot = process.getuid?.() === 0;

export function describeKernel(name: string, fn: () => void): void {
  if (isRoot) return describe(name, fn);
  if (process.env.CI) throw new Error(`${name}: kernel tests need root and CI=true is set`);
  console.warn(`skipping '${name}': kernel tests need root`);
  describe.skip(name, fn);
}

export const rt = new NetnsRuntime();
export const host = new LocalExecutor();

export const REPO = join(__dirname, '..', '..');
export const topologyFile = (name: string) => join(REPO, 'scenarios', 'topologies', name);

/** Lab namespaces that exist now (from /run/netns). */
export function labNamespaces(lab?: string): string[] {
  let all: string[] = [];
  try {
    all = readdirSync('/run/netns');
  } catch {
    /* none yet */
  }
  return all.filter((n) => (lab ? inLab(n, lab) : n.startsWith(`${PREFIX}.`))).sort();
}

/** Runs argv in a lab namespace and returns stdout; fails the test on a non-zero exit. */
export async function nsRun(ns: string, argv: string[], check = true): Promise<string> {
  return (await rt.run(ns, argv, { check, timeoutMs: 30000 })).stdout;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Node running the TypeScript CLI as `npm run lab` does: tsx as a loader, no process of its own between. */
export const TSX_NODE = [process.execPath, '--import', 'tsx'] as const;

/** Runs the real CLI (node --import tsx lab/cli.ts) as a user would. */
export function cli(args: string[], opts: { env?: NodeJS.ProcessEnv; onSpawn?: (pid: number) => void } = {}): Promise<CliResult> {
  return cliStarted(args, opts).done;
}

export interface StartedCli {
  /** what it has written to stdout so far */
  stdout(): string;
  /** its exit code and whole output, once it has exited */
  done: Promise<CliResult>;
}

/** The real CLI, started: its stdout can be watched (waitFor) while it runs. */
export function cliStarted(args: string[], opts: { env?: NodeJS.ProcessEnv; onSpawn?: (pid: number) => void } = {}): StartedCli {
  let stdout = '';
  let stderr = '';
  const done = new Promise<CliResult>((resolve, reject) => {
    const child = spawn(TSX_NODE[0], [...TSX_NODE.slice(1), join(REPO, 'lab', 'cli.ts'), ...args], {
      cwd: REPO,
      env: { ...process.env, NO_COLOR: '1', ...opts.env },
    });
    if (child.pid) opts.onSpawn?.(child.pid);
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  return { stdout: () => stdout, done };
}

/**
 * A lab of the describe block's own, built through the CLI before its tests (leftovers of an
 * interrupted run removed first) and taken down after them.
 */
export function withLab(name: string, upArgs: string[] = []): void {
  beforeAll(async () => {
    await cli(['down', '--name', name]);
    const r = await cli(['up', '--name', name, ...upArgs]);
    if (r.code !== 0) throw new Error(`lab up --name ${name} exited ${r.code}: ${r.stderr}`);
  }, 60000);
  afterAll(async () => {
    await cli(['down', '--name', name]);
  });
}

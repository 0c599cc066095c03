import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO, TSX_NODE } from './kernel';
import { waitFor } from './wait';

// `lab up` run in the background as a user's terminal would run it, for tests that stop it
// half-way. It gets its own process group, so a SIGKILL reaches every process it started, as
// a killed terminal would; its progress lines (listr2's plain renderer off a terminal: `❯ links`
// when a stage starts, `✔ links: …` when it is done) are kept for waiting on.

/** The stage after which `up` holds for a minute, so that a kill lands between two stages (read by lab/testing/paused-cli.ts, which injects it into up). */
export const PAUSE_AFTER_ENV = 'KDL_TEST_PAUSE_AFTER';
/** The step (1-based) after which `run` holds until a signal comes (read by lab/testing/paused-cli.ts). */
export const PAUSE_AFTER_STEP_ENV = 'KDL_TEST_PAUSE_AFTER_STEP';

export interface DetachedUp {
  child: ChildProcess;
  /** stdout and stderr so far */
  output(): string;
  /** resolves when the process has exited (with its code, or null when killed) */
  exited: Promise<number | null>;
  /** waits until `up` has begun `stage` (its `❯ <stage>` line) */
  stageStarted(stage: string, timeoutMs?: number): Promise<void>;
  /** SIGKILL to the whole process group, then waits for it to exit */
  kill(): Promise<void>;
}

/** Spawns `lab up <args>` detached; `pauseAfter` holds it after that stage. */
export function upDetached(args: string[], opts: { pauseAfter?: string } = {}): DetachedUp {
  const child = spawn(TSX_NODE[0], [...TSX_NODE.slice(1), join(REPO, 'lab', 'testing', 'paused-cli.ts'), 'up', ...args], {
    cwd: REPO,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1', ...(opts.pauseAfter ? { [PAUSE_AFTER_ENV]: opts.pauseAfter } : {}) },
  });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  let code: number | null | undefined;
  const exited = new Promise<number | null>((r) =>
    child.on('exit', (c) => {
      code = c;
      r(c);
    }),
  );
  return {
    child,
    output: () => out,
    exited,
    stageStarted: async (stage, timeoutMs = 60_000) => {
      const re = new RegExp(`^❯ ${stage.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm');
      await waitFor(
        () => {
          if (code !== undefined) throw new Error(`up exited ${code} before stage '${stage}': ${out}`);
          return re.test(out);
        },
        { timeoutMs, what: `up to begin its '${stage}' stage (output so far: ${JSON.stringify(out.slice(-400))})` },
      );
    },
    kill: async () => {
      if (code === undefined) process.kill(-child.pid!, 'SIGKILL');
      await exited;
    },
  };
}

/**
 * The SIGKILL harness: `up <args>` held after `stage`, killed once that stage has begun and
 * `ready` (the stage's effect, seen in the kernel or the engine) holds. The lab is left
 * half-built for the test to check that `down` (or the next `up`) removes it.
 */
export async function killUpHalfWay(
  args: string[],
  stage: string,
  ready: () => boolean | Promise<boolean>,
  timeoutMs = 60_000,
): Promise<DetachedUp> {
  const up = upDetached(args, { pauseAfter: stage });
  try {
    await up.stageStarted(stage, timeoutMs);
    await waitFor(
      async () => {
        if (up.child.exitCode !== null || up.child.signalCode !== null)
          throw new Error(`up exited before stage '${stage}' was held: ${up.output()}`);
        return ready();
      },
      { timeoutMs, what: `the effect of up's '${stage}' stage` },
    );
  } finally {
    await up.kill();
  }
  return up;
}

import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { CommandError, LabError } from '../errors';

// The one seam through which the lab runs commands. Always argv arrays, never a shell string.
// This host's executor uses child_process; a container's (dockerode exec) or a remote host's
// (ssh2) implement the same interface.

export interface ExecResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** written to the command's stdin (batch files) */
  input?: string;
  timeoutMs?: number;
  /** throw CommandError on a non-zero exit (default true) */
  check?: boolean;
  /** what the command was for, in error messages */
  where?: string;
  /**
   * Stops the command when aborted (a run interrupted by Ctrl-C): the command and every process
   * it started are killed, and the call rejects with the signal's reason once they are gone.
   */
  signal?: AbortSignal;
}

/** The error an aborted command rejects with: the signal's reason when it is an Error. */
export function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new LabError('stopped: the command was aborted');
}

/** A process left running (a capture): its stderr as it comes, a signal to stop it, its exit. */
export interface Started {
  readonly pid: number | undefined;
  onStderr(listener: (text: string) => void): void;
  signal(sig: NodeJS.Signals): void;
  readonly exited: Promise<ExecResult>;
}

export interface Executor {
  run(argv: readonly string[], opts?: RunOptions): Promise<ExecResult>;
  start(argv: readonly string[]): Started;
}

/** This host's run options: stdin may also be fed as it is made (a phase's batches, planned while applied). */
export interface LocalRunOptions extends Omit<RunOptions, 'input'> {
  /** a text, or pieces made as the command reads them: each is written once the pipe has room */
  input?: string | AsyncIterable<string>;
}

export class LocalExecutor implements Executor {
  run(argv: readonly string[], opts: LocalRunOptions = {}): Promise<ExecResult> {
    const [cmd, ...args] = argv;
    if (!cmd) return Promise.reject(new Error('empty argv'));
    const { signal } = opts;
    if (signal?.aborted) return Promise.reject(abortError(signal));
    return new Promise((resolve, reject) => {
      const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
      // aborted: SIGTERM to the command and what it started (a script's socat), SIGKILL a second later
      let killer: NodeJS.Timeout | undefined;
      const onAbort = () => {
        if (child.pid === undefined) return;
        const tree = killTree(child.pid, 'SIGTERM');
        killer = setTimeout(() => signalAll(tree, 'SIGKILL'), 1000);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const settled = () => {
        clearTimeout(timer);
        clearTimeout(killer);
        signal?.removeEventListener('abort', onAbort);
      };
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (b: Buffer) => out.push(b));
      child.stderr.on('data', (b: Buffer) => err.push(b));
      let timer: NodeJS.Timeout | undefined;
      if (opts.timeoutMs) timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
      child.on('error', (e: NodeJS.ErrnoException) => {
        settled();
        reject(new CommandError(argv, null, e.code === 'ENOENT' ? `${cmd}: command not found` : e.message, opts.where));
      });
      // the feed failed (its planning threw): the command is stopped and the feed's error is the outcome
      let feedError: unknown;
      child.on('close', (code, sig) => {
        settled();
        // gone, with whatever it started: the abort is the outcome, not the exit code it died with
        if (signal?.aborted) return reject(abortError(signal));
        if (feedError !== undefined) return reject(feedError instanceof Error ? feedError : new Error('feeding the command failed'));
        const res: ExecResult = { code, signal: sig, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
        if ((opts.check ?? true) && code !== 0) {
          const why = sig && opts.timeoutMs ? `timed out after ${opts.timeoutMs} ms\n${res.stderr}` : res.stderr;
          reject(new CommandError(argv, code, why, opts.where));
        } else resolve(res);
      });
      // A command that does not read stdin may close it early; that is not an error.
      child.stdin.on('error', () => undefined);
      const input = opts.input ?? '';
      if (typeof input === 'string') child.stdin.end(input);
      else
        feed(input, child.stdin).catch((e: unknown) => {
          feedError = e;
          child.kill('SIGKILL');
        });
    });
  }

  start(argv: readonly string[]): Started {
    const [cmd, ...args] = argv;
    if (!cmd) throw new Error('empty argv');
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const listeners: ((text: string) => void)[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => {
      err.push(b);
      for (const l of listeners) l(b.toString());
    });
    const exited = new Promise<ExecResult>((resolve) => {
      child.on('error', (e: NodeJS.ErrnoException) =>
        resolve({ code: null, signal: null, stdout: '', stderr: e.code === 'ENOENT' ? `${cmd}: command not found` : e.message }),
      );
      child.on('close', (code, signal) =>
        resolve({ code, signal, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }),
      );
    });
    return {
      pid: child.pid,
      onStderr: (l) => listeners.push(l),
      signal: (sig) => {
        if (child.exitCode === null && child.signalCode === null) child.kill(sig);
      },
      exited,
    };
  }
}

/** Writes each piece as the pipe takes it (waiting for 'drain'), then ends it; a closed pipe ends the feed. */
async function feed(pieces: AsyncIterable<string>, stdin: Writable): Promise<void> {
  for await (const piece of pieces) {
    if (stdin.destroyed) return; // the command exited early: what it says is in its exit code and stderr
    if (!stdin.write(piece))
      await new Promise<void>((resolve) => {
        const done = () => {
          stdin.off('drain', done);
          stdin.off('close', done);
          resolve();
        };
        stdin.on('drain', done);
        stdin.on('close', done);
      });
  }
  stdin.end();
}

/**
 * Signals a process and all its descendants on this host (found from /proc/<pid>/stat before
 * any is signalled: once a parent dies its children are re-parented and no longer found).
 * Returns the pids signalled.
 */
export function killTree(pid: number, sig: NodeJS.Signals): number[] {
  const children = new Map<number, number[]>();
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    /* no /proc: the process itself only */
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      // pid (comm) state ppid ...: comm may hold spaces and parentheses, so read after the last ')'
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(e)]);
    } catch {
      /* exited meanwhile */
    }
  }
  const all: number[] = [];
  for (const queue = [pid]; queue.length;) {
    const p = queue.shift();
    if (p === undefined) break;
    all.push(p);
    queue.push(...(children.get(p) ?? []));
  }
  signalAll(all, sig);
  return all;
}

function signalAll(pids: readonly number[], sig: NodeJS.Signals): void {
  for (const p of pids)
    try {
      process.kill(p, sig);
    } catch {
      /* exited meanwhile */
    }
}

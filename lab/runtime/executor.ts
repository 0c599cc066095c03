import { spawn } from 'node:child_process';
import { CommandError } from '../errors';

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

export class LocalExecutor implements Executor {
  run(argv: readonly string[], opts: RunOptions = {}): Promise<ExecResult> {
    const [cmd, ...args] = argv;
    if (!cmd) return Promise.reject(new Error('empty argv'));
    return new Promise((resolve, reject) => {
      const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (b: Buffer) => out.push(b));
      child.stderr.on('data', (b: Buffer) => err.push(b));
      let timer: NodeJS.Timeout | undefined;
      if (opts.timeoutMs) timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
      child.on('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(new CommandError(argv, null, e.code === 'ENOENT' ? `${cmd}: command not found` : e.message, opts.where));
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        const res: ExecResult = { code, signal, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
        if ((opts.check ?? true) && code !== 0) {
          const why = signal && opts.timeoutMs ? `timed out after ${opts.timeoutMs} ms\n${res.stderr}` : res.stderr;
          reject(new CommandError(argv, code, why, opts.where));
        } else resolve(res);
      });
      // A command that does not read stdin may close it early; that is not an error.
      child.stdin.on('error', () => undefined);
      child.stdin.end(opts.input ?? '');
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

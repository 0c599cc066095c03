import { PassThrough } from 'node:stream';
import type Dockerode from 'dockerode';
import { CommandError } from '../errors';
import { abortError, type Executor, type ExecResult, type RunOptions, type Started } from '../runtime/executor';
import { PID_WRAP, PidLine } from '../runtime/pid-line';

// The executor seam for a container: dockerode exec with argv (never a shell string built from
// input), stdin for batch files, stdout/stderr demultiplexed, the exit code from the exec's
// inspect. It works the same on a local engine and on one reached over ssh, because it only
// speaks the engine's API.

export class DockerExecutor implements Executor {
  constructor(
    private readonly docker: Dockerode,
    /** container id or name */
    readonly container: string,
  ) {}

  async run(argv: readonly string[], opts: RunOptions = {}): Promise<ExecResult> {
    const { signal } = opts;
    if (signal?.aborted) throw signal ? abortError(signal) : new Error('aborted');
    const started = await this.open(argv, opts.input !== undefined);
    if (opts.input !== undefined) started.stdin.end(opts.input);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((r) => {
      if (opts.timeoutMs) timer = setTimeout(() => r('timeout'), opts.timeoutMs);
    });
    // aborted (a run interrupted): the command's own process is killed, as on a timeout
    let onAbort = () => undefined as void;
    const aborted = new Promise<'aborted'>((r) => {
      onAbort = () => r('aborted');
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    const outcome = await Promise.race([started.done, timedOut, aborted]);
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
    if (outcome === 'aborted') {
      await this.signal(started, 'SIGKILL');
      await started.done.catch(() => undefined);
      throw signal ? abortError(signal) : new Error('aborted');
    }
    if (outcome === 'timeout') {
      await this.signal(started, 'SIGKILL');
      throw new CommandError(argv, null, `timed out after ${opts.timeoutMs} ms`, opts.where);
    }
    const res = outcome;
    if ((opts.check ?? true) && res.code !== 0) throw new CommandError(argv, res.code, res.stderr, opts.where);
    return res;
  }

  start(argv: readonly string[]): Started {
    const listeners: ((text: string) => void)[] = [];
    const opening = this.open(argv, false, (t) => listeners.forEach((l) => l(t)));
    let pid: number | undefined;
    void opening.then(
      (s) => (pid = s.pid),
      () => undefined,
    );
    const exited = opening.then(
      (s) => s.done,
      (e: unknown): ExecResult => ({ code: null, signal: null, stdout: '', stderr: e instanceof Error ? e.message : String(e) }),
    );
    return {
      get pid() {
        return pid;
      },
      onStderr: (l) => listeners.push(l),
      signal: (sig) => void opening.then((s) => this.signal(s, sig)).catch(() => undefined),
      exited,
    };
  }

  /** Starts argv in the container, wrapped to tell its pid (the engine cannot signal an exec). */
  private async open(argv: readonly string[], stdin: boolean, onStderr?: (text: string) => void): Promise<Opened> {
    const exec = await this.docker.getContainer(this.container).exec({
      Cmd: [...PID_WRAP, ...argv],
      AttachStdin: stdin,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
    });
    const stream = await exec.start({ hijack: true, stdin });
    const out: Buffer[] = [];
    let err = '';
    const pidLine = new PidLine();
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    stdout.on('data', (b: Buffer) => out.push(b));
    stderr.on('data', (b: Buffer) => {
      const text = pidLine.feed(b.toString());
      err += text;
      if (text) onStderr?.(text);
    });
    this.docker.modem.demuxStream(stream, stdout, stderr);
    const done = new Promise<ExecResult>((resolve, reject) => {
      stream.on('error', reject);
      stream.on('end', () => {
        err += pidLine.end();
        exec
          .inspect()
          .then(
            (info) => resolve({ code: info.ExitCode ?? null, signal: null, stdout: Buffer.concat(out).toString(), stderr: err }),
            reject,
          );
      });
    });
    return { stdin: stream, done, pid: await pidLine.pid, pidKnown: pidLine.pid };
  }

  private async signal(s: Opened, sig: NodeJS.Signals): Promise<void> {
    const pid = await s.pidKnown;
    if (pid === undefined) return;
    await this.run(['kill', '-s', sig.replace(/^SIG/, ''), String(pid)], { check: false });
  }
}

interface Opened {
  stdin: NodeJS.WritableStream;
  done: Promise<ExecResult>;
  pid: number | undefined;
  pidKnown: Promise<number | undefined>;
}

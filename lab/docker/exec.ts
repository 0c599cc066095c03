import { PassThrough } from 'node:stream';
import type Dockerode from 'dockerode';
import { CommandError } from '../errors';
import type { Executor, ExecResult, RunOptions, Started } from '../runtime/executor';

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
    const started = await this.open(argv, opts.input !== undefined);
    if (opts.input !== undefined) started.stdin.end(opts.input);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((r) => {
      if (opts.timeoutMs) timer = setTimeout(() => r('timeout'), opts.timeoutMs);
    });
    const outcome = await Promise.race([started.done, timedOut]);
    clearTimeout(timer);
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
    void opening.then((s) => (pid = s.pid), () => undefined);
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

  /**
   * Starts argv in the container. The command is wrapped so that its first line on stderr is its
   * pid inside the container (`sh -c 'echo $$ >&2; exec "$@"'`: the arguments stay argv), because
   * the engine has no call to signal an exec'd process; `signal` then execs `kill` for it.
   */
  private async open(argv: readonly string[], stdin: boolean, onStderr?: (text: string) => void): Promise<Opened> {
    const exec = await this.docker.getContainer(this.container).exec({
      Cmd: ['sh', '-c', 'echo "kdl-pid $$" >&2; exec "$@"', 'sh', ...argv],
      AttachStdin: stdin,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
    });
    const stream = await exec.start({ hijack: true, stdin });
    const out: Buffer[] = [];
    let err = '';
    let pidLine = true;
    let resolvePid: (pid: number | undefined) => void = () => undefined;
    const pidKnown = new Promise<number | undefined>((r) => (resolvePid = r));
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    stdout.on('data', (b: Buffer) => out.push(b));
    stderr.on('data', (b: Buffer) => {
      let text = b.toString();
      if (pidLine) {
        const m = /^kdl-pid (\d+)\n/.exec(err + text);
        if (!m && !(err + text).includes('\n')) {
          err += text; // the pid line is not complete yet
          return;
        }
        pidLine = false;
        resolvePid(m ? Number(m[1]) : undefined);
        text = m ? (err + text).slice(m[0].length) : err + text;
        err = '';
      }
      err += text;
      if (text) onStderr?.(text);
    });
    this.docker.modem.demuxStream(stream, stdout, stderr);
    const done = new Promise<ExecResult>((resolve, reject) => {
      stream.on('error', reject);
      stream.on('end', () => {
        resolvePid(undefined);
        exec.inspect().then(
          (info) => resolve({ code: info.ExitCode ?? null, signal: null, stdout: Buffer.concat(out).toString(), stderr: err }),
          reject,
        );
      });
    });
    return { stdin: stream, done, pid: await pidKnown.then((p) => p).catch(() => undefined), pidKnown };
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

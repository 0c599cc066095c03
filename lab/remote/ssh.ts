import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { Client, type ClientChannel, type ConnectConfig } from 'ssh2';
import { CommandError, LabError } from '../errors';
import type { Executor, ExecResult, RunOptions, Started } from '../runtime/executor';
import { PID_WRAP, PidLine } from '../runtime/pid-line';
import { checkHostKey, DEFAULT_KNOWN_HOSTS, hostField } from './known-hosts';
export { parseSshUrl } from '../topology/ssh-url';

// A host reached over ssh (ssh2): an executor for commands on the host itself (its underlay
// namespace, `ip netns attach`) and an http.Agent that carries the Docker API over the same
// connection (`docker system dial-stdio` per request, as the docker CLI does for ssh://), so
// dockerode drives a remote engine with the same code as the local one. The host key is
// checked against known_hosts before anything is sent; key or agent authentication only.

export interface SshTarget {
  user: string;
  host: string;
  port: number;
  /** private key file; default ~/.ssh/id_ed25519, then id_rsa, then the ssh agent */
  identityFile?: string;
  /** default ~/.ssh/known_hosts */
  knownHosts?: string;
  /** argv whose stdio is the connection (like ssh's ProxyCommand); %h and %p are replaced */
  proxyCommand?: string[];
}

/** One argv word for a POSIX shell: ssh runs commands through the remote user's shell. */
export const shellWord = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

export class SshHost implements Executor {
  private constructor(
    readonly target: SshTarget,
    private readonly client: Client,
  ) {}

  get name(): string {
    return `${this.target.user}@${hostField(this.target.host, this.target.port)}`;
  }

  static async connect(target: SshTarget, timeoutMs = 15_000): Promise<SshHost> {
    const client = new Client();
    const known = target.knownHosts ?? DEFAULT_KNOWN_HOSTS;
    let refused: string | undefined;
    const config: ConnectConfig = {
      host: target.host,
      port: target.port,
      username: target.user,
      readyTimeout: timeoutMs,
      hostVerifier: (key: Buffer) => {
        const v = checkHostKey(known, target.host, target.port, key);
        if (!v.ok) refused = v.reason;
        return v.ok;
      },
      ...credentials(target),
    };
    if (target.proxyCommand) config.sock = proxyStream(target);
    await new Promise<void>((resolve, reject) => {
      client.once('ready', () => resolve());
      client.once('error', (e: Error) =>
        reject(new LabError(`ssh to ${target.user}@${hostField(target.host, target.port)}: ${refused ?? e.message}`, 2)),
      );
      client.connect(config);
    });
    return new SshHost(target, client);
  }

  close(): void {
    this.client.end();
  }

  private channel(command: string): Promise<ClientChannel> {
    return new Promise((resolve, reject) => this.client.exec(command, (err, ch) => (err ? reject(err) : resolve(ch))));
  }

  private async open(
    argv: readonly string[],
    onStderr?: (text: string) => void,
  ): Promise<{ ch: ClientChannel; done: Promise<ExecResult>; pidLine: PidLine }> {
    const ch = await this.channel([...PID_WRAP, ...argv].map(shellWord).join(' '));
    const out: Buffer[] = [];
    let err = '';
    const pidLine = new PidLine();
    ch.on('data', (b: Buffer) => out.push(b));
    ch.stderr.on('data', (b: Buffer) => {
      const text = pidLine.feed(b.toString());
      err += text;
      if (text) onStderr?.(text);
    });
    const done = new Promise<ExecResult>((resolve) => {
      let code: number | null = null;
      let signal: NodeJS.Signals | null = null;
      ch.on('exit', (c: number | null, sig?: string) => {
        code = c;
        signal = sig ? ((sig.startsWith('SIG') ? sig : `SIG${sig}`) as NodeJS.Signals) : null;
      });
      ch.on('close', () => {
        err += pidLine.end();
        resolve({ code, signal, stdout: Buffer.concat(out).toString(), stderr: err });
      });
    });
    return { ch, done, pidLine };
  }

  async run(argv: readonly string[], opts: RunOptions = {}): Promise<ExecResult> {
    const { ch, done, pidLine } = await this.open(argv);
    ch.end(opts.input ?? '');
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'timeout'>((r) => opts.timeoutMs && (timer = setTimeout(() => r('timeout'), opts.timeoutMs)));
    const res = await Promise.race([done, late]);
    clearTimeout(timer);
    if (res === 'timeout') {
      await this.kill(pidLine, 'SIGKILL');
      throw new CommandError(argv, null, `timed out after ${opts.timeoutMs} ms on ${this.name}`, opts.where);
    }
    if ((opts.check ?? true) && res.code !== 0) throw new CommandError(argv, res.code, res.stderr, opts.where ?? `on ${this.name}`);
    return res;
  }

  start(argv: readonly string[]): Started {
    const listeners: ((text: string) => void)[] = [];
    const opening = this.open(argv, (t) => listeners.forEach((l) => l(t)));
    let pid: number | undefined;
    void opening.then(
      (o) => o.pidLine.pid.then((p) => (pid = p)),
      () => undefined,
    );
    return {
      get pid() {
        return pid;
      },
      onStderr: (l) => listeners.push(l),
      signal: (sig) => void opening.then((o) => this.kill(o.pidLine, sig)).catch(() => undefined),
      exited: opening.then(
        (o) => o.done,
        (e: unknown): ExecResult => ({ code: null, signal: null, stdout: '', stderr: e instanceof Error ? e.message : String(e) }),
      ),
    };
  }

  private async kill(pidLine: PidLine, sig: NodeJS.Signals): Promise<void> {
    const pid = await pidLine.pid;
    if (pid !== undefined) await this.run(['kill', '-s', sig.replace(/^SIG/, ''), String(pid)], { check: false });
  }

  /** An http.Agent whose connections are `docker system dial-stdio` channels on this host. */
  dockerAgent(): Agent {
    // no keep-alive: with it a two-host up failed (tried once; not traced further), so each
    // request opens its own dial-stdio channel
    const agent = new Agent({ keepAlive: false });
    (agent as unknown as { createConnection: (o: unknown, cb: (e: Error | null, s?: Duplex) => void) => void }).createConnection = (
      _o,
      cb,
    ) => {
      this.channel('docker system dial-stdio').then(
        (ch) => cb(null, ch as unknown as Duplex),
        (e: Error) => cb(e),
      );
    };
    return agent;
  }
}

function credentials(t: SshTarget): Partial<ConnectConfig> {
  const candidates = t.identityFile ? [t.identityFile] : ['id_ed25519', 'id_ecdsa', 'id_rsa'].map((f) => join(homedir(), '.ssh', f));
  const file = candidates.find((f) => existsSync(f));
  if (t.identityFile && !file) throw new LabError(`ssh identity file ${t.identityFile} does not exist`, 2);
  const agent = process.env.SSH_AUTH_SOCK;
  if (!file && !agent)
    throw new LabError(
      `no ssh key for ${t.user}@${t.host}: none of ${candidates.join(', ')} exists and no ssh agent runs (SSH_AUTH_SOCK)`,
      2,
    );
  return { ...(file ? { privateKey: readFileSync(file) } : {}), ...(agent ? { agent } : {}) };
}

/** The proxy command's stdin/stdout as one duplex stream for ssh2's `sock`. */
function proxyStream(t: SshTarget): Duplex {
  const argv = t.proxyCommand!.map((w) => w.replace(/%h/g, t.host).replace(/%p/g, String(t.port)));
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
  const duplex = new Duplex({
    read() {
      child.stdout.resume();
    },
    write(chunk: Buffer, _enc, cb) {
      child.stdin.write(chunk, cb);
    },
    final(cb) {
      child.stdin.end();
      cb();
    },
    destroy(err, cb) {
      child.kill();
      cb(err);
    },
  });
  child.stdout.on('data', (b: Buffer) => {
    if (!duplex.push(b)) child.stdout.pause();
  });
  child.stdout.on('end', () => duplex.push(null));
  child.on('error', (e) => duplex.destroy(e));
  return duplex;
}

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { CommandError, LabError } from '../errors';
import { shellWord } from '../remote/ssh';
import type { Executor, ExecResult, RunOptions, Started } from '../runtime/executor';
import { STATE_DIR } from '../state/store';
import type { VmAssets } from './assets';
import { inRepo } from '../paths';

// A small QEMU guest running Debian's stock kernel over this machine's own files (9p, read-only,
// tmpfs overlay): the lab's code, Node and the OS tools are the host's, the kernel is the one
// with IPVS. Commands go in and out through an agent on the guest's second serial port, which
// QEMU puts on a Unix socket here (0.15–0.2 s a command on TCG, against ~0.7 s for a queue in a
// shared folder; and no network to set up for ssh). KVM is used only where it works: on these
// machines /dev/kvm is a nested software layer that fails a stock kernel, so TCG is the default.

export const AGENT_SCRIPT = inRepo('lab', 'vm', 'agent.sh');

export interface VmOptions {
  /** names the VM's state folder (/run/k8s-dataplane-lab/vm/<name>) */
  name: string;
  /** shared read-write at the same path inside (results, pcaps) */
  results: string;
  memoryMb?: number;
  accel?: 'tcg' | 'kvm';
  bootTimeoutMs?: number;
}

const vmDir = (name: string) => join(STATE_DIR, 'vm', name);

export class Vm implements Executor {
  private buffer = '';
  private waiting = new Map<number, (line: string) => void>();
  private next = 1;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly name: string,
    readonly pid: number,
    readonly kernel: string,
    private readonly socket: Socket,
    readonly bootSeconds: number,
  ) {
    socket.on('data', (b: Buffer) => {
      this.buffer += b.toString();
      let nl: number;
      while ((nl = this.buffer.indexOf('\n')) >= 0) {
        const line = this.buffer.slice(0, nl).replace(/\r$/, '');
        this.buffer = this.buffer.slice(nl + 1);
        const id = Number(line.split(' ', 1)[0]);
        this.waiting.get(id)?.(line);
        this.waiting.delete(id);
      }
    });
  }

  static async boot(assets: VmAssets, opts: VmOptions): Promise<Vm> {
    const dir = vmDir(opts.name);
    await stopVm(opts.name);
    mkdirSync(dir, { recursive: true });
    mkdirSync(opts.results, { recursive: true });
    const sock = join(dir, 'agent.sock');
    const t0 = performance.now();
    const share = (id: string, path: string, tag: string, ro: boolean) => [
      '-fsdev',
      `local,id=${id},path=${path},security_model=none${ro ? ',readonly=on' : ''},multidevs=remap`,
      '-device',
      `virtio-9p-pci,fsdev=${id},mount_tag=${tag}`,
    ];
    const argv = [
      '-accel',
      opts.accel ?? 'tcg',
      '-m',
      String(opts.memoryMb ?? 1024),
      '-smp',
      '2',
      '-display',
      'none',
      '-monitor',
      'none',
      '-no-reboot',
      '-nic',
      'none',
      '-kernel',
      assets.kernel,
      '-initrd',
      assets.initrd,
      '-append',
      `console=ttyS0 quiet panic=-1 kdl.agent=${AGENT_SCRIPT} kdl.results=${opts.results}`,
      '-serial',
      `file:${join(dir, 'console.log')}`,
      '-chardev',
      `socket,id=agent,path=${sock},server=on,wait=off`,
      '-serial',
      'chardev:agent',
      ...share('root', '/', 'hostroot', true),
      ...share('mods', assets.modules, 'modules', true),
      ...share('res', opts.results, 'results', false),
    ];
    const qemu = spawn('qemu-system-x86_64', argv, { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    let qemuErr = '';
    qemu.stderr.on('data', (b: Buffer) => (qemuErr += b.toString()));
    qemu.unref();
    writeFileSync(join(dir, 'pid'), String(qemu.pid));
    const deadline = Date.now() + (opts.bootTimeoutMs ?? 90_000);
    for (;;) {
      if (qemu.exitCode !== null) throw new LabError(`the VM did not start: qemu exited ${qemu.exitCode}: ${qemuErr.trim()}`);
      if (existsSync(sock)) break;
      if (Date.now() > deadline) throw new LabError('the VM did not start: no agent socket');
      await new Promise((r) => setTimeout(r, 50));
    }
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = createConnection(sock, () => resolve(s));
      s.once('error', reject);
    });
    const ready = await new Promise<string>((resolve, reject) => {
      let text = '';
      const timer = setTimeout(
        () =>
          reject(
            new LabError(`the VM's agent did not answer within ${(opts.bootTimeoutMs ?? 90_000) / 1000} s; console: ${consoleTail(dir)}`),
          ),
        Math.max(0, deadline - Date.now()),
      );
      const onData = (b: Buffer) => {
        text += b.toString();
        const m = /kdl-agent ready (\S+)\r?\n/.exec(text);
        if (!m) return;
        clearTimeout(timer);
        socket.off('data', onData);
        resolve(m[1]!);
      };
      socket.on('data', onData);
    });
    writeFileSync(join(dir, 'kernel'), ready);
    return new Vm(opts.name, qemu.pid!, ready, socket, (performance.now() - t0) / 1000);
  }

  /** Connects to the agent of a VM that is already running (booted by another process). */
  static async attach(name: string): Promise<Vm | undefined> {
    const dir = vmDir(name);
    let pid: number;
    try {
      pid = Number(readFileSync(join(dir, 'pid'), 'utf8'));
      process.kill(pid, 0);
    } catch {
      return undefined;
    }
    const socket = await new Promise<Socket | undefined>((resolve) => {
      const s = createConnection(join(dir, 'agent.sock'), () => resolve(s));
      s.once('error', () => resolve(undefined));
    });
    if (!socket) return undefined;
    return new Vm(name, pid, readFileSync(join(dir, 'kernel'), 'utf8'), socket, 0);
  }

  /** Leaves the VM running; only this process's connection ends. */
  detach(): void {
    this.socket.destroy();
  }

  /** Runs a bash script in the guest; one at a time (the agent is sequential). */
  script(text: string, timeoutMs = 600_000): Promise<ExecResult> {
    const run = async (): Promise<ExecResult> => {
      const id = this.next++;
      const answer = new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new LabError(`the VM did not answer within ${timeoutMs / 1000} s`)), timeoutMs);
        this.waiting.set(id, (line) => (clearTimeout(timer), resolve(line)));
      });
      this.socket.write(`${id} ${Buffer.from(text).toString('base64')}\n`);
      const [, code, out, err] = (await answer).split(' ');
      return {
        code: Number(code),
        signal: null,
        stdout: Buffer.from(out ?? '', 'base64').toString(),
        stderr: Buffer.from(err ?? '', 'base64').toString(),
      };
    };
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }

  async run(argv: readonly string[], opts: RunOptions = {}): Promise<ExecResult> {
    const cmd = argv.map(shellWord).join(' ');
    const text =
      opts.input === undefined ? cmd : `printf '%s' ${shellWord(Buffer.from(opts.input).toString('base64'))} | base64 -d | ${cmd}`;
    const r = await this.script(text, opts.timeoutMs);
    if ((opts.check ?? true) && r.code !== 0) throw new CommandError(argv, r.code, r.stderr, opts.where ?? `in the VM ${this.name}`);
    return r;
  }

  start(): Started {
    throw new Error('the VM agent runs one command at a time: long-running processes are started by the lab inside the guest');
  }

  async poweroff(): Promise<void> {
    // the agent never answers this one: the guest is gone
    this.socket.write(`0 ${Buffer.from('echo o > /proc/sysrq-trigger').toString('base64')}\n`);
    await waitGone(this.pid, 10_000);
    this.socket.destroy();
    rmSync(vmDir(this.name), { recursive: true, force: true });
  }
}

function consoleTail(dir: string): string {
  try {
    return readFileSync(join(dir, 'console.log'), 'utf8').split('\n').slice(-8).join(' | ');
  } catch {
    return '(none)';
  }
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      process.kill(pid, 0);
    } catch {
      return true;
    }
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The VMs that run now (their state folders with a live QEMU). */
export function runningVms(): string[] {
  let names: string[] = [];
  try {
    names = readdirSync(join(STATE_DIR, 'vm'));
  } catch {
    return [];
  }
  return names.filter((n) => {
    try {
      const pid = Number(readFileSync(join(vmDir(n), 'pid'), 'utf8'));
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('qemu-system');
    } catch {
      return false;
    }
  });
}

/** Powers a VM off hard (SIGKILL to QEMU) if its state folder says one runs; idempotent. */
export async function stopVm(name: string): Promise<boolean> {
  const dir = vmDir(name);
  let pid: number | undefined;
  try {
    pid = Number(readFileSync(join(dir, 'pid'), 'utf8'));
  } catch {
    /* none */
  }
  let killed = false;
  // only a QEMU: a stale pid file must not kill whatever took the number since
  const isQemu = (p: number) => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('qemu-system');
    } catch {
      return false;
    }
  };
  if (pid && isQemu(pid)) {
    try {
      process.kill(pid, 'SIGKILL');
      killed = true;
    } catch {
      /* gone already */
    }
    await waitGone(pid, 5000);
  }
  rmSync(dir, { recursive: true, force: true });
  return killed;
}

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describeKernel, host, labNamespaces, REPO, TSX_NODE } from '../../testing/kernel';
import { uniqueLabName } from '../../testing/names';
import { STATE_DIR } from '../../state/store';

// Ctrl-C (SIGINT) and SIGTERM sent to the whole process group of `lab up`, as a terminal sends
// them, the moment a stage begins (its `❯ <stage>` progress line, not a sleep): `up` must finish
// that stage, remove everything it created, stop every process it started and exit 130 / 143
// — with no `down` run after it.

const STAGES = ['namespaces', 'links', 'configure', 'neighbours', 'proxy', 'servers', 'dns', 'verify'];

interface Outcome {
  code: number | null;
  /** the signal it died of (npm re-raises the signal its script died of or was sent: a shell shows 130) */
  signal: NodeJS.Signals | null;
  output: string;
}

/** `up` spawned in a process group of its own; `sig` sent to the group when `stage` begins. */
function upInterrupted(argv: string[], stage: string, sig: NodeJS.Signals): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: REPO,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    let out = '';
    let sent = false;
    const onData = (b: Buffer) => {
      out += b.toString();
      if (!sent && new RegExp(`^❯ ${stage}$`, 'm').test(out)) {
        sent = true;
        process.kill(-child.pid!, sig);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, output: out }));
  });
}

/** The lines `pgrep -a <args>` prints (none when nothing matches: pgrep exits 1 then). */
async function pgrep(args: string[]): Promise<string[]> {
  const r = await host.run(['pgrep', ...args], { check: false });
  return r.stdout.split('\n').filter((l) => l.trim());
}

/** Processes whose command line names the lab's namespaces, pod servers or DNS files (none may outlive `up`). */
const labProcesses = (lab: string) => pgrep(['-af', `kdl\\.${lab}\\.|reply\\.sh.*${lab}|/dns/${lab}/`]);

/** Every socat / tcpdump / nsenter / xargs running now: `up`'s own, if any were left, are among them. */
const toolProcesses = () => pgrep(['-ax', 'socat|tcpdump|nsenter|xargs']);

describeKernel('lab up interrupted by a signal at every stage', () => {
  const before = { tools: [] as string[] };
  beforeAll(async () => {
    before.tools = await toolProcesses();
  });

  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    const want = sig === 'SIGINT' ? 130 : 143;
    test.each(STAGES)(
      `${sig} as '%s' begins: exit ${want}, nothing left`,
      async (stage) => {
        const lab = uniqueLabName('sig');
        const r = await upInterrupted([...TSX_NODE, join(REPO, 'lab', 'cli.ts'), 'up', '--name', lab], stage, sig);
        expect({ code: r.code, said: /interrupted \(SIG(INT|TERM)\): removed what up/.test(r.output) }).toEqual({ code: want, said: true });
        expect(labNamespaces(lab)).toEqual([]);
        expect(existsSync(join(STATE_DIR, `${lab}.json`))).toBe(false);
        expect(existsSync(`/etc/netns/kdl.${lab}.node1.client`)).toBe(false); // the pods' resolv.conf
        expect(await labProcesses(lab)).toEqual([]);
        const left = (await toolProcesses()).filter((p) => !before.tools.includes(p));
        expect(left).toEqual([]);
      },
      60000,
    );
  }

  test('through npm run lab (its shell and npm between): Ctrl-C at configure still undoes up', async () => {
    const lab = uniqueLabName('sig');
    const r = await upInterrupted(['npm', 'run', '-s', 'lab', '--', 'up', '--name', lab], 'configure', 'SIGINT');
    expect(r.code === 130 || r.signal === 'SIGINT').toBe(true);
    expect(r.output).toMatch(/interrupted \(SIGINT\): removed what up/);
    expect(labNamespaces(lab)).toEqual([]);
    expect(existsSync(join(STATE_DIR, `${lab}.json`))).toBe(false);
    expect(await labProcesses(lab)).toEqual([]);
  }, 60000);
});

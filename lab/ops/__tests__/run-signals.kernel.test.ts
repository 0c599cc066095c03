import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunReport, StepReport } from '../../report/types';
import { STATE_DIR } from '../../state/store';
import { PAUSE_AFTER_STEP_ENV } from '../../testing/detached';
import { cli, describeKernel, labNamespaces, REPO, TSX_NODE } from '../../testing/kernel';
import { uniqueLabName } from '../../testing/names';
import { waitFor } from '../../testing/wait';

// Ctrl-C (SIGINT) and SIGTERM during `lab run`, at the start of each kind of step — a capture
// starting, a trace starting, a long probe, between two steps, the last step — timed by the
// run's own progress lines (`❯ 2/3 <step>`), not sleeps. Each time: exit 130 / 143, report.json
// (and junit.xml, index.html) written with the interrupted step marked and the later ones not
// run, the lab taken down, no state record, and no process left in the lab's namespaces or
// naming them (tcpdump, nft monitor, socat, ping).

const dir = mkdtempSync(join(tmpdir(), 'kdl-run-signals-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A one-node lab of two pods: its topology file. */
function topology(name: string): string {
  const file = join(dir, `${name}.topology.yaml`);
  const pods = ['  - { name: a, node: node1, ports: [80] }', '  - { name: b, node: node1, ports: [80] }'];
  writeFileSync(file, [`name: ${name}`, 'nodes:', '  - { name: node1 }', 'pods:', ...pods].join('\n') + '\n');
  return file;
}

/** A scenario on topology(name), with `steps` (YAML text, indented as the list under `steps:`). */
function scenario(name: string, steps: string): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    [
      `name: ${name}`,
      `topology: ${topology(name)}`,
      'steps:',
      '  - name: first',
      '    probes:',
      '      - ping: { from: a, to: b, count: 1 }',
      '    expect:',
      '      - ping: { received: 1 }',
      steps,
    ].join('\n') + '\n',
  );
  return file;
}

const LONG_PING = ['  - name: long ping', '    probes:', '      - ping: { from: a, to: b, count: 1000, interval: 0.2 }'].join('\n');
const CAPTURE = [
  '  - name: capture',
  '    captures:',
  '      - { name: eth, at: node1:eth0 }',
  '      - { name: cni, at: node1:cni0, filter: icmp }',
  '    probes:',
  '      - ping: { from: a, to: b, count: 3 }',
].join('\n');
const TRACE = ['  - name: trace', '    probes:', '      - trace: { from: a, to: "b:80" }'].join('\n');
const CONNECT = ['  - name: connect', '    probes:', '      - connect: { from: a, to: "b:80", count: 1000 }'].join('\n');

interface Outcome {
  code: number | null;
  output: string;
  report: RunReport;
  junit: string;
  html: string;
  /** the lab's network namespaces (their inodes), read while it was up */
  inodes: Set<string>;
  /** from the signal to the exit, in seconds */
  stoppedInS: number;
}

interface When {
  /** more arguments of `lab run` */
  args?: string[];
  /** the output line that times the signal (none: the lab's first namespace, as `run` brings it up) */
  line?: RegExp;
  /** then wait for this too (a process of the probe running) */
  then?: (inodes: Set<string>) => boolean;
  /** to the CLI's process only (as `kill <pid>` would), not its whole group (as a terminal does) */
  pidOnly?: boolean;
  env?: NodeJS.ProcessEnv;
}

/** `lab run` in a process group of its own, through the test CLI (lab/testing/paused-cli.ts), `sig` sent when `when` holds. */
async function runInterrupted(file: string, lab: string, sig: NodeJS.Signals, when: When): Promise<Outcome> {
  const results = join(dir, `results-${lab}`);
  const child = spawn(
    TSX_NODE[0],
    [...TSX_NODE.slice(1), join(REPO, 'lab', 'testing', 'paused-cli.ts'), 'run', file, '--results', results, ...(when.args ?? [])],
    {
      cwd: REPO,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1', ...when.env },
    },
  );
  const pid = child.pid;
  if (pid === undefined) throw new Error('lab run did not start');
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  let code: number | null | undefined;
  const exited = new Promise<number | null>((r) => child.on('close', (c) => r((code = c))));
  let inodes = new Set<string>();
  let sentAt = 0;
  try {
    await waitFor(
      () => {
        if (code !== undefined) throw new Error(`run exited ${code} before ${String(when.line ?? 'the lab came up')}: ${out}`);
        return when.line ? when.line.test(out) : labNamespaces(lab).length > 0;
      },
      {
        timeoutMs: 60_000,
        intervalMs: when.line ? 50 : 5,
        what: `${String(when.line ?? 'a namespace of the lab')} (output of run so far: ${JSON.stringify(out.slice(-300))})`,
      },
    );
    inodes = namespaceInodes(lab);
    const then = when.then;
    if (then) await waitFor(() => then(inodes), { timeoutMs: 10_000, what: 'the probe to be running' });
    process.kill(when.pidOnly ? pid : -pid, sig);
    sentAt = performance.now();
    // a run that does not stop is killed (and the test fails), so that it does not outlive the test
    await waitFor(() => code !== undefined, {
      timeoutMs: 20_000,
      what: `run to exit after ${sig} (output: ${JSON.stringify(out.slice(-300))})`,
    });
  } catch (e) {
    if (code === undefined) process.kill(-pid, 'SIGKILL');
    await exited;
    throw e;
  }
  const stoppedInS = (performance.now() - sentAt) / 1000;

  const run = join(results, 'latest');
  const read = (f: string) => readFileSync(join(run, f), 'utf8');
  return {
    code: code ?? null,
    output: out,
    report: JSON.parse(read('report.json')) as RunReport,
    junit: read('junit.xml'),
    html: read('index.html'),
    inodes,
    stoppedInS,
  };
}

/** `net:[inode]` of each namespace of the lab now. */
function namespaceInodes(lab: string): Set<string> {
  return new Set(labNamespaces(lab).map((n) => `net:[${statSync(`/run/netns/${n}`).ino}]`));
}

/** Processes in one of these namespaces, or whose command line names the lab: `pid command line`. */
function processesOf(lab: string, inodes: Set<string>): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
      if (inodes.has(readlinkSync(`/proc/${pid}/ns/net`)) || cmd.includes(`kdl.${lab}.`)) found.push(`${pid} ${cmd}`);
    } catch {
      /* exited meanwhile */
    }
  }
  return found;
}

/** A process running `comm` in one of these namespaces. */
const runsIn = (comm: string) => (inodes: Set<string>) =>
  readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .some((pid) => {
      try {
        return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === comm && inodes.has(readlinkSync(`/proc/${pid}/ns/net`));
      } catch {
        return false;
      }
    });

const steps = (r: RunReport): StepReport[] => r.scenarios.flatMap((s) => s.steps);
const statusOf = (r: RunReport) => steps(r).map((s) => `${s.name}: ${s.status}`);

/** What every interrupted run leaves: its exit code, its report's signal, nothing of the lab. */
function expectStoppedClean(o: Outcome, lab: string, sig: 'SIGINT' | 'SIGTERM'): void {
  expect({ code: o.code, status: o.report.status, interrupted: o.report.interrupted }).toEqual({
    code: sig === 'SIGINT' ? 130 : 143,
    status: 'interrupted',
    interrupted: sig,
  });
  // promptly: the probe and captures stopped, the lab down, the results written (a long ping had 200 s to go)
  expect(o.stoppedInS).toBeLessThan(5);
  expect(o.output).toMatch(new RegExp(`^interrupted \\(${sig}\\), not all steps ran: `, 'm'));
  expect(o.output).toMatch(new RegExp(`^lab ${lab}: down$`, 'm'));
  expect(labNamespaces(lab)).toEqual([]);
  expect(existsSync(join(STATE_DIR, `${lab}.json`))).toBe(false);
  expect(o.inodes.size).toBeGreaterThan(0);
  expect(processesOf(lab, o.inodes)).toEqual([]);
}

/** The step `name` was interrupted as it ran, and marked so in report.json, junit.xml and index.html; the ones after it not run. */
function expectInterruptedAt(o: Outcome, name: string, sig: 'SIGINT' | 'SIGTERM'): void {
  const all = steps(o.report);
  const k = all.findIndex((s) => s.name === name);
  expect(statusOf(o.report)).toEqual(all.map((s, i) => `${s.name}: ${i < k ? 'passed' : i === k ? 'interrupted' : 'skipped'}`));
  expect(all[k]?.reason).toBe(`interrupted (${sig}) while this step ran: its probes and captures were stopped, nothing was checked`);
  for (const s of all.slice(k + 1)) expect(s.reason).toBe(`not run: the run was interrupted (${sig})`);
  expect(o.report.summary).toMatchObject({ interrupted: 1, failed: 0, skipped: all.length - k - 1 });
  expect(o.junit).toContain(`<error message="interrupted (${sig}) while this step ran`);
  expect(o.html).toMatch(
    new RegExp(
      `data-status="interrupted"[^>]*>\\n<summary><span class="badge interrupted">interrupted</span> <span class="step-name">${k + 1}/`,
    ),
  );
}

describeKernel('lab run interrupted by a signal', () => {
  // a test that failed half-way leaves no lab behind
  const labs: string[] = [];
  const newLab = () => {
    const lab = uniqueLabName('rsig');
    labs.push(lab);
    return lab;
  };
  afterAll(async () => {
    for (const lab of labs) if (labNamespaces(lab).length) await cli(['down', '--name', lab]);
  }, 60_000);

  test('SIGINT to the group as a capture starts: the capture step is interrupted, nothing left', async () => {
    const lab = newLab();
    const o = await runInterrupted(scenario(lab, [CAPTURE, LONG_PING].join('\n')), lab, 'SIGINT', { line: /^ {2}❯ 2\/3 capture$/m });
    expectStoppedClean(o, lab, 'SIGINT');
    expectInterruptedAt(o, 'capture', 'SIGINT');
  }, 60_000);

  test('SIGINT to the group as a trace starts (tcpdump at every point, nft monitor per node): interrupted, nothing left', async () => {
    const lab = newLab();
    const o = await runInterrupted(scenario(lab, [TRACE, LONG_PING].join('\n')), lab, 'SIGINT', { line: /^ {2}❯ 2\/3 trace$/m });
    expectStoppedClean(o, lab, 'SIGINT');
    expectInterruptedAt(o, 'trace', 'SIGINT');
  }, 60_000);

  test('SIGINT to the group once the trace has its nft monitor running: interrupted, nothing left', async () => {
    const lab = newLab();
    const o = await runInterrupted(scenario(lab, TRACE), lab, 'SIGINT', { line: /^ {2}❯ 2\/2 trace$/m, then: runsIn('nft') });
    expectStoppedClean(o, lab, 'SIGINT');
    expectInterruptedAt(o, 'trace', 'SIGINT');
  }, 60_000);

  test('SIGTERM to the CLI alone (not its group) during a long ping under a capture: the run kills ping and tcpdump itself', async () => {
    const lab = newLab();
    const text = [CAPTURE.replace('count: 3', 'count: 1000, interval: 0.2').replace('name: capture', 'name: long capture'), TRACE].join(
      '\n',
    );
    const o = await runInterrupted(scenario(lab, text), lab, 'SIGTERM', {
      line: /^ {2}❯ 2\/3 long capture$/m,
      then: runsIn('ping'),
      pidOnly: true,
    });
    expectStoppedClean(o, lab, 'SIGTERM');
    expectInterruptedAt(o, 'long capture', 'SIGTERM');
    // what tcpdump had taken is kept (stopped with SIGINT, its file flushed)
    const cap = steps(o.report)[1]?.captures;
    expect((cap ?? []).map((c) => ({ name: c.name, error: c.error }))).toEqual([
      { name: 'eth', error: undefined },
      { name: 'cni', error: undefined },
    ]);
  }, 60_000);

  test('SIGTERM to the CLI alone during a long connect (connect-loop.sh and its socat): no socat left', async () => {
    const lab = newLab();
    const o = await runInterrupted(scenario(lab, CONNECT), lab, 'SIGTERM', {
      line: /^ {2}❯ 2\/2 connect$/m,
      then: runsIn('connect-loop.sh'),
      pidOnly: true,
    });
    expectStoppedClean(o, lab, 'SIGTERM');
    expectInterruptedAt(o, 'connect', 'SIGTERM');
  }, 60_000);

  test('SIGTERM to the CLI alone during a long connect on a lab it reuses: the lab stays up, no process of the run is left in it', async () => {
    const lab = newLab();
    const file = scenario(lab, CONNECT);
    const up = await cli(['up', '-f', topology(lab)]);
    expect(up.code).toBe(0);
    try {
      const inodes = namespaceInodes(lab);
      const servers = processesOf(lab, inodes);
      const o = await runInterrupted(file, lab, 'SIGTERM', {
        line: /^ {2}❯ 2\/2 connect$/m,
        then: runsIn('connect-loop.sh'),
        pidOnly: true,
        args: ['--reuse'],
      });
      expect({ code: o.code, interrupted: o.report.interrupted }).toEqual({ code: 143, interrupted: 'SIGTERM' });
      expectInterruptedAt(o, 'connect', 'SIGTERM');
      expect(o.stoppedInS).toBeLessThan(5);
      expect(o.output).not.toMatch(/: down$/m);
      expect(labNamespaces(lab).length).toBe(inodes.size);
      // the pods' servers only: connect-loop.sh and its socat were killed with the probe
      expect(processesOf(lab, inodes).filter((p) => !servers.includes(p))).toEqual([]);
    } finally {
      await cli(['down', '--name', lab]);
    }
    expect(labNamespaces(lab)).toEqual([]);
  }, 60_000);

  test('SIGINT to the group between two steps: the first passed, the rest not run, exit 130', async () => {
    const lab = newLab();
    const o = await runInterrupted(scenario(lab, LONG_PING), lab, 'SIGINT', {
      line: /^\(held after step 1\)$/m,
      env: { [PAUSE_AFTER_STEP_ENV]: '1' },
    });
    expectStoppedClean(o, lab, 'SIGINT');
    expect(statusOf(o.report)).toEqual(['first: passed', 'long ping: skipped']);
    expect(steps(o.report)[1]?.reason).toBe('not run: the run was interrupted (SIGINT)');
    expect(o.report.scenarios[0]?.status).toBe('interrupted');
    expect(o.report.summary).toMatchObject({ passed: 1, interrupted: 0, skipped: 1 });
    expect(o.junit).toContain('<skipped message="not run: the run was interrupted (SIGINT)"/>');
  }, 60_000);

  test('SIGINT to the group as run brings its lab up: what up made is removed, every step not run, exit 130', async () => {
    const lab = newLab();
    const o = await runInterrupted(scenario(lab, LONG_PING), lab, 'SIGINT', {});
    expectStoppedClean(o, lab, 'SIGINT');
    expect(statusOf(o.report)).toEqual(['first: skipped', 'long ping: skipped']);
    expect(steps(o.report).map((s) => s.reason)).toEqual(Array(2).fill('not run: the run was interrupted (SIGINT)'));
    expect(o.report.scenarios[0]?.status).toBe('interrupted');
  }, 60_000);

  test("SIGINT to the group during a scenario's last step: exit 130, not 0 with everything passed", async () => {
    const lab = newLab();
    const o = await runInterrupted(scenario(lab, LONG_PING), lab, 'SIGINT', { line: /^ {2}❯ 2\/2 long ping$/m, then: runsIn('ping') });
    expectStoppedClean(o, lab, 'SIGINT');
    expectInterruptedAt(o, 'long ping', 'SIGINT');
    expect(o.output).not.toMatch(/0 failed, 0 skipped/);
  }, 60_000);
});

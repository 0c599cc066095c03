import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LabError } from '../../errors';
import { waitFor } from '../../testing/wait';
import { LocalExecutor } from '../executor';

// A command run with an AbortSignal (an interrupted `lab run`): aborted, the command and what
// it started are gone before the call rejects, with the signal's reason.

/** Running (a zombie, dead but not yet reaped by whoever adopted it, is not). */
const alive = (pid: number) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
};

describe('LocalExecutor.run with an AbortSignal', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kdl-exec-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const exec = new LocalExecutor();

  it('kills the command and its children when aborted, then rejects with the reason', async () => {
    const file = join(dir, 'child.pid');
    const stop = new AbortController();
    // a script whose own child (the sleep) would outlive it if only the script were killed
    const running = exec.run(['sh', '-c', 'sleep 30 & echo $! > "$1"; wait', 'sh', file], { signal: stop.signal, check: false });
    await waitFor(() => existsSync(file) && readFileSync(file, 'utf8').trim() !== '', { timeoutMs: 5000, what: 'the sleep to start' });
    const sleep = Number(readFileSync(file, 'utf8'));
    expect(alive(sleep)).toBe(true);
    const t0 = performance.now();
    stop.abort(new LabError('interrupted (SIGINT): the run was stopped', 130));
    await expect(running).rejects.toThrow('interrupted (SIGINT): the run was stopped');
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(alive(sleep)).toBe(false);
  });

  it('does not start a command when the signal is already aborted', async () => {
    const file = join(dir, 'never');
    const stop = new AbortController();
    stop.abort();
    await expect(exec.run(['touch', file], { signal: stop.signal })).rejects.toThrow(/aborted/);
    expect(existsSync(file)).toBe(false);
  });

  it('runs as before when the signal is never aborted', async () => {
    const r = await exec.run(['sh', '-c', 'echo hi; exit 3'], { signal: new AbortController().signal, check: false });
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 3, stdout: 'hi\n' });
  });
});

import type { ExecResult, RunOptions, Started } from '../../runtime/executor';
import type { Runtime } from '../../runtime/runtime';
import { startNodeTrace, TRACE_TABLE } from '../nftrace';

// Error paths of starting a node's trace, with a stand-in runtime: what must happen when the
// kernel refuses the table or the monitor never reports it. (The working path is traced for
// real in trace.kernel.test.ts.)

function fakeRuntime(nftFails: boolean, monitorEcho: boolean) {
  const calls: string[] = [];
  const signals: string[] = [];
  let emit: (t: string) => void = () => undefined;
  const ok = (stdout = ''): ExecResult => ({ code: 0, signal: null, stdout, stderr: '' });
  const rt = {
    run: async (_ns: string, argv: readonly string[], opts?: RunOptions) => {
      calls.push(argv.join(' '));
      if (argv[1] === '-f') {
        if (nftFails) throw new Error('nft: Could not process rule: Operation not supported');
        if (monitorEcho) emit(`add table ip ${TRACE_TABLE}\n`);
      }
      if (argv[1] === 'delete' && monitorEcho) emit(`delete table ip ${TRACE_TABLE}\n`);
      void opts;
      return ok(argv[1] === '-j' ? '{"nftables": []}' : '');
    },
    start: (): Started => {
      let done: (r: ExecResult) => void = () => undefined;
      return {
        pid: 1,
        onStderr: (l) => (emit = l),
        signal: (s) => {
          signals.push(s);
          done(ok());
        },
        exited: new Promise((r) => (done = r)),
      };
    },
  } as unknown as Runtime;
  return { rt, calls, signals };
}

describe('starting a node trace', () => {
  it('a table the kernel refuses: the monitor is killed, the table removed, the error passed on', async () => {
    const f = fakeRuntime(true, false);
    await expect(startNodeTrace(f.rt, 'node1', 'kdl.x.node1', 'tcp')).rejects.toThrow('Operation not supported');
    expect(f.signals).toEqual(['SIGKILL']);
    expect(f.calls.at(-1)).toBe(`nft delete table ip ${TRACE_TABLE}`);
  });

  it('a monitor that never reports the table: retried until the deadline, then the same clean-up', async () => {
    const f = fakeRuntime(false, false);
    await expect(startNodeTrace(f.rt, 'node1', 'kdl.x.node1', 'icmp', 500)).rejects.toThrow(/did not report the trace table within 500 ms/);
    expect(f.calls.filter((c) => c === 'nft -f -').length).toBeGreaterThanOrEqual(2);
    expect(f.signals).toEqual(['SIGKILL']);
    expect(f.calls.at(-1)).toBe(`nft delete table ip ${TRACE_TABLE}`);
  });

  it('a monitor that reports it: started once, stopped with SIGTERM after the table is deleted', async () => {
    const f = fakeRuntime(false, true);
    const t = await startNodeTrace(f.rt, 'node1', 'kdl.x.node1', 'udp');
    expect(f.calls.filter((c) => c === 'nft -f -')).toHaveLength(1);
    f.calls.length = 0;
    await expect(t.stop()).resolves.toEqual({ events: [], hooks: new Map() });
    expect(f.calls).toEqual([`nft delete table ip ${TRACE_TABLE}`, 'nft -j list chains']);
    expect(f.signals).toEqual(['SIGTERM']);
  });
});

import type { ExecResult } from '../../runtime/executor';
import { cliInVm, crashedAtStart } from '../forward';

// The guest's CLI is run again only when node crashed while loading it (nothing printed yet);
// a command that failed on its own, or crashed after it began, is passed on as it is.

const res = (code: number, stdout = '', stderr = ''): ExecResult => ({ code, signal: null, stdout, stderr });
const SEGV = res(139, '', '/run/kdl-cmd.sh: line 1:   128 Segmentation fault      NO_COLOR=1 node --import tsx lab/cli.ts up');
const LEXER = res(1, '', 'RuntimeError: memory access out of bounds\n    at parseEsm (node_modules/tsx/dist/esm/index.mjs:1:2)');

function fakeVm(results: ExecResult[]) {
  const calls: string[] = [];
  return { calls, vm: { script: async (cmd: string) => (calls.push(cmd), results.shift()!) } };
}

describe('the CLI in a guest', () => {
  it('knows a crash at start from a failure of the command', () => {
    expect(crashedAtStart(SEGV)).toBe(true);
    expect(crashedAtStart(LEXER)).toBe(true);
    expect(crashedAtStart(res(139, 'lab default: up in 9.4 s\n', 'Segmentation fault'))).toBe(false); // it had begun
    expect(crashedAtStart(res(2, '', 'invalid input: topology.yaml:3:1'))).toBe(false);
    expect(crashedAtStart(res(0))).toBe(false);
  });

  it('runs a crashed start again, at most twice, and passes every other result on', async () => {
    const a = fakeVm([SEGV, res(0, 'ok\n')]);
    await expect(cliInVm(a.vm, ['up'], 1000, '/b/cli.cjs')).resolves.toMatchObject({ code: 0, stdout: 'ok\n' });
    expect(a.calls).toHaveLength(2);
    const b = fakeVm([SEGV, LEXER, SEGV, res(0)]);
    await expect(cliInVm(b.vm, ['up'], 1000, '/b/cli.cjs')).resolves.toMatchObject({ code: 139 });
    expect(b.calls).toHaveLength(3);
    const c = fakeVm([res(1, 'scenario x\n', 'expectation failed')]);
    await expect(cliInVm(c.vm, ['run', 'scenarios/'], 1000, '/b/cli.cjs')).resolves.toMatchObject({ code: 1 });
    expect(c.calls).toHaveLength(1);
    expect(c.calls[0]).toMatch(/&& NO_COLOR=1 node '?\/b\/cli\.cjs'? '?run'? '?scenarios\/'?$/);
  });
});

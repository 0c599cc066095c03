import { labNameProblem } from '../../topology/schema';
import { uniqueLabName } from '../names';
import { waitFor } from '../wait';

describe('test helpers', () => {
  it('waitFor resolves with the first truthy value and names what it waited for on timeout', async () => {
    let n = 0;
    await expect(waitFor(() => ++n >= 3 && n, { timeoutMs: 2000, what: 'three', intervalMs: 1 })).resolves.toBe(3);
    await expect(waitFor(() => false, { timeoutMs: 30, what: 'the links stage' })).rejects.toThrow(
      /timed out after 30 ms waiting for the links stage/,
    );
    await expect(
      waitFor(
        () => {
          throw new Error('up exited 1');
        },
        { timeoutMs: 1000, what: 'x' },
      ),
    ).rejects.toThrow('up exited 1');
  });

  it('uniqueLabName gives valid, distinct lab names with the prefix', () => {
    const names = Array.from({ length: 50 }, () => uniqueLabName('t-kill'));
    expect(new Set(names).size).toBe(50);
    for (const n of names) {
      expect(n).toMatch(/^t-kill-[0-9a-z]{4}$/);
      expect(labNameProblem(n)).toBeUndefined();
    }
    expect(() => uniqueLabName('x'.repeat(30))).toThrow(/not a lab name/);
  });
});

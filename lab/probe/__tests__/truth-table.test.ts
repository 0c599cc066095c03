import { join } from 'node:path';
import { expectGoldenFile } from '../../testing/golden';
import {
  applyExceptions,
  buildTable,
  comparisonTable,
  diffTables,
  formatTable,
  matches,
  parseTable,
  reorder,
  selectNames,
} from '../truth-table';

// The truth tables the reachability probe and expectation print, as the e2e suite does: parsed
// from the compact text, built from a default and exceptions, compared cell by cell.

const golden = (f: string) => join(__dirname, 'golden', f);
const PODS = ['x/a', 'x/b', 'x/c', 'y/a', 'y/b', 'y/c', 'z/a', 'z/b', 'z/c'];

describe('truth tables', () => {
  it('parses the e2e layout (tabs or spaces, X or x) and formats it back aligned', () => {
    const t = parseTable('-\tx/a\tx/b\nx/a\tX\t.\n  x/b  .  x\n');
    expect(t).toEqual({
      from: ['x/a', 'x/b'],
      to: ['x/a', 'x/b'],
      cells: [
        [false, true],
        [true, false],
      ],
    });
    expect(formatTable(t as never)).toBe('-   x/a x/b\nx/a X   .\nx/b .   X\n');
  });

  it('says what is wrong with a table, naming the row', () => {
    expect(parseTable('')).toBe('the table is empty');
    expect(parseTable('x/a x/b\n')).toMatch(/header row starts with '-'/);
    expect(parseTable('- x/a x/a\n')).toBe("server 'x/a' appears twice in the header");
    expect(parseTable('- x/a x/b\nx/a . \n')).toBe('row 2 (x/a): 1 cells for 2 servers');
    expect(parseTable('- x/a\nx/a ?\n')).toBe("row 2 (x/a): cell '?' is neither '.' (allowed) nor 'X' (denied)");
    expect(parseTable('- x/a\nx/a .\nx/a .\n')).toBe("row 3 (x/a): client 'x/a' has two rows");
    expect(parseTable('- x/a\n')).toBe('the table has a header but no rows');
  });

  it('selects pods by name, namespace and *', () => {
    expect(selectNames('x/*', PODS)).toEqual(['x/a', 'x/b', 'x/c']);
    expect(selectNames('*', PODS)).toHaveLength(9);
    expect(selectNames('y/b', PODS)).toEqual(['y/b']);
    expect(selectNames('q/*', PODS)).toEqual([]);
    expect(selectNames('default/*', ['client', 'x/a'])).toEqual(['client']);
    expect(matches('x/*', 'x/c')).toBe(true);
    expect(matches('x/*', 'y/c')).toBe(false);
  });

  it('builds a table as the e2e model does: default, then exceptions in order (golden)', () => {
    // "should support denying of egress traffic on the client side": ExpectPeer calls in order
    const t = buildTable(PODS, PODS, true, [
      { from: 'x/a', to: '*', allowed: false },
      { from: '*', to: 'y/a', allowed: false },
      { from: 'x/a', to: 'y/a', allowed: true },
      { from: '*', to: 'y/b', allowed: false },
    ]);
    expectGoldenFile(golden('egress-client-side.txt'), formatTable(t));
    const denyX = applyExceptions(buildTable(PODS, PODS, true), [{ from: '*', to: 'x/*', allowed: false }]);
    expect(denyX.cells.every((row) => row.slice(0, 3).every((c) => !c) && row.slice(3).every((c) => c))).toBe(true);
  });

  it('compares two tables cell by cell, a pod to itself left out when asked (golden)', () => {
    const expected = buildTable(PODS, PODS, true, [{ from: '*', to: 'x/a', allowed: false }]);
    const observed = buildTable(PODS, PODS, true, [
      { from: '*', to: 'x/a', allowed: false },
      { from: 'y/b', to: 'x/a', allowed: true },
      { from: 'z/c', to: 'z/b', allowed: false },
    ]);
    const diffs = diffTables(expected, observed);
    expect(diffs).toEqual([
      { from: 'y/b', to: 'x/a', expected: false, observed: true },
      { from: 'z/c', to: 'z/b', expected: true, observed: false },
    ]);
    expect(diffTables(expected, expected)).toEqual([]);
    // x/a → x/a differs only on the diagonal: ignored with loopback left out
    const self = applyExceptions(expected, [{ from: 'x/a', to: 'x/a', allowed: true }]);
    expect(diffTables(expected, self)).toHaveLength(1);
    expect(diffTables(expected, self, (f, t) => f === t)).toEqual([]);
    expectGoldenFile(
      golden('comparison.txt'),
      `expected:\n${formatTable(expected)}observed:\n${formatTable(observed)}comparison:\n${comparisonTable(expected, diffs)}`,
    );
  });

  it('reorders rows and columns to another order of the same names', () => {
    const t = parseTable('- x/b x/a\nx/b . X\nx/a X X\n');
    expect(reorder(t as never, ['x/a', 'x/b'], ['x/a', 'x/b']).cells).toEqual([
      [false, false],
      [false, true],
    ]);
  });
});

import { truthDiffsHtml, truthTableHtml } from '../html-truth-table';
import type { TruthTableReport } from '../types';

// The HTML report's truth tables: expected and observed side by side, a differing cell red
// (class differs) with a tooltip saying both values and what its probe saw.

const t: TruthTableReport = {
  port: 80,
  protocol: 'TCP',
  from: ['x/a', 'x/b'],
  to: ['x/a', 'x/b'],
  expected: [
    [true, true],
    [true, true],
  ],
  observed: [
    [true, true],
    [false, true],
  ],
  ignoreLoopback: true,
  differences: [{ from: 'x/b', to: 'x/a', expected: true, observed: false, detail: 'exit code 124, no reply' }],
};

describe('truth tables in the HTML report', () => {
  it('draws both tables, the differing cell red with what was expected and seen', () => {
    const html = truthTableHtml(t);
    expect(html).toContain('<table class="truth-table expected">');
    expect(html).toContain('<table class="truth-table observed">');
    expect(html.match(/class="cell[^"]*differs/g)).toHaveLength(2); // the same cell in both tables
    expect(html).toContain('title="x/b → x/a: expected ., observed X (exit code 124, no reply)"');
    expect(html).toMatch(/<td class="cell denied differs"[^>]*>X<\/td>/);
    expect(html).toContain('1 cell(s) differ');
    // a pod to itself is greyed (not compared)
    expect(html.match(/ self"/g)).toHaveLength(4);
  });
});

describe('the observed cell of a table expectation', () => {
  it('lists each differing cell and each trace once', () => {
    const trace = { from: 'x/b', to: 'x/a', text: 'trace x/b → 10.42.0.2:80 … drop' };
    const html = truthDiffsHtml(
      {
        ...t,
        differences: [
          { ...t.differences[0]!, trace },
          { from: 'x/a', to: 'x/b', expected: true, observed: false, detail: 'refused', trace },
        ],
      },
      'observed text',
    );
    expect(html).toContain('2 cell(s) differ');
    expect(html).toContain('<b>x/b → x/a</b>: expected ., observed <span class="bad">X</span>');
    expect(html.match(/<details>/g)).toHaveLength(1);
    expect(truthDiffsHtml({ ...t, differences: [] }, 'the same table (4 pairs probed)')).toBe('<pre>the same table (4 pairs probed)</pre>');
  });
});

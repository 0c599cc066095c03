import { esc } from './html-page';
import type { TruthTableReport } from './types';

// A reachability expectation's truth tables, side by side: expected and observed, rows the
// clients and columns the servers, `.` allowed and `X` denied; a differing cell is red in the
// observed table (its title says what was expected and what the probe saw).

export function truthTableHtml(t: TruthTableReport): string {
  const diff = new Map(t.differences.map((d) => [`${d.from}\0${d.to}`, d]));
  const grid = (which: 'expected' | 'observed') => {
    const cells = t[which];
    const head = `<tr><th>${esc(which)}</th>${t.to.map((c) => `<th>${esc(c)}</th>`).join('')}</tr>`;
    const rows = t.from.map((f, i) => {
      const tds = t.to.map((c, j) => {
        const ok = cells[i]?.[j] ?? false;
        const d = diff.get(`${f}\0${c}`);
        const self = t.ignoreLoopback && f === c ? ' self' : '';
        const title = d
          ? ` title="${esc(`${f} → ${c}: expected ${d.expected ? '.' : 'X'}, observed ${d.observed ? '.' : 'X'} (${d.detail})`)}"`
          : '';
        return `<td class="cell${ok ? ' allowed' : ' denied'}${d ? ' differs' : ''}${self}"${title}>${ok ? '.' : 'X'}</td>`;
      });
      return `<tr><th>${esc(f)}</th>${tds.join('')}</tr>`;
    });
    return `<table class="truth-table ${which}">${head}${rows.join('')}</table>`;
  };
  return [
    `<div class="truth-tables" data-port="${t.port}" data-protocol="${esc(t.protocol)}">`,
    `<div class="dim caption">${esc(t.protocol)}/${t.port}: rows from, columns to; <b>.</b> allowed, <b>X</b> denied${t.ignoreLoopback ? '; a pod to itself (grey) not compared' : ''}; ${t.differences.length} cell(s) differ</div>`,
    grid('expected'),
    grid('observed'),
    '</div>',
  ].join('');
}

/** The observed cell of a table expectation: each differing cell and the traces of denied probes (the tables are drawn below). */
export function truthDiffsHtml(t: TruthTableReport, observed: string): string {
  if (!t.differences.length) return `<pre>${esc(observed)}</pre>`;
  const mark = (b: boolean) => (b ? '.' : 'X');
  const items = t.differences.map(
    (d) =>
      `<li><b>${esc(d.from)} → ${esc(d.to)}</b>: expected ${mark(d.expected)}, observed <span class="bad">${mark(d.observed)}</span> <span class="dim">(${esc(d.detail)})</span></li>`,
  );
  const traces = new Map(t.differences.flatMap((d) => (d.trace ? [[`${d.trace.from} → ${d.trace.to}`, d.trace.text] as const] : [])));
  const shown = [...traces].map(
    ([pair, text]) =>
      `<details><summary class="dim">trace of the denied probe ${esc(pair)} ${esc(t.protocol)}/${t.port}</summary><pre>${esc(text)}</pre></details>`,
  );
  return `<div class="bad">${t.differences.length} cell(s) differ</div><ul class="differences">${items.join('')}</ul>${shown.join('')}`;
}

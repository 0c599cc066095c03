import { xmlEscape } from '../graph/svg-kit';
import type { Status } from './types';

// The shell every HTML page of the lab shares: one self-contained file (inline CSS and script,
// no fonts, images or scripts from elsewhere) so it opens from disk and can be archived with
// the run's folder.

export const esc = xmlEscape;

export const BADGE_COLOURS = { passed: '#1a7f37', failed: '#cf222e', skipped: '#6e7781', interrupted: '#8250df' } as const;

export const badge = (s: Status): string => `<span class="badge ${s}">${s === 'passed' ? 'pass' : s === 'failed' ? 'fail' : s}</span>`;

/** A relative link to a file of the run's folder (each path segment encoded). */
export const fileLink = (path: string, label = path): string =>
  `<a class="file" href="${esc(path.split('/').map(encodeURIComponent).join('/'))}">${esc(label)}</a>`;

const CSS = `
:root { --pass: ${BADGE_COLOURS.passed}; --fail: ${BADGE_COLOURS.failed}; --skip: ${BADGE_COLOURS.skipped}; --stop: ${BADGE_COLOURS.interrupted}; --line: #d0d7de; --dim: #57606a; }
* { box-sizing: border-box; }
body { margin: 0; padding: 24px 32px 48px; font: 14px/1.45 system-ui, -apple-system, 'Segoe UI', 'DejaVu Sans', sans-serif; color: #1f2328; background: #ffffff; }
h1 { font-size: 22px; margin: 0 0 6px; } h2 { font-size: 18px; margin: 28px 0 8px; } h3 { font-size: 15px; margin: 16px 0 6px; }
code, pre, .mono, td.mono { font-family: 'DejaVu Sans Mono', Menlo, Consolas, monospace; font-size: 12.5px; }
pre { white-space: pre-wrap; word-break: break-word; margin: 0; }
a { color: #0969da; } .dim { color: var(--dim); }
.badge { display: inline-block; min-width: 52px; padding: 2px 10px; border-radius: 12px; color: #ffffff; font-weight: 600; font-size: 12px; text-align: center; vertical-align: middle; }
.badge.passed { background: var(--pass); } .badge.failed { background: var(--fail); } .badge.skipped { background: var(--skip); } .badge.interrupted { background: var(--stop); }
.badge.warn { background: #9a6700; }
.summary { display: flex; flex-wrap: wrap; gap: 12px; margin: 12px 0; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 8px 14px; min-width: 130px; }
.card b { display: block; font-size: 20px; }
.card.passed b { color: var(--pass); } .card.failed b { color: var(--fail); } .card.skipped b { color: var(--skip); } .card.interrupted b { color: var(--stop); }
figure { margin: 12px 0; overflow-x: auto; } figcaption { color: var(--dim); margin-bottom: 6px; }
figure svg { max-width: none; height: auto; }
details.step { border: 1px solid var(--line); border-left: 6px solid var(--skip); border-radius: 6px; margin: 10px 0; padding: 6px 12px; }
details.step[data-status=passed] { border-left-color: var(--pass); } details.step[data-status=failed] { border-left-color: var(--fail); }
details.step[data-status=interrupted] { border-left-color: var(--stop); }
details.step > summary { cursor: pointer; font-weight: 600; }
table { border-collapse: collapse; width: 100%; margin: 8px 0; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { font-size: 12px; color: var(--dim); font-weight: 600; }
tr.failed td { background: #fff5f5; } .bad { color: var(--fail); }
.toolbar { position: sticky; top: 0; background: #ffffffee; padding: 6px 0; border-bottom: 1px solid var(--line); z-index: 1; }
body.only-failed details.step:not([data-status=failed]) { display: none; }
.walk { margin: 8px 0 16px; }
table.rule-events td { padding: 2px 8px; font-size: 12px; }
.truth-tables { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; } .truth-tables > .caption { flex-basis: 100%; }
table.truth-table { width: auto; font-family: 'DejaVu Sans Mono', Menlo, Consolas, monospace; font-size: 12px; }
table.truth-table td.cell { text-align: center; padding: 2px 6px; } td.cell.self { color: var(--dim); } td.cell.differs { background: var(--fail); color: #ffffff; font-weight: 700; }
`;

/** Hides passed steps on request and counts what is shown; marks the page as scripted. */
const SCRIPT = `
(function () {
  var steps = Array.prototype.slice.call(document.querySelectorAll('details.step'));
  var box = document.getElementById('only-failed');
  var shown = document.getElementById('shown');
  function update() {
    document.body.classList.toggle('only-failed', !!(box && box.checked));
    var n = steps.filter(function (s) { return getComputedStyle(s).display !== 'none'; }).length;
    if (shown) shown.textContent = n + ' of ' + steps.length + ' steps shown';
  }
  if (box) box.addEventListener('change', update);
  update();
  document.body.setAttribute('data-js', 'ready');
})();
`;

export function page(title: string, body: string[]): string {
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    // nothing may load from the network: the page is the report, wherever it is opened
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">`,
    `<title>${esc(title)}</title>`,
    `<style>${CSS}</style>`,
    '</head>',
    '<body>',
    ...body,
    `<script>${SCRIPT}</script>`,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

// Small SVG building blocks shared by the topology graph and the packet-walk ladder. Text is
// monospace so its width can be known without a browser (0.6 em per character, DejaVu Sans
// Mono's advance), which is what lets the layouts size boxes and the SVG to their content.

export const FONT = "'DejaVu Sans Mono', Menlo, Consolas, monospace";
export const FONT_SIZE = 12;

/** Escapes text for XML content and attribute values (both quote kinds). */
export const xmlEscape = (s: string): string =>
  s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;')
    // characters XML 1.0 cannot hold at all
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '?');

/** Width of `s` in px at `size` (monospace). */
export const textWidth = (s: string, size = FONT_SIZE): number => Math.ceil([...s].length * size * 0.6);

/** Numbers as SVG wants them: integers stay integers, others one decimal (stable goldens). */
const n = (v: number): string => (Number.isInteger(v) ? String(v) : v.toFixed(1));

type Attrs = Record<string, string | number | undefined>;

const attrs = (a: Attrs): string =>
  Object.entries(a)
    .filter((e): e is [string, string | number] => e[1] !== undefined)
    .map(([k, v]) => ` ${k}="${typeof v === 'number' ? n(v) : xmlEscape(v)}"`)
    .join('');

export const rect = (x: number, y: number, w: number, h: number, a: Attrs = {}): string =>
  `<rect${attrs({ x, y, width: w, height: h, ...a })}/>`;

export const line = (x1: number, y1: number, x2: number, y2: number, a: Attrs = {}): string => `<line${attrs({ x1, y1, x2, y2, ...a })}/>`;

/** An orthogonal or straight polyline through the points. */
export const polyline = (pts: [number, number][], a: Attrs = {}): string =>
  `<polyline${attrs({ points: pts.map(([x, y]) => `${n(x)},${n(y)}`).join(' '), fill: 'none', ...a })}/>`;

export const text = (x: number, y: number, s: string, a: Attrs = {}): string => `<text${attrs({ x, y, ...a })}>${xmlEscape(s)}</text>`;

/** Text with a white halo, readable where it crosses lines. */
export const haloText = (x: number, y: number, s: string, a: Attrs = {}): string =>
  text(x, y, s, { stroke: '#ffffff', 'stroke-width': 4, 'paint-order': 'stroke', 'stroke-linejoin': 'round', ...a });

export const group = (body: string[], a: Attrs = {}): string => `<g${attrs(a)}>\n${body.join('\n')}\n</g>`;

/** An arrowhead marker filled with `colour`; refer to it as url(#id). */
export const arrowMarker = (id: string, colour: string): string =>
  `<marker id="${xmlEscape(id)}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="${xmlEscape(colour)}"/></marker>`;

/** A standalone SVG document (no XML declaration, so it can also be inlined into HTML). */
export function svgDocument(width: number, height: number, title: string, body: string[], defs: string[] = []): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${n(width)}" height="${n(height)}" viewBox="0 0 ${n(width)} ${n(height)}" font-family="${xmlEscape(FONT)}" font-size="${FONT_SIZE}" role="img" aria-label="${xmlEscape(title)}">`,
    `<title>${xmlEscape(title)}</title>`,
    ...(defs.length ? ['<defs>', ...defs, '</defs>'] : []),
    rect(0, 0, width, height, { fill: '#ffffff' }),
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

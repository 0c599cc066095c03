import { arrowMarker, group, haloText, line, rect, svgDocument, text, textWidth, xmlEscape } from '../graph/svg-kit';
import type { Walk, WalkChange, WalkHeaders, WalkHop } from '../trace/types';

// A packet walk as a ladder: a lane per owner (pod, node, the lab's underlay) in the order the
// packet met them, an arrow per hop into the lane it was seen in, and beside each hop its
// headers, what changed (highlighted) and what differed from the expected walk (red). A hop the
// packet was expected at but not seen is drawn dashed, with the expected headers.

export const WALK_COLOURS = {
  arrow: '#2b6cb0',
  bad: '#c53030',
  unseen: '#718096',
  lane: '#a0aec0',
  text: '#1a202c',
  dim: '#4a5568',
} as const;
const C = WALK_COLOURS;
const CHANGE_FILL: Record<WalkChange['kind'], string> = {
  ttl: '#fefcbf',
  mac: '#fefcbf',
  port: '#fed7e2',
  dnat: '#fed7e2',
  snat: '#fed7e2',
  encap: '#bee3f8',
  decap: '#bee3f8',
};

const M = 16;
const LINE = 16;
const PILL = 20;
const LANE_MIN = 130;
const HEAD_H = 44;

const hp = (ip: string, port?: number) => (port === undefined ? ip : `${ip}:${port}`);

/** The headers as short lines: the outer header first when encapsulated (VXLAN, IP-in-IP), then the packet itself. */
export function headerLines(h: WalkHeaders): string[] {
  const l4 = h.l4;
  const what = l4?.icmpType
    ? `icmp ${l4.icmpType}${l4.icmpId !== undefined ? ` id ${l4.icmpId}` : ''}${l4.icmpSeq !== undefined ? ` seq ${l4.icmpSeq}` : ''}`
    : `${h.ip.protocol}${l4?.flags?.length ? ` [${l4.flags.join(',')}]` : ''}`;
  const out: string[] = [];
  if (h.outer) {
    const o = h.outer;
    out.push(
      o.ipip
        ? `IPIP ${o.ip.src} → ${o.ip.dst} proto 4 ttl ${o.ip.ttl}`
        : `VXLAN ${o.ip.src} → ${o.ip.dst} udp ${o.udp.srcport} → ${o.udp.dstport} vni ${o.vni} ttl ${o.ip.ttl}`,
    );
    if (o.eth) out.push(`outer eth ${o.eth.src} → ${o.eth.dst}`);
  }
  const pre = h.outer ? 'inner ' : '';
  out.push(
    `${pre}ip ${hp(h.ip.src, l4?.srcport)} → ${hp(h.ip.dst, l4?.dstport)} ${what} ttl ${h.ip.ttl}${h.ip.id !== undefined ? ` id ${h.ip.id}` : ''}`,
  );
  if (h.eth) out.push(`${pre}eth ${h.eth.src} → ${h.eth.dst}`);
  return out;
}

const ownerKindLabel = (h: WalkHop) => (h.ownerKind === 'lab' ? 'lab underlay' : h.ownerKind);

interface Row {
  hop: WalkHop;
  y: number;
  h: number;
  title: string;
  headers: string[];
}

export interface LadderOptions {
  /** prefix for marker ids, when several ladders share a page */
  idPrefix?: string;
}

export function walkLadderSvg(w: Walk, opts: LadderOptions = {}): string {
  const idp = opts.idPrefix ?? 'walk-';
  // lanes: owners in the order the packet met them
  const lanes: { owner: string; kind: string; x: number; w: number }[] = [];
  for (const h of w.hops) if (!lanes.some((l) => l.owner === h.owner)) lanes.push({ owner: h.owner, kind: ownerKindLabel(h), x: 0, w: 0 });
  let x = M;
  for (const l of lanes) {
    l.w = Math.max(LANE_MIN, textWidth(l.owner, 13) + 24, textWidth(l.kind, 11) + 24);
    l.x = x + Math.round(l.w / 2);
    x += l.w;
  }
  const annX = x + 24;
  const laneOf = new Map(lanes.map((l) => [l.owner, l]));

  // rows: one per hop, as tall as its text
  const rows: Row[] = [];
  let y = M + 28 + HEAD_H + 16;
  w.hops.forEach((hop, i) => {
    const shown = hop.observed ?? hop.expected;
    const title = `${i + 1}. ${hop.point}${hop.frame !== undefined ? `  frame #${hop.frame}` : ''}${hop.observed ? '' : '  — not seen'}`;
    const headers = shown ? headerLines(shown).map((l) => (hop.observed ? l : `expected ${l}`)) : ['(no headers)'];
    const h = LINE * (1 + headers.length + hop.differences.length) + PILL * hop.changes.length + 14;
    rows.push({ hop, y, h, title, headers });
    y += h;
  });
  const bottom = y + 8;
  const annW = Math.max(
    260,
    ...rows.flatMap((r) => [
      textWidth(r.title, 12),
      ...r.headers.map((l) => textWidth(l, 12)),
      ...r.hop.changes.map((c) => textWidth(c.text, 11) + 16),
      ...r.hop.differences.map((d) => textWidth(`✗ ${d}`, 12)),
    ]),
  );
  const title = `trace ${w.from} → ${w.to} (${hp(w.target.ip, w.target.port)} ${w.protocol})${w.reached ? `: reached ${w.reached}` : ': reached nothing'}`;
  const width = Math.max(annX + annW + M, textWidth(title, 14) + 2 * M);
  const height = bottom + M;

  const body: string[] = [text(M, M + 14, title, { 'font-size': 14, 'font-weight': 'bold', fill: w.ok ? C.text : C.bad })];
  // lane heads and lines
  const headY = M + 28;
  for (const l of lanes) {
    const left = l.x - Math.round(l.w / 2) + 6;
    body.push(
      group(
        [
          rect(left, headY, l.w - 12, HEAD_H, { rx: 6, fill: '#edf2f7', stroke: C.lane, 'stroke-width': 2 }),
          text(l.x, headY + 19, l.owner, { 'text-anchor': 'middle', 'font-weight': 'bold', 'font-size': 13, fill: C.text }),
          text(l.x, headY + 35, l.kind, { 'text-anchor': 'middle', 'font-size': 11, fill: C.dim }),
          line(l.x, headY + HEAD_H, l.x, bottom, { stroke: C.lane, 'stroke-width': 2 }),
        ],
        { class: 'lane', 'data-owner': l.owner },
      ),
    );
  }
  // rows: a rule above each, the arrow into the hop's lane, the text beside
  let prev: { x: number; y: number } | undefined;
  rows.forEach((r) => {
    const lane = laneOf.get(r.hop.owner)!;
    const ay = r.y + 12;
    const bad = r.hop.differences.length > 0;
    const colour = bad ? C.bad : r.hop.observed ? C.arrow : C.unseen;
    const marker = bad ? `${idp}arrow-bad` : r.hop.observed ? `${idp}arrow` : `${idp}arrow-unseen`;
    const from = prev ?? { x: lane.x, y: ay - 22 };
    const dash = r.hop.observed ? undefined : '6 4';
    const parts = [line(M, r.y, annX + annW, r.y, { stroke: '#e2e8f0', 'stroke-width': 1 })];
    // the arrow stops short of the dot so its head stays visible
    const dx = lane.x - from.x;
    const dy = ay - from.y;
    const len = Math.hypot(dx, dy) || 1;
    parts.push(
      line(from.x, from.y, Math.round(lane.x - (dx / len) * 6), Math.round(ay - (dy / len) * 6), {
        stroke: colour,
        'stroke-width': 2,
        'marker-end': `url(#${marker})`,
        ...(dash ? { 'stroke-dasharray': dash } : {}),
      }),
      `<circle cx="${lane.x}" cy="${ay}" r="5" fill="${r.hop.observed ? colour : '#ffffff'}" stroke="${colour}" stroke-width="2"${dash ? ' stroke-dasharray="3 2"' : ''}/>`,
      haloText(lane.x + 9, ay - 6, r.hop.interface, { 'font-size': 10, fill: C.dim }),
      line(lane.x + 8, ay, annX - 6, ay, { stroke: '#cbd5e0', 'stroke-width': 1, 'stroke-dasharray': '1 3' }),
    );
    // text: title (a link to the pcap when there is one), headers, changes, differences
    let ty = r.y + 16;
    const titleText = text(annX, ty, r.title, { 'font-weight': 'bold', fill: bad ? C.bad : C.text });
    parts.push(r.hop.pcap ? `<a href="${xmlEscape(relativeHref(r.hop.pcap))}">${titleText}</a>` : titleText);
    for (const l of r.headers) parts.push(text(annX, (ty += LINE), l, { fill: r.hop.observed ? C.text : C.unseen }));
    ty += 4;
    for (const c of r.hop.changes) {
      const cw = textWidth(c.text, 11) + 12;
      parts.push(
        group(
          [
            rect(annX, ty + 2, cw, PILL - 4, { rx: 8, fill: CHANGE_FILL[c.kind], stroke: '#b7791f', 'stroke-width': 1 }),
            text(annX + 6, ty + 14, c.text, { 'font-size': 11, fill: C.text }),
          ],
          { class: `change ${c.kind}` },
        ),
      );
      ty += PILL;
    }
    for (const d of r.hop.differences) parts.push(text(annX, (ty += LINE) - 4, `✗ ${d}`, { fill: C.bad, class: 'difference' }));
    body.push(group(parts, { class: `hop${bad ? ' bad' : ''}${r.hop.observed ? '' : ' unseen'}`, 'data-point': r.hop.point }));
    prev = { x: lane.x, y: ay };
  });

  return svgDocument(width, height, title, body, [
    arrowMarker(`${idp}arrow`, C.arrow),
    arrowMarker(`${idp}arrow-bad`, C.bad),
    arrowMarker(`${idp}arrow-unseen`, C.unseen),
  ]);
}

/** A path from the report as a relative URL (each segment encoded). */
export const relativeHref = (p: string): string => p.split('/').map(encodeURIComponent).join('/');

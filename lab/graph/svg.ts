import { type GraphNode, type GraphPod, linkLabel, type NodeLink, serviceAddress, type TopologyGraph } from './model';
import { arrowMarker, group, haloText, line, polyline, rect, svgDocument, text, textWidth } from './svg-kit';

// The topology graph drawn by our own layout, deterministic and layered:
//   title
//   underlay segment(s) with their gateway
//   a band of node-to-node links (one lane each: VXLAN tunnels dashed, host-gw routes dotted)
//   a column per node: eth0 beside flannel.<vni> / vxlan.calico, cni0 (Calico: its routing,
//   no bridge) below, its pods on a veth bus
//   a band of channels, one per service, then the services, with edges to their endpoints
// Lines are orthogonal and routed through gutters between the columns, so they never run
// through a box; the SVG is sized to what it holds.

export const GRAPH_COLOURS = {
  frame: '#2b6cb0',
  frameFill: '#f5f9ff',
  pod: '#6b46c1',
  podFill: '#faf5ff',
  service: '#c05621',
  serviceFill: '#fffaf0',
  tunnel: '#b7791f',
  tunnelText: '#744210',
  underlay: '#4a5568',
  underlayFill: '#edf2f7',
  text: '#1a202c',
  dim: '#4a5568',
} as const;
const C = GRAPH_COLOURS;

const M = 16; // margin
const PAD = 12; // inside a node frame
const BOX_PAD = 8; // inside a box
const LINE = 15; // line height
const BUS = 30; // pods sit this far right of the frame's padding, the veth bus in between
const LANE = 22; // node-link lanes
const CHANNEL = 12; // service channels
const GUTTER_LANE = 10; // service edges in a gutter

interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

const boxSize = (lines: string[]) => ({ w: Math.max(...lines.map((l) => textWidth(l))) + 2 * BOX_PAD, h: lines.length * LINE + 10 });
const cx = (b: Box) => Math.round(b.x + b.w / 2);

/** A box with its lines: the first bold, the others plain (the last dimmed when asked). */
function drawBox(
  b: Box,
  lines: string[],
  style: { stroke: string; fill: string; dimLast?: boolean; dashed?: boolean },
  cls: string,
): string {
  const body = [
    rect(b.x, b.y, b.w, b.h, {
      rx: 6,
      fill: style.fill,
      stroke: style.stroke,
      'stroke-width': 2,
      ...(style.dashed ? { 'stroke-dasharray': '5 3' } : {}),
    }),
  ];
  lines.forEach((l, i) =>
    body.push(
      text(b.x + BOX_PAD, b.y + 5 + LINE * (i + 1) - 3, l, {
        fill: style.dimLast && i === lines.length - 1 && i > 0 ? C.dim : C.text,
        ...(i === 0 ? { 'font-weight': 'bold' } : {}),
        ...(style.dimLast && i === lines.length - 1 && i > 0 ? { 'font-size': 11 } : {}),
      }),
    ),
  );
  return group(body, { class: cls });
}

interface Column {
  node: GraphNode;
  x: number;
  w: number;
  gutter: number;
  eth0: Box;
  vtep?: Box;
  hub: Box;
  pods: Map<string, Box>;
}

const podLines = (p: GraphPod) => [p.name, p.ip, p.veth];
const ifaceLines = (i: { name: string; address: string }) => [i.name, i.address];
/** host-gw: each node's routes to the other subnets, listed in its frame (too long for a lane) */
const routesOn = (links: NodeLink[], node: string) =>
  links.flatMap((l) => (l.kind !== 'vxlan' ? l.routes.filter((r) => r.on === node).map((r) => `route ${r.to} via ${r.via}`) : []));
const headerLines = (n: GraphNode, links: NodeLink[]) => [
  n.name,
  `pod subnet ${n.podSubnet}`,
  ...(n.host ? [`host ${n.host}`] : []),
  ...routesOn(links, n.name),
];
const laneLabel = (l: NodeLink) =>
  l.kind === 'vxlan'
    ? linkLabel(l)
    : l.kind === 'bgp'
      ? `BGP AS ${l.asNumber} (BIRD's routes via eth0)`
      : l.kind === 'direct'
        ? 'direct, CrossSubnet (routes via eth0)'
        : l.kind === 'ipip'
          ? 'IPIP, proto 4 (routes via the node IPs dev tunl0)'
          : 'host-gw (routes via eth0)';

export interface SvgOptions {
  /** prefix for the marker ids, so several graphs can share one HTML page */
  idPrefix?: string;
}

export function renderSvg(g: TopologyGraph, opts: SvgOptions = {}): string {
  const idp = opts.idPrefix ?? `g-${g.lab}-`;
  const title = `lab ${g.lab} · backend ${g.backend} · proxy ${g.proxy}`;
  const podColumn = new Map(g.nodes.flatMap((n, i) => n.pods.map((p) => [p.id, i] as const)));
  const edgesPerColumn = g.nodes.map(() => 0);
  for (const s of g.services) for (const e of s.endpoints) edgesPerColumn[podColumn.get(e.pod)!]! += 1;

  // --- vertical bands -------------------------------------------------------------------
  const yTop = M + 28;
  const segRows = placeSegmentsRows(g);
  const bandTop = yTop + (g.segments.length ? (Math.max(...segRows.values()) + 1) * 52 : 0);
  const bandBottom = bandTop + (g.links.length ? g.links.length * LANE + 12 : 0);
  // eth0 and flannel.1 sit on the frame's top edge like ports, so the wires and tunnels from
  // above reach them without crossing the node's heading, which comes below them
  const frameTop = bandBottom + 24;
  const row1Y = frameTop - 20;
  const headerTop = frameTop + 20 + 6;
  const headerH = Math.max(2, ...g.nodes.map((n) => headerLines(n, g.links).length)) * 16;
  const cni0Y = headerTop + headerH + 10;
  const podsY0 = cni0Y + 40 + 18;
  const podH = 3 * LINE + 10;

  // --- columns --------------------------------------------------------------------------
  const columns: Column[] = [];
  let x = M;
  g.nodes.forEach((n, i) => {
    const eth0 = boxSize(ifaceLines(n.eth0));
    const vtep = n.vtep ? boxSize(ifaceLines(n.vtep)) : undefined;
    const cni0 = boxSize(ifaceLines(n.hub));
    const podW = Math.max(0, ...n.pods.map((p) => boxSize(podLines(p)).w));
    const inner = Math.max(
      eth0.w + (vtep ? 28 + vtep.w : 0),
      cni0.w,
      n.pods.length ? BUS + podW + 34 : 0, // room right of the pods for the port labels
      ...headerLines(n, g.links).map((l, k) => 28 + textWidth(l, k ? 11 : 13)),
    );
    const w = inner + 2 * PAD;
    const left = x + PAD;
    const pods = new Map(n.pods.map((p, k) => [p.id, { x: left + BUS, y: podsY0 + k * (podH + 10), w: podW, h: podH }]));
    columns.push({
      node: n,
      x,
      w,
      gutter: 28 + GUTTER_LANE * edgesPerColumn[i]!,
      eth0: { x: left, y: row1Y, ...eth0 },
      ...(vtep ? { vtep: { x: left + eth0.w + 28, y: row1Y, ...vtep } } : {}),
      hub: { x: left, y: cni0Y, ...cni0 },
      pods,
    });
    x += w + columns[columns.length - 1]!.gutter;
  });
  const columnsRight = x;
  const frameBottom = Math.max(cni0Y + 40, ...columns.flatMap((c) => [...c.pods.values()].map((b) => b.y + b.h))) + PAD;

  // --- services: under the mean of their endpoints' gutters, pushed right to not overlap --
  const chTop = frameBottom + 14;
  const svcY = chTop + g.services.length * CHANNEL + 14;
  const gutterX = (ci: number) => columns[ci]!.x + columns[ci]!.w;
  const svcLines = g.services.map((s) => [s.name, serviceAddress(s), s.type]);
  const wanted = g.services.map((s, i) => {
    const xs = s.endpoints.map((e) => gutterX(podColumn.get(e.pod)!));
    const w = boxSize(svcLines[i]!).w;
    return { i, w, x: Math.round((xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : M) - w / 2) };
  });
  const svcBoxes = new Map<number, Box>();
  let right = M - 24;
  for (const s of [...wanted].sort((a, b) => a.x + a.w / 2 - (b.x + b.w / 2) || a.i - b.i)) {
    const bx = Math.max(s.x, right + 24, M);
    svcBoxes.set(s.i, { x: bx, y: svcY, w: s.w, h: 3 * LINE + 10 });
    right = bx + s.w;
  }

  // --- size -----------------------------------------------------------------------------
  const segBoxes = segmentBoxes(g, columns, segRows, yTop);
  const width = Math.max(
    columnsRight + M - 12,
    right + M,
    textWidth(title, 14) + 2 * M,
    ...[...segBoxes.values()].map((b) => b.x + b.w + M),
  );
  const height = (g.services.length ? svcY + 3 * LINE + 10 : frameBottom) + M;

  const body: string[] = [text(M, M + 14, title, { 'font-size': 14, 'font-weight': 'bold', fill: C.text })];
  // underlay segments and their wires to each eth0
  for (const s of g.segments) {
    const b = segBoxes.get(s.id)!;
    body.push(drawBox(b, [`underlay ${s.cidr}`, `gateway ${s.gateway} (@lab)`], { stroke: C.underlay, fill: C.underlayFill }, 'underlay'));
    for (const c of columns.filter((c) => c.node.segment === s.id)) {
      const wx = c.vtep ? cx(c.eth0) : c.eth0.x + 14;
      body.push(line(wx, b.y + b.h, wx, c.eth0.y, { stroke: C.underlay, 'stroke-width': 2 }));
    }
  }
  // node frames with their interfaces and pods
  for (const c of columns) body.push(drawColumn(c, frameTop, frameBottom, headerTop, g.links));
  // node-to-node links
  body.push(...drawLinks(g.links, columns, bandTop, width));
  // services and their edges to the endpoints
  body.push(...drawServices(g, columns, podColumn, svcBoxes, svcLines, chTop, idp));

  return svgDocument(width, height, title, body, [arrowMarker(`${idp}arrow`, C.service)]);
}

/** Segments in rows: side by side when their nodes' columns do not overlap, else a row below. */
function placeSegmentsRows(g: TopologyGraph): Map<string, number> {
  const idx = new Map(g.nodes.map((n, i) => [n.id, i]));
  const spans = g.segments.map((s) => {
    const cols = g.nodes.filter((n) => n.segment === s.id).map((n) => idx.get(n.id)!);
    return { id: s.id, lo: cols.length ? Math.min(...cols) : -1, hi: cols.length ? Math.max(...cols) : -1 };
  });
  const rows: { lo: number; hi: number }[][] = [];
  const out = new Map<string, number>();
  for (const s of spans) {
    let r = rows.findIndex((row) => row.every((o) => s.hi < o.lo || s.lo > o.hi) && s.lo >= 0);
    if (r < 0) r = rows.push([]) - 1;
    rows[r]!.push(s);
    out.set(s.id, r);
  }
  return out;
}

function segmentBoxes(g: TopologyGraph, columns: Column[], rows: Map<string, number>, yTop: number): Map<string, Box> {
  const out = new Map<string, Box>();
  for (const s of g.segments) {
    const cols = columns.filter((c) => c.node.segment === s.id);
    const size = boxSize([`underlay ${s.cidr}`, `gateway ${s.gateway} (@lab)`]);
    const lo = cols.length ? cols[0]!.x : M;
    const hi = cols.length ? cols[cols.length - 1]!.x + cols[cols.length - 1]!.w : M + size.w;
    out.set(s.id, { x: lo, y: yTop + rows.get(s.id)! * 52, w: Math.max(hi - lo, size.w), h: size.h });
  }
  return out;
}

function drawColumn(c: Column, top: number, bottom: number, headerTop: number, links: NodeLink[]): string {
  const n = c.node;
  const body = [rect(c.x, top, c.w, bottom - top, { rx: 10, fill: C.frameFill, stroke: C.frame, 'stroke-width': 2 })];
  headerLines(n, links).forEach((l, i) =>
    body.push(
      haloText(
        c.x + PAD + 28,
        headerTop + 14 + i * 16,
        l,
        i === 0 ? { 'font-size': 13, 'font-weight': 'bold', fill: C.frame } : { fill: C.dim, 'font-size': 11 },
      ),
    ),
  );
  const iface = { stroke: C.frame, fill: '#ffffff' };
  body.push(drawBox(c.eth0, ifaceLines(n.eth0), iface, 'iface'));
  if (c.vtep && n.vtep) {
    body.push(drawBox(c.vtep, ifaceLines(n.vtep), iface, 'iface'));
    const y = c.eth0.y + Math.round(c.eth0.h / 2);
    body.push(line(c.eth0.x + c.eth0.w, y, c.vtep.x, y, { stroke: C.frame, 'stroke-width': 2 }));
    // flannel.1 → cni0: the route for other nodes' subnets
    const vx = cx(c.vtep);
    const cy = c.hub.y + Math.round(c.hub.h / 2);
    body.push(
      polyline(
        [
          [vx, c.vtep.y + c.vtep.h],
          [vx, cy],
          [c.hub.x + c.hub.w, cy],
        ],
        { stroke: C.frame, 'stroke-width': 2 },
      ),
    );
  } else body.push(line(c.eth0.x + 14, c.eth0.y + c.eth0.h, c.eth0.x + 14, c.hub.y, { stroke: C.frame, 'stroke-width': 2 }));
  body.push(drawBox(c.hub, ifaceLines(n.hub), iface, 'iface'));
  // the veth bus: cni0 down the left, a stub to each pod
  const pods = n.pods.map((p) => ({ p, b: c.pods.get(p.id)! }));
  if (pods.length) {
    const bx = c.hub.x + 14;
    const last = pods[pods.length - 1]!.b;
    body.push(line(bx, c.hub.y + c.hub.h, bx, last.y + Math.round(last.h / 2), { stroke: C.pod, 'stroke-width': 2 }));
    for (const { p, b } of pods) {
      const y = b.y + Math.round(b.h / 2);
      body.push(line(bx, y, b.x, y, { stroke: C.pod, 'stroke-width': 2 }));
      body.push(drawBox(b, podLines(p), { stroke: C.pod, fill: C.podFill, dimLast: true }, 'pod'));
    }
  }
  return group(body, { class: 'node', 'data-node': n.name });
}

function drawLinks(links: NodeLink[], columns: Column[], bandTop: number, width: number): string[] {
  const col = new Map(columns.map((c, i) => [c.node.id, i]));
  const span = (l: NodeLink) => col.get(l.b)! - col.get(l.a)!;
  // longest spans on the top lanes, so shorter ones nest under them
  const ranked = links.map((l, i) => ({ l, i })).sort((a, b) => span(b.l) - span(a.l) || col.get(a.l.a)! - col.get(b.l.a)! || a.i - b.i);
  const lane = new Map(ranked.map((r, k) => [r.i, bandTop + 16 + k * LANE]));
  // attach points on each node's box: far partners nearest the middle, so nested lanes do not cross
  const attach = new Map<string, number>();
  columns.forEach((c, j) => {
    const box = c.vtep ?? c.eth0;
    const partners = links
      .map((l, i) => ({ i, other: l.a === c.node.id ? col.get(l.b) : l.b === c.node.id ? col.get(l.a) : undefined }))
      .filter((p): p is { i: number; other: number } => p.other !== undefined)
      .sort((a, b) => Number(a.other > j) - Number(b.other > j) || b.other - a.other);
    // host-gw: the underlay wire takes eth0's left part, links the rest
    const x0 = c.vtep ? box.x : box.x + 28;
    const w = c.vtep ? box.w : box.w - 28;
    partners.forEach((p, k) => attach.set(`${p.i}:${j}`, Math.round(x0 + (w * (k + 1)) / (partners.length + 1))));
  });
  const out: string[] = [];
  links.forEach((l, i) => {
    const [ia, ib] = [col.get(l.a)!, col.get(l.b)!];
    const [ca, cb] = [columns[ia]!, columns[ib]!];
    const xa = attach.get(`${i}:${ia}`)!;
    const xb = attach.get(`${i}:${ib}`)!;
    const y = lane.get(i)!;
    const top = (c: Column) => (c.vtep ?? c.eth0).y;
    const dash = l.kind === 'vxlan' ? '7 4' : '2 3';
    const label = laneLabel(l);
    const lw = textWidth(label, 11);
    const lx = Math.min(Math.max(Math.round((xa + xb) / 2), M + lw / 2), width - M - lw / 2);
    out.push(
      group(
        [
          polyline(
            [
              [xa, top(ca)],
              [xa, y],
              [xb, y],
              [xb, top(cb)],
            ],
            { stroke: C.tunnel, 'stroke-width': 2, 'stroke-dasharray': dash },
          ),
          haloText(Math.round(lx), y - 4, label, { 'font-size': 11, fill: C.tunnelText, 'text-anchor': 'middle' }),
        ],
        { class: `link ${l.kind}` },
      ),
    );
  });
  return out;
}

function drawServices(
  g: TopologyGraph,
  columns: Column[],
  podColumn: Map<string, number>,
  boxes: Map<number, Box>,
  lines: string[][],
  chTop: number,
  idp: string,
): string[] {
  // gutter lanes: edges to the lowest pods nearest the frame, so the edges nest without crossing
  const edges = g.services.flatMap((s, si) => s.endpoints.map((e) => ({ si, pod: e.pod, port: e.port, ci: podColumn.get(e.pod)! })));
  const podBox = (e: { pod: string; ci: number }) => columns[e.ci]!.pods.get(e.pod)!;
  const laneX = new Map<(typeof edges)[number], number>();
  columns.forEach((c, ci) =>
    edges
      .filter((e) => e.ci === ci)
      .sort((a, b) => podBox(b).y - podBox(a).y || a.si - b.si)
      .forEach((e, k) => laneX.set(e, c.x + c.w + 14 + k * GUTTER_LANE)),
  );
  // several services at one pod: their arrows side by side on the pod's right edge
  const perPod = new Map<string, number>();
  const podSlot = new Map<(typeof edges)[number], number>();
  for (const e of edges) {
    const k = perPod.get(e.pod) ?? 0;
    podSlot.set(e, k);
    perPod.set(e.pod, k + 1);
  }
  // channel order: services left to right, one horizontal channel each
  const order = [...boxes.entries()].sort((a, b) => a[1].x - b[1].x).map(([si]) => si);
  const channel = new Map(order.map((si, k) => [si, chTop + k * CHANNEL]));
  const out: string[] = [];
  g.services.forEach((s, si) => {
    const b = boxes.get(si)!;
    const mine = edges.filter((e) => e.si === si).sort((a, b2) => laneX.get(a)! - laneX.get(b2)!);
    const paths = mine.map((e, k) => {
      const sx = Math.round(b.x + (b.w * (k + 1)) / (mine.length + 1));
      const pb = podBox(e);
      const m = perPod.get(e.pod)!;
      const py = Math.round(pb.y + pb.h / 2 + (podSlot.get(e)! - (m - 1) / 2) * 8);
      const lx = laneX.get(e)!;
      const cy = channel.get(si)!;
      return group(
        [
          polyline(
            [
              [sx, b.y],
              [sx, cy],
              [lx, cy],
              [lx, py],
              [pb.x + pb.w, py],
            ],
            { stroke: C.service, 'stroke-width': 1.5, 'marker-end': `url(#${idp}arrow)` },
          ),
          haloText(pb.x + pb.w + 12, py - 3, `:${e.port}`, { 'font-size': 10, fill: C.service }),
        ],
        { class: 'endpoint' },
      );
    });
    out.push(...paths, drawBox(b, lines[si]!, { stroke: C.service, fill: C.serviceFill, dimLast: true }, 'service'));
  });
  return out;
}

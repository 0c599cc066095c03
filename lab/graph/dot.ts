import { type GraphNode, linkLabel, type NodeLink, serviceAddress, type TopologyGraph } from './model';

// Graphviz DOT text of the topology graph, for `dot -Tsvg` or any viewer that reads DOT. Nodes
// are clusters; undirected links (wires, veths, tunnels) have dir=none; a service's edges point
// at its endpoints, written pod -> service with dir=back so the services rank below the pods.

/** A DOT quoted string; lines joined with DOT's own \n escape. */
const q = (...lines: string[]) =>
  `"${lines.map((l) => l.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\r?\n/g, '\\n')).join('\\n')}"`;

const COLOURS = { frame: '#2b6cb0', pod: '#6b46c1', service: '#c05621', tunnel: '#b7791f', underlay: '#4a5568' };

function nodeCluster(n: GraphNode): string[] {
  const out = [
    `  subgraph cluster_${n.id} {`,
    `    label=${q(n.name, `pod subnet ${n.podSubnet}${n.host ? ` on host ${n.host}` : ''}`)}; color=${q(COLOURS.frame)}; style="rounded"; penwidth=2;`,
    `    ${n.eth0.id} [label=${q(n.eth0.name, n.eth0.address)}];`,
  ];
  if (n.vtep) out.push(`    ${n.vtep.id} [label=${q(n.vtep.name, n.vtep.address)}];`);
  out.push(`    ${n.hub.id} [label=${q(n.hub.name, n.hub.address)}];`);
  for (const p of n.pods)
    out.push(`    ${p.id} [label=${q(p.name, p.ip)}, shape=box, style="rounded,filled", fillcolor="#faf5ff", color=${q(COLOURS.pod)}];`);
  if (n.vtep) out.push(`    ${n.eth0.id} -> ${n.vtep.id} [dir=none];`, `    ${n.vtep.id} -> ${n.hub.id} [dir=none];`);
  else out.push(`    ${n.eth0.id} -> ${n.hub.id} [dir=none];`);
  for (const p of n.pods) out.push(`    ${n.hub.id} -> ${p.id} [dir=none, label=${q(p.veth)}];`);
  out.push('  }');
  return out;
}

function linkEdge(l: NodeLink, byId: Map<string, GraphNode>): string {
  const end = (id: string) => {
    const n = byId.get(id)!;
    return (l.kind === 'vxlan' && n.vtep ? n.vtep : n.eth0).id;
  };
  const style = l.kind === 'vxlan' ? 'dashed' : 'dotted';
  return `  ${end(l.a)} -> ${end(l.b)} [dir=none, style=${style}, color=${q(COLOURS.tunnel)}, penwidth=2, constraint=false, label=${q(linkLabel(l))}];`;
}

export function renderDot(g: TopologyGraph): string {
  const byId = new Map(g.nodes.map((n) => [n.id, n]));
  const out = [
    `digraph ${q(`lab ${g.lab}`)} {`,
    `  graph [rankdir=TB, newrank=true, fontname="DejaVu Sans Mono", fontsize=12, labelloc=t, label=${q(`lab ${g.lab} · backend ${g.backend} · proxy ${g.proxy}`)}];`,
    '  node [fontname="DejaVu Sans Mono", fontsize=11, shape=box, style="rounded"];',
    '  edge [fontname="DejaVu Sans Mono", fontsize=10];',
  ];
  for (const s of g.segments)
    out.push(
      `  ${s.id} [label=${q(`underlay ${s.cidr}`, `gateway ${s.gateway} (@lab)`)}, style="filled", fillcolor="#edf2f7", color=${q(COLOURS.underlay)}];`,
    );
  for (const n of g.nodes) out.push(...nodeCluster(n));
  for (const n of g.nodes) out.push(`  ${n.segment} -> ${n.eth0.id} [dir=none, color=${q(COLOURS.underlay)}];`);
  for (const l of g.links) out.push(linkEdge(l, byId));
  for (const s of g.services) {
    out.push(
      `  ${s.id} [label=${q(s.name, serviceAddress(s), s.type)}, shape=box, style="filled", fillcolor="#fffaf0", color=${q(COLOURS.service)}];`,
    );
    for (const e of s.endpoints) out.push(`  ${e.pod} -> ${s.id} [dir=back, color=${q(COLOURS.service)}, label=${q(`:${e.port}`)}];`);
  }
  if (g.segments.length) out.push(`  { rank=min; ${g.segments.map((s) => s.id).join('; ')}; }`);
  if (g.services.length) out.push(`  { rank=max; ${g.services.map((s) => s.id).join('; ')}; }`);
  out.push('}', '');
  return out.join('\n');
}

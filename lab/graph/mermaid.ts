import { type GraphNode, linkLabel, serviceAddress, type TopologyGraph } from './model';

// Mermaid flowchart text of the topology graph (GitHub and many wikis render it inline):
// a subgraph per node, `---` for wires and veths, `-.-` for tunnels, `-->` service → endpoint.

/** A quoted Mermaid label: Mermaid's own #entity; escapes, lines joined with <br/>. */
const q = (...lines: string[]) =>
  `"${lines.map((l) => l.replace(/&/g, '#amp;').replace(/"/g, '#quot;').replace(/</g, '#lt;').replace(/>/g, '#gt;')).join('<br/>')}"`;

function nodeSubgraph(n: GraphNode): string[] {
  const out = [`  subgraph ${n.id}[${q(`${n.name} · pod subnet ${n.podSubnet}${n.host ? ` · host ${n.host}` : ''}`)}]`, '    direction TB'];
  out.push(`    ${n.eth0.id}[${q(n.eth0.name, n.eth0.address)}]`);
  if (n.vtep) out.push(`    ${n.vtep.id}[${q(n.vtep.name, n.vtep.address)}]`);
  out.push(`    ${n.hub.id}[${q(n.hub.name, n.hub.address)}]`);
  for (const p of n.pods) out.push(`    ${p.id}([${q(p.name, p.ip)}])`);
  if (n.vtep) out.push(`    ${n.eth0.id} --- ${n.vtep.id}`, `    ${n.vtep.id} --- ${n.hub.id}`);
  else out.push(`    ${n.eth0.id} --- ${n.hub.id}`);
  for (const p of n.pods) out.push(`    ${n.hub.id} ---|${q(p.veth)}| ${p.id}`);
  out.push('  end');
  return out;
}

export function renderMermaid(g: TopologyGraph): string {
  const byId = new Map(g.nodes.map((n) => [n.id, n]));
  const end = (id: string, vxlan: boolean) => {
    const n = byId.get(id)!;
    return (vxlan && n.vtep ? n.vtep : n.eth0).id;
  };
  const out = ['---', `title: ${JSON.stringify(`lab ${g.lab} · backend ${g.backend} · proxy ${g.proxy}`)}`, '---', 'flowchart TB'];
  for (const s of g.segments) out.push(`  ${s.id}[${q(`underlay ${s.cidr}`, `gateway ${s.gateway} (@lab)`)}]`);
  for (const n of g.nodes) out.push(...nodeSubgraph(n));
  for (const n of g.nodes) out.push(`  ${n.segment} --- ${n.eth0.id}`);
  for (const l of g.links) out.push(`  ${end(l.a, l.kind === 'vxlan')} -.-|${q(linkLabel(l))}| ${end(l.b, l.kind === 'vxlan')}`);
  for (const s of g.services) {
    out.push(`  ${s.id}{{${q(s.name, serviceAddress(s), s.type)}}}`);
    for (const e of s.endpoints) out.push(`  ${s.id} -->|${q(`:${e.port}`)}| ${e.pod}`);
  }
  const pods = g.nodes.flatMap((n) => n.pods.map((p) => p.id));
  out.push(
    '  classDef pod fill:#faf5ff,stroke:#6b46c1',
    '  classDef svc fill:#fffaf0,stroke:#c05621',
    '  classDef underlay fill:#edf2f7,stroke:#4a5568',
  );
  if (pods.length) out.push(`  class ${pods.join(',')} pod`);
  if (g.services.length) out.push(`  class ${g.services.map((s) => s.id).join(',')} svc`);
  if (g.segments.length) out.push(`  class ${g.segments.map((s) => s.id).join(',')} underlay`);
  out.push('');
  return out.join('\n');
}

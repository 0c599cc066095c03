import { isDeepStrictEqual } from 'node:util';
import { renderGraph } from '../graph';
import type { Topology } from '../topology/types';
import type { NodeRules, Walk, WalkDns } from '../trace/types';
import { badge, esc, fileLink, page } from './html-page';
import { truthDiffsHtml, truthTableHtml } from './html-truth-table';
import type {
  CaptureReport,
  ExpectationResult,
  ProbeReport,
  RunReport,
  ScenarioReport,
  ScenarioTopology,
  Status,
  StepReport,
} from './types';
import { walkLadderSvg } from './walk-svg';

// index.html of a run: the summary, the graph of every topology the run used, and per scenario
// its steps with their expectations (expected against observed), captures and probes, each
// linked to its file in the run's folder (paths relative to it, as in report.json). Packet
// walks (`trace` probes) are drawn as ladders. Pure: report in, text out.

export type { ScenarioTopology };

const seconds = (s: number) => `${s.toFixed(2)} s`;
const when = (iso: string) => iso.replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
const slug = (s: string) =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '') || 'x';
const sameTopology = (a: Topology, b: Topology) => isDeepStrictEqual({ ...a, source: '' }, { ...b, source: '' });

/** A count in the summary, in its status colour unless it is zero. */
const card = (n: number, status: Status, what: string) => `<div class="card${n ? ` ${status}` : ''}"><b>${n}</b>${esc(what)}</div>`;

/** A probe's result is a walk when it has the walk's shape (report.json keeps it as unknown). */
export function isWalk(r: unknown): r is Walk {
  if (typeof r !== 'object' || r === null) return false;
  const w = r as Partial<Walk>;
  return Array.isArray(w.hops) && Array.isArray(w.rules) && typeof w.from === 'string' && typeof w.target === 'object';
}

export function reportHtml(report: RunReport, scenarios: ScenarioTopology[]): string {
  // distinct topologies, in the order scenarios use them
  const topologies: { topo: Topology; users: string[] }[] = [];
  const topoIndex = new Map<ScenarioReport, number>();
  for (const sc of report.scenarios) {
    const st = scenarios.find((s) => s.file === sc.file && s.name === sc.name);
    if (!st) continue;
    // its own topology, then those its steps move to
    [st.topology, ...(st.steps ?? []).flatMap((x) => (x.topology ? [x.topology] : []))].forEach((topo, n) => {
      let k = topologies.findIndex((t) => sameTopology(t.topo, topo));
      if (k < 0) k = topologies.push({ topo, users: [] }) - 1;
      if (!topologies[k]!.users.includes(sc.name)) topologies[k]!.users.push(sc.name);
      if (n === 0) topoIndex.set(sc, k);
    });
  }
  const s = report.summary;
  const body = [
    '<header>',
    `<h1>Run ${esc(report.runId)} ${badge(report.status)}</h1>`,
    `<div class="dim">started ${esc(when(report.startedAt))} · finished ${esc(when(report.finishedAt))} · ${esc(seconds(report.durationS))} · ${fileLink('report.json')} · ${fileLink('junit.xml')}</div>`,
    '<div class="summary">',
    `<div class="card"><b>${s.scenarios}</b>scenarios</div>`,
    card(s.passed, 'passed', 'steps passed'),
    card(s.failed, 'failed', 'steps failed'),
    ...(report.interrupted ? [card(s.interrupted, 'interrupted', 'steps interrupted')] : []),
    card(s.skipped, 'skipped', 'steps skipped'),
    card(s.expectations.passed, 'passed', 'expectations passed'),
    card(s.expectations.failed, 'failed', 'expectations failed'),
    '</div>',
    ...(report.interrupted
      ? [
          `<p class="interrupted">Interrupted by ${esc(report.interrupted)}: the step that was running is marked <b>interrupted</b>, the steps after it were not run (skipped).</p>`,
        ]
      : []),
    '</header>',
    '<div class="toolbar"><label><input type="checkbox" id="only-failed"> only failed steps</label> · <span id="shown" class="dim"></span></div>',
  ];
  if (topologies.length) {
    body.push('<section id="topologies"><h2>Topologies</h2>');
    topologies.forEach((t, k) =>
      body.push(
        `<figure id="topology-${k + 1}" class="topology"><figcaption>lab <b>${esc(t.topo.name)}</b> (${esc(t.topo.cluster.backend)}, proxy ${esc(t.topo.proxy.mode)}) from <code>${esc(t.topo.source)}</code>, used by ${t.users.map(esc).join(', ')}</figcaption>`,
        renderGraph(t.topo, 'svg', { idPrefix: `t${k + 1}-` }),
        '</figure>',
      ),
    );
    body.push('</section>');
  }
  report.scenarios.forEach((sc, i) => body.push(...scenarioSection(sc, i, topoIndex.get(sc))));
  return page(`run ${report.runId}: ${report.status}`, body);
}

function scenarioSection(sc: ScenarioReport, i: number, topo: number | undefined): string[] {
  const out = [
    `<section class="scenario" id="scenario-${i + 1}-${slug(sc.name)}">`,
    `<h2>${badge(sc.status)} ${esc(sc.name)}</h2>`,
    `<div class="dim"><code>${esc(sc.file)}</code> · lab ${esc(sc.lab)} · proxy ${esc(sc.proxy)} · ${esc(seconds(sc.durationS))}${topo !== undefined ? ` · <a href="#topology-${topo + 1}">topology</a>` : ''}</div>`,
  ];
  if (sc.description) out.push(`<p>${esc(sc.description)}</p>`);
  sc.steps.forEach((st) => out.push(...stepDetails(sc, st, i)));
  out.push('</section>');
  return out;
}

function stepDetails(sc: ScenarioReport, st: StepReport, si: number): string[] {
  const passed = st.expectations.filter((e) => e.status === 'passed').length;
  const out = [
    `<details class="step" data-status="${st.status}" id="step-${si + 1}-${st.index + 1}" open>`,
    `<summary>${badge(st.status)} <span class="step-name">${st.index + 1}/${sc.steps.length} ${esc(st.name)}</span> <span class="dim">${passed}/${st.expectations.length} expectations passed · ${esc(seconds(st.durationS))}</span></summary>`,
  ];
  if (st.topology?.change)
    out.push(
      `<p class="dim">moved to lab <b>${esc(st.topology.lab)}</b> (${esc(st.topology.change)}) from <code>${esc(st.topology.source)}</code></p>`,
    );
  if (st.reason) out.push(`<p class="${st.status === 'failed' ? 'bad' : 'dim'}">${esc(st.reason)}</p>`);
  if (st.expectations.length) out.push(...expectationTable(st.expectations));
  if (st.captures.length) out.push(...captureTable(st.captures));
  if (st.probes.length) out.push(...probeTable(st.probes, `s${si + 1}-${st.index + 1}`));
  out.push('</details>');
  return out;
}

function expectationTable(es: ExpectationResult[]): string[] {
  const rows = es.map((e) => {
    const what = `${esc(e.kind)}${e.name ? ` <b>${esc(e.name)}</b>` : ''}${e.line !== undefined ? ` <span class="dim">line ${e.line}</span>` : ''}`;
    const checked = e.checked?.length
      ? `<details><summary class="dim">${e.checked.length} packet(s) checked</summary><pre>${esc(e.checked.join('\n'))}</pre></details>`
      : '';
    // a truth table is drawn below its row: the row says which table and what differs
    const expected = e.table ? e.expected.split('\n')[0]! : e.expected;
    const observed = e.table ? truthDiffsHtml(e.table, e.observed) : `<pre>${esc(e.observed)}</pre>`;
    const row = `<tr class="expectation ${e.status}"><td>${badge(e.status)}</td><td>${what}</td><td><pre>${esc(expected)}</pre></td><td>${observed}${checked}</td><td>${e.pcap ? fileLink(e.pcap, 'pcap') : ''}</td></tr>`;
    return e.table ? `${row}<tr class="truth"><td></td><td colspan="4">${truthTableHtml(e.table)}</td></tr>` : row;
  });
  return [
    '<h3>Expectations</h3>',
    '<table class="expectations"><tr><th></th><th>expectation</th><th>expected</th><th>observed</th><th></th></tr>',
    ...rows,
    '</table>',
  ];
}

function captureTable(cs: CaptureReport[]): string[] {
  const rows = cs.map((c) => {
    const t = c.tcpdump;
    const stats = t
      ? ` <span class="dim">(tcpdump: ${t.captured ?? '?'} captured${t.droppedByKernel ? `, ${t.droppedByKernel} dropped by the kernel` : ''})</span>`
      : '';
    const notes = [
      ...(c.empty ? ['<span class="badge warn">empty</span> saw no packets'] : []),
      ...c.warnings.map(esc),
      ...(c.error ? [`<span class="bad">${esc(c.error)}</span>`] : []),
    ];
    return `<tr class="capture"><td><b>${esc(c.name)}</b></td><td class="mono">${esc(c.at)}</td><td class="mono">${esc(c.filter ?? '')}</td><td><span class="packets">${c.packets}</span> packet(s)${stats}</td><td>${fileLink(c.pcap)}</td><td>${notes.join('<br>')}</td></tr>`;
  });
  return [
    '<h3>Captures</h3>',
    '<table class="captures"><tr><th>name</th><th>at</th><th>filter</th><th>packets</th><th>pcap</th><th></th></tr>',
    ...rows,
    '</table>',
  ];
}

function probeTable(ps: ProbeReport[], idp: string): string[] {
  const out = [
    '<h3>Probes</h3>',
    '<table class="probes"><tr><th>name</th><th>kind</th><th>from → to</th><th>command</th><th>time</th><th>output</th></tr>',
  ];
  ps.forEach((p, k) => {
    out.push(
      `<tr class="probe${p.error ? ' failed' : ''}"><td><b>${esc(p.name)}</b></td><td>${esc(p.kind)}</td><td class="mono">${esc(p.from)} → ${esc(p.to)}</td><td class="mono">${esc(p.argv.join(' '))}${p.error ? `<div class="bad">${esc(p.error)}</div>` : ''}</td><td>${esc(seconds(p.durationS))}</td><td>${p.argv.length ? fileLink(p.output) : ''}</td></tr>`,
    );
    if (p.kind === 'trace' && isWalk(p.result))
      out.push(`<tr><td colspan="6">${walkSection(p.result, `${idp}-${k + 1}-`).join('\n')}</td></tr>`);
  });
  out.push('</table>');
  return out;
}

/** A walk: its summary, the ladder, and per node the netfilter rules it went through. */
export function walkSection(w: Walk, idPrefix = 'walk-'): string[] {
  const out = [
    '<div class="walk">',
    `<div>${badge(w.ok ? 'passed' : 'failed')} <b>trace ${esc(w.from)} → ${esc(w.to)}</b> <span class="mono">(${esc(w.target.ip)}${w.target.port !== undefined ? `:${w.target.port}` : ''} ${esc(w.protocol)})</span> in lab ${esc(w.lab)}, proxy ${esc(w.proxy)}: ${w.reached ? `reached <b>${esc(w.reached)}</b>` : '<span class="bad">reached nothing</span>'}</div>`,
    `<div class="dim mono">probe: ${esc(w.argv.join(' '))}</div>`,
  ];
  if (w.differences.length) out.push(`<ul class="differences bad">${w.differences.map((d) => `<li>${esc(d)}</li>`).join('')}</ul>`);
  if (w.dns) out.push(...dnsTable(w.dns));
  out.push(`<figure class="ladder">${walkLadderSvg(w, { idPrefix })}</figure>`);
  if (w.rules.length) out.push('<h3>netfilter, per node</h3>', ...w.rules.flatMap(rulesTable));
  for (const n of w.notes) out.push(`<p class="dim">note: ${esc(n)}</p>`);
  out.push('</div>');
  return out;
}

/** The DNS step before the connection (a name as the target): each query, its DNAT, the answer. */
function dnsTable(d: WalkDns): string[] {
  const rows = d.queries.map((q) => {
    const back = q.answerFrom ? `${q.rcode ?? ''}${q.answers.length ? ` ${q.answers.join(', ')}` : ''}` : '';
    return `<tr><td class="mono">${esc(q.qtype)}</td><td class="mono">${esc(q.qname)}</td><td class="mono">${esc(q.sentTo)}</td><td class="mono">${q.server ? esc(`${q.server} ${q.arrivedAt ?? ''}`) : '<span class="bad">no DNS pod</span>'}</td><td class="mono">${esc(back)}</td><td class="mono">${q.answerFrom ? esc(q.answerFrom) : '<span class="bad">no answer</span>'}</td></tr>`;
  });
  return [
    `<div class="dns-step"><h3>${badge(d.differences.length ? 'failed' : 'passed')} DNS: <span class="mono">${esc(d.name)}</span> → <span class="mono">${esc(d.addresses.join(', ') || 'nothing')}</span>${d.canonical ? ` <span class="dim mono">(${esc(d.canonical)})</span>` : ''}</h3>`,
    `<div class="dim mono">resolver: ${esc(d.argv.join(' '))} in the pod · expected: ${esc(d.expected.tried.join(' → '))} at ${esc(d.expected.server)} · pcaps: ${d.pcaps.map((p) => fileLink(p)).join(' ')}</div>`,
    ...d.differences.map((x) => `<div class="bad">✗ ${esc(x)}</div>`),
    '<table class="dns-queries"><tr><th>type</th><th>name</th><th>sent to</th><th>DNATed to</th><th>answer</th><th>answer from</th></tr>',
    ...rows,
    '</table></div>',
  ];
}

function rulesTable(r: NodeRules): string[] {
  const rows = r.events.map((e) => {
    const pkt = e.packet
      ? `${e.packet.src}${e.packet.srcport !== undefined ? `:${e.packet.srcport}` : ''} → ${e.packet.dst}${e.packet.dstport !== undefined ? `:${e.packet.dstport}` : ''}${e.packet.mark ? ` mark ${e.packet.mark}` : ''}`
      : '';
    const v = e.verdict ?? '';
    const cls = /drop|reject/.test(v) ? ' class="bad"' : '';
    return `<tr><td>${esc(e.hook)}</td><td class="mono">${esc(`${e.family} ${e.table} ${e.chain}`)}</td><td class="mono">${esc(e.rule ?? (e.packet ? '' : '(policy)'))}</td><td class="mono"${cls}>${esc(v)}</td><td class="mono">${esc(pkt)}</td></tr>`;
  });
  return [
    `<div class="rules" data-node="${esc(r.node)}"><b>${esc(r.node)}</b>: <span class="mono">${esc(r.hooks.join(' → '))}</span>`,
    `<div class="mono">chains: ${esc(r.chains.join(' › '))}</div>`,
    ...(r.expectedChains ? [`<div class="mono dim">expected: ${esc(r.expectedChains.join(' › '))}</div>`] : []),
    ...r.differences.map((d) => `<div class="bad">✗ ${esc(d)}</div>`),
    '<table class="rule-events"><tr><th>hook</th><th>chain</th><th>rule</th><th>verdict</th><th>packet</th></tr>',
    ...rows,
    '</table></div>',
  ];
}

/** A page for one walk (`lab trace` writes it beside walk.json); the topology's graph below. */
export function walkHtml(walk: Walk, topology?: Topology): string {
  const body = [`<h1>trace ${esc(walk.from)} → ${esc(walk.to)}</h1>`, ...walkSection(walk)];
  if (topology) body.push('<h2>Topology</h2>', `<figure class="topology">${renderGraph(topology, 'svg', { idPrefix: 'topo-' })}</figure>`);
  return page(`trace ${walk.from} → ${walk.to}`, body);
}

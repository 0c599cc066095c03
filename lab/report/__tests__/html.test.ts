import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, normalize } from 'node:path';
import { elements, parseXml, textOf } from '../../graph/__tests__/xml';
import type { ScenarioTopology } from '../types';
import { loadTopology } from '../../topology/resolve';
import { isWalk, reportHtml, walkHtml } from '../html';
import type { RunReport, ScenarioReport } from '../types';
import { walkLadderSvg } from '../walk-svg';
import { captureOf, failedTtlStep, runReportOf, scenarioOf, skippedStep } from './fixtures/report';
import { serviceWalk } from './fixtures/walk';
import { changesBetween } from '../../trace/observe';
import { expectedWalk } from '../../trace/path';
import type { Walk } from '../../trace/types';

// index.html from a report: escaping, status badges, the topology graph once per distinct
// topology, links relative to the run's folder and pointing at its files, walks as ladders.

const TOPOLOGIES = join(__dirname, '../../../scenarios/topologies');
const topo = loadTopology(join(TOPOLOGIES, 'default.yaml'));

const scenarioA: ScenarioReport = scenarioOf('demo <a> & "b"', [
  failedTtlStep(
    [
      captureOf('u', 'node1:eth0', 'demo/01-ttl/u.pcap', { filter: 'udp port 8472', tcpdump: { captured: 4 } }),
      captureOf('quiet', 'node2:eth0', 'demo/01-ttl/quiet.pcap', { packets: 0, empty: true }),
    ],
    [
      {
        kind: 'packets',
        name: 'vxlan <outer>',
        status: 'passed',
        expected: 'x',
        observed: '2 of 4 matched',
        checked: ['#1 0.000000 a → b'],
        pcap: 'demo/01-ttl/u.pcap',
      },
    ],
    'demo/01-ttl',
  ),
  skippedStep(1),
  {
    index: 2,
    name: 'walk to service:web',
    status: 'passed',
    durationS: 0.1,
    captures: [],
    probes: [
      {
        name: 'walk',
        kind: 'trace',
        from: 'client',
        to: 'service:web',
        argv: serviceWalk.argv,
        output: 'demo/03-walk/walk.txt',
        durationS: 0.4,
        result: serviceWalk,
      },
    ],
    expectations: [{ kind: 'walk', status: 'passed', expected: 'reaches web-*', observed: 'reached web-2' }],
  },
]);
const scenarioB: ScenarioReport = {
  ...scenarioA,
  name: 'second',
  file: 'scenarios/second.yaml',
  status: 'passed',
  steps: [{ ...scenarioA.steps[2]!, index: 0 }],
};

const report = (dir: string): RunReport =>
  runReportOf([scenarioA, scenarioB], {
    runId: '20261122-000000-abcd',
    dir,
    startedAt: '2026-11-22T00:00:00.000Z',
    finishedAt: '2026-11-22T00:00:02.000Z',
  });
const scenarios: ScenarioTopology[] = [
  { file: scenarioA.file, name: scenarioA.name, topology: topo },
  { file: scenarioB.file, name: scenarioB.name, topology: { ...topo, source: 'elsewhere.yaml' } }, // the same topology
];

/** href values in the page, entities undone */
const hrefs = (html: string) => [...html.matchAll(/href="([^"]*)"/g)].map((m) => m[1]!.replace(/&amp;/g, '&'));

describe('index.html of a run', () => {
  let dir: string;
  let html: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'kdl-html-'));
    // the files report.json names, as a run leaves them
    const files = [
      'report.json',
      'junit.xml',
      'demo/01-ttl/u.pcap',
      'demo/01-ttl/quiet.pcap',
      'demo/01-ttl/ping.txt',
      'demo/03-walk/walk.txt',
      ...serviceWalk.hops.map((h) => h.pcap!),
    ];
    for (const f of files) {
      mkdirSync(dirname(join(dir, f)), { recursive: true });
      writeFileSync(join(dir, f), '');
    }
    html = reportHtml(report(dir), scenarios);
    writeFileSync(join(dir, 'index.html'), html);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('escapes names, expectations and reasons', () => {
    expect(html).toContain('ttl &lt;check&gt; &amp; &quot;quotes&quot;');
    expect(html).toContain('demo &lt;a&gt; &amp; &quot;b&quot;');
    expect(html).toContain('vxlan &lt;outer&gt;');
    expect(html).not.toMatch(/<check>|<a> &|<outer>/);
  });

  it('has the summary and a status badge per step: pass green, fail red, skipped grey', () => {
    expect(html).toContain('<div class="card passed"><b>2</b>steps passed</div>');
    expect(html).toContain('<div class="card failed"><b>1</b>steps failed</div>');
    expect(html).toContain('<div class="card skipped"><b>1</b>steps skipped</div>');
    expect(html).toContain('<div class="card failed"><b>1</b>expectations failed</div>');
    const steps = [
      ...html.matchAll(/<details class="step" data-status="(\w+)"[^>]*>\n<summary><span class="badge (\w+)">(\w+)<\/span>/g),
    ].map((m) => m.slice(1).join(' '));
    expect(steps).toEqual(['failed failed fail', 'skipped skipped skipped', 'passed passed pass', 'passed passed pass']);
    expect(html).toContain('.badge.passed { background: var(--pass); }');
    expect(html).toContain('--pass: #1a7f37; --fail: #cf222e; --skip: #6e7781;');
    expect(html).toContain('<p class="dim">no CONFIG_IP_VS</p>');
  });

  it('shows expected against observed and the capture counts', () => {
    expect(html).toContain('<td><pre>reply ttl 63</pre></td><td><pre>reply ttl 62, 62</pre>');
    expect(html).toMatch(/<span class="packets">4<\/span> packet\(s\) <span class="dim">\(tcpdump: 4 captured\)/);
    expect(html).toMatch(/<span class="badge warn">empty<\/span> saw no packets/);
  });

  it('draws each distinct topology once, its graph naming every node and pod', () => {
    expect(html.match(/<figure id="topology-\d+"/g)).toEqual(['<figure id="topology-1"']);
    const svg = html.slice(
      html.indexOf('<svg', html.indexOf('id="topology-1"')),
      html.indexOf('</svg>', html.indexOf('id="topology-1"')) + 6,
    );
    const texts = elements(parseXml(svg)).map(textOf);
    for (const name of [...topo.nodes, ...topo.pods].map((x) => x.name)) expect(texts).toContain(name);
    expect(html).toContain('used by demo &lt;a&gt; &amp; &quot;b&quot;, second');
  });

  it('draws the topologies a scenario moves to as well, and says on the step where it moved', () => {
    const hostGw = loadTopology(join(TOPOLOGIES, 'host-gw.yaml'));
    const first = { ...scenarioB.steps[0]!, topology: { lab: topo.name, source: topo.source } };
    const moved = { ...scenarioB.steps[0]!, index: 1, topology: { lab: hostGw.name, source: hostGw.source, change: 'rebuilt' as const } };
    const moving: ScenarioReport = { ...scenarioB, name: 'moving', steps: [first, moved] };
    const page = reportHtml(runReportOf([moving], { runId: 'r', dir }), [
      { file: moving.file, name: 'moving', topology: topo, steps: [{}, { topology: hostGw }] },
    ]);
    expect(page.match(/<figure id="topology-\d+"/g)).toEqual(['<figure id="topology-1"', '<figure id="topology-2"']);
    expect(page).toContain(`lab <b>${hostGw.name}</b> (host-gw, proxy iptables)`);
    expect(page.match(/moved to lab <b>[^<]+<\/b> \(rebuilt\) from <code>[^<]+<\/code>/g)).toEqual([
      `moved to lab <b>${hostGw.name}</b> (rebuilt) from <code>${hostGw.source}</code>`,
    ]);
  });

  it('links only to files of the run folder, relatively, and every one exists; nothing loads from elsewhere', () => {
    const links = hrefs(html).filter((h) => !h.startsWith('#'));
    expect(links.length).toBeGreaterThanOrEqual(10);
    for (const h of links) {
      expect(h).not.toMatch(/^[a-z]+:|^\/|(^|\/)\.\.(\/|$)/);
      expect(isAbsolute(normalize(decodeURIComponent(h)))).toBe(false);
      expect(existsSync(join(dir, decodeURIComponent(h)))).toBe(true);
    }
    expect(links).toEqual(
      expect.arrayContaining(['demo/01-ttl/u.pcap', 'demo/01-ttl/ping.txt', 'trace/node1-flannel.1.pcap', 'report.json']),
    );
    for (const h of hrefs(html).filter((x) => x.startsWith('#'))) expect(html).toContain(`id="${h.slice(1)}"`);
    expect(html).not.toMatch(/\bsrc=/);
    expect([...html.matchAll(/https?:\/\/[^"'\s)]+/g)].map((m) => m[0]).filter((u) => u !== 'http://www.w3.org/2000/svg')).toEqual([]);
  });

  it('draws a trace probe as a ladder with its rules', () => {
    expect(html.match(/<figure class="ladder">/g)).toHaveLength(2);
    expect(html).toContain('ip.ttl expected 62, saw 63');
    expect(html).toContain(`<div class="rules" data-node="node1">`);
    // marker ids unique on the page
    const ids = [...html.matchAll(/ id="([^"]+)"/g)].map((m) => m[1]);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('packet walk', () => {
  it('recognises a walk among probe results', () => {
    expect(isWalk(serviceWalk)).toBe(true);
    expect(isWalk({ hops: [] })).toBe(false);
    expect(isWalk(undefined)).toBe(false);
  });

  it('ladder: a lane per owner in hop order, an arrow per hop, changes highlighted, differences red, unseen dashed', () => {
    const svg = parseXml(walkLadderSvg(serviceWalk));
    expect(svg.attrs.xmlns).toBe('http://www.w3.org/2000/svg');
    const all = elements(svg);
    expect(all.filter((e) => e.attrs.class === 'lane').map((e) => e.attrs['data-owner'])).toEqual([
      'client',
      'node1',
      '@lab',
      'node2',
      'web-2',
    ]);
    const hops = all.filter((e) => e.attrs.class?.startsWith('hop'));
    expect(hops.map((h) => h.attrs['data-point'])).toEqual(serviceWalk.hops.map((h) => h.point));
    expect(hops.map((h) => h.attrs.class)).toEqual(['hop', 'hop', 'hop', 'hop', 'hop bad unseen', 'hop', 'hop', 'hop', 'hop bad']);
    const arrows = hops.map((h) => elements(h).find((e) => e.name === 'line' && e.attrs['marker-end'])!);
    expect(arrows).toHaveLength(9);
    expect(arrows[4]!.attrs).toMatchObject({ stroke: '#c53030', 'stroke-dasharray': '6 4' });
    expect(arrows[8]!.attrs.stroke).toBe('#c53030');
    expect(arrows[2]!.attrs.stroke).toBe('#2b6cb0');
    const changes = all.filter((e) => e.attrs.class?.startsWith('change')).map((e) => textOf(e).trim());
    expect(changes).toEqual([
      'DNAT 10.43.0.20:80 → 10.42.1.9:80',
      'ttl 64 → 63',
      expect.stringMatching(/^eth /),
      'VXLAN encap 192.168.205.4 → 192.168.205.3 udp 8472 vni 1',
      'VXLAN decap vni 1',
      'ttl 63 → 62',
      expect.stringMatching(/^eth /),
    ]);
    const texts = all.filter((e) => e.name === 'text').map(textOf);
    expect(texts).toContain('VXLAN 192.168.205.4 → 192.168.205.3 udp 51234 → 8472 vni 1 ttl 64');
    expect(texts).toContain('inner ip 10.42.0.65:40312 → 10.42.1.9:80 tcp [SYN] ttl 63 id 51012');
    expect(texts).toContain('✗ ip.ttl expected 62, saw 63');
    expect(all.filter((e) => e.name === 'a').map((e) => e.attrs.href)).toContain('trace/node1-eth0.pcap');
  });

  it('walkHtml: a page of its own, with the topology graph when given', () => {
    const page = walkHtml(serviceWalk, topo);
    expect(page).toMatch(/^<!DOCTYPE html>/);
    expect(page).toContain('<h1>trace client → service:web</h1>');
    expect(page).toContain('<figure class="ladder">');
    expect(page).toContain('<figure class="topology">');
    expect(page).toContain('KUBE-SEP-PMQPDMKLIC4TLFKA');
    expect(walkHtml(serviceWalk)).not.toContain('<figure class="topology">');
  });

  it('walkHtml on a Calico ipip lab: tunl0 hops, the IPIP outer header and its encap/decap, tunl0 and IPIP in the drawing', () => {
    // the walk the lab expects from client to web-3 across the segments, drawn as if seen so
    const ipip = loadTopology(join(TOPOLOGIES, 'calico-ipip.yaml'));
    const pod = (name: string) => ipip.pods.find((p) => p.name === name)!;
    const ew = expectedWalk(ipip, { kind: 'pod', pod: pod('client') }, { kind: 'pod', pod: pod('web-3') }, { protocol: 'icmp', icmpId: 7 });
    const walk: Walk = {
      lab: ipip.name,
      proxy: 'iptables',
      backend: ipip.cluster.backend,
      from: 'client',
      to: 'web-3',
      protocol: 'icmp',
      target: { ip: pod('web-3').ip },
      reached: 'web-3',
      argv: ['ping', '-c', '1', pod('web-3').ip],
      ok: true,
      hops: ew.hops.map((h, i) => ({
        point: h.point,
        owner: h.owner,
        ownerKind: h.ownerKind,
        interface: h.interface,
        expected: h.headers,
        observed: h.headers,
        changes: changesBetween(ew.hops[i - 1]?.headers, h.headers),
        differences: [],
      })),
      rules: [],
      differences: [],
      notes: [],
    };
    const page = walkHtml(walk, ipip);
    const ladder = page.slice(page.indexOf('<figure class="ladder">'), page.indexOf('<figure class="topology">'));
    expect(ladder).toContain('node1:tunl0');
    expect(ladder).toContain('IPIP 192.168.205.4 → 192.168.206.5 proto 4 ttl 63');
    expect(ladder).toContain('IPIP 192.168.205.4 → 192.168.206.5 proto 4 ttl 62');
    expect(ladder).toContain('IPIP encap 192.168.205.4 → 192.168.206.5 (IP protocol 4)');
    expect(ladder).toContain('IPIP decap');
    expect(ladder).not.toContain('VXLAN');
    const figure = page.slice(page.indexOf('<figure class="topology">'));
    expect(figure).toContain('tunl0');
    expect(figure).toContain('IPIP, proto 4 (routes via the node IPs dev tunl0)');
    expect(figure).toContain('direct, CrossSubnet (routes via eth0)');
  });

  it("walkHtml on a Calico lab: the drawing shows the cali veths and BGP's routes, no cni0", () => {
    const page = walkHtml(serviceWalk, loadTopology(join(TOPOLOGIES, 'calico.yaml')));
    const figure = page.slice(page.indexOf('<figure class="topology">'));
    expect(figure).toContain('routed, no bridge');
    expect(figure).toMatch(/cali[0-9a-f]{11}/);
    expect(figure).toContain('BGP AS 64512');
    expect(figure).not.toContain('cni0');
  });
});

import { execFile } from 'node:child_process';
import {
  accessSync,
  constants,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { parse } from 'yaml';
import { GRAPH_COLOURS } from '../../graph/svg';
import { cli, describeKernel, REPO } from '../../testing/kernel';
import { loadTopology } from '../../topology/resolve';
import { walkHtml } from '../html';
import { BADGE_COLOURS } from '../html-page';
import type { RunReport } from '../types';
import { WALK_COLOURS } from '../walk-svg';
import { serviceWalk } from './fixtures/walk';
import { countColour, countNonWhite, decodePng, pngSize } from './png';

// The HTML report as a person sees it: a real `lab run` of scenarios/pod-network.yaml (its own
// lab, `htmlt`), its index.html opened from disk by headless Chromium — the DOM after the page's
// script ran, and a screenshot checked pixel by pixel — and the same for a walk page. The
// screenshots are kept in results/screenshots/ to be looked at.

const LAB = 'htmlt';
const SUITE = join(REPO, 'scenarios', 'pod-network.yaml');
const SHOTS = join(REPO, 'results', 'screenshots');
const WINDOW = { width: 1400, height: 2400 };

/** Chromium from PATH (Debian's `chromium`), or a clear failure saying how to get it. */
function findChromium(): string {
  for (const dir of (process.env.PATH ?? '').split(delimiter))
    for (const name of ['chromium', 'chromium-browser']) {
      const file = join(dir, name);
      try {
        accessSync(file, constants.X_OK);
        return file;
      } catch {
        /* not here */
      }
    }
  throw new Error(
    "chromium not found on PATH: install Debian's package (apt-get install -y --no-install-recommends chromium, or bash scripts/ensure-deps --test)",
  );
}

function chromium(bin: string, profile: string, args: string[]): Promise<string> {
  const argv = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-dev-shm-usage',
    '--disable-background-networking',
    '--no-first-run',
    '--force-device-scale-factor=1',
    `--user-data-dir=${profile}`,
    `--window-size=${WINDOW.width},${WINDOW.height}`,
    ...args,
  ];
  return new Promise((resolve, reject) =>
    execFile(bin, argv, { timeout: 60000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${bin} ${argv.join(' ')}: ${err.message}\n${stderr.split('\n').slice(-8).join('\n')}`)) : resolve(stdout),
    ),
  );
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

describeKernel('HTML report in Chromium', () => {
  let bin: string;
  let tmp: string;
  let report: RunReport;

  beforeAll(async () => {
    bin = findChromium();
    tmp = mkdtempSync(join(tmpdir(), 'kdl-chromium-'));
    mkdirSync(SHOTS, { recursive: true });
    await cli(['down', '--name', LAB]);
  });
  afterAll(async () => {
    await cli(['down', '--name', LAB]);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('a real run of pod-network writes index.html that Chromium shows with the graph, every step and its badge', async () => {
    const results = join(tmp, 'results');
    const r = await cli(['run', SUITE, '--name', LAB, '--results', results, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    report = JSON.parse(r.stdout) as RunReport;
    const index = join(report.dir, 'index.html');
    expect(existsSync(index)).toBe(true);

    // links: relative, inside the run's folder, every file there
    const html = readFileSync(index, 'utf8');
    const links = [...html.matchAll(/href="([^"#][^"]*)"/g)].map((m) => decodeURIComponent(m[1]!.replace(/&amp;/g, '&')));
    expect(links.length).toBeGreaterThan(5);
    for (const l of links) {
      expect(l).not.toMatch(/^[a-z]+:|^\/|(^|\/)\.\.\//);
      expect(existsSync(join(report.dir, l))).toBe(true);
    }

    const dom = await chromium(bin, join(tmp, 'profile'), ['--dump-dom', `file://${index}`]);
    expect(dom).toMatch(/<body[^>]* data-js="ready"/); // the page's script ran
    const suite = parse(readFileSync(SUITE, 'utf8')) as { steps: { name: string }[] };
    const steps = suite.steps.map((s) => s.name);
    expect(steps).toHaveLength(4);
    expect(dom).toContain(`${steps.length} of ${steps.length} steps shown`);
    for (const [i, name] of steps.entries())
      expect(dom).toMatch(
        new RegExp(
          `<details class="step" data-status="passed"[^>]*>\\s*<summary><span class="badge passed">pass</span> <span class="step-name">${i + 1}/4 ${esc(name).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}</span>`,
        ),
      );
    const svgStart = dom.indexOf('<svg', dom.indexOf('id="topology-1"'));
    const graph = dom.slice(svgStart, dom.indexOf('</svg>', svgStart));
    for (const name of [
      'node1',
      'node2',
      'node3',
      'client',
      'web-1',
      'web-2',
      'web-3',
      'nginx-test-1',
      'nginx-test-2',
      'default/web:http',
      'VXLAN udp/8472 vni 1',
    ])
      expect(graph).toContain(`>${name}</text>`);

    const shot = join(tmp, 'report.png');
    await chromium(bin, join(tmp, 'profile'), [`--screenshot=${shot}`, `file://${index}`]);
    const png = readFileSync(shot);
    expect(pngSize(png)).toEqual(WINDOW);
    const img = decodePng(png);
    expect(countNonWhite(img)).toBeGreaterThan(50000);
    expect(countColour(img, BADGE_COLOURS.passed)).toBeGreaterThan(500); // the pass badges
    expect(countColour(img, GRAPH_COLOURS.frame)).toBeGreaterThan(500); // the node frames' stroke
    expect(countColour(img, BADGE_COLOURS.failed)).toBe(0); // nothing failed, nothing red
    const kept = join(SHOTS, 'report.png');
    copyFileSync(shot, kept);
    console.log(`screenshot of the run's index.html: ${kept}`);
  }, 240000);

  it("a real `lab trace` writes a walk page: the ladder of the SYN's points, node1's chains, nothing red", async () => {
    expect((await cli(['up', '--name', LAB])).code).toBe(0);
    const results = join(tmp, 'trace-results');
    const r = await cli(['trace', '--name', LAB, '--results', results, 'client', 'service:nginx-test', '--json']);
    expect(r.code).toBe(0);
    const walk = JSON.parse(r.stdout) as { reached: string; hops: { owner: string }[] };
    const dir = join(results, readdirSync(results)[0]!);
    const page = join(dir, 'index.html');
    const dom = await chromium(bin, join(tmp, 'profile'), ['--dump-dom', `file://${page}`]);
    const owners = [...new Set(walk.hops.map((h) => h.owner))];
    expect(owners).toEqual(['client', 'node1', walk.reached === 'nginx-test-1' ? 'node2' : 'node3', walk.reached]);
    expect([...dom.matchAll(/<g class="lane" data-owner="([^"]+)"/g)].map((m) => m[1])).toEqual(owners);
    expect(dom).toMatch(/>DNAT 10\.43\.6\.58:80 → 10\.42\.[12]\.6:80<\/text>/);
    expect(dom).toContain('KUBE-SVC-7CWUT4JBGBRVUN2L');
    expect(dom).not.toContain('class="difference"');
    // every pcap the page links is in the trace's folder
    const links = [...readFileSync(page, 'utf8').matchAll(/href="([^"#][^"]*\.pcap)"/g)].map((m) => m[1]!);
    expect(links.length).toBe(walk.hops.length);
    for (const l of links) expect(existsSync(join(dir, decodeURIComponent(l)))).toBe(true);

    const shot = join(tmp, 'trace.png');
    await chromium(bin, join(tmp, 'profile'), [`--screenshot=${shot}`, `file://${page}`]);
    const img = decodePng(readFileSync(shot));
    expect(countColour(img, WALK_COLOURS.arrow)).toBeGreaterThan(200);
    expect(countColour(img, WALK_COLOURS.bad)).toBe(0);
    const kept = join(SHOTS, 'trace.png');
    copyFileSync(shot, kept);
    console.log(`screenshot of a real lab trace page: ${kept}`);
  }, 120000);

  it('a walk page shows the ladder: lanes in hop order, the difference in red, the unseen hop', async () => {
    const dir = join(tmp, 'walk');
    mkdirSync(dir, { recursive: true });
    const page = join(dir, 'index.html');
    writeFileSync(page, walkHtml(serviceWalk, loadTopology(join(REPO, 'scenarios', 'topologies', 'default.yaml'))));

    const dom = await chromium(bin, join(tmp, 'profile'), ['--dump-dom', `file://${page}`]);
    expect([...dom.matchAll(/<g class="lane" data-owner="([^"]+)"/g)].map((m) => m[1])).toEqual([
      'client',
      'node1',
      '@lab',
      'node2',
      'web-2',
    ]);
    expect(dom).toContain('class="difference">✗ ip.ttl expected 62, saw 63</text>');
    expect(dom).toMatch(/<g class="hop bad unseen" data-point="@lab:underlay0">/);
    expect(dom).toContain('>DNAT 10.43.0.20:80 → 10.42.1.9:80</text>');

    const shot = join(tmp, 'walk.png');
    await chromium(bin, join(tmp, 'profile'), [`--screenshot=${shot}`, `file://${page}`]);
    const img = decodePng(readFileSync(shot));
    expect([img.width, img.height]).toEqual([WINDOW.width, WINDOW.height]);
    expect(countNonWhite(img)).toBeGreaterThan(50000);
    expect(countColour(img, WALK_COLOURS.bad)).toBeGreaterThan(200); // red arrows and difference text
    expect(countColour(img, WALK_COLOURS.arrow)).toBeGreaterThan(200);
    const kept = join(SHOTS, 'walk.png');
    copyFileSync(shot, kept);
    console.log(`screenshot of a walk page: ${kept}`);
  }, 120000);
});

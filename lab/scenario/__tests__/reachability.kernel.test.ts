import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunReport } from '../../report/types';
import { cli, describeKernel, REPO } from '../../testing/kernel';
import { uniqueLabName } from '../../testing/names';

// The reachability probe on the e2e suite's model (27 pods' worth of pairs: 9 × 9 on 2 ports ×
// 2 protocols), for real: without policies every pair answers; then a DROP rule of our own
// (proxy.rules, iptables-restore append on node1) denies x/b → x/a on TCP 80, and a truth
// table that says it is allowed must fail the run with exit 1, naming that cell, with the
// trace of the denied probe; the table that says it is denied passes.

const LAB = uniqueLabName('reach');
const MODEL = join(REPO, 'scenarios', 'topologies', 'netpol-e2e.yaml');

function scenarioText(): string {
  const model = readFileSync(MODEL, 'utf8');
  // the model's top-level maps and lists, anchored, so that step 2 is the model plus a rule file
  const anchored = model
    .split('\n')
    .filter((l) => !l.startsWith('#') && !l.startsWith('name:'))
    .map((l) => (/^(cluster|nodes|namespaces|pods|services|proxy):$/.test(l) ? `${l} &${l.slice(0, -1)}` : l))
    .map((l) => `  ${l}`)
    .join('\n');
  const all = '[x/*, y/*, z/*]';
  return `name: reach-kernel
topology:
  name: netpol-e2e
${anchored}
steps:
  - name: no policies, every pair allowed
    probes:
      - reachability: { from: ${all}, to: ${all}, ports: [80, 81], protocols: [TCP, UDP] }
    expect:
      - { name: tcp-80, reachability: { port: 80, protocol: TCP, allowed: all, ignoreLoopback: false } }
      - { name: tcp-81, reachability: { port: 81, protocol: TCP, allowed: all, ignoreLoopback: false } }
      - { name: udp-80, reachability: { port: 80, protocol: UDP, allowed: all, ignoreLoopback: false } }
      - { name: udp-81, reachability: { port: 81, protocol: UDP, allowed: all, ignoreLoopback: false } }
  - name: a DROP of our own denies x/b to x/a on TCP 80
    topology:
      name: netpol-e2e
      cluster: *cluster
      nodes: *nodes
      namespaces: *namespaces
      pods: *pods
      services: *services
      proxy:
        rules: [{ nodes: [node1], tool: iptables-restore, file: drop.rules }]
    probes:
      - reachability: { from: ${all}, to: ${all}, ports: [80], protocols: [TCP, UDP] }
    expect:
      - name: right-pass
        reachability:
          protocol: TCP
          table: |
            -    x/a x/b x/c y/a y/b y/c z/a z/b z/c
            x/a  .   .   .   .   .   .   .   .   .
            x/b  X   .   .   .   .   .   .   .   .
            x/c  .   .   .   .   .   .   .   .   .
            y/a  .   .   .   .   .   .   .   .   .
            y/b  .   .   .   .   .   .   .   .   .
            y/c  .   .   .   .   .   .   .   .   .
            z/a  .   .   .   .   .   .   .   .   .
            z/b  .   .   .   .   .   .   .   .   .
            z/c  .   .   .   .   .   .   .   .   .
      - { name: exceptions-pass, reachability: { protocol: TCP, except: [{ from: x/b, to: x/a, allowed: false }] } }
      - { name: udp-pass, reachability: { protocol: UDP, allowed: all } }
      - { name: one-wrong-cell-fail, reachability: { protocol: TCP, allowed: all } }
`;
}

describeKernel('reachability probe and truth tables', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'reach-'));
    writeFileSync(join(dir, 'reach.yaml'), scenarioText());
    // before kube-proxy's and flannel's FORWARD rules: only this pair, only TCP 80, on x/a's node
    writeFileSync(join(dir, 'drop.rules'), '*filter\n-I FORWARD 1 -s 10.42.1.2/32 -d 10.42.0.2/32 -p tcp --dport 80 -j DROP\nCOMMIT\n');
  });
  afterAll(async () => {
    await cli(['down', '--name', LAB]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('all pairs allowed on the bare model; one wrong cell fails the run with exit 1 and names it', async () => {
    const r = await cli(['run', join(dir, 'reach.yaml'), '--name', LAB, '--json', '--results', join(dir, 'results')]);
    const report = JSON.parse(r.stdout) as RunReport;
    const [bare, drop] = report.scenarios[0]!.steps;
    expect(bare!.expectations.map((e) => `${e.name}: ${e.status}`)).toEqual([
      'tcp-80: passed',
      'tcp-81: passed',
      'udp-80: passed',
      'udp-81: passed',
    ]);
    const probe = bare!.probes[0]!.result as { pairs: number; pairsPerSecond: number; seconds: number };
    expect(probe.pairs).toBe(9 * 9 * 4);
    // the figure docs/benchmarks.md quotes
    process.stdout.write(
      `reachability: ${probe.pairs} pairs in ${probe.seconds.toFixed(2)} s = ${probe.pairsPerSecond.toFixed(0)} pairs/s\n`,
    );

    const byName = Object.fromEntries(drop!.expectations.map((e) => [e.name!, e]));
    expect(byName['right-pass']!.status).toBe('passed');
    expect(byName['exceptions-pass']!.status).toBe('passed');
    expect(byName['udp-pass']!.status).toBe('passed');
    const wrong = byName['one-wrong-cell-fail']!;
    expect(wrong.status).toBe('failed');
    expect(wrong.observed).toContain('1 cell(s) differ:');
    expect(wrong.observed).toMatch(/x\/b → x\/a: expected \., observed X \(/);
    expect(wrong.observed).toMatch(/trace of the denied probe x\/b → x\/a TCP\/80/);
    expect(wrong.table?.differences.map((d) => `${d.from} → ${d.to}`)).toEqual(['x/b → x/a']);
    expect(wrong.table?.observed[1]![0]).toBe(false);
    expect(wrong.table?.expected[1]![0]).toBe(true);
    expect(r.code).toBe(1);
  }, 300000);
});

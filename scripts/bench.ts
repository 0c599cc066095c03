// npm run bench -- up [--json] [--sizes 10,50,100] [--runs 3] [--no-floors] [--against mininet]   (mininet: bench-mininet.ts)
// npm run bench -- up --cni calico [--json] [--sizes 10,50,100] [--runs 3]   (see bench-calico.ts)
// npm run bench -- docker [--json] [--sizes 3,10,30] [--runs 3]   (see bench-docker.ts)
// npm run bench -- vm [--json] [--runs 3]                          (see bench-vm.ts)
// npm run bench -- trace [--json] [--runs 5]                       (see bench-trace.ts)
// npm run bench -- rules [--json] [--services 100,1000,5000] [--endpoints 10] [--modes iptables,nftables] [--runs 3] [--mix plain|features]
//   (see bench-rules.ts)
// npm run bench -- resync [--json] [--services 5000] [--endpoints 10] [--modes iptables,nftables] [--runs 3]
//   (the incremental re-sync after one endpoint changed, see bench-rules.ts)
// npm run bench -- policy [--json] [--policies 100,1000,5000] [--pods 1000] [--runs 3]   (see bench-policy.ts)
//
// Wall time of `up` and `down` (in-process, so CLI start-up is not counted) for vxlan labs of
// N nodes with 2 pods each, beside a floor: the same number of namespaces and veth pairs (one
// end on a bridge) made by raw `ip -batch` in one go, which no lab can beat.
//
// The kernel tears namespaces down asynchronously: `ip netns del` returns at once and the
// cleanup then holds RTNL for seconds, slowing whatever comes next. So every measured phase
// starts on a settled kernel, and the cleanup after `down` is reported as a column of its own.
import { Command } from 'commander';
import Table from 'cli-table3';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { streamLab } from '../lab/plan';
import { benchPolicy } from './bench-policy';
import { toolCommand } from '../lab/plan/types';
import { down } from '../lab/ops/down';
import { inspectLabs } from '../lab/status/inspect';
import { up, type StageRunner } from '../lab/ops/up';
import { LocalExecutor } from '../lab/runtime/executor';
import { NetnsRuntime } from '../lab/runtime/netns';
import { loadTopologyText } from '../lab/topology/resolve';
import { sizeCluster } from '../lab/topology/sizing';
import type { ProxyMode, Topology } from '../lab/topology/types';
import { podNamespace } from '../lab/model/kernel-names';
import { ping } from '../lab/probe/ping';
import { benchCalico } from './bench-calico';
import { benchDocker } from './bench-docker';
import { benchVm } from './bench-vm';
import { benchTrace } from './bench-trace';
import { benchResync, benchRules, type ResyncRow, type RulesRow } from './bench-rules';
import { ensureMininet, runMininet, type MininetRun } from './bench-mininet';
import { median, round, time } from './measure';

interface Row {
  nodes: number;
  pods: number;
  upSeconds: number;
  downSeconds: number;
  /** after `down` returned, until the kernel's namespace cleanup let go of RTNL */
  cleanupSeconds: number;
  floorSeconds: number;
  /** the same batches `up` runs (every address, route, neighbour, fdb entry), replayed raw */
  sameWorkSeconds: number;
  /** up / same work raw, run by run (each up against the replay of the same run), median: the machine's load changes between runs */
  sameWorkRatio: number;
  /** `status` of the lab while it is up (inspectLabs: every namespace's addresses read back), first run */
  statusSeconds: number;
  ratio: number; // up / floor
  /** the bench process's RSS high-water mark over up + down (VmHWM, reset before each size) */
  peakMiB: number;
  /** --against mininet: the same number of hosts (namespaces) up and down in mininet */
  mininet?: MininetRun & { upRatio: number };
  runs: number;
}

interface UpBenchOptions {
  /** also measure the floor and the same work raw (off: --no-floors) */
  floors: boolean;
  against?: 'mininet';
}

const rt = new NetnsRuntime();
const sh = new LocalExecutor();

function topologyText(lab: string, nodes: number, podsPerNode: number): string {
  const s = sizeCluster(nodes, podsPerNode);
  const underlay = s.underlay.length === 1 ? s.underlay[0]! : `[${s.underlay.join(', ')}]`;
  const lines = [
    `name: ${lab}`,
    `cluster: { backend: vxlan, underlay: ${underlay}, podCIDR: ${s.podCIDR}, nodeSubnetPrefix: ${s.nodeSubnetPrefix}, serviceCIDR: ${s.serviceCIDR} }`,
    'nodes:',
  ];
  for (let i = 0; i < nodes; i++) lines.push(s.nodeIps ? `  - { name: n${i}, ip: ${s.nodeIps[i]} }` : `  - { name: n${i} }`);
  lines.push('pods:');
  for (let i = 0; i < nodes; i++) for (let j = 0; j < podsPerNode; j++) lines.push(`  - { name: p${i}-${j}, node: n${i} }`);
  return lines.join('\n');
}

/** The process's RSS high-water mark (VmHWM) in MiB. */
async function peakRssMiB(): Promise<number> {
  const m = /^VmHWM:\s+(\d+) kB/m.exec(await readFile('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : process.resourceUsage().maxRSS / 1024;
}

/** Resets VmHWM to the current RSS (Linux: 5 > clear_refs), so each size reports its own peak. */
async function resetPeakRss(): Promise<void> {
  await writeFile('/proc/self/clear_refs', '5').catch(() => undefined);
}

const PROBE_NS = 'kdl.bench-probe';
/** Waits until the kernel has finished tearing down namespaces; returns the seconds it took.
 *  A veth add/del needs RTNL, which the asynchronous cleanup holds while it runs. */
async function settle(): Promise<number> {
  const t0 = performance.now();
  await sh.run(['ip', 'netns', 'add', PROBE_NS]);
  try {
    for (let fast = 0; fast < 2;) {
      const took = await time(async () => {
        await sh.run(['ip', '-n', PROBE_NS, 'link', 'add', 'name', 'pa', 'type', 'veth', 'peer', 'name', 'pb']);
        await sh.run(['ip', '-n', PROBE_NS, 'link', 'del', 'pa']);
      });
      fast = took < 0.03 ? fast + 1 : 0;
      if (!fast) await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    await sh.run(['ip', 'netns', 'del', PROBE_NS], { check: false });
  }
  return (performance.now() - t0) / 1000;
}

/** The same count of namespaces and veth pairs by hand, in two `ip -batch` runs; returns seconds to create. */
async function floor(namespaces: number, veths: number): Promise<number> {
  const names = Array.from({ length: namespaces }, (_, i) => `kdl.benchfloor.${i}`);
  const create = async () => {
    await sh.run(['ip', '-batch', '-'], { input: names.map((n) => `netns add ${n}\n`).join('') });
    // a bridge takes at most 1023 ports ("Exchange full"): 1,000 a bridge, as the lab's segments
    const lines: string[] = [];
    for (let i = 0; i < veths; i++) {
      const br = `br${Math.floor(i / 1000)}`;
      if (i % 1000 === 0) lines.push(`link add ${br} type bridge`, `link set ${br} up`);
      const peerNs = names[1 + (i % (namespaces - 1))]!;
      lines.push(`link add v${i} type veth peer name e${i} netns ${peerNs}`, `link set v${i} master ${br} up`);
    }
    await sh.run(['ip', '-n', names[0]!, '-batch', '-'], { input: lines.join('\n') + '\n' });
  };
  const seconds = await time(create);
  await sh.run(['ip', '-force', '-batch', '-'], { input: names.map((n) => `netns del ${n}\n`).join(''), check: false });
  return seconds;
}

/**
 * The lab's own batches written out beforehand, then replayed with nothing but `ip -batch`
 * (namespaces) and one `xargs -P 8 nsenter <tool> -batch <file>` per phase: the same objects,
 * without Node, planning, state or the read-back. Returns seconds to create.
 */
async function sameWorkFloor(nodes: number, log: (s: string) => void): Promise<number> {
  const plan = streamLab(loadTopologyText(topologyText('benchraw', nodes, 2)));
  const dir = await mkdtemp(join(tmpdir(), 'kdl-bench-'));
  const phases: string[] = [];
  for (const phase of plan.phases) {
    const lines: string[] = [];
    let i = 0;
    for (const st of phase.steps()) {
      i++;
      const enter = `--net=/run/netns/${st.ns}`;
      if (st.tool === 'sysctl') lines.push(`${enter} sysctl -q -w ${st.lines.join(' ')}`);
      else {
        const f = join(dir, `${phase.name}.${i}`);
        await writeFile(f, st.lines.join('\n') + '\n');
        lines.push(`${enter} ${toolCommand(st, f).join(' ')}`);
      }
    }
    phases.push(lines.join('\n') + '\n');
  }
  const parts: string[] = [];
  const seconds = await time(async () => {
    const ns = await time(() => sh.run(['ip', '-batch', '-'], { input: plan.namespaces.map((n) => `netns add ${n}\n`).join('') }));
    parts.push(`namespaces ${ns.toFixed(2)}`);
    for (const [i, input] of phases.entries())
      parts.push(`${plan.phases[i]!.name} ${(await time(() => sh.run(['xargs', '-L', '1', '-P', '8', 'nsenter'], { input }))).toFixed(2)}`);
  });
  log(`    same work raw, phases (s): ${parts.join(', ')}`);
  await down(rt, 'benchraw');
  await rm(dir, { recursive: true, force: true });
  return seconds;
}

/**
 * The first node's first pod pings the last node's last pod (not timed): vxlan across the lab,
 * TTL 64 - 2 routers. (By name: the cluster DNS's pods come after the bench's in the topology.)
 * The ARP table's limit (gc_thresh3, 1024 learnt entries) is host-wide, shared with every lab on
 * the machine: while it is full a pod cannot resolve its gateway (ping: "No buffer space
 * available"), so a ping that got nothing is tried again, up to 5 times, and the tries are said.
 */
async function checkReach(topo: Topology, nodes: number, log: (s: string) => void): Promise<void> {
  const from = topo.pods.find((p) => p.name === 'p0-0')!;
  const to = topo.pods.find((p) => p.name === `p${nodes - 1}-1`)!;
  let tries = 0;
  let res: Awaited<ReturnType<typeof ping>> | undefined;
  for (; tries < 5 && !res?.replies.length; tries++) {
    if (tries) await new Promise((r) => setTimeout(r, 2000));
    res = await ping(rt, podNamespace(topo.name, from.node, from.name), to.ip, { count: 1 });
  }
  const ttl = res?.replies[0]?.ttl;
  const said = res?.output.includes('No buffer space available')
    ? ' (ping: No buffer space available: the host-wide ARP table was full)'
    : '';
  if (ttl !== 62)
    throw new Error(
      `${from.name} (${from.node}) -> ${to.name} (${to.node}) at ${to.ip}: ${ttl === undefined ? `no reply in ${tries} tries${said}` : `TTL ${ttl}, not 62`}`,
    );
  log(`    ${from.name} on ${from.node} reaches ${to.name} on ${to.node} (${to.ip}), TTL 62${tries > 1 ? ` (at try ${tries})` : ''}`);
}

/** A stage runner that logs each stage's seconds (where `up`'s time goes, per size). */
function timedStages(log: (s: string) => void): StageRunner {
  return async (stages) => {
    const parts: string[] = [];
    for (const s of stages) parts.push(`${s.title} ${(await time(async () => void (await s.run()))).toFixed(2)}`);
    log(`    stages (s): ${parts.join(', ')}`);
  };
}

async function benchUp(sizes: number[], runs: number, o: UpBenchOptions, log: (s: string) => void): Promise<Row[]> {
  const rows: Row[] = [];
  if (o.against === 'mininet') await ensureMininet(log);
  for (const nodes of sizes) {
    const pods = nodes * 2;
    const lab = `bench-${nodes}`;
    const topo = loadTopologyText(topologyText(lab, nodes, 2), `<bench ${nodes}>`);
    await down(rt, lab); // leftovers of an interrupted bench
    const ups: number[] = [];
    const downs: number[] = [];
    const cleanups: number[] = [];
    const floors: number[] = [];
    const sameWork: number[] = [];
    const peaks: number[] = [];
    const mn: MininetRun[] = [];
    const namespaces = 1 + nodes + pods;
    let statusS = NaN;
    for (let r = 0; r < runs; r++) {
      await settle();
      global.gc?.();
      await resetPeakRss();
      ups.push(await time(() => up(topo, rt, { runStages: timedStages(log) })));
      if (r === 0)
        try {
          await checkReach(topo, nodes, log);
          statusS = await time(async () => {
            const [view] = await inspectLabs(rt, lab);
            if (view?.state !== 'up' || view.pods.length !== topo.pods.length)
              throw new Error(`status: the lab is ${view?.state ?? 'gone'}`);
          });
          log(`    status (every namespace read back): ${statusS.toFixed(2)} s`);
        } catch (e) {
          await down(rt, lab); // nothing of the bench's left up
          throw e;
        }
      downs.push(await time(() => down(rt, lab)));
      peaks.push(await peakRssMiB());
      cleanups.push(await settle());
      if (o.floors) {
        floors.push(await floor(namespaces, nodes + pods));
        await settle();
        sameWork.push(await sameWorkFloor(nodes, log));
        await settle();
      }
      if (o.against === 'mininet') {
        mn.push(await runMininet(namespaces));
        await settle();
      }
      log(
        `  ${nodes} nodes run ${r + 1}/${runs}: up ${ups.at(-1)!.toFixed(2)} s (peak ${peaks.at(-1)!.toFixed(0)} MiB), down ${downs.at(-1)!.toFixed(2)} s (+${cleanups.at(-1)!.toFixed(2)} s kernel cleanup)` +
          (o.floors ? `, floor ${floors.at(-1)!.toFixed(2)} s, same work raw ${sameWork.at(-1)!.toFixed(2)} s` : '') +
          (mn.length
            ? `, mininet ${namespaces} hosts up ${mn.at(-1)!.upSeconds.toFixed(2)} s down ${mn.at(-1)!.downSeconds.toFixed(2)} s`
            : ''),
      );
    }
    const upS = median(ups);
    const floorS = floors.length ? Math.min(...floors) : NaN; // a floor is the best the machine managed
    rows.push({
      nodes,
      pods,
      upSeconds: round(upS),
      downSeconds: round(median(downs)),
      cleanupSeconds: round(median(cleanups)),
      floorSeconds: round(floorS),
      sameWorkSeconds: sameWork.length ? round(median(sameWork)) : NaN,
      sameWorkRatio: sameWork.length ? round(median(sameWork.map((w, i) => ups[i]! / w))) : NaN,
      statusSeconds: round(statusS),
      ratio: round(upS / floorS),
      peakMiB: Math.round(Math.max(...peaks)),
      ...(mn.length && {
        mininet: {
          hosts: mn[0]!.hosts,
          switches: mn[0]!.switches,
          upSeconds: round(median(mn.map((m) => m.upSeconds))),
          downSeconds: round(median(mn.map((m) => m.downSeconds))),
          peakMiB: Math.round(Math.max(...mn.map((m) => m.peakMiB))),
          // the ratio pair by pair (each run's lab up against the same run's mininet), then the median
          upRatio: round(median(mn.map((m, i) => (ups[i]! + downs[i]!) / (m.upSeconds + m.downSeconds)))),
        },
      }),
      runs,
    });
  }
  return rows;
}

async function main() {
  const program = new Command('bench')
    .argument('[what]', 'what to measure: up | docker | vm | rules | resync | trace | policy', 'up')
    .option('--json', 'print the rows as a JSON array')
    .option('--sizes <list>', 'up: node counts', '10,50,100')
    .option('--services <list>', 'rules, resync: service counts (resync: 5000 unless given)', '100,1000,5000')
    .option('--endpoints <n>', 'rules: endpoints per service', '10')
    .option('--modes <list>', 'rules: proxy modes', 'iptables,nftables')
    .option('--policies <list>', 'policy: NetworkPolicy counts', '100,1000,5000')
    .option('--pods <n>', 'policy: pods on the node', '1000')
    .option(
      '--mix <kind>',
      'rules: plain (ClusterIP, every 10th a NodePort) or features (LoadBalancer, ETP/ITP Local, affinity, external IPs)',
      'plain',
    )
    .option('--runs <n>', 'runs per size (the median is reported)', '3')
    .option('--cni <name>', 'up: flannel (the default) or calico (bgp, with its convergence time)', 'flannel')
    .option('--route-reflectors <n>', 'up --cni calico: the first n nodes are route reflectors instead of the full mesh', '0')
    .option('--no-floors', 'up: skip the floor and same-work-raw columns')
    .option('--against <peer>', 'up: also measure a peer on the same namespace count (mininet)')
    .parse(process.argv);
  const [what] = program.args.length ? program.args : ['up'];
  const o = program.opts<{
    json?: boolean;
    floors: boolean;
    against?: string;
    sizes: string;
    services: string;
    endpoints: string;
    modes: string;
    mix: string;
    runs: string;
    cni: string;
    routeReflectors: string;
    policies: string;
    pods: string;
  }>();
  const log = o.json ? () => undefined : (s: string) => console.error(s);
  if (what === 'rules') {
    if (o.mix !== 'plain' && o.mix !== 'features') throw new Error(`--mix: plain or features, not '${o.mix}'`);
    const rows = await benchRules(
      o.services.split(',').map(Number),
      Number(o.endpoints),
      o.modes.split(',') as ProxyMode[],
      Number(o.runs),
      log,
      o.mix,
    );
    return o.json ? console.log(JSON.stringify(rows, null, 2)) : printRules(rows, o.runs);
  }
  if (what === 'resync') {
    const services = program.getOptionValueSource('services') === 'default' ? [5000] : o.services.split(',').map(Number);
    const rows = await benchResync(services, Number(o.endpoints), o.modes.split(',') as ProxyMode[], Number(o.runs), log);
    return o.json ? console.log(JSON.stringify(rows, null, 2)) : printResync(rows, o.runs);
  }
  if (what === 'policy') {
    const rows = await benchPolicy(o.policies.split(',').map(Number), Number(o.pods), Number(o.runs), log);
    if (o.json) return console.log(JSON.stringify(rows, null, 2));
    const t = new Table({
      head: ['policies x pods', 'lines', 'compile (ms)', 'install (s)', 'floor (s)', 'ratio', 're-sync (s)', 'floor (s)', 'ratio'],
      style: { head: [] },
    });
    const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`;
    for (const r of rows)
      t.push([
        `${r.policies} x ${r.pods}`,
        String(r.lines),
        String(r.compileMs),
        String(r.installSeconds),
        String(r.installFloorSeconds),
        ratio(r.installSeconds, r.installFloorSeconds),
        String(r.resyncSeconds),
        String(r.resyncFloorSeconds),
        ratio(r.resyncSeconds, r.resyncFloorSeconds),
      ]);
    return console.log(`${o.runs} runs each (medians), one node\n${t.toString()}`);
  }
  if (what === 'docker') {
    const sizes = program.getOptionValueSource('sizes') === 'default' ? [3, 10, 30] : o.sizes.split(',').map(Number);
    const rows = await benchDocker(sizes, Number(o.runs), log);
    if (o.json) return console.log(JSON.stringify(rows, null, 2));
    const t = new Table({
      head: ['nodes', 'pods', 'up (s)', 'peak memory (MiB)', 'down (s)', 'bare containers up (s)', 'up / bare', 'bare containers down (s)'],
      style: { head: [] },
    });
    for (const r of rows)
      t.push([
        r.nodes,
        r.pods,
        r.upSeconds.toFixed(2),
        r.downSeconds.toFixed(2),
        r.floorUpSeconds.toFixed(2),
        `${(r.upSeconds / r.floorUpSeconds).toFixed(2)}x`,
        r.floorDownSeconds.toFixed(2),
      ]);
    console.log(t.toString());
    return console.log(
      `median of ${o.runs} runs (bare containers: the minimum): the same number of containers from the node image, created and started through the API, 8 at a time`,
    );
  }
  if (what === 'vm') {
    const row = await benchVm(Number(o.runs), log);
    if (o.json) return console.log(JSON.stringify(row, null, 2));
    const t = new Table({
      head: ['IPVS 3-node lab in the VM', 'boot (s)', 'up (s)', 'run services-ipvs (s)', 'down (s)', 'power-off (s)'],
      style: { head: [] },
    });
    t.push([
      'median',
      row.bootSeconds.toFixed(1),
      row.upSeconds.toFixed(1),
      row.runSeconds.toFixed(1),
      row.downSeconds.toFixed(1),
      row.poweroffSeconds.toFixed(1),
    ]);
    console.log(t.toString());
    return console.log(`median of ${row.runs} runs; up/run/down are the lab's CLI bundle inside the guest (TCG), each including its start`);
  }
  if (what === 'trace') {
    const runs = program.getOptionValueSource('runs') === 'default' ? 5 : Number(o.runs);
    const rows = await benchTrace(runs, log);
    if (o.json) return console.log(JSON.stringify(rows, null, 2));
    const t = new Table({
      head: ['lab trace', 'points on the walk', 'nodes traced', 'min (s)', 'median (s)', 'max (s)'],
      style: { head: [] },
    });
    for (const r of rows)
      t.push([r.walk, r.points, r.nodesTraced, r.minSeconds.toFixed(2), r.medianSeconds.toFixed(2), r.maxSeconds.toFixed(2)]);
    console.log(t.toString());
    return console.log(`${runs} runs each, in-process on the default 3-node lab (iptables mode)`);
  }
  if (what !== 'up') throw new Error(`unknown benchmark '${what}' (known: up, docker, vm, rules, resync, trace)`);
  const sizes = o.sizes.split(',').map(Number);
  if (o.cni === 'calico') {
    const rows = await benchCalico(sizes, Number(o.runs), log, Number(o.routeReflectors));
    if (o.json) return console.log(JSON.stringify(rows, null, 2));
    const t = new Table({
      head: ['nodes', 'pods', 'iBGP sessions', 'flannel vxlan up (s)', 'calico bgp up (s)', 'BGP convergence (s)'],
      style: { head: [] },
    });
    for (const r of rows)
      t.push([r.nodes, r.pods, r.sessions, r.flannelUpSeconds.toFixed(2), r.calicoUpSeconds.toFixed(2), r.convergenceSeconds.toFixed(2)]);
    console.log(t.toString());
    return console.log(
      `median of ${o.runs} runs; convergence = up's bgp stage: BIRDs started until every session is Established and every block routed`,
    );
  }
  if (o.cni !== 'flannel') throw new Error(`--cni: flannel or calico, not '${o.cni}'`);
  if (o.against !== undefined && o.against !== 'mininet') throw new Error(`--against: unknown peer '${o.against}' (known: mininet)`);
  const rows = await benchUp(sizes, Number(o.runs), { floors: o.floors, against: o.against }, log);
  if (o.json) return console.log(JSON.stringify(rows, null, 2));
  const mn = o.against === 'mininet';
  const t = new Table({
    head: [
      'nodes',
      'pods',
      'up (s)',
      'peak memory (MiB)',
      'down (s)',
      'kernel cleanup (s)',
      'floor (s)',
      'up / floor',
      'same work raw (s)',
      'up / same work',
      'status (s)',
      ...(mn ? ['mininet hosts', 'mininet up (s)', 'mininet down (s)', 'lab / mininet (up+down)'] : []),
    ],
    style: { head: [] },
  });
  const f = (x: number, digits = 2, unit = '') => (Number.isFinite(x) ? `${x.toFixed(digits)}${unit}` : '-');
  for (const r of rows)
    t.push([
      r.nodes,
      r.pods,
      f(r.upSeconds),
      r.peakMiB,
      f(r.downSeconds),
      f(r.cleanupSeconds),
      f(r.floorSeconds),
      f(r.ratio, 2, 'x'),
      f(r.sameWorkSeconds),
      f(r.sameWorkRatio, 2, 'x'),
      f(r.statusSeconds),
      ...(r.mininet
        ? [r.mininet.hosts, f(r.mininet.upSeconds), f(r.mininet.downSeconds), f(r.mininet.upRatio, 2, 'x')]
        : mn
          ? ['-', '-', '-', '-']
          : []),
    ]);
  console.log(t.toString());
  console.log(
    `median of ${o.runs} runs (floor: the minimum). floor = the same namespaces and veth pairs (one end on a bridge) by raw ip -batch;`,
  );
  console.log(
    'same work raw = the batches up runs, written out beforehand and replayed by ip -batch + xargs nsenter, without Node or read-back; up / same work: run by run, median',
  );
  console.log("peak memory = the bench process's RSS high-water mark (VmHWM) over up + down, reset before each run");
  if (mn)
    console.log(
      'mininet = as many hosts as the lab has namespaces, on Linux bridges (lxbr, <= 1000 ports each), no controller, in a namespace of its own; ratio: median of (lab up+down) / (mininet up+down) per run',
    );
}

function printRules(rows: RulesRow[], runs: string): void {
  const t = new Table({
    head: ['services x eps', 'mode', 'lines', 'generate (ms)', 'install (s)', 'floor (s)', 'ratio', 're-sync (s)', 'floor (s)', 'ratio'],
    style: { head: [] },
  });
  for (const r of rows)
    t.push([
      `${r.services} x ${r.endpoints}`,
      r.mode,
      r.lines,
      r.generateMs.toFixed(1),
      r.installSeconds.toFixed(3),
      r.installFloorSeconds.toFixed(3),
      `${(r.installSeconds / r.installFloorSeconds).toFixed(2)}x`,
      r.resyncSeconds.toFixed(3),
      r.resyncFloorSeconds.toFixed(3),
      `${(r.resyncSeconds / r.resyncFloorSeconds).toFixed(2)}x`,
    ]);
  console.log(t.toString());
  console.log(
    `median of ${runs} runs (generate: of at least 10). install = into a node namespace without rules; re-sync = the same rules again, replacing them;`,
  );
  console.log('floor = the same text from a file by the bare tool (nsenter --net=NS iptables-restore FILE / nft -f FILE)');
}

function printResync(rows: ResyncRow[], runs: string): void {
  const t = new Table({
    head: [
      'services x eps',
      'mode',
      'delta lines',
      'models (ms)',
      'delta (ms)',
      'install (s)',
      're-sync (s)',
      're-sync CPU (s)',
      'floor (s)',
      'floor CPU (s)',
    ],
    style: { head: [] },
  });
  for (const r of rows)
    t.push([
      `${r.services} x ${r.endpoints}`,
      r.mode,
      r.lines,
      r.modelMs.toFixed(1),
      r.deltaMs.toFixed(1),
      r.installSeconds.toFixed(1),
      r.resyncSeconds.toFixed(3),
      r.resyncCpuSeconds.toFixed(2),
      r.floorSeconds.toFixed(3),
      r.floorCpuSeconds.toFixed(2),
    ]);
  console.log(t.toString());
  console.log(
    `one endpoint changed and back, ${runs} times each way (median); models = both topologies -> proxy models, delta = models -> the re-sync batch (median of 10);`,
  );
  console.log("install = the whole rule set once, into a node namespace without rules; re-sync = the delta through the lab's path");
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});

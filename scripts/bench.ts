// npm run bench -- up [--json] [--sizes 10,50,100] [--runs 3]
// npm run bench -- up --cni calico [--json] [--sizes 10,50,100] [--runs 3]   (see bench-calico.ts)
// npm run bench -- docker [--json] [--sizes 3,10,30] [--runs 3]   (see bench-docker.ts)
// npm run bench -- vm [--json] [--runs 3]                          (see bench-vm.ts)
// npm run bench -- trace [--json] [--runs 5]                       (see bench-trace.ts)
// npm run bench -- rules [--json] [--services 100,1000,5000] [--endpoints 10] [--modes iptables,nftables] [--runs 3]
//   (see bench-rules.ts)
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
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { planLab } from '../lab/plan';
import { toolCommand } from '../lab/plan/types';
import { down } from '../lab/ops/down';
import { up } from '../lab/ops/up';
import { LocalExecutor } from '../lab/runtime/executor';
import { NetnsRuntime } from '../lab/runtime/netns';
import { loadTopologyText } from '../lab/topology/resolve';
import type { ProxyMode } from '../lab/topology/types';
import { benchCalico } from './bench-calico';
import { benchDocker } from './bench-docker';
import { benchVm } from './bench-vm';
import { benchTrace } from './bench-trace';
import { benchRules, type RulesRow } from './bench-rules';
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
  ratio: number; // up / floor
  runs: number;
}

const rt = new NetnsRuntime();
const sh = new LocalExecutor();

function topologyText(lab: string, nodes: number, podsPerNode: number): string {
  const lines = [`name: ${lab}`, 'cluster: { backend: vxlan }', 'nodes:'];
  for (let i = 0; i < nodes; i++) lines.push(`  - { name: n${i} }`);
  lines.push('pods:');
  for (let i = 0; i < nodes; i++) for (let j = 0; j < podsPerNode; j++) lines.push(`  - { name: p${i}-${j}, node: n${i} }`);
  return lines.join('\n');
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
    const lines = ['link add br0 type bridge', 'link set br0 up'];
    for (let i = 0; i < veths; i++) {
      const peerNs = names[1 + (i % (namespaces - 1))]!;
      lines.push(`link add v${i} type veth peer name e${i} netns ${peerNs}`, `link set v${i} master br0 up`);
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
async function sameWorkFloor(nodes: number): Promise<number> {
  const plan = planLab(loadTopologyText(topologyText('benchraw', nodes, 2)));
  const dir = await mkdtemp(join(tmpdir(), 'kdl-bench-'));
  const phases: string[] = [];
  for (const phase of plan.phases) {
    const lines: string[] = [];
    for (const [i, st] of phase.steps.entries()) {
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
  const seconds = await time(async () => {
    await sh.run(['ip', '-batch', '-'], { input: plan.namespaces.map((n) => `netns add ${n}\n`).join('') });
    for (const input of phases) await sh.run(['xargs', '-L', '1', '-P', '8', 'nsenter'], { input });
  });
  await down(rt, 'benchraw');
  await rm(dir, { recursive: true, force: true });
  return seconds;
}

async function benchUp(sizes: number[], runs: number, log: (s: string) => void): Promise<Row[]> {
  const rows: Row[] = [];
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
    for (let r = 0; r < runs; r++) {
      await settle();
      ups.push(await time(() => up(topo, rt)));
      downs.push(await time(() => down(rt, lab)));
      cleanups.push(await settle());
      floors.push(await floor(1 + nodes + pods, nodes + pods));
      await settle();
      sameWork.push(await sameWorkFloor(nodes));
      await settle();
      log(
        `  ${nodes} nodes run ${r + 1}/${runs}: up ${ups.at(-1)!.toFixed(2)} s, down ${downs.at(-1)!.toFixed(2)} s (+${cleanups.at(-1)!.toFixed(2)} s kernel cleanup), floor ${floors.at(-1)!.toFixed(2)} s, same work raw ${sameWork.at(-1)!.toFixed(2)} s`,
      );
    }
    const upS = median(ups);
    const floorS = Math.min(...floors); // a floor is the best the machine managed
    rows.push({
      nodes,
      pods,
      upSeconds: round(upS),
      downSeconds: round(median(downs)),
      cleanupSeconds: round(median(cleanups)),
      floorSeconds: round(floorS),
      sameWorkSeconds: round(median(sameWork)),
      ratio: round(upS / floorS),
      runs,
    });
  }
  return rows;
}

async function main() {
  const program = new Command('bench')
    .argument('[what]', 'what to measure: up | docker | vm | rules | trace', 'up')
    .option('--json', 'print the rows as a JSON array')
    .option('--sizes <list>', 'up: node counts', '10,50,100')
    .option('--services <list>', 'rules: service counts', '100,1000,5000')
    .option('--endpoints <n>', 'rules: endpoints per service', '10')
    .option('--modes <list>', 'rules: proxy modes', 'iptables,nftables')
    .option('--runs <n>', 'runs per size (the median is reported)', '3')
    .option('--cni <name>', 'up: flannel (the default) or calico (bgp, with its convergence time)', 'flannel')
    .parse(process.argv);
  const [what] = program.args.length ? program.args : ['up'];
  const o = program.opts<{
    json?: boolean;
    sizes: string;
    services: string;
    endpoints: string;
    modes: string;
    runs: string;
    cni: string;
  }>();
  const log = o.json ? () => undefined : (s: string) => console.error(s);
  if (what === 'rules') {
    const rows = await benchRules(
      o.services.split(',').map(Number),
      Number(o.endpoints),
      o.modes.split(',') as ProxyMode[],
      Number(o.runs),
      log,
    );
    return o.json ? console.log(JSON.stringify(rows, null, 2)) : printRules(rows, o.runs);
  }
  if (what === 'docker') {
    const sizes = program.getOptionValueSource('sizes') === 'default' ? [3, 10, 30] : o.sizes.split(',').map(Number);
    const rows = await benchDocker(sizes, Number(o.runs), log);
    if (o.json) return console.log(JSON.stringify(rows, null, 2));
    const t = new Table({
      head: ['nodes', 'pods', 'up (s)', 'down (s)', 'bare containers up (s)', 'up / bare', 'bare containers down (s)'],
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
  if (what !== 'up') throw new Error(`unknown benchmark '${what}' (known: up, docker, vm, rules, trace)`);
  const sizes = o.sizes.split(',').map(Number);
  if (o.cni === 'calico') {
    const rows = await benchCalico(sizes, Number(o.runs), log);
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
  const rows = await benchUp(sizes, Number(o.runs), log);
  if (o.json) return console.log(JSON.stringify(rows, null, 2));
  const t = new Table({
    head: ['nodes', 'pods', 'up (s)', 'down (s)', 'kernel cleanup (s)', 'floor (s)', 'up / floor', 'same work raw (s)', 'up / same work'],
    style: { head: [] },
  });
  for (const r of rows)
    t.push([
      r.nodes,
      r.pods,
      r.upSeconds.toFixed(2),
      r.downSeconds.toFixed(2),
      r.cleanupSeconds.toFixed(2),
      r.floorSeconds.toFixed(2),
      `${r.ratio.toFixed(2)}x`,
      r.sameWorkSeconds.toFixed(2),
      `${(r.upSeconds / r.sameWorkSeconds).toFixed(2)}x`,
    ]);
  console.log(t.toString());
  console.log(
    `median of ${o.runs} runs (floor: the minimum). floor = the same namespaces and veth pairs (one end on a bridge) by raw ip -batch;`,
  );
  console.log(
    'same work raw = the batches up runs, written out beforehand and replayed by ip -batch + xargs nsenter, without Node or read-back',
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

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});

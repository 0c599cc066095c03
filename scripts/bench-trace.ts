// npm run bench -- trace [--runs 5] [--json]
//
// `lab trace` in-process on the default 3-node lab (iptables mode): for three walks — pod to
// pod over VXLAN (ICMP), pod to a cluster IP, node to a cluster IP (TCP) — the wall time of the
// whole trace (tcpdump at every point and nft monitor in every node started and confirmed
// listening, one probe, everything stopped and read, the expected walk computed and compared).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { down } from '../lab/ops/down';
import { up } from '../lab/ops/up';
import { NetnsRuntime } from '../lab/runtime/netns';
import { LabNames } from '../lab/model/names';
import { loadTopology } from '../lab/topology/resolve';
import { traceWalk } from '../lab/trace/walk';
import { median, round, time } from './measure';

export interface TraceRow {
  walk: string;
  points: number;
  nodesTraced: number;
  minSeconds: number;
  medianSeconds: number;
  maxSeconds: number;
  runs: number;
}

const WALKS: [string, string][] = [
  ['client', 'web-2'],
  ['client', 'service:nginx-test'],
  ['node1', 'service:nginx-test'],
];

export async function benchTrace(runs: number, log: (s: string) => void): Promise<TraceRow[]> {
  const rt = new NetnsRuntime();
  const topo = loadTopology(join(__dirname, '..', 'scenarios', 'topologies', 'default.yaml'), { name: 'bench-trace' });
  await down(rt, topo.name);
  await up(topo, rt);
  const names = new LabNames(topo);
  const dir = await mkdtemp(join(tmpdir(), 'kdl-bench-trace-'));
  const rows: TraceRow[] = [];
  try {
    for (const [from, to] of WALKS) {
      const times: number[] = [];
      let points = 0;
      let nodesTraced = 0;
      for (let r = 0; r < runs; r++) {
        let ok = false;
        times.push(
          await time(async () => {
            const w = await traceWalk(rt, topo, names, { from, to }, join(dir, `${r}-${from}-${to.replace(/\W/g, '_')}`));
            ok = w.ok;
            points = new Set(w.hops.map((h) => h.point)).size;
            nodesTraced = w.rules.length;
          }),
        );
        if (!ok) throw new Error(`trace ${from} → ${to} differed from the expected walk`);
      }
      log(`  ${from} → ${to}: ${times.map((t) => t.toFixed(2)).join(' ')} s`);
      rows.push({
        walk: `${from} → ${to}`,
        points,
        nodesTraced,
        minSeconds: round(Math.min(...times)),
        medianSeconds: round(median(times)),
        maxSeconds: round(Math.max(...times)),
        runs,
      });
    }
  } finally {
    await down(rt, topo.name);
    await rm(dir, { recursive: true, force: true });
  }
  return rows;
}

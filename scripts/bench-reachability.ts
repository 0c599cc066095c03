// node --import tsx scripts/bench-reachability.ts [--runs 3] [--concurrency 16,32,64] [--json]
// (benchReachability is also what `npm run bench -- policy` reports as the probe rate)
//
// The reachability probe's rate, pairs per second, on the network-policy e2e model without
// policies (every pair answers, so the rate is the probe's own cost, not its timeouts): the
// model as upstream has it (9 pods, scenarios/topologies/netpol-e2e.yaml: 9 × 9 pairs on 80 and
// 81, TCP and UDP = 324 pairs) and widened to 27 pods (pods a–i in x, y, z: 27 × 27 on TCP and
// UDP 80 = 1,458 pairs), at several concurrency limits. Every pair must answer.
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { podNamespace } from '../lab/model/kernel-names';
import { down } from '../lab/ops/down';
import { up } from '../lab/ops/up';
import { probeReachability } from '../lab/probe/reachability';
import { NetnsRuntime } from '../lab/runtime/netns';
import { loadTopologyText } from '../lab/topology/resolve';
import type { Topology } from '../lab/topology/types';
import { median, round } from './measure';

export interface ReachRow {
  model: string;
  pods: number;
  pairs: number;
  concurrency: number;
  medianSeconds: number;
  pairsPerSecond: number;
  runs: number;
}

const MODEL = join(__dirname, '..', 'scenarios', 'topologies', 'netpol-e2e.yaml');

/** The e2e model's text with pods a–i per namespace (3 per node) instead of a–c. */
function wideModel(): string {
  const text = readFileSync(MODEL, 'utf8').replace(/^services:[\s\S]*$/m, '');
  const ports = /ports: (\[.*\]) \}$/m.exec(text)![1]!;
  const pods = ['x', 'y', 'z'].flatMap((ns, k) =>
    'abcdefghi'
      .split('')
      .map(
        (p, i) =>
          `  - { name: ${p}, namespace: ${ns}, node: node${(i % 3) + 1}, ip: 10.42.${i % 3}.${2 + k * 3 + Math.floor(i / 3)}, labels: { pod: ${p} }, ports: ${ports} }`,
      ),
  );
  return text.replace(/^pods:\n(?: {2}- .*\n)+/m, `pods:\n${pods.join('\n')}\n`);
}

export async function benchReachability(runs: number, levels: number[], log: (s: string) => void): Promise<ReachRow[]> {
  const rt = new NetnsRuntime();
  const rows: ReachRow[] = [];
  const models: [string, string, number[], ('TCP' | 'UDP')[]][] = [
    ['e2e (9 pods)', readFileSync(MODEL, 'utf8'), [80, 81], ['TCP', 'UDP']],
    ['e2e widened (27 pods)', wideModel(), [80], ['TCP', 'UDP']],
  ];
  for (const [model, text, ports, protocols] of models) {
    const topo: Topology = loadTopologyText(text, MODEL, { name: 'bench-reach' });
    await down(rt, topo.name);
    await up(topo, rt);
    try {
      const sources = topo.pods.map((p) => ({ name: p.name, ns: podNamespace(topo.name, p.node, p.name) }));
      const targets = topo.pods.map((p) => ({ name: p.name, ip: p.ip }));
      for (const concurrency of levels) {
        const secs: number[] = [];
        let pairs = 0;
        for (let r = 0; r < runs; r++) {
          const res = await probeReachability(rt, { sources, targets, ports, protocols, timeoutS: 1, concurrency });
          const denied = res.tables.flatMap((t) => t.details.flat().filter((d) => !d.ok));
          if (denied.length) throw new Error(`${model}: ${denied.length} pairs did not answer (${denied[0]!.detail})`);
          secs.push(res.seconds);
          pairs = res.pairs;
        }
        const m = median(secs);
        log(`  ${model}, ${concurrency} at once: ${secs.map((s) => s.toFixed(2)).join(' ')} s for ${pairs} pairs`);
        rows.push({
          model,
          pods: topo.pods.length,
          pairs,
          concurrency,
          medianSeconds: round(m),
          pairsPerSecond: round(pairs / m, 0),
          runs,
        });
      }
    } finally {
      await down(rt, topo.name);
    }
  }
  return rows;
}

if (require.main === module) {
  const o = new Command()
    .option('--runs <n>', 'runs per level', '3')
    .option('--concurrency <list>', 'concurrency limits', '16,32,64')
    .option('--json', 'JSON rows')
    .parse()
    .opts<{ runs: string; concurrency: string; json?: boolean }>();
  void benchReachability(Number(o.runs), o.concurrency.split(',').map(Number), (s) => process.stderr.write(`${s}\n`)).then((rows) => {
    if (o.json) process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
    else
      for (const r of rows)
        process.stdout.write(
          `${r.model}: ${r.pairs} pairs, ${r.concurrency} at once: ${r.medianSeconds} s median = ${r.pairsPerSecond} pairs/s\n`,
        );
  });
}

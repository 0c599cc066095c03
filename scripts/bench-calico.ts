// npm run bench -- up --cni calico [--json] [--sizes 10,50,100] [--runs 3] [--route-reflectors 2]
//
// Calico bgp labs of N nodes (2 pods each, one /26 block per node, a BIRD in every node and an
// iBGP full mesh: N·(N−1)/2 sessions) beside flannel vxlan labs of the same size: the wall time
// of `up`, and for Calico the time of its `bgp` stage — from starting the BIRDs until every
// session is Established and every node has a proto bird route to every other node's block
// (the convergence time, as `up` waits for it by polling birdc; no sleeps). With
// --route-reflectors R the first R nodes reflect instead of the mesh: R·(N−R) + R·(R−1)/2 sessions.
import { down } from '../lab/ops/down';
import { type Stage, up } from '../lab/ops/up';
import { NetnsRuntime } from '../lab/runtime/netns';
import { loadTopologyText } from '../lab/topology/resolve';
import { median, round, time } from './measure';

export interface CalicoRow {
  nodes: number;
  pods: number;
  sessions: number;
  flannelUpSeconds: number;
  calicoUpSeconds: number;
  /** the `bgp` stage of up: BIRDs started until every session is Established and every block routed */
  convergenceSeconds: number;
  runs: number;
}

const rt = new NetnsRuntime();

function topologyText(lab: string, cni: 'flannel' | 'calico', nodes: number, reflectors = 0): string {
  const rr = reflectors ? `, routeReflectors: [${Array.from({ length: reflectors }, (_, i) => `n${i}`).join(', ')}]` : '';
  const lines = [
    `name: ${lab}`,
    cni === 'calico' ? `cluster: { cni: calico, calico: { mode: bgp${rr} } }` : 'cluster: { backend: vxlan }',
    'nodes:',
  ];
  for (let i = 0; i < nodes; i++) lines.push(`  - { name: n${i} }`);
  lines.push('pods:');
  for (let i = 0; i < nodes; i++) for (let j = 0; j < 2; j++) lines.push(`  - { name: p${i}-${j}, node: n${i} }`);
  return lines.join('\n');
}

export async function benchCalico(sizes: number[], runs: number, log: (s: string) => void, reflectors = 0): Promise<CalicoRow[]> {
  const rows: CalicoRow[] = [];
  for (const nodes of sizes) {
    const flannel = loadTopologyText(topologyText(`benchf-${nodes}`, 'flannel', nodes), `<bench flannel ${nodes}>`);
    const calico = loadTopologyText(topologyText(`benchc-${nodes}`, 'calico', nodes, reflectors), `<bench calico ${nodes}>`);
    await down(rt, flannel.name);
    await down(rt, calico.name);
    const f: number[] = [];
    const c: number[] = [];
    const conv: number[] = [];
    for (let r = 0; r < runs; r++) {
      f.push(await time(() => up(flannel, rt)));
      await down(rt, flannel.name);
      let bgp = 0;
      let detail = '';
      const runStages = async (stages: Stage[]) => {
        for (const s of stages) {
          let d: string | void = undefined;
          const t = await time(async () => (d = await s.run()));
          if (s.title !== 'bgp') continue;
          bgp = t;
          detail = d ?? '';
        }
      };
      c.push(await time(() => up(calico, rt, { runStages })));
      conv.push(bgp);
      await down(rt, calico.name);
      log(
        `  ${nodes} nodes run ${r + 1}/${runs}: flannel up ${f.at(-1)!.toFixed(2)} s, calico up ${c.at(-1)!.toFixed(2)} s (BGP converged in ${bgp.toFixed(2)} s: ${detail})`,
      );
    }
    rows.push({
      nodes,
      pods: nodes * 2,
      sessions: reflectors ? reflectors * (nodes - reflectors) + (reflectors * (reflectors - 1)) / 2 : (nodes * (nodes - 1)) / 2,
      flannelUpSeconds: round(median(f)),
      calicoUpSeconds: round(median(c)),
      convergenceSeconds: round(median(conv)),
      runs,
    });
  }
  return rows;
}

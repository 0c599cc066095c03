// npm run bench -- docker [--sizes 3,10,30] [--runs 3] [--json]
//
// `up` and `down` on the docker runtime (in-process) for vxlan labs of N nodes × 2 pods, beside
// a floor: the same number of containers from the same image created and started through the
// engine's API in parallel (and removed), with no links, addresses, rules or servers. The node
// image is built before anything is timed.
import type Dockerode from 'dockerode';
import { connectLocal } from '../lab/docker/engine';
import { ensureNodeImage } from '../lab/docker/node-image';
import { down } from '../lab/ops/down';
import { up } from '../lab/ops/up';
import { runtimeFor } from '../lab/runtime/select';
import { loadTopologyText } from '../lab/topology/resolve';
import { median, round, time } from './measure';

export interface DockerRow {
  nodes: number;
  pods: number;
  upSeconds: number;
  downSeconds: number;
  /** N bare containers created + started, then removed (API calls, 8 at a time like the runtime) */
  floorUpSeconds: number;
  floorDownSeconds: number;
  runs: number;
}

function topologyText(lab: string, nodes: number): string {
  const lines = [`name: ${lab}`, 'runtime: docker', 'cluster: { backend: vxlan }', 'nodes:'];
  for (let i = 0; i < nodes; i++) lines.push(`  - { name: n${i} }`);
  lines.push('pods:');
  for (let i = 0; i < nodes; i++) for (let j = 0; j < 2; j++) lines.push(`  - { name: p${i}-${j}, node: n${i} }`);
  return lines.join('\n');
}

async function inParallel<T>(items: T[], fn: (t: T) => Promise<unknown>, width = 8): Promise<void> {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: Math.min(width, queue.length) }, async () => {
      for (let t = queue.shift(); t !== undefined; t = queue.shift()) await fn(t);
    }),
  );
}

async function floor(docker: Dockerode, image: string, n: number): Promise<[number, number]> {
  const made: Dockerode.Container[] = [];
  const upS = await time(() =>
    inParallel([...Array(n).keys()], async (i) => {
      const c = await docker.createContainer({
        name: `kdl-bench-floor-${i}`,
        Image: image,
        Cmd: ['sleep', 'infinity'],
        HostConfig: { NetworkMode: 'none' },
      });
      made.push(c);
      await c.start();
    }),
  );
  const downS = await time(() => inParallel(made, (c) => c.remove({ force: true })));
  return [upS, downS];
}

export async function benchDocker(sizes: number[], runs: number, log: (s: string) => void): Promise<DockerRow[]> {
  const docker = connectLocal();
  const image = await ensureNodeImage(docker, { onProgress: log });
  const rt = runtimeFor('docker');
  const rows: DockerRow[] = [];
  for (const nodes of sizes) {
    const lab = `bench-dk-${nodes}`;
    const topo = loadTopologyText(topologyText(lab, nodes), `<bench docker ${nodes}>`);
    await down(rt, lab);
    const ups: number[] = [];
    const downs: number[] = [];
    const floorUps: number[] = [];
    const floorDowns: number[] = [];
    for (let r = 0; r < runs; r++) {
      ups.push(await time(() => up(topo, rt)));
      downs.push(await time(() => down(rt, lab)));
      const [fu, fd] = await floor(docker, image, nodes);
      floorUps.push(fu);
      floorDowns.push(fd);
      log(
        `  ${nodes} nodes run ${r + 1}/${runs}: up ${ups.at(-1)!.toFixed(2)} s, down ${downs.at(-1)!.toFixed(2)} s; bare containers ${fu.toFixed(2)} s / ${fd.toFixed(2)} s`,
      );
    }
    rows.push({
      nodes,
      pods: nodes * 2,
      upSeconds: round(median(ups)),
      downSeconds: round(median(downs)),
      floorUpSeconds: round(Math.min(...floorUps)),
      floorDownSeconds: round(Math.min(...floorDowns)),
      runs,
    });
  }
  return rows;
}

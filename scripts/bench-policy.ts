// npm run bench -- policy [--json] [--policies 100,1000,5000] [--pods 1000] [--runs 3]
//
// The NetworkPolicy agent on one node: P policies over N pods (10 namespaces; policy k selects
// the pods of one app label in one namespace and allows ingress from another app's pods on TCP
// 80 and from an ipBlock with except, and every 10th adds egress to UDP 53).
//   compile  topology -> the node's nft text (in process, lab/policy/compile.ts)
//   install  the lab's own path (runtime.applySteps: nsenter + nft -f - reading stdin) into a node
//            namespace without the table, and a re-sync replacing it (the same text again)
//   floor    the same text from a file by the bare tool (`nsenter --net=NS nft -f FILE`)
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileNode } from '../lab/policy/compile';
import { LocalExecutor } from '../lab/runtime/executor';
import { NetnsRuntime } from '../lab/runtime/netns';
import { formatIp, parseIp } from '../lab/topology/ipv4';
import type { TopologyNetworkPolicy } from '../lab/topology/netpol';
import type { Topology } from '../lab/topology/types';
import { servicesTopology } from './bench-rules';
import { median, round, time } from './measure';

export interface PolicyRow {
  policies: number;
  pods: number;
  lines: number;
  compileMs: number;
  installSeconds: number;
  installFloorSeconds: number;
  resyncSeconds: number;
  resyncFloorSeconds: number;
  runs: number;
}

const rt = new NetnsRuntime();
const sh = new LocalExecutor();
const NS = 'kdl.bench-policy';
const APPS = 100;
const NAMESPACES = 10;

export function policyTopology(policies: number, pods: number): Topology {
  const base = servicesTopology(0, 1, 'iptables');
  const first = parseIp('10.42.0.2')!;
  const nsName = (i: number) => `ns${i % NAMESPACES}`;
  const sel = (app: number) => ({ matchLabels: { app: `a${app % APPS}` }, matchExpressions: [] });
  const nps: TopologyNetworkPolicy[] = Array.from({ length: policies }, (_, k) => ({
    name: `p${k}`,
    namespace: nsName(k),
    podSelector: sel(k),
    policyTypes: k % 10 === 0 ? ['Ingress', 'Egress'] : ['Ingress'],
    ingress: [
      { peers: [{ podSelector: sel(k + 1) }], ports: [{ protocol: 'TCP', port: 80 }] },
      { peers: [{ ipBlock: { cidr: '192.168.0.0/16', except: ['192.168.205.0/24'] } }], ports: [] },
    ],
    egress: k % 10 === 0 ? [{ peers: [], ports: [{ protocol: 'UDP', port: 53 }] }] : [],
  }));
  return {
    ...base,
    name: 'bench-policy',
    namespaces: Array.from({ length: NAMESPACES }, (_, i) => ({ name: `ns${i}`, labels: { 'kubernetes.io/metadata.name': `ns${i}` } })),
    pods: Array.from({ length: pods }, (_, i) => ({
      name: `${nsName(i)}/p${i}`,
      node: 'n1',
      ip: formatIp(first + i),
      labels: { app: `a${i % APPS}` },
      ports: [{ port: 80, protocol: 'TCP' as const }],
    })),
    networkPolicies: nps,
  };
}

export async function benchPolicy(sizes: number[], pods: number, runs: number, log: (s: string) => void): Promise<PolicyRow[]> {
  const rows: PolicyRow[] = [];
  const dir = await mkdtemp(join(tmpdir(), 'kdl-bench-policy-'));
  const freshNs = async () => {
    await sh.run(['ip', 'netns', 'del', NS], { check: false });
    await sh.run(['ip', 'netns', 'add', NS]);
  };
  try {
    for (const policies of sizes) {
      const topo = policyTopology(policies, pods);
      const gen: number[] = [];
      for (let r = 0; r < Math.max(runs, 5); r++) gen.push(await time(() => compileNode(topo, 'n1')));
      const text = compileNode(topo, 'n1').text;
      const file = join(dir, `policy.${policies}`);
      await writeFile(file, text);
      const step = { ns: NS, tool: 'nft' as const, lines: text.replace(/\n$/, '').split('\n') };
      const raw = ['nsenter', `--net=/run/netns/${NS}`, 'nft', '-f', file];
      const m = { install: [] as number[], installFloor: [] as number[], resync: [] as number[], resyncFloor: [] as number[] };
      for (let r = 0; r < runs; r++) {
        const order = r % 2 ? (['floor', 'lab'] as const) : (['lab', 'floor'] as const);
        for (const who of order) {
          await freshNs();
          if (who === 'lab') {
            m.install.push(await time(() => rt.applySteps([step])));
            m.resync.push(await time(() => rt.applySteps([step])));
          } else {
            m.installFloor.push(await time(() => sh.run(raw)));
            m.resyncFloor.push(await time(() => sh.run(raw)));
          }
        }
        log(
          `  ${policies} policies x ${pods} pods run ${r + 1}/${runs}: install ${m.install.at(-1)!.toFixed(3)} s (floor ${m.installFloor.at(-1)!.toFixed(3)} s), re-sync ${m.resync.at(-1)!.toFixed(3)} s (floor ${m.resyncFloor.at(-1)!.toFixed(3)} s)`,
        );
      }
      rows.push({
        policies,
        pods,
        lines: step.lines.length,
        compileMs: round(median(gen) * 1000, 1),
        installSeconds: round(median(m.install)),
        installFloorSeconds: round(median(m.installFloor)),
        resyncSeconds: round(median(m.resync)),
        resyncFloorSeconds: round(median(m.resyncFloor)),
        runs,
      });
    }
  } finally {
    await sh.run(['ip', 'netns', 'del', NS], { check: false });
    await rm(dir, { recursive: true, force: true });
  }
  return rows;
}

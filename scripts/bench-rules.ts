// npm run bench -- rules [--services 100,1000,5000] [--endpoints 10] [--modes iptables,nftables] [--runs 3]
//
// kube-proxy rule generation and installation for S services x E endpoints on one node:
//   generate  topology -> proxy model -> restore text (in process, milliseconds)
//   install   the lab's own path (runtime.applySteps: nsenter + the tool reading stdin) into a
//             node namespace with no rules yet, and a re-sync that replaces the same rules
//   floor     the same text, written to a file beforehand, restored by the bare tool
//             (`nsenter --net=NS iptables-restore FILE` / `nft -f FILE`), same two cases
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Tool } from '../lab/plan/types';
import { iptablesRules } from '../lab/proxy/iptables';
import { proxyModel } from '../lab/model/proxy'; // the bench times the model itself
import { nftablesRules } from '../lab/proxy/nftables';
import { LocalExecutor } from '../lab/runtime/executor';
import { NetnsRuntime } from '../lab/runtime/netns';
import { formatIp, parseIp } from '../lab/topology/ipv4';
import type { ProxyMode, Topology } from '../lab/topology/types';
import { median, round, time } from './measure';

export interface RulesRow {
  services: number;
  endpoints: number;
  mode: ProxyMode;
  lines: number;
  generateMs: number;
  installSeconds: number;
  installFloorSeconds: number;
  resyncSeconds: number;
  resyncFloorSeconds: number;
  runs: number;
}

const rt = new NetnsRuntime();
const sh = new LocalExecutor();
const NS = 'kdl.bench-rules';

/** S services with E endpoints each (distinct pods, as in a cluster), one node, built in code. */
export function servicesTopology(services: number, endpoints: number, mode: ProxyMode): Topology {
  const base = parseIp('10.42.0.2')!;
  const pods = Array.from({ length: services * endpoints }, (_, i) => ({
    name: `p${i}`,
    node: 'n1',
    ip: formatIp(base + i),
    labels: { app: `s${Math.floor(i / endpoints)}` },
    ports: [{ port: 8080, protocol: 'TCP' as const }],
  }));
  const svc = Array.from({ length: services }, (_, s) => ({
    name: `s${s}`,
    namespace: 'default',
    type: s % 10 === 0 ? ('NodePort' as const) : ('ClusterIP' as const),
    clusterIP: formatIp(parseIp('10.43.0.10')! + s),
    selector: { app: `s${s}` },
    ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' as const, ...(s % 10 === 0 ? { nodePort: 30000 + s / 10 } : {}) }],
  }));
  return {
    name: 'bench-rules',
    runtime: 'netns',
    source: '<bench>',
    namespaces: [{ name: 'default', labels: { 'kubernetes.io/metadata.name': 'default' } }],
    endpointSlices: [],
    networkPolicies: [],
    hosts: [],
    cluster: {
      cni: 'flannel',
      podCIDR: '10.42.0.0/16',
      serviceCIDR: '10.43.0.0/16',
      underlay: [{ cidr: '192.168.205.0/24', gateway: '192.168.205.1' }],
      backend: 'vxlan',
      vni: 1,
      port: 8472,
      mtu: 1450,
    },
    proxy: { mode, masqueradeBit: 14, scheduler: 'rr', localhostNodePorts: true, rules: [] },
    nodes: [
      {
        name: 'n1',
        ip: '192.168.205.2',
        underlay: '192.168.205.0/24',
        gateway: '192.168.205.1',
        podSubnet: '10.42.0.0/16',
        cni0: '10.42.0.1',
        vtep: '10.42.0.0',
      },
    ],
    pods,
    services: svc,
  };
}

function generate(topo: Topology): string {
  const model = proxyModel(topo);
  const node = { name: 'n1', ip: topo.nodes[0]!.ip };
  return topo.proxy.mode === 'nftables' ? nftablesRules(model, node) : iptablesRules(model);
}

export async function benchRules(
  sizes: number[],
  endpoints: number,
  modes: ProxyMode[],
  runs: number,
  log: (s: string) => void,
): Promise<RulesRow[]> {
  const rows: RulesRow[] = [];
  const dir = await mkdtemp(join(tmpdir(), 'kdl-bench-rules-'));
  const freshNs = async () => {
    await sh.run(['ip', 'netns', 'del', NS], { check: false });
    await sh.run(['ip', 'netns', 'add', NS]);
  };
  try {
    for (const services of sizes)
      for (const mode of modes) {
        const topo = servicesTopology(services, endpoints, mode);
        const gen: number[] = [];
        for (let r = 0; r < Math.max(runs, 10); r++) gen.push(await time(() => generate(topo)));
        const text = generate(topo);
        const file = join(dir, `${mode}.${services}`);
        await writeFile(file, text);
        const tool: Tool = mode === 'nftables' ? 'nft' : 'iptables-restore';
        const step = { ns: NS, tool, lines: text.replace(/\n$/, '').split('\n') };
        const raw = ['nsenter', `--net=/run/netns/${NS}`, ...(tool === 'nft' ? ['nft', '-f', file] : ['iptables-restore', file])];
        const m = { install: [] as number[], installFloor: [] as number[], resync: [] as number[], resyncFloor: [] as number[] };
        for (let r = 0; r < runs; r++) {
          // alternate which goes first, so neither always meets a warmer kernel
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
            `  ${services} x ${endpoints} ${mode} run ${r + 1}/${runs}: install ${m.install.at(-1)!.toFixed(3)} s (floor ${m.installFloor.at(-1)!.toFixed(3)} s), re-sync ${m.resync.at(-1)!.toFixed(3)} s (floor ${m.resyncFloor.at(-1)!.toFixed(3)} s)`,
          );
        }
        rows.push({
          services,
          endpoints,
          mode,
          lines: step.lines.length,
          generateMs: round(median(gen) * 1000, 1),
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

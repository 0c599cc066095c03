// npm run bench -- rules [--services 100,1000,5000] [--endpoints 10] [--modes iptables,nftables] [--runs 3] [--mix plain|features]
//
// --mix plain: ClusterIP services, every 10th a NodePort. --mix features: of every 10, one
// NodePort, one LoadBalancer with ETP Local (and its health check port), one with source ranges,
// one with ClientIP affinity, one with an external IP, one with ITP Local, four ClusterIP.
//
// kube-proxy rule generation and installation for S services x E endpoints on one node:
//   generate  topology -> proxy model -> restore text (in process, milliseconds)
//   install   the lab's own path (runtime.applySteps: nsenter + the tool reading stdin) into a
//             node namespace with no rules yet, and a re-sync that replaces the same rules
//   floor     the same text, written to a file beforehand, restored by the bare tool
//             (`nsenter --net=NS iptables-restore FILE` / `nft -f FILE`), same two cases
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Step, Tool } from '../lab/plan/types';
import { iptablesRules } from '../lab/proxy/iptables';
import { proxyModel } from '../lab/model/proxy'; // the bench times the model itself
import { nftablesRules } from '../lab/proxy/nftables';
import { deltaRulesForNodes } from '../lab/proxy/resync';
import { LocalExecutor } from '../lab/runtime/executor';
import { NetnsRuntime } from '../lab/runtime/netns';
import { formatIp, parseIp } from '../lab/topology/ipv4';
import type { ProxyMode, Topology, TopologyService } from '../lab/topology/types';
import { median, round, time } from './measure';

export interface RulesRow {
  services: number;
  endpoints: number;
  mode: ProxyMode;
  mix: Mix;
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

export type Mix = 'plain' | 'features';

/** What service s is in the features mix (see the header). */
function featureOf(s: number): Partial<TopologyService> {
  const ip = (base: string) => formatIp(parseIp(base)! + s);
  switch (s % 10) {
    case 1:
      return { type: 'LoadBalancer', externalLocal: true, loadBalancerIPs: [ip('198.18.0.0')], healthCheckNodePort: 40000 + s };
    case 2:
      return { type: 'LoadBalancer', loadBalancerIPs: [ip('198.18.0.0')], sourceRanges: ['203.0.113.0/25'] };
    case 3:
      return { affinity: { timeoutSeconds: 10800 } };
    case 4:
      return { externalIPs: [ip('198.19.0.0')] };
    case 5:
      return { internalLocal: true };
    default:
      return {};
  }
}

/** S services with E endpoints each (distinct pods, as in a cluster), one node, built in code. */
export function servicesTopology(services: number, endpoints: number, mode: ProxyMode, mix: Mix = 'plain'): Topology {
  const base = parseIp('10.42.0.2')!;
  const pods = Array.from({ length: services * endpoints }, (_, i) => ({
    name: `p${i}`,
    node: 'n1',
    ip: formatIp(base + i),
    labels: { app: `s${Math.floor(i / endpoints)}` },
    ports: [{ port: 8080, protocol: 'TCP' as const }],
  }));
  const svc = Array.from({ length: services }, (_, s): TopologyService => {
    const extra = mix === 'features' ? featureOf(s) : {};
    const type = s % 10 === 0 ? 'NodePort' : (extra.type ?? 'ClusterIP');
    const nodePort = type === 'ClusterIP' ? {} : { nodePort: mix === 'features' ? 30000 + s : 30000 + s / 10 };
    return {
      name: `s${s}`,
      namespace: 'default',
      clusterIP: formatIp(parseIp('10.43.0.10')! + s),
      selector: { app: `s${s}` },
      ...extra,
      type,
      ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' as const, ...nodePort }],
    };
  });
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
  // the features mix's Local policies make the iptables text the node's own, as plan.ts then writes it
  const perNode = model.services.some((sp) => sp.externalLocal || sp.internalLocal || sp.sourceRanges);
  return topo.proxy.mode === 'nftables' ? nftablesRules(model, node) : iptablesRules(model, perNode ? node : undefined);
}

export async function benchRules(
  sizes: number[],
  endpoints: number,
  modes: ProxyMode[],
  runs: number,
  log: (s: string) => void,
  mix: Mix = 'plain',
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
        const topo = servicesTopology(services, endpoints, mode, mix);
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
            `  ${services} x ${endpoints} ${mode} (${mix}) run ${r + 1}/${runs}: install ${m.install.at(-1)!.toFixed(3)} s (floor ${m.installFloor.at(-1)!.toFixed(3)} s), re-sync ${m.resync.at(-1)!.toFixed(3)} s (floor ${m.resyncFloor.at(-1)!.toFixed(3)} s)`,
          );
        }
        rows.push({
          services,
          endpoints,
          mode,
          mix,
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

// npm run bench -- resync [--services 5000] [--endpoints 10] [--modes iptables,nftables] [--runs 3]
//
// The incremental re-sync of `lab apply` (lab/proxy/resync.ts): S services x E endpoints
// installed in a node namespace, then one endpoint changed (a pod's address) and re-synced,
// back and forth:
//   model     both topologies -> proxy models (what `apply` builds anyway, for the pods too)
//   delta     models -> the re-sync batch (which services changed, their rules before and now, the difference)
//   re-sync   the batch applied through the lab's path (nsenter + nft -f - / iptables-restore --noflush)

const RESYNC_NS = 'kdl.bench-resync';

export interface ResyncRow {
  services: number;
  endpoints: number;
  mode: ProxyMode;
  /** the delta's lines */
  lines: number;
  modelMs: number;
  deltaMs: number;
  installSeconds: number;
  resyncSeconds: number;
  /** CPU seconds (user + system) the tool took for one re-sync: what a loaded machine's wall clock hides */
  resyncCpuSeconds: number;
  /** the least the tool costs on this table: one element added (nftables), an empty nat restore (iptables) */
  floorSeconds: number;
  floorCpuSeconds: number;
  runs: number;
}

/** CPU seconds (user + system) of this process's children that have exited (/proc/self/stat cutime + cstime). */
function childCpuSeconds(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is the state (field 3): cutime and cstime are fields 16 and 17, in clock ticks (USER_HZ, 100 on Linux)
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

/** The same topology with one endpoint's pod moved to another address. */
export function oneEndpointChanged(topo: Topology, index: number, ip: string): Topology {
  return { ...topo, pods: topo.pods.map((p, i) => (i === index ? { ...p, ip } : p)) };
}

export async function benchResync(
  sizes: number[],
  endpoints: number,
  modes: ProxyMode[],
  runs: number,
  log: (s: string) => void,
): Promise<ResyncRow[]> {
  const rows: ResyncRow[] = [];
  try {
    for (const services of sizes)
      for (const mode of modes) {
        const a = servicesTopology(services, endpoints, mode);
        // the middle service's first endpoint, to an address no pod has
        const b = oneEndpointChanged(a, Math.floor(services / 2) * endpoints, '10.42.250.1');
        const node = { name: 'n1', ip: a.nodes[0]!.ip };
        const models: number[] = [];
        const deltas: number[] = [];
        let ma = proxyModel(a);
        let mb = proxyModel(b);
        for (let r = 0; r < 10; r++) {
          models.push(
            await time(() => {
              ma = proxyModel(a);
              mb = proxyModel(b);
            }),
          );
          deltas.push(await time(() => deltaRulesForNodes(ma, mb)(node)));
        }
        const tool: Tool = mode === 'nftables' ? 'nft' : 'iptables-restore';
        const stepOf = (lines: string[]): Step => ({
          ns: RESYNC_NS,
          tool,
          lines,
          ...(tool === 'iptables-restore' ? { append: true } : {}),
        });
        const forth = deltaRulesForNodes(ma, mb)(node)[tool]!;
        const back = deltaRulesForNodes(mb, ma)(node)[tool]!;
        await sh.run(['ip', 'netns', 'del', RESYNC_NS], { check: false });
        await sh.run(['ip', 'netns', 'add', RESYNC_NS]);
        // into an empty namespace: without --noflush (iptables-nft's --noflush restore of 200,000 new rules takes minutes)
        const install = await time(() => rt.applySteps([{ ns: RESYNC_NS, tool, lines: generate(a).replace(/\n$/, '').split('\n') }]));
        log(`  ${services} x ${endpoints} ${mode}: installed in ${install.toFixed(1)} s`);
        const resync: number[] = [];
        const cpu: number[] = [];
        const floor: number[] = [];
        const floorCpu: number[] = [];
        const timed = async (lines: string[], wall = resync, used = cpu) => {
          const c0 = childCpuSeconds();
          wall.push(await time(() => rt.applySteps([stepOf(lines)])));
          used.push(childCpuSeconds() - c0);
        };
        // nft fetches the table's chains for any rule or element command; iptables-restore reads the table it restores
        const [floorIn, floorOut] =
          tool === 'nft'
            ? [['add element ip kube-proxy cluster-ips { 10.43.255.254 }'], ['delete element ip kube-proxy cluster-ips { 10.43.255.254 }']]
            : [
                ['*nat', 'COMMIT'],
                ['*nat', 'COMMIT'],
              ];
        for (let r = 0; r < runs; r++) {
          await timed(floorIn, floor, floorCpu);
          await timed(floorOut, floor, floorCpu);
          await timed(forth);
          await timed(back);
          log(
            `  ${services} x ${endpoints} ${mode} run ${r + 1}/${runs}: re-sync ${resync.at(-2)!.toFixed(3)} s, back ${resync.at(-1)!.toFixed(3)} s`,
          );
        }
        rows.push({
          services,
          endpoints,
          mode,
          lines: forth.length,
          modelMs: round(median(models) * 1000, 1),
          deltaMs: round(median(deltas) * 1000, 1),
          installSeconds: round(install, 1),
          resyncSeconds: round(median(resync)),
          resyncCpuSeconds: round(median(cpu), 2),
          floorSeconds: round(median(floor)),
          floorCpuSeconds: round(median(floorCpu), 2),
          runs,
        });
      }
  } finally {
    await sh.run(['ip', 'netns', 'del', RESYNC_NS], { check: false });
  }
  return rows;
}

import { parseCidr } from '../topology/ipv4';
import { type LabPlanStream, type Phase, type PhaseStream, type Step, streamOf } from '../plan/types';
import type { Topology, TopologyPod } from '../topology/types';
import {
  HOST_TUNNEL_PORT,
  hostSelf,
  hostTunnelName,
  hostTunnelVni,
  labNamespace,
  labNamespaceOn,
  macFor,
  nodeNamespace,
  podNamespace,
  segmentBridgeName,
  underlayPortName,
} from '../model/kernel-names';
import { cniKind } from './cni';

// Topology → what to build, as data. Pure: no process is started here.
//
// Order of application: the namespaces (one `ip -batch`, lab namespace first), then phases in
// order; the steps of one phase are independent and may run in parallel.
//   hosts       (labs over several hosts only) each host's underlay tunnel, made in the host's
//               own namespace and moved into the lab's
//   links       one `ip -batch` inside the lab namespace creates the underlay segments and
//               every veth pair, placing both ends straight into node and pod namespaces
//               (`link add X netns A ... peer name eth0 netns B`), so no link ever appears
//               in the host's own namespace
//   configure   per node: sysctls and one `ip -batch`; per pod: one `ip -batch`
//   neighbours  per node: one `bridge -batch` of fdb entries (needs flannel.<vni> to exist)
//   (lab/plan composes these with kube-proxy's phases: ipsets, proxy, rules — lab/proxy/plan.ts)

/** Every namespace of the lab, lab namespace(s) first, then nodes, then pods: what `up` creates and `status` expects. */
export function planNamespaces(topo: Topology): string[] {
  const lab = topo.name;
  const labNamespaces = topo.hosts.length > 1 ? topo.hosts.map((h) => labNamespaceOn(lab, h.name)) : [labNamespace(lab)];
  return [
    ...labNamespaces,
    ...topo.nodes.map((n) => nodeNamespace(lab, n.name)),
    ...topo.pods.map((p) => podNamespace(lab, p.node, p.name)),
  ];
}

/**
 * The network's share of the plan: namespaces, links, addresses, routes, bridges, tunnels. The
 * configure and neighbours phases are streams: their steps are made when applied.
 */
export function streamNetwork(topo: Topology): LabPlanStream {
  const lab = topo.name;
  const labNs = labNamespace(lab);
  const { cluster } = topo;
  const cni = cniKind(topo);
  const mac = (ns: string, ifname: string) => macFor(lab, ns, ifname);
  const nodeNs = (n: string) => nodeNamespace(lab, n);

  const multiHost = topo.hosts.length > 1;
  const namespaces = planNamespaces(topo);

  // --- links: segments with their gateways, then every veth pair -------------------------
  // (with several hosts: one underlay namespace per host, the segment stretched between them)
  const hostSteps: Step[] = [];
  const labSteps: Step[] = [];
  const underlayOn = (host: string | undefined, first: boolean) => {
    const ns = labNamespaceOn(lab, host);
    const links: string[] = ['link set lo up'];
    cluster.underlay.forEach((seg, i) => {
      const br = segmentBridgeName(i);
      links.push(`link add ${br} address ${mac(ns, br)} type bridge`, `link set ${br} addrgenmode none`);
      // the gateway exists once on the stretched segment: on the first host
      if (first) links.push(`addr add ${seg.gateway}/${parseCidr(seg.cidr)!.prefix} dev ${br}`);
      links.push(`link set ${br} up`);
    });
    for (const n of topo.nodes.filter((x) => !multiHost || x.host === host)) {
      const port = underlayPortName(lab, n.name);
      const br = segmentBridgeName(cluster.underlay.findIndex((s) => s.cidr === n.underlay));
      links.push(
        `link add ${port} address ${mac(labNs, port)} type veth peer name eth0 netns ${nodeNs(n.name)} address ${mac(nodeNs(n.name), 'eth0')}`,
        `link set ${port} addrgenmode none`,
        `link set ${port} master ${br} up`,
      );
    }
    // The lab namespace routes between segments (if there are several) but has no uplink and
    // no default route: a packet for anywhere else is dropped here and never leaves the lab.
    labSteps.push({ ns, tool: 'sysctl', lines: [`net.ipv4.ip_forward=${cluster.underlay.length > 1 ? 1 : 0}`] });
    if (host && multiHost) {
      // The tunnel is made in the host's own namespace (its UDP socket stays there, on the
      // host's network) and moved into the lab's; every peer host gets a flood entry.
      const tun = hostTunnelName(lab);
      const self = topo.hosts.find((h) => h.name === host)!;
      hostSteps.push({
        ns: hostSelf(host),
        tool: 'ip',
        lines: [
          `link add ${tun} address ${mac(ns, tun)} type vxlan id ${hostTunnelVni(lab)} local ${self.address} dstport ${HOST_TUNNEL_PORT}`,
          `link set ${tun} netns ${labNs}`,
        ],
      });
      // mtu 1500: the nodes' eth0 frames cross whole (the host network carries 1550-byte packets, or fragments them)
      links.push(`link set ${tun} addrgenmode none`, `link set ${tun} mtu 1500 master ${segmentBridgeName(0)} up`);
      const peers = topo.hosts.filter((h) => h.name !== host).map((h) => `fdb append 00:00:00:00:00:00 dev ${tun} dst ${h.address}`);
      labSteps.push({ ns, tool: 'ip', lines: links }, { ns, tool: 'bridge', lines: peers });
    } else labSteps.push({ ns, tool: 'ip', lines: links });
  };
  if (multiHost) topo.hosts.forEach((h, i) => underlayOn(h.name, i === 0));
  else underlayOn(undefined, true);
  labSteps.push(...podLinkSteps(topo, topo.pods));

  // --- configure: nodes (eth0 and its default route here, the pod network from the CNI kind),
  // then pods; made node by node as they are applied (a node's batch names every other node)
  function* configure(): Generator<Step> {
    for (const n of topo.nodes) {
      const ns = nodeNs(n.name);
      const segPrefix = parseCidr(n.underlay)!.prefix;
      const own = cni.node(topo, n);
      const ip: string[] = [
        'link set lo up',
        'link set eth0 addrgenmode none',
        'link set eth0 up',
        `addr add ${n.ip}/${segPrefix} dev eth0`,
        // A real node has a default route; this one points at the lab's own gateway (no uplink).
        `route add default via ${n.gateway} dev eth0`,
        ...own.ip,
      ];
      yield { ns, tool: 'sysctl', lines: ['net.ipv4.ip_forward=1', ...own.sysctls] };
      yield { ns, tool: 'ip', lines: ip };
    }
    for (const p of topo.pods) yield podConfigure(topo, p);
  }
  function* neighbours(): Generator<Step> {
    for (const n of topo.nodes) {
      const fdb = cni.fdb(topo, n);
      if (fdb.length) yield { ns: nodeNs(n.name), tool: 'bridge', lines: fdb };
    }
  }

  const phases: PhaseStream[] = [
    ...(hostSteps.length ? [streamOf({ name: 'hosts', steps: hostSteps })] : []),
    streamOf({ name: 'links', steps: labSteps }),
    { name: 'configure', steps: configure },
  ];
  // (stops at the first node with fdb entries: all have them, or none)
  if (topo.nodes.some((n) => cni.fdb(topo, n).length)) phases.push({ name: 'neighbours', steps: neighbours });
  return { lab, namespaces, phases };
}

// --- one pod's share of the plan: `up` uses it for every pod, `apply` for pods added later ----

/**
 * Each pod's veth pair, created in its node's namespace with the pod's end placed in the pod's:
 * one step per node. A node only ever names its own pods' namespaces, so this works wherever
 * the node's pods live beside it (on this host, or inside a node container).
 */
function podLinkSteps(topo: Topology, pods: readonly TopologyPod[]): Step[] {
  const lab = topo.name;
  const cni = cniKind(topo);
  const byNode = new Map<string, string[]>();
  for (const p of pods) {
    const veth = cni.hostVeth(topo, p);
    const ns = nodeNamespace(lab, p.node);
    const pns = podNamespace(lab, p.node, p.name);
    const line = `link add ${veth.name} address ${veth.mac} type veth peer name eth0 netns ${pns} address ${macFor(lab, pns, 'eth0')}`;
    byNode.set(ns, [...(byNode.get(ns) ?? []), line]);
  }
  return [...byNode].map(([ns, lines]): Step => ({ ns, tool: 'ip', lines }));
}

function podConfigure(topo: Topology, p: TopologyPod): Step {
  return { ns: podNamespace(topo.name, p.node, p.name), tool: 'ip', lines: cniKind(topo).pod(topo, p) };
}

/** Pods added to a running lab: their namespaces, then the same steps `up` would have run for them. */
export function planPods(topo: Topology, pods: readonly TopologyPod[]): { namespaces: string[]; phases: Phase[] } {
  const lab = topo.name;
  const cni = cniKind(topo);
  const nodeSide = new Map<string, string[]>();
  const nodeSysctls = new Map<string, string[]>();
  for (const p of pods) {
    const port = cni.port(topo, p);
    nodeSide.set(p.node, [...(nodeSide.get(p.node) ?? []), ...port.ip]);
    if (port.sysctls.length) nodeSysctls.set(p.node, [...(nodeSysctls.get(p.node) ?? []), ...port.sysctls]);
  }
  return {
    namespaces: pods.map((p) => podNamespace(lab, p.node, p.name)),
    phases: [
      { name: 'links', steps: podLinkSteps(topo, pods) },
      {
        name: 'configure',
        steps: [
          ...[...nodeSysctls].map(([node, lines]): Step => ({ ns: nodeNamespace(lab, node), tool: 'sysctl', lines })),
          ...[...nodeSide].map(([node, lines]): Step => ({ ns: nodeNamespace(lab, node), tool: 'ip', lines })),
          ...pods.map((p) => podConfigure(topo, p)),
        ],
      },
    ],
  };
}

/**
 * Pods about to be made again under the same name (moved or readdressed by `apply`): the node
 * side of each veth deleted first. Deleting the pod's namespace alone leaves the kernel to destroy
 * the pair later, in its namespace cleanup, and the new veth of the same name can then meet the
 * old one ("RTNETLINK answers: File exists"); `link del` takes both ends at once.
 */
export function planPodUnplug(topo: Topology, pods: readonly TopologyPod[]): Step[] {
  const cni = cniKind(topo);
  const byNode = new Map<string, string[]>();
  for (const p of pods) byNode.set(p.node, [...(byNode.get(p.node) ?? []), `link del ${cni.hostVeth(topo, p).name}`]);
  return [...byNode].map(([node, lines]): Step => ({ ns: nodeNamespace(topo.name, node), tool: 'ip', lines }));
}

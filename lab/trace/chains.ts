import { nodeNamespace } from '../model/kernel-names';
import { planProxy } from '../proxy/plan';
import { usesFirewall } from '../model/proxy';
import { nftEndpointChain, nftExternalChain, nftFirewallChain, nftLocalChain, nftServiceChain, TABLE_NAME } from '../proxy/nftables';
import type { Topology } from '../topology/types';
import { type Hook, parseRestore, type Ruleset, traceChain, traceHook, type TracePacket } from './iptables-tracer';
import type { Destination, ExpectedWalk, Probe, Source } from './path';

// The chains a node's rules should send the probe through, from the rules the lab generated:
// iptables and IPVS mode by tracing the node's iptables-restore text (iptables-tracer.ts), in
// nftables mode from kube-proxy's chain layout (firewall check, services → service-… → endpoint-…,
// the filter checks, masquerading). Compared with what `nft monitor trace` saw, in order; chains
// the kernel adds on top are allowed.

export function expectedChains(
  topo: Topology,
  node: string,
  walk: ExpectedWalk,
  src: Source,
  dest: Destination,
  probe: Probe,
  /** the nodes' bridge-nf-call-iptables (br_netfilter): a pod's packet then came in over a bridge port (`-m physdev --physdev-is-in`) */
  bridgeNetfilter?: boolean,
): string[] | undefined {
  if (probe.protocol === 'icmp' || dest.kind !== 'service' || walk.dnat?.node !== node) return undefined;
  const local = src.kind === 'node' && src.node.name === node; // the node's own packet: output hook
  const sp = dest.service;
  if (topo.proxy.mode === 'nftables') {
    // kube-proxy's layout (lab/proxy/nftables.ts): the firewall check before DNAT, the nat
    // chains, then at filter priority the no-endpoint and cluster-IP checks (entered by every
    // new connection, whatever they find), masquerading last. The endpoint pod is never the node
    // itself, so the DNATed packet takes the forward hook, or output when the node sent it.
    const t = TABLE_NAME;
    return [
      `${t} ${local ? 'filter-output-pre-dnat' : 'filter-prerouting-pre-dnat'}`,
      'firewall-check',
      // loadBalancerSourceRanges: firewall-ips sends a LoadBalancer IP's packet through firewall-… first
      ...(dest.via === 'external' && usesFirewall(sp) && sp.loadBalancerIPs?.includes(dest.ip) ? [nftFirewallChain(sp)] : []),
      `${t} ${local ? 'nat-output' : 'nat-prerouting'}`,
      'services',
      ...(dest.via !== 'clusterIP'
        ? sp.externalLocal
          ? // Local: a pod is short-circuited to the service chain, the node itself too (masqueraded),
            // anyone else goes to this node's endpoints (local-…) with its address kept
            src.kind === 'pod'
            ? [nftExternalChain(sp), nftServiceChain(sp)]
            : local
              ? [nftExternalChain(sp), 'mark-for-masquerade', nftServiceChain(sp)]
              : [nftExternalChain(sp), nftLocalChain(sp)]
          : [nftExternalChain(sp), 'mark-for-masquerade', nftServiceChain(sp)]
        : [sp.internalLocal ? nftLocalChain(sp) : nftServiceChain(sp)]),
      ...(local && dest.via === 'clusterIP' ? ['mark-for-masquerade'] : []),
      nftEndpointChain(sp, dest.endpoint),
      `${t} ${local ? 'filter-output' : 'filter-forward'}`,
      'service-endpoints-check',
      'cluster-ips-check',
      `${t} nat-postrouting`,
      'masquerading',
    ];
  }
  if (topo.proxy.mode !== 'iptables' && topo.proxy.mode !== 'ipvs') return undefined;
  const ns = nodeNamespace(topo.name, node);
  const steps = planProxy(topo, {})
    .flatMap((p) => p.steps)
    .filter((s) => s.ns === ns);
  // each batch as iptables-restore reads it: a whole table replaced, or added to (--noflush)
  const batches = steps.filter((s) => s.tool === 'iptables-restore');
  if (!batches.length) return undefined;
  let rules: Ruleset | undefined;
  for (const b of batches) rules = parseRestore(b.lines.join('\n'), b.append ? rules : undefined);
  const ipsets: Record<string, string[]> = {};
  for (const s of steps.filter((x) => x.tool === 'ipset'))
    for (const line of s.lines) {
      // every set created, members or not: kube-proxy's filter rules match on empty ones too
      const c = /^create (\S+) /.exec(line);
      if (c) ipsets[c[1]!] ??= [];
      const m = /^add (\S+) (\S+)/.exec(line);
      if (m) (ipsets[m[1]!] ??= []).push(m[2]!);
    }
  const n = topo.nodes.find((x) => x.name === node)!;
  const ctx = {
    localAddresses: [
      n.ip,
      ...[n.cni0, n.vtep, n.tunnel].filter((a): a is string => a !== undefined),
      '127.0.0.1',
      ...(topo.proxy.mode === 'ipvs'
        ? topo.services.flatMap((s) => [s.clusterIP, ...(s.externalIPs ?? []), ...(s.loadBalancerIPs ?? [])])
        : []),
    ],
    ipsets,
    preferDestination: `${dest.endpoint.ip}:${dest.endpoint.port}`,
    // a packet of this node's pods comes in over cni0's ports, seen by the IP hooks as such with
    // br_netfilter; anyone else's (another node, @lab) over eth0 or the tunnel, never a bridge port
    ...(src.kind === 'pod' && src.pod.node === node
      ? bridgeNetfilter === undefined
        ? {}
        : { bridgedIn: bridgeNetfilter }
      : { bridgedIn: false }),
  };
  const pkt: TracePacket = {
    src: src.kind === 'pod' ? src.pod.ip : src.kind === 'lab' ? topo.cluster.underlay.find((u) => u.cidr === n.underlay)!.gateway : n.ip,
    dst: dest.via === 'clusterIP' ? sp.clusterIP : dest.via === 'external' ? dest.ip : dest.node.ip,
    protocol: probe.protocol,
    ...(probe.srcport !== undefined ? { srcport: probe.srcport } : {}),
    dstport: dest.via === 'nodePort' ? sp.nodePort! : sp.port,
  };
  // IPVS: the packet is for a local address (kube-ipvs0) and goes up to INPUT, where IPVS takes
  // it and sends it on, DNATed, through LOCAL_OUT ('ipvs-out': the filter table's OUTPUT only, as
  // the connection's NAT was set up at PREROUTING) to POSTROUTING
  const ipvs = topo.proxy.mode === 'ipvs';
  const hooks: (Hook | 'ipvs-out')[] = local
    ? ['output', 'postrouting']
    : ipvs
      ? ['prerouting', 'input', 'ipvs-out', 'postrouting']
      : ['prerouting', 'forward', 'postrouting'];
  const chains: string[] = [];
  let p = pkt;
  for (const hook of hooks) {
    // IPVS rewrites the destination between INPUT and the way out
    if ((hook === 'ipvs-out' || hook === 'postrouting') && ipvs)
      p = {
        ...p,
        dst: dest.endpoint.ip,
        dstport: dest.endpoint.port,
        ipvs: p.ipvs ?? { vaddr: pkt.dst, vproto: pkt.protocol, vport: pkt.dstport! },
      };
    if (hook === 'ipvs-out' && !rules!.get('filter')?.has('OUTPUT')) continue;
    const r = hook === 'ipvs-out' ? traceChain(rules!, 'filter', 'OUTPUT', p, ctx) : traceHook(rules!, hook, p, ctx);
    chains.push(...r.chains.filter((c) => entered(rules!, c)));
    p = r.packet;
  }
  return chains;
}

/** iptables-nft makes a built-in chain ("nat INPUT") only once it holds a rule: an empty one is never entered. */
function entered(rules: Ruleset, chain: string): boolean {
  const [table, base] = chain.split(' ');
  return base === undefined || (rules.get(table!)?.get(base)?.rules.length ?? 0) > 0;
}

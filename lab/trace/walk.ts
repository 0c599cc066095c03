import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../errors';
import { labNamespace, nodeNamespace, podNamespace } from '../model/kernel-names';
import { readPcapFile, vxlanPortsWith } from '../pcap';
import { CAPTURE_READY_MS, type RunningCapture, startCapture } from '../probe/capture';
import { parseAttempt } from '../probe/connect';
import { abortError } from '../runtime/executor';
import type { Runtime } from '../runtime/runtime';
import type { LabNames } from '../model/names';
import { modelOf } from '../model/lab';
import { policyView, proxyNodes } from '../model/proxy';
import { nodePortTargets } from '../proxy/iptables';
import { lbRoutes } from '../proxy/lb-routes';
import { parseIp } from '../topology/ipv4';
import type { Topology } from '../topology/types';
import { expectedChains } from './chains';
import { dnsStep } from './dns-step';
import { type NameLookup, nameTarget } from '../probe/resolve';
import { type MonitorEvent, type NodeTrace, nodeRules, packetFields, startNodeTrace } from './nftrace';
import { changesBetween, differences, headersOf, isProbePacket, probeCopies } from './observe';
import { type Destination, type ExpectedWalk, expectedWalk, type Probe, type Source } from './path';
import { POLICY_TABLE } from '../policy/compile';
import type { NodeRules, Walk, WalkHeaders, WalkHop } from './types';

// `lab trace <from> <to>`: one probe packet, captured at every point it may pass (each node's
// cni0, flannel.<vni> and eth0, the source and every possible endpoint), traced through each
// node's netfilter hooks, and set against the walk the topology and rules predict.

export interface TraceRequest {
  from: string;
  /** `<pod>`, `<ip>` (ICMP echo), `<pod|ip>:<port>`, `service:<name>[:port]`, `nodeport:<svc>@<node>`, `<DNS name>:<port>` */
  to: string;
  protocol?: 'tcp' | 'udp' | 'icmp';
  /** how long the probe waits for its answer, seconds (default 2); a pair already known to be
   *  dropped needs no more than its first packet's walk */
  waitS?: number;
}

interface Resolved {
  src: Source;
  fromNs: string;
  probe: Probe;
  target: { ip: string; port?: number };
  /** one per place the packet may end (a service: each endpoint) */
  candidates: Destination[];
  /** the target was a name: resolved in the pod first (the walk's DNS step) */
  dns?: NameLookup;
}

export function resolveTrace(topo: Topology, names: LabNames, req: TraceRequest, rand: () => number = Math.random): Resolved {
  const from = req.from.replace(/^(pod|node):/, '');
  const pod = topo.pods.find((p) => p.name === from);
  const node = topo.nodes.find((n) => n.name === from);
  const outside = from === '@lab';
  if (!pod && !node && !outside)
    throw InputError.of(
      'from',
      '',
      `no pod or node '${req.from}' in lab ${topo.name} (pods: ${topo.pods.map((p) => p.name).join(', ')}; nodes: ${topo.nodes.map((n) => n.name).join(', ')}; or @lab, a client outside the cluster)`,
    );
  const src: Source = pod ? { kind: 'pod', pod } : node ? { kind: 'node', node } : { kind: 'lab' };
  const fromNs = pod ? podNamespace(topo.name, pod.node, pod.name) : node ? nodeNamespace(topo.name, node.name) : labNamespace(topo.name);
  const srcport = 40000 + Math.floor(rand() * 20000);
  const icmpId = 1 + Math.floor(rand() * 65000);

  const podAt = (ip: string) => topo.pods.find((p) => p.ip === ip);
  const bare = req.to.replace(/^pod:/, '');
  const hasPort = /^service:|^nodeport:|:\d+$/.test(req.to);
  if (!hasPort && req.protocol !== 'tcp' && req.protocol !== 'udp') {
    const ip = names.ip(bare);
    const q = ip ? podAt(ip) : undefined;
    if (!ip || !q)
      throw InputError.of(
        'to',
        '',
        `'${req.to}' is not a pod of lab ${topo.name} (an ICMP trace goes to a pod; give <service|ip>:<port> for TCP)`,
      );
    if (outside) throw InputError.of('to', '', `from @lab (outside the cluster) pods are not reachable: trace to a node port`);
    return { src, fromNs, probe: { protocol: 'icmp', icmpId }, target: { ip }, candidates: [{ kind: 'pod', pod: q }] };
  }
  if (req.protocol === 'icmp') throw InputError.of('to', '', `an ICMP trace has no port: '${req.to}'`);
  const proto = req.protocol === 'udp' ? 'UDP' : 'TCP';
  const named = hasPort ? nameTarget(names, req.from, req.to, proto) : undefined;
  const t = named ?? names.target(hasPort ? req.to : `${bare}:80`, proto);
  if (typeof t === 'string') throw InputError.of('to', '', t);
  const dns = named && typeof named !== 'string' ? named.dns : undefined;
  const protocol = t.protocol === 'UDP' ? 'udp' : 'tcp';
  const probe: Probe = { protocol, srcport, dstport: t.port };
  const target = { ip: t.ip, port: t.port };
  const route = lbRoutes(topo).find((r) => r.ip === t.ip);
  if (outside && !topo.nodes.some((n) => n.ip === t.ip) && !route)
    throw InputError.of(
      'to',
      '',
      `from @lab (outside the cluster) only the nodes' addresses (a node port, e.g. nodeport:<service>@<node>) and LoadBalancer or external IPs are reachable, not ${t.ip}`,
    );
  if (t.service) {
    const svc = t.service;
    const external = svc.clusterIP !== t.ip && (svc.loadBalancerIPs?.includes(t.ip) || svc.externalIPs?.includes(t.ip));
    // a LoadBalancer or external IP reaches the node @lab routes it to (from inside: the same rules
    // on the source's own node would take it first; only @lab's walk is modelled)
    if (external && !outside) throw InputError.of('to', '', `a trace to a LoadBalancer or external IP starts at @lab (the client outside)`);
    const nodeName = external ? route?.node : (t.node ?? topo.nodes.find((n) => names.addressesOf(n.name).includes(t.ip))?.name);
    const via = svc.clusterIP === t.ip ? 'clusterIP' : external ? 'external' : 'nodePort';
    if (!svc.endpoints.length) throw InputError.of('to', '', `service ${svc.id} has no endpoints: nothing would answer`);
    // kube-proxy's --nodeport-addresses: a node address it leaves out gets no node port rules
    const pn = via === 'nodePort' ? proxyNodes(topo).find((n) => n.name === nodeName) : undefined;
    const answering = pn ? nodePortTargets(modelOf(topo).proxy, pn) : 'all';
    if (answering !== 'all' && !answering.includes(t.ip))
      throw InputError.of(
        'to',
        '',
        `node ports of ${nodeName} answer on ${answering.join(', ') || 'no address'} (proxy.nodePortAddresses), not on ${t.ip}: kube-proxy has no rule for it there`,
      );
    // a Local traffic policy: the node that DNATs picks among its own endpoints only (pods and
    // the node itself are short-circuited to all endpoints for a node port, as kube-proxy does)
    const dnatNode = via === 'clusterIP' ? (src.kind === 'pod' ? src.pod.node : src.kind === 'node' ? src.node.name : undefined) : nodeName;
    const localOnly =
      via === 'clusterIP'
        ? svc.internalLocal === true
        : svc.externalLocal === true && src.kind !== 'pod' && !(src.kind === 'node' && src.node.name === nodeName);
    const endpoints = localOnly ? policyView(svc, dnatNode).local : svc.endpoints;
    if (!endpoints.length)
      throw InputError.of(
        'to',
        '',
        `service ${svc.id} has no endpoint on ${dnatNode} and a Local traffic policy: kube-proxy drops it there`,
      );
    const node = topo.nodes.find((n) => n.name === nodeName)!;
    const candidates: Destination[] = endpoints.map((endpoint) =>
      via === 'clusterIP'
        ? { kind: 'service', service: svc, endpoint, via }
        : via === 'external'
          ? { kind: 'service', service: svc, endpoint, via, ip: t.ip, node }
          : { kind: 'service', service: svc, endpoint, via, node },
    );
    return { src, fromNs, probe, target, candidates, ...(dns ? { dns } : {}) };
  }
  const q = podAt(t.ip);
  if (!q) throw InputError.of('to', '', `${t.ip}:${t.port} is neither a pod nor a service of lab ${topo.name}`);
  return { src, fromNs, probe, target, candidates: [{ kind: 'pod', pod: q }], ...(dns ? { dns } : {}) };
}

export function probeArgv(probe: Probe, target: { ip: string; port?: number }, waitS = 2): { argv: string[]; input: string } {
  if (parseIp(target.ip) === undefined) throw InputError.of('to', '', `not an IPv4 address: ${target.ip}`);
  if (!Number.isInteger(waitS) || waitS < 1 || waitS > 60) throw InputError.of('wait', '', `must be 1..60 s: ${waitS}`);
  const w = String(waitS);
  if (probe.protocol === 'icmp') return { argv: ['ping', '-n', '-c', '1', '-W', w, '-e', String(probe.icmpId), target.ip], input: '' };
  const addr = `${probe.protocol.toUpperCase()}:${target.ip}:${target.port},sourceport=${probe.srcport}${probe.protocol === 'tcp' ? `,connect-timeout=${w}` : ''}`;
  return { argv: ['socat', '-T', w, 'STDIO', addr], input: probe.protocol === 'udp' ? 'probe\n' : '' };
}

/** The pcap of a point, in the walk's folder: `@lab:underlay0` → lab_underlay0.pcap */
const pcapOf = (point: string) => `${point.replace(/^@/, '').replace(/[^A-Za-z0-9.-]+/g, '_')}.pcap`;

export async function traceWalk(
  rt: Runtime,
  topo: Topology,
  names: LabNames,
  req: TraceRequest,
  dir: string,
  rand?: () => number,
  /** aborted (a run interrupted): what started is stopped and the walk rejects with its reason */
  signal?: AbortSignal,
): Promise<Walk> {
  let r = resolveTrace(topo, names, req, rand);
  mkdirSync(dir, { recursive: true });
  // a name: the pod's resolver first, captured on the way (the walk's DNS step); the packet then
  // goes where it answered (a headless service's pods: the first address it gave)
  const dns = r.dns && r.src.kind === 'pod' ? await dnsStep(rt, topo, r.src.pod, r.fromNs, r.dns, dir, signal) : undefined;
  const answered = dns?.addresses.find((a) => r.dns!.expected.addresses.includes(a));
  if (dns && answered && answered !== r.target.ip) {
    const probe = r.probe;
    r = { ...resolveTrace(topo, names, { ...req, to: `${answered}:${r.target.port}` }, rand), probe, dns: r.dns! };
  }
  // br_netfilter decides whether cni0 sees a pod's packet before or after DNAT: ask the kernel
  const dest0 = r.candidates[0]!;
  // (from outside: the node port's node is the first a pod-bound packet meets)
  const srcNode =
    r.src.kind === 'pod'
      ? r.src.pod.node
      : r.src.kind === 'node'
        ? r.src.node.name
        : dest0.kind === 'service' && dest0.via !== 'clusterIP'
          ? dest0.node.name
          : topo.nodes[0]!.name;
  const bnf = await rt.run(nodeNamespace(topo.name, srcNode), ['cat', '/proc/sys/net/bridge/bridge-nf-call-iptables'], { check: false });
  const bridgeNetfilter = bnf.code === 0 && bnf.stdout.trim() === '1';
  const walks = r.candidates.map((d) => ({ dest: d, walk: expectedWalk(topo, r.src, d, r.probe, { bridgeNetfilter }) }));

  // every point any candidate passes, once
  const points = new Map<string, { owner: string; ownerKind: 'pod' | 'node' | 'lab'; iface: string; ns: string }>();
  for (const { walk } of walks)
    for (const h of walk.hops) {
      const pod = h.ownerKind === 'pod' ? topo.pods.find((p) => p.name === h.owner)! : undefined;
      const ns = pod
        ? podNamespace(topo.name, pod.node, pod.name)
        : h.ownerKind === 'lab'
          ? labNamespace(topo.name)
          : nodeNamespace(topo.name, h.owner);
      points.set(h.point, { owner: h.owner, ownerKind: h.ownerKind, iface: h.interface, ns });
    }
  const nodes = [...new Set(walks.flatMap(({ walk }) => walk.hops.filter((h) => h.ownerKind === 'node').map((h) => h.owner)))];
  if (r.src.kind === 'node' && !nodes.includes(r.src.node.name)) nodes.unshift(r.src.node.name);

  mkdirSync(dir, { recursive: true });
  // the underlay's VXLAN port: flannel's (8472 by default) or vxlan.calico's (4789); Calico's
  // tunl0 sends IP-in-IP (IP protocol 4), which a filter on the probe's protocol would miss
  const vxlanPort = topo.cluster.calico?.port ?? topo.cluster.port;
  const encap = topo.cluster.calico?.mode === 'ipip' ? 'ip proto 4' : `udp port ${vxlanPort}`;
  const filter = `${r.probe.protocol} or ${encap}`;
  const captures = new Map<string, RunningCapture>();
  const traces: NodeTrace[] = [];
  const { argv, input } = probeArgv(r.probe, r.target, req.waitS);
  let output = '';
  let traced: { node: string; events: MonitorEvent[]; hooks: Map<string, string> }[] = [];
  try {
    // all settled before going on: whatever did start is in `captures`/`traces` for `finally`
    const started = await Promise.allSettled([
      ...[...points].map(async ([point, p]) =>
        captures.set(
          point,
          await startCapture(rt, { ns: p.ns, iface: p.iface, filter, file: join(dir, pcapOf(point)) }, CAPTURE_READY_MS, signal),
        ),
      ),
      ...nodes.map(async (n) =>
        traces.push(await startNodeTrace(rt, n, nodeNamespace(topo.name, n), r.probe.protocol, CAPTURE_READY_MS, signal)),
      ),
    ]);
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    const res = await rt.run(r.fromNs, argv, { input, check: false, timeoutMs: 10_000, ...(signal ? { signal } : {}) });
    output = res.stdout + res.stderr;
  } finally {
    // stopped whatever happened: tcpdump and nft monitor must not outlive the trace
    await Promise.all([...captures.values()].map((c) => c.stop().catch(() => undefined)));
    traced = await Promise.all(traces.map(async (t) => ({ node: t.node, ...(await t.stop()) })));
  }
  // interrupted: the walk is not followed on what was half seen
  if (signal?.aborted) throw abortError(signal);

  const ports = vxlanPortsWith(vxlanPort);
  const packets = new Map(
    [...points.keys()].map((point) => [point, readPcapFile(join(dir, pcapOf(point)), { vxlanPorts: ports }).packets]),
  );

  // the probe's IP id: its first packet as the source sent it, else the source node's trace
  const first = walks[0]!.walk.hops[0]!.point;
  let ipId = packets
    .get(first)!
    .map(headersOf)
    .find((h) => h && isProbePacket(h, r.probe))?.ip.id;
  if (ipId === undefined) {
    const own = traced.find((t) => r.src.kind === 'node' && t.node === r.src.node.name);
    for (const e of own?.events ?? []) {
      const f = packetFields(e.text ?? '');
      if (
        e.kind === 'packet' &&
        f.id !== undefined &&
        (r.probe.protocol === 'icmp' ? f.icmpId === r.probe.icmpId : f.srcport === r.probe.srcport)
      ) {
        ipId = f.id;
        break;
      }
    }
  }
  // each point's copies of the probe's packet, found once
  const found = new Map([...packets].map(([point, pkts]) => [point, ipId === undefined ? [] : probeCopies(pkts, r.probe.protocol, ipId)]));
  const copies = (point: string) => found.get(point) ?? [];

  // the candidate whose last point saw the packet (a service: the endpoint the proxy chose)
  const reply = /pod=\S+/.test(output) ? parseAttempt(`0\t${output}`) : undefined;
  // its last point saw the packet for that endpoint (the source pod's own eth0 also holds the
  // packet it sent: the copy that counts is the last one expected there, with the endpoint's address)
  const seenAtEnd = (w: ExpectedWalk) => {
    const last = w.hops.at(-1)!;
    const k = w.hops.filter((h) => h.point === last.point).length - 1;
    return copies(last.point)[k]?.headers.ip.dst === last.headers.ip.dst;
  };
  const chosen = walks.find(({ walk }) => seenAtEnd(walk)) ?? walks.find(({ walk }) => walk.reached === reply?.pod) ?? walks[0]!;

  const occurrence = new Map<string, number>();
  const hops: WalkHop[] = [];
  // a node's own packet is first seen by its output hook: the changes at the first point start there
  let prev: WalkHeaders | undefined =
    r.src.kind === 'node' ? sentByNode(traced.find((t) => t.node === srcNode)?.events ?? [], ipId, r.probe.protocol) : undefined;
  const show = (v: string) => {
    const n = names.nameOf(v);
    return n ? `${v} (${n})` : v;
  };
  for (const e of chosen.walk.hops) {
    const k = occurrence.get(e.point) ?? 0;
    occurrence.set(e.point, k + 1);
    const seen = copies(e.point)[k];
    const observed = seen?.headers;
    const diff = observed ? differences(e.headers, observed, show) : ['not seen here'];
    const cur = observed ?? e.headers;
    hops.push({
      point: e.point,
      owner: e.owner,
      ownerKind: e.ownerKind,
      interface: e.interface,
      expected: e.headers,
      ...(observed ? { observed } : {}),
      changes: changesBetween(prev, cur),
      differences: diff,
      pcap: pcapOf(e.point),
      ...(seen ? { frame: seen.frame } : {}),
    });
    prev = cur;
  }
  // seen where the lab did not expect it: another endpoint's path, a wrong route
  const expectedPoints = new Set(chosen.walk.hops.map((h) => h.point));
  for (const [point, p] of points) {
    const seen = copies(point)[0];
    if (expectedPoints.has(point) || !seen) continue;
    hops.push({
      point,
      owner: p.owner,
      ownerKind: p.ownerKind,
      interface: p.iface,
      observed: seen.headers,
      changes: [],
      differences: ['seen here, not expected'],
      pcap: pcapOf(point),
      frame: seen.frame,
    });
  }

  const rules: NodeRules[] = [];
  for (const t of traced) {
    if (ipId === undefined) break;
    const nr = nodeRules(t.node, t.events, t.hooks, ipId);
    if (!nr.events.length) continue;
    const want = expectedChains(topo, t.node, chosen.walk, r.src, chosen.dest, r.probe, bridgeNetfilter);
    if (want) {
      nr.expectedChains = want;
      const missing = firstOutOfOrder(want, nr.chains);
      if (missing) nr.differences.push(`expected chain ${missing} (in order: ${want.join(' → ')}), not entered`);
    }
    rules.push(nr);
  }
  rules.sort((a, b) => nodes.indexOf(a.node) - nodes.indexOf(b.node));

  const notes: string[] = [];
  if (ipId === undefined)
    notes.push(`the probe's packet was not captured at ${first}: nothing to follow (probe said: ${output.trim() || 'nothing'})`);
  notes.push(
    topo.cluster.cni === 'calico'
      ? "Calico: no bridge — a pod's packet is routed from its cali veth, also to a pod of the same node"
      : bridgeNetfilter
        ? 'br_netfilter is on (bridge-nf-call-iptables = 1): a pod packet meets PREROUTING on the bridge, before cni0'
        : 'br_netfilter is off: cni0 sees pod packets before PREROUTING',
  );
  if (r.candidates.length > 1) notes.push(`${r.candidates.length} endpoints possible; the proxy chose ${chosen.walk.reached}`);
  const denied = chosen.walk.denied;
  const reached = denied ? reply?.pod : seenAtEnd(chosen.walk) ? chosen.walk.reached : reply?.pod;
  // a NetworkPolicy's drop: the node's trace ends at the rule the policies say drops it
  let dropped: Walk['dropped'];
  if (denied) {
    const nr = rules.find((n) => n.node === denied.node);
    const drop = nr?.events.find((e) => e.table === POLICY_TABLE && e.verdict === 'drop');
    const comment = /comment "([^"]*)"/.exec(drop?.rule ?? '')?.[1];
    if (drop) dropped = { node: denied.node, chain: drop.chain, ...(comment !== undefined ? { comment } : {}) };
    if (!nr) notes.push(`no netfilter trace from ${denied.node}: the drop the policies expect there is not confirmed`);
    else if (comment !== denied.comment)
      nr.differences.push(
        `expected the ${denied.direction} drop of ${denied.pod} ("${denied.comment}"), ${drop ? `dropped by "${comment ?? drop.rule}"` : 'not dropped in table ' + POLICY_TABLE}`,
      );
    notes.push(`NetworkPolicy: ${denied.direction} of ${denied.pod} denied on ${denied.node}: ${denied.comment}`);
  } else if (reached === undefined) {
    const drop = rules.flatMap((n) => n.events.filter((e) => e.table === POLICY_TABLE && e.verdict === 'drop').map((e) => ({ n, e })))[0];
    if (drop) drop.n.differences.push(`dropped by NetworkPolicy rule "${drop.e.rule ?? ''}", which the policies do not expect`);
  }
  const allDiffs = [
    ...hops.flatMap((h) => h.differences.map((d) => `${h.point}: ${d}`)),
    ...rules.flatMap((n) => n.differences.map((d) => `${n.node}: ${d}`)),
    ...(dns?.differences.map((d) => `dns: ${d}`) ?? []),
  ];
  const walk: Walk = {
    lab: topo.name,
    proxy: topo.proxy.mode,
    backend: topo.cluster.backend,
    from: req.from,
    to: req.to,
    protocol: r.probe.protocol,
    target: r.target,
    ...(dns ? { dns } : {}),
    ...(reached ? { reached } : {}),
    ...(dropped ? { dropped } : {}),
    argv,
    ok: allDiffs.length === 0 && (denied ? dropped !== undefined && reached === undefined : reached !== undefined),
    hops,
    rules,
    differences: allDiffs,
    notes,
  };
  writeFileSync(join(dir, 'walk.json'), JSON.stringify(walk, null, 2) + '\n');
  return walk;
}

/**
 * The first of `want` not found in `got` in order (others may come between), or undefined.
 * `same` says when an entry of `got` stands for a wanted one.
 */
export function firstOutOfOrder(
  want: readonly string[],
  got: readonly string[],
  same: (got: string, want: string) => boolean = (g, w) => g === w,
): string | undefined {
  let i = 0;
  for (const w of want) {
    const j = got.findIndex((g, k) => k >= i && same(g, w));
    if (j < 0) return w;
    i = j + 1;
  }
  return undefined;
}

/** The packet as the node's output hook first saw it (before DNAT and SNAT), from the trace. */
function sentByNode(events: MonitorEvent[], ipId: number | undefined, protocol: string): WalkHeaders | undefined {
  const e = events.find((x) => x.kind === 'packet' && packetFields(x.text ?? '').id === ipId);
  if (!e || ipId === undefined) return undefined;
  const f = packetFields(e.text ?? '');
  if (!f.src || !f.dst) return undefined;
  return {
    ip: { src: f.src, dst: f.dst, ttl: f.ttl ?? 64, protocol, id: ipId },
    l4:
      protocol === 'icmp'
        ? { icmpType: 'echo-request', ...(f.icmpId !== undefined ? { icmpId: f.icmpId } : {}) }
        : { ...(f.srcport !== undefined ? { srcport: f.srcport } : {}), ...(f.dstport !== undefined ? { dstport: f.dstport } : {}) },
  };
}

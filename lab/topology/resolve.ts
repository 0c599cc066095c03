import { formatIssue, InputError, type InputIssue } from '../errors';
import {
  type Cidr,
  contains,
  containsCidr,
  formatCidr,
  formatIp,
  isBroadcast,
  nth,
  overlaps,
  parseCidr,
  parseIp,
  size,
  subnet,
} from './ipv4';
import { calicoIpam } from './calico-ipam';
import { addClusterDns } from './dns';
import { resolveHosts } from './hosts';
import { resolveNetworkPolicies } from './netpol';
import { checkLabName, proxySchema, topologySchema, type TopologyInput } from './schema';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve as resolvePath, sep } from 'node:path';
import {
  DEFAULT_NAMESPACE,
  podRef,
  type Backend,
  type CalicoSpec,
  type EndpointConditions,
  type PodPort,
  type RuleFileSpec,
  type ServicePortSpec,
  type Topology,
  type TopologyEndpointSlice,
  type TopologyNamespace,
  type TopologyNode,
  type TopologyPod,
} from './types';
import { formatPath as pathText, type IssueSource, mergeIssues, YamlSource } from './yaml-source';
import { inferTopology, isKubernetesText, MergedSource, mergeManifests, readManifests } from './manifests';

/** Loads, validates and resolves a topology file: every address decided, every rule checked. */
/** What the command line may change of a topology file without editing it. */
export interface Overrides {
  name?: string;
  /** --proxy: kube-proxy's mode */
  proxyMode?: string;
  /** --runtime: netns or docker */
  runtime?: string;
  /** cluster.dns, for a caller whose topologies are about something else (kube-proxy's own test cases) */
  dns?: boolean;
}

/** Hears of what loads but deserves a look (a rule file outside the topology's folder); stderr by default. */
export type WarningSink = (issue: InputIssue) => void;
export const warnOnStderr: WarningSink = (i) => console.error(`warning: ${formatIssue(i)}`);

export function loadTopology(file: string, overrides: Overrides = {}, warn: WarningSink = warnOnStderr): Topology {
  const r = loadTopologyAll(file, overrides, warn);
  if (r.issues.length || !r.topology) throw new InputError(r.issues);
  return r.topology;
}

/**
 * loadTopology's every problem at once, and the topology when what parsed resolves (resolveSourceAll).
 * A file of Kubernetes objects (a `kubectl get -o yaml` dump, manifests) is a lab of its own.
 */
export function loadTopologyAll(
  file: string,
  overrides: Overrides = {},
  warn: WarningSink = warnOnStderr,
): { topology?: Topology; issues: InputIssue[] } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw InputError.of(file, '', `cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  if (isKubernetesText(text)) return resolveManifestsAll([file], overrides, warn);
  return resolveSourceAll(YamlSource.fromText(text, file), overrides, warn);
}

/** A lab from Kubernetes objects alone: the cluster's ranges inferred from them (lab/topology/manifests). */
export function resolveManifestsAll(
  files: readonly string[],
  overrides: Overrides = {},
  warn: WarningSink = warnOnStderr,
): { topology?: Topology; issues: InputIssue[] } {
  const m = readManifests(files, [], files[0]);
  let inferredInput: ReturnType<typeof inferTopology>;
  try {
    inferredInput = inferTopology(m, overrides.name);
  } catch (e) {
    if (!(e instanceof InputError) || !m.issues.length) throw e;
    return { issues: m.issues };
  }
  const { input, inferred } = inferredInput;
  const source = new MergedSource(undefined, files[0]!, inferred);
  const pending: InputIssue[] = [];
  // the objects' own problems and those of the items they make, all at once
  const issues = mergeManifests(input, m, source, (w) => pending.push(w));
  return finish(input, source, issues, overrides, warn, pending);
}

export function loadTopologyText(text: string, file = '<inline>', overrides: Overrides = {}, warn: WarningSink = warnOnStderr): Topology {
  return resolveSource(YamlSource.fromText(text, file), overrides, warn);
}

/** A topology from an already parsed source (a file, or the `topology:` inside a scenario). */
export function resolveSource(src: YamlSource, overrides: Overrides = {}, warn: WarningSink = warnOnStderr): Topology {
  const r = resolveSourceAll(src, overrides, warn);
  if (r.issues.length || !r.topology) throw new InputError(r.issues);
  return r.topology;
}

/**
 * Every problem of a topology at once: its type errors, and the semantic checks run on the parts
 * that parsed (lab/topology/yaml-source.ts parseAll). `topology` is there when those parts
 * resolve, even with type errors elsewhere — a scenario's steps are then still checked against it.
 */
export function resolveSourceAll(
  src: YamlSource,
  overrides: Overrides = {},
  warn: WarningSink = warnOnStderr,
): { topology?: Topology; issues: InputIssue[] } {
  const parsed = src.parseAll(topologySchema);
  // nodes may come from manifests: without either, a missing `nodes:` is a type error as ever
  const raw = src.data;
  if (
    (raw === null || raw === undefined || (typeof raw === 'object' && !Array.isArray(raw))) &&
    !(raw && ('nodes' in raw || 'manifests' in raw))
  )
    parsed.issues = mergeIssues(parsed.issues, [src.issue(['nodes'], 'is required')]);
  const input = parsed.value;
  if (!input) return { issues: parsed.issues };
  if (!input.manifests?.length) return finish(input, parsed.src, parsed.issues, overrides, warn);
  // manifests: their objects join the topology's own; problems in them name their objects
  const merged = new MergedSource(parsed.src, src.file);
  const dir = src.file === '<inline>' ? process.cwd() : dirname(resolvePath(src.file));
  const files = input.manifests.map((f) => resolvePath(dir, f));
  const missing = files.flatMap((f, i) => (existsSync(f) ? [] : [parsed.src.issue(['manifests', i], `no such file or folder: ${f}`)]));
  if (missing.length) return { issues: mergeIssues(parsed.issues, missing) };
  const pending: InputIssue[] = [];
  let issues: InputIssue[];
  try {
    issues = mergeManifests(
      input,
      readManifests(
        files,
        input.nodes.map((n) => n.name),
        src.file,
      ),
      merged,
      (w) => pending.push(w),
    );
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    issues = e.issues;
  }
  return finish(input, merged, mergeIssues(parsed.issues, issues), overrides, warn, pending);
}

/** The command line's overrides applied, then the semantic checks; warnings said only when nothing is refused. */
function finish(
  input: TopologyInput,
  src: IssueSource,
  typeIssues: InputIssue[],
  overrides: Overrides,
  warn: WarningSink,
  pending: InputIssue[] = [],
): { topology?: Topology; issues: InputIssue[] } {
  const parsed = { src, issues: typeIssues };
  if (overrides.proxyMode !== undefined) {
    const mode = proxySchema.shape.mode.safeParse(overrides.proxyMode);
    if (!mode.success) throw InputError.of('--proxy', '', `'${overrides.proxyMode}': expected iptables, ipvs, nftables or none`);
    input.proxy.mode = mode.data;
  }
  if (overrides.runtime !== undefined) {
    const rt = topologySchema.shape.runtime.unwrap().safeParse(overrides.runtime);
    if (!rt.success) throw InputError.of('--runtime', '', `'${overrides.runtime}': expected netns or docker`);
    input.runtime = rt.data;
  }
  if (overrides.dns !== undefined) input.cluster.dns = overrides.dns;
  if (overrides.name !== undefined) {
    // The override names namespaces just like `name:` in the file, so it obeys the same rule.
    input.name = checkLabName(overrides.name);
  }
  try {
    // no warnings about a file that is refused anyway
    const topology = resolveTopology(input, parsed.src, parsed.issues.length ? () => undefined : warn);
    if (!parsed.issues.length) pending.forEach(warn);
    return { topology, issues: parsed.issues };
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    return { issues: mergeIssues(parsed.issues, e.issues) };
  }
}

type Path = (string | number)[];

/** Is `path` inside `dir` (symlinks resolved by the caller)? */
const isInside = (dir: string, path: string) => {
  const rel = relative(dir, path);
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
};

/** Semantic checks and deterministic allocation. All problems are collected before throwing. */
export function resolveTopology(input: TopologyInput, src: IssueSource, warn: WarningSink = warnOnStderr): Topology {
  const issues: InputIssue[] = [];
  // The cluster DNS's pods and service are added after the file's own (addClusterDns): a problem
  // of theirs (no address left for a server pod) is reported at cluster.dns, naming the object.
  const given = { pods: input.pods.length, services: input.services.length };
  const fail = (path: Path, message: string) => {
    const [list, i] = path;
    const added = (list === 'pods' || list === 'services') && typeof i === 'number' && i >= given[list];
    const name = added ? input[list][i]?.name : undefined;
    issues.push(
      added ? src.issue(['cluster', 'dns'], `the cluster DNS's ${list.slice(0, -1)} ${name}: ${message}`) : src.issue(path, message),
    );
  };
  if (!input.nodes.length) fail(['nodes'], 'a lab needs at least one node');
  const other = (path: Path) => {
    const at = src.locate(path);
    return at ? `${pathText(src.docPath(path))} at line ${at.line}` : pathText(src.docPath(path));
  };

  const cidrAt = (text: string, path: Path): Cidr | undefined => {
    const c = parseCidr(text);
    if (!c) fail(path, parseCidr(text, false) ? `${text} has host bits set` : `${text} is not a valid CIDR`);
    return c;
  };
  const ipAt = (text: string, path: Path): number | undefined => {
    const n = parseIp(text);
    if (n === undefined) fail(path, `${text} is not a valid IPv4 address`);
    return n;
  };

  const c = input.cluster;
  const dns = addClusterDns(input, fail);
  const calico = c.cni === 'calico';
  const nodeSubnetPrefix = c.nodeSubnetPrefix ?? 24;
  // Each CNI's own settings: the other's are refused rather than silently ignored.
  const flannelOnly = (key: string) =>
    fail(['cluster', key], `cluster.${key} is flannel's; with cni: calico set cluster.calico (mode, blockSize, asNumber)`);
  if (calico) {
    if (c.backend !== undefined) flannelOnly('backend');
    if (c.vxlan !== undefined) flannelOnly('vxlan');
    if (c.nodeSubnetPrefix !== undefined) flannelOnly('nodeSubnetPrefix');
    input.nodes.forEach(
      (n, i) =>
        n.podSubnet === undefined ||
        fail(['nodes', i, 'podSubnet'], "podSubnet is flannel's: Calico's IPAM hands blocks of cluster.calico.blockSize to nodes"),
    );
  } else if (c.calico !== undefined) fail(['cluster', 'calico'], 'cluster.calico needs cluster.cni: calico');
  const calicoSpec: CalicoSpec | undefined = calico
    ? { ...(c.calico ?? { mode: 'bgp', crossSubnet: false, blockSize: 26, asNumber: 64512, natOutgoing: true }), vni: 4096, port: 4789 }
    : undefined;
  if (calicoSpec?.crossSubnet && calicoSpec.mode === 'bgp')
    fail(['cluster', 'calico', 'crossSubnet'], 'crossSubnet is for the vxlan and ipip modes: bgp mode never encapsulates');
  if (calicoSpec?.routeReflectors) {
    const rr = calicoSpec.routeReflectors;
    if (calicoSpec.mode !== 'bgp')
      fail(['cluster', 'calico', 'routeReflectors'], `route reflectors are for bgp mode: ${calicoSpec.mode} mode runs no BIRD`);
    rr.forEach((n, i) => {
      if (!input.nodes.some((x) => x.name === n))
        fail(['cluster', 'calico', 'routeReflectors', i], `no node named '${n}' (nodes: ${input.nodes.map((x) => x.name).join(', ')})`);
      else if (rr.indexOf(n) !== i) fail(['cluster', 'calico', 'routeReflectors', i], `'${n}' is listed twice`);
    });
    // Calico's documented example cluster ID
    calicoSpec.routeReflectorClusterID ??= '244.0.0.1';
  } else if (calicoSpec?.routeReflectorClusterID !== undefined)
    fail(['cluster', 'calico', 'routeReflectorClusterID'], 'routeReflectorClusterID needs routeReflectors');
  const podCIDR = cidrAt(c.podCIDR, ['cluster', 'podCIDR']);
  const serviceCIDR = cidrAt(c.serviceCIDR, ['cluster', 'serviceCIDR']);
  if (c.loadBalancerPool !== undefined) cidrAt(c.loadBalancerPool, ['cluster', 'loadBalancerPool']);
  input.proxy.nodePortAddresses?.forEach((a, i) => a === 'primary' || cidrAt(a, ['proxy', 'nodePortAddresses', i]));
  const underlayTexts = typeof c.underlay === 'string' ? [c.underlay] : c.underlay;
  const underlayPath = (i: number): Path => (typeof c.underlay === 'string' ? ['cluster', 'underlay'] : ['cluster', 'underlay', i]);
  const underlay = underlayTexts.map((t, i) => {
    const u = cidrAt(t, underlayPath(i));
    if (u && u.prefix > 29) fail(underlayPath(i), `${t} is too small for a gateway and nodes (at most /29)`);
    return u;
  });

  // Cluster-wide ranges must not overlap: a packet's address must say which network it belongs to.
  const ranges: [string, Path, Cidr | undefined][] = [
    ['podCIDR', ['cluster', 'podCIDR'], podCIDR],
    ['serviceCIDR', ['cluster', 'serviceCIDR'], serviceCIDR],
    ...underlay.map((u, i): [string, Path, Cidr | undefined] => [`underlay ${underlayTexts[i]}`, underlayPath(i), u]),
  ];
  for (let i = 0; i < ranges.length; i++)
    for (let j = 0; j < i; j++) {
      const [na, , a] = ranges[j]!;
      const [nb, pb, b] = ranges[i]!;
      if (a && b && overlaps(a, b)) fail(pb, `${nb} (${formatCidr(b)}) overlaps ${na} (${formatCidr(a)})`);
    }
  if (!calico && podCIDR && podCIDR.prefix > nodeSubnetPrefix)
    fail(['cluster', 'nodeSubnetPrefix'], `/${nodeSubnetPrefix} node subnets do not fit in podCIDR ${c.podCIDR}`);
  if (calicoSpec && podCIDR && podCIDR.prefix > calicoSpec.blockSize)
    fail(['cluster', 'calico', 'blockSize'], `/${calicoSpec.blockSize} blocks do not fit in podCIDR ${c.podCIDR}`);

  // Names: nodes and pods share one space (exec takes either) and become namespace names.
  const names = new Map<string, Path>();
  const claimName = (name: string, path: Path) => {
    const prev = names.get(name);
    if (prev) fail([...path, 'name'], `duplicate name '${name}' (also ${other([...prev, 'name'])})`);
    else names.set(name, path);
  };

  // Node addresses: given ones first, so allocation never hands out a taken address.
  const usedIps = new Map<number, Path>();
  const claimIp = (ip: number, path: Path, what: string) => {
    const prev = usedIps.get(ip);
    if (prev) fail(path, `duplicate IP ${formatIp(ip)} (${what}; also ${other(prev)})`);
    else usedIps.set(ip, path);
  };
  const gateways = underlay.map((u) => (u ? nth(u, 1) : undefined));
  const nodeIps: (number | undefined)[] = input.nodes.map((n, i) => {
    const path: Path = ['nodes', i];
    claimName(n.name, path);
    if (n.ip === undefined) return undefined;
    const ip = ipAt(n.ip, [...path, 'ip']);
    if (ip === undefined) return undefined;
    const seg = underlay.findIndex((u) => u && contains(u, ip));
    if (seg < 0) fail([...path, 'ip'], `${n.ip} is not inside the underlay (${underlayTexts.join(', ')})`);
    else if (ip === underlay[seg]!.base || isBroadcast(underlay[seg]!, ip))
      fail([...path, 'ip'], `${n.ip} is the network or broadcast address of ${underlayTexts[seg]}`);
    else if (ip === gateways[seg]) fail([...path, 'ip'], `${n.ip} is the underlay gateway of ${underlayTexts[seg]}`);
    else claimIp(ip, [...path, 'ip'], `node ${n.name}`);
    return ip;
  });
  /** The first address from .2 up that nothing has claimed (.0 and .1 are the subnet's own). */
  const allocate = (c: Cidr, path: Path, from = 2): number | undefined => {
    for (let k = from; k < size(c.prefix) - 1; k++) {
      if (!usedIps.has(nth(c, k))) {
        usedIps.set(nth(c, k), path);
        return nth(c, k);
      }
    }
    return undefined;
  };
  for (const g of gateways) if (g !== undefined) usedIps.set(g, ['cluster', 'underlay']);
  nodeIps.forEach((ip, i) => {
    if (ip !== undefined || !underlay[0]) return;
    nodeIps[i] = allocate(underlay[0], ['nodes', i, 'ip']);
    if (nodeIps[i] === undefined) fail(['nodes', i], `no free underlay address left in ${underlayTexts[0]}`);
  });

  // Pod subnets: inside podCIDR, disjoint; missing ones take the next free /nodeSubnetPrefix.
  const subnets: (Cidr | undefined)[] = input.nodes.map((n, i) => {
    if (n.podSubnet === undefined) return undefined;
    const path: Path = ['nodes', i, 'podSubnet'];
    const s = cidrAt(n.podSubnet, path);
    if (!s) return undefined;
    if (podCIDR && !containsCidr(podCIDR, s)) fail(path, `${n.podSubnet} is not inside podCIDR ${c.podCIDR}`);
    if (s.prefix > 29) fail(path, `${n.podSubnet} is too small (at most /29: .0 flannel, .1 cni0, pods)`);
    return s;
  });
  subnets.forEach((s, i) => {
    if (!s) return;
    subnets.forEach((t, j) => {
      if (j < i && t && overlaps(s, t))
        fail(['nodes', i, 'podSubnet'], `${formatCidr(s)} overlaps ${input.nodes[j]!.name}'s pod subnet ${formatCidr(t)}`);
    });
  });
  if (podCIDR && !calico) {
    let next = 0;
    const count = size(podCIDR.prefix) / size(nodeSubnetPrefix);
    subnets.forEach((s, i) => {
      if (s || input.nodes[i]!.podSubnet !== undefined) return;
      while (next < count && subnets.some((t) => t && overlaps(t, subnet(podCIDR, nodeSubnetPrefix, next)))) next++;
      if (next >= count) fail(['nodes', i], `no free /${nodeSubnetPrefix} left in podCIDR ${c.podCIDR}`);
      else subnets[i] = subnet(podCIDR, nodeSubnetPrefix, next++);
    });
  }

  // host-gw (and Calico's bgp mode, for now) route pod subnets via node IPs: every node must be
  // on one L2 segment. (Calico's BIRD could peer across routed segments with multihop; not yet.)
  const direct = calico ? calicoSpec!.mode === 'bgp' : c.backend === 'host-gw';
  if (direct) {
    const segOf = (ip: number | undefined) => (ip === undefined ? -1 : underlay.findIndex((u) => u && contains(u, ip)));
    const first = segOf(nodeIps[0]);
    nodeIps.forEach((ip, i) => {
      const seg = segOf(ip);
      if (i > 0 && first >= 0 && seg >= 0 && seg !== first)
        fail(
          ['nodes', i, 'ip'],
          `${calico ? "calico's bgp mode (in this lab, for now)" : 'host-gw'} needs every node on one L2 segment: ${formatIp(ip!)} is not in ${underlayTexts[first]} with ${input.nodes[0]!.name}`,
        );
    });
  }

  // Pods: on an existing node, inside its subnet, never .0 (flannel.N) or .1 (cni0).
  const nodeIndex = new Map(input.nodes.map((n, i) => [n.name, i]));
  const podIps: (number | undefined)[] = input.pods.map((p, i) => {
    const path: Path = ['pods', i];
    claimName(podRef(p.namespace, p.name), path);
    const ni = nodeIndex.get(p.node);
    if (ni === undefined) {
      fail([...path, 'node'], `no node named '${p.node}' (nodes: ${input.nodes.map((n) => n.name).join(', ')})`);
      return undefined;
    }
    if (p.ip === undefined) return undefined;
    const ip = ipAt(p.ip, [...path, 'ip']);
    if (calico) {
      if (ip !== undefined) claimIp(ip, [...path, 'ip'], `pod ${p.name}`);
      return ip;
    }
    const s = subnets[ni];
    if (ip === undefined || !s) return undefined;
    if (!contains(s, ip)) fail([...path, 'ip'], `${p.ip} is not in ${p.node}'s pod subnet ${formatCidr(s)}`);
    else if (ip === s.base) fail([...path, 'ip'], `${p.ip} is ${p.node}'s flannel address (<subnet>.0)`);
    else if (ip === nth(s, 1)) fail([...path, 'ip'], `${p.ip} is ${p.node}'s cni0 address (<subnet>.1)`);
    else if (isBroadcast(s, ip)) fail([...path, 'ip'], `${p.ip} is the broadcast address of ${formatCidr(s)}`);
    else claimIp(ip, [...path, 'ip'], `pod ${p.name}`);
    return ip;
  });
  const ipam =
    calicoSpec && podCIDR && podCIDR.prefix <= calicoSpec.blockSize
      ? calicoIpam({
          pool: podCIDR,
          blockSize: calicoSpec.blockSize,
          nodes: input.nodes.length,
          podNode: input.pods.map((p) => nodeIndex.get(p.node)),
          podIp: podIps,
          tunnels: calicoSpec.mode !== 'bgp',
          nodeName: (i) => input.nodes[i]!.name,
          fail,
        })
      : undefined;
  if (ipam) ipam.podIp.forEach((ip, i) => (podIps[i] = ip));
  input.pods.forEach((p, i) => {
    if (calico) return;
    const ni = nodeIndex.get(p.node);
    const s = ni === undefined ? undefined : subnets[ni];
    if (podIps[i] !== undefined || !s) return;
    podIps[i] = allocate(s, ['pods', i, 'ip']);
    if (podIps[i] === undefined) fail(['pods', i], `no free address left in ${p.node}'s pod subnet ${formatCidr(s)}`);
  });

  // Services: cluster IPs inside serviceCIDR (allocated from .10 up), node ports unique.
  const svcNames = new Map<string, Path>();
  // EndpointSlice conditions: the endpoints controller never marks a terminating endpoint ready
  input.pods.forEach((p, i) => {
    if (p.conditions?.ready && p.conditions.terminating)
      fail(['pods', i, 'conditions', 'ready'], 'a terminating endpoint is never ready (EndpointSlice conditions); use serving: true');
  });
  input.services.forEach((svc, i) => {
    // the apiserver allows externalTrafficPolicy: Local only where there is external traffic
    if (svc.externalTrafficPolicy === 'Local' && svc.type === 'ClusterIP' && !svc.externalIPs?.length)
      fail(
        ['services', i, 'externalTrafficPolicy'],
        'externalTrafficPolicy: Local needs type NodePort or LoadBalancer, or externalIPs (a ClusterIP service has no external traffic)',
      );
    // the apiserver's rules for the load balancer's fields
    for (const k of [
      'loadBalancerIP',
      'loadBalancerSourceRanges',
      'allocateLoadBalancerNodePorts',
      'healthCheckNodePort',
      'status',
    ] as const)
      if (svc[k] !== undefined && svc.type !== 'LoadBalancer')
        fail(['services', i, k], `${k} is only for type LoadBalancer (this service is ${svc.type})`);
    if (svc.healthCheckNodePort !== undefined && svc.externalTrafficPolicy !== 'Local')
      fail(['services', i, 'healthCheckNodePort'], 'healthCheckNodePort needs externalTrafficPolicy: Local');
    svc.externalIPs?.forEach((ip, j) => ipAt(ip, ['services', i, 'externalIPs', j]));
    svc.status?.loadBalancer.ingress.forEach((g, j) => ipAt(g.ip, ['services', i, 'status', 'loadBalancer', 'ingress', j, 'ip']));
    if (svc.loadBalancerIP !== undefined) ipAt(svc.loadBalancerIP, ['services', i, 'loadBalancerIP']);
    svc.loadBalancerSourceRanges?.forEach((r, j) => cidrAt(r, ['services', i, 'loadBalancerSourceRanges', j]));
    if (svc.clusterIP === 'None' && svc.externalIPs?.length)
      fail(['services', i, 'externalIPs'], 'a headless service (clusterIP: None) has no external IPs');
    if (svc.sessionAffinityConfig && svc.sessionAffinity !== 'ClientIP')
      fail(['services', i, 'sessionAffinityConfig'], 'sessionAffinityConfig needs sessionAffinity: ClientIP');
  });
  const clusterIps: (number | undefined)[] = input.services.map((svc, i) => {
    const path: Path = ['services', i];
    const key = `${svc.namespace}/${svc.name}`;
    const prev = svcNames.get(key);
    if (prev) fail([...path, 'name'], `duplicate service '${key}' (also ${other([...prev, 'name'])})`);
    else svcNames.set(key, path);
    const seen = new Set<string>();
    svc.ports.forEach((p, j) => {
      const pp: Path = [...path, 'ports', j];
      if (svc.ports.length > 1 && !p.name) fail([...pp, 'name'], 'a service with several ports must name each of them');
      const id = `${p.port}/${p.protocol}`;
      if (seen.has(id)) fail([...pp, 'port'], `port ${id} appears twice in this service`);
      seen.add(id);
      if (p.nodePort !== undefined && svc.type === 'ClusterIP')
        fail([...pp, 'nodePort'], `nodePort is only for type NodePort or LoadBalancer (this service is ${svc.type})`);
    });
    if (svc.clusterIP === 'None') {
      if (svc.type !== 'ClusterIP')
        fail([...path, 'clusterIP'], `a headless service (clusterIP: None) is of type ClusterIP, not ${svc.type}`);
      return undefined;
    }
    if (svc.clusterIP === undefined) return undefined;
    const ip = ipAt(svc.clusterIP, [...path, 'clusterIP']);
    if (ip === undefined || !serviceCIDR) return undefined;
    if (!contains(serviceCIDR, ip)) fail([...path, 'clusterIP'], `${svc.clusterIP} is not inside serviceCIDR ${c.serviceCIDR}`);
    else if (ip === serviceCIDR.base || isBroadcast(serviceCIDR, ip))
      fail([...path, 'clusterIP'], `${svc.clusterIP} is the network or broadcast address of ${c.serviceCIDR}`);
    else claimIp(ip, [...path, 'clusterIP'], `service ${key}`);
    return ip;
  });
  clusterIps.forEach((ip, i) => {
    if (ip !== undefined || !serviceCIDR || input.services[i]!.clusterIP !== undefined) return;
    clusterIps[i] = allocate(serviceCIDR, ['services', i, 'clusterIP'], 10);
    if (clusterIps[i] === undefined) fail(['services', i], `no free cluster IP left in ${c.serviceCIDR}`);
  });
  const nodePorts = new Map<number, Path>();
  const claimNodePort = (port: number, path: Path) => {
    const prev = nodePorts.get(port);
    if (prev) fail(path, `nodePort ${port} is taken (also ${other(prev)})`);
    else nodePorts.set(port, path);
  };
  input.services.forEach((svc, i) => {
    svc.ports.forEach((p, j) => p.nodePort === undefined || claimNodePort(p.nodePort, ['services', i, 'ports', j, 'nodePort']));
    if (svc.healthCheckNodePort !== undefined) claimNodePort(svc.healthCheckNodePort, ['services', i, 'healthCheckNodePort']);
  });
  let nextNodePort = 30000;
  const nextFreeNodePort = () => {
    while (nodePorts.has(nextNodePort)) nextNodePort++;
    nodePorts.set(nextNodePort, []);
    return nextNodePort;
  };
  // a LoadBalancer has node ports too, unless allocateLoadBalancerNodePorts: false
  const wantsNodePorts = (svc: TopologyInput['services'][number]) =>
    svc.type === 'NodePort' || (svc.type === 'LoadBalancer' && svc.allocateLoadBalancerNodePorts !== false);
  const servicePorts = input.services.map((svc) =>
    svc.ports.map((p): ServicePortSpec => {
      let nodePort = p.nodePort;
      if (wantsNodePorts(svc) && nodePort === undefined) {
        nodePort = nextFreeNodePort();
      }
      return {
        name: p.name ?? '',
        port: p.port,
        targetPort: p.targetPort ?? p.port,
        protocol: p.protocol,
        ...(nodePort !== undefined ? { nodePort } : {}),
      };
    }),
  );
  // the apiserver allocates healthCheckNodePort for a LoadBalancer with externalTrafficPolicy Local
  const healthPorts = input.services.map((svc) =>
    svc.type === 'LoadBalancer' && svc.externalTrafficPolicy === 'Local' ? (svc.healthCheckNodePort ?? nextFreeNodePort()) : undefined,
  );
  const lbIPs = loadBalancerIPs(input, usedIps, fail);

  // The user's own rule files: relative to the topology file, on nodes that exist.
  const baseDir = src.file === '<inline>' ? process.cwd() : dirname(resolvePath(src.file));
  const rules: RuleFileSpec[] = input.proxy.rules.map((r, i) => {
    const file = resolvePath(baseDir, r.file);
    if (!existsSync(file)) fail(['proxy', 'rules', i, 'file'], `no such file: ${file}`);
    // any path is read (and `plan` prints it): one outside the topology's folder is said, not refused
    else if (!isInside(realpathSync(baseDir), realpathSync(file)))
      warn(
        src.issue(
          ['proxy', 'rules', i, 'file'],
          `${file} is outside the topology's folder ${baseDir}: it is read, installed on the nodes and printed by plan`,
        ),
      );
    if (r.nodes !== '*') r.nodes.forEach((n, j) => nodeIndex.has(n) || fail(['proxy', 'rules', i, 'nodes', j], `no node named '${n}'`));
    // Read now, so the plan stays pure and `apply` sees an edited file as a changed topology.
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      fail(['proxy', 'rules', i, 'file'], `cannot read ${file}: ${(e as Error).message}`);
    }
    return { nodes: r.nodes, tool: r.tool, file, mode: r.mode, text };
  });

  const { hosts, nodeHost } = resolveHosts(input, src.file, fail);
  if (issues.length) throw new InputError(issues);

  const backend: Backend = calicoSpec ? `calico-${calicoSpec.mode}` : (c.backend ?? 'vxlan');
  const mtu = c.mtu ?? (backend === 'vxlan' || backend === 'calico-vxlan' ? 1450 : backend === 'calico-ipip' ? 1480 : 1500);
  const nodes: TopologyNode[] = input.nodes.map((n, i) => {
    const ip = nodeIps[i]!;
    const seg = underlay.findIndex((u) => u && contains(u, ip));
    const host = nodeHost[i] !== undefined ? { host: nodeHost[i] } : {};
    const base = { name: n.name, ip: formatIp(ip), underlay: formatCidr(underlay[seg]!), gateway: formatIp(gateways[seg]!) };
    if (ipam) {
      const tunnel = ipam.tunnel[i];
      const blocks = ipam.blocks[i]!.map(formatCidr);
      return { ...base, podSubnet: blocks[0]!, blocks, ...(tunnel !== undefined ? { tunnel: formatIp(tunnel) } : {}), ...host };
    }
    const s = subnets[i]!;
    return { ...base, podSubnet: formatCidr(s), cni0: formatIp(nth(s, 1)), vtep: formatIp(s.base), ...host };
  });
  const pods: TopologyPod[] = input.pods.map((p, i) => ({
    name: podRef(p.namespace, p.name),
    node: p.node,
    ip: formatIp(podIps[i]!),
    labels: p.labels,
    ports: p.ports.map((x): PodPort =>
      typeof x === 'number' ? { port: x, protocol: 'TCP' } : { port: x.port, protocol: x.protocol, ...(x.name ? { name: x.name } : {}) },
    ),
    ...(p.conditions ? { conditions: endpointConditions(p.conditions) } : {}),
    ...(p.namespace !== undefined && p.namespace !== 'default' ? { namespace: p.namespace } : {}),
    ...(p.hostname !== undefined ? { hostname: p.hostname } : {}),
    ...(p.subdomain !== undefined ? { subdomain: p.subdomain } : {}),
  }));
  const namespaces = namespacesOf(input, fail);
  const endpointSlices = resolveSlices(input, pods, fail);
  const networkPolicies = resolveNetworkPolicies(input.networkPolicies, fail);
  if (issues.length) throw new InputError(issues);
  return {
    name: input.name,
    runtime: input.runtime,
    source: src.file,
    cluster: {
      cni: c.cni,
      podCIDR: formatCidr(podCIDR!),
      serviceCIDR: formatCidr(serviceCIDR!),
      underlay: underlay.map((u, i) => ({ cidr: formatCidr(u!), gateway: formatIp(gateways[i]!) })),
      backend,
      vni: c.vxlan?.vni ?? 1,
      port: c.vxlan?.port ?? 8472,
      mtu,
      ...(calicoSpec ? { calico: calicoSpec } : {}),
      ...(dns ? { dns } : {}),
      ...(c.loadBalancerPool ? { loadBalancerPool: c.loadBalancerPool } : {}),
    },
    proxy: {
      mode: input.proxy.mode,
      masqueradeBit: input.proxy.masqueradeBit,
      scheduler: input.proxy.scheduler,
      ...(input.proxy.nodePortAddresses ? { nodePortAddresses: input.proxy.nodePortAddresses } : {}),
      localhostNodePorts: input.proxy.localhostNodePorts,
      rules,
    },
    hosts,
    nodes,
    namespaces,
    pods,
    services: input.services.map((svc, i) => ({
      name: svc.name,
      namespace: svc.namespace,
      type: svc.type,
      clusterIP: svc.clusterIP === 'None' ? 'None' : formatIp(clusterIps[i]!),
      selector: svc.selector,
      ports: servicePorts[i]!,
      ...(svc.externalTrafficPolicy === 'Local' ? { externalLocal: true as const } : {}),
      ...(svc.internalTrafficPolicy === 'Local' ? { internalLocal: true as const } : {}),
      ...(svc.sessionAffinity === 'ClientIP'
        ? { affinity: { timeoutSeconds: svc.sessionAffinityConfig?.clientIP.timeoutSeconds ?? 10800 } }
        : {}),
      ...(svc.externalIPs?.length ? { externalIPs: svc.externalIPs } : {}),
      ...(lbIPs[i]?.length ? { loadBalancerIPs: lbIPs[i] } : {}),
      ...(svc.loadBalancerSourceRanges?.length
        ? { sourceRanges: svc.loadBalancerSourceRanges.map((r) => formatCidr(parseCidr(r, false)!)) }
        : {}),
      ...(healthPorts[i] !== undefined ? { healthCheckNodePort: healthPorts[i] } : {}),
    })),
    endpointSlices,
    networkPolicies,
  };
}

/** Given EndpointSlices: their service exists, their endpoints' nodes exist; pods found by address. */
function resolveSlices(input: TopologyInput, pods: TopologyPod[], fail: (path: Path, message: string) => void): TopologyEndpointSlice[] {
  const byIp = new Map(pods.map((p) => [p.ip, p]));
  const nodes = new Set(input.nodes.map((n) => n.name));
  const seen = new Set<string>();
  return input.endpointSlices.map((sl, i) => {
    const key = `${sl.namespace}/${sl.name}`;
    if (seen.has(key)) fail(['endpointSlices', i, 'name'], `duplicate EndpointSlice '${key}'`);
    seen.add(key);
    if (!input.services.some((s) => s.namespace === sl.namespace && s.name === sl.service))
      fail(['endpointSlices', i, 'service'], `no service '${sl.namespace}/${sl.service}' for this slice (kubernetes.io/service-name)`);
    return {
      name: sl.name,
      namespace: sl.namespace,
      service: sl.service,
      ports: sl.ports,
      endpoints: sl.endpoints.map((e, j) => {
        const ip = e.addresses[0]!;
        const ref = e.targetRef ? podRef(e.targetRef.namespace ?? sl.namespace, e.targetRef.name) : undefined;
        const pod = ref ? pods.find((p) => p.name === ref) : byIp.get(ip);
        if (ref && !pod) fail(['endpointSlices', i, 'endpoints', j, 'targetRef'], `no pod '${ref}' in the lab`);
        if (pod && pod.ip !== ip)
          fail(['endpointSlices', i, 'endpoints', j, 'addresses', 0], `pod ${pod.name} has address ${pod.ip}, not ${ip}`);
        if (e.nodeName !== undefined && !nodes.has(e.nodeName))
          fail(['endpointSlices', i, 'endpoints', j, 'nodeName'], `no node named '${e.nodeName}'`);
        if (e.conditions?.ready && e.conditions.terminating)
          fail(['endpointSlices', i, 'endpoints', j, 'conditions', 'ready'], 'a terminating endpoint is never ready');
        const node = e.nodeName ?? pod?.node;
        return {
          ip,
          ...(node !== undefined ? { node } : {}),
          ...(pod ? { pod: pod.name } : {}),
          conditions: endpointConditions(e.conditions ?? {}),
        };
      }),
    };
  });
}

/**
 * Every namespace the lab has: the ones listed with their labels, and the ones pods and services
 * name. The API server labels each namespace kubernetes.io/metadata.name=<name> (namespaceSelector
 * relies on it), so the lab does too.
 */
function namespacesOf(input: TopologyInput, fail: (path: Path, message: string) => void): TopologyNamespace[] {
  const listed = new Map<string, Record<string, string>>();
  input.namespaces.forEach((n, i) => {
    if (listed.has(n.name)) fail(['namespaces', i, 'name'], `duplicate namespace '${n.name}'`);
    const fixed = n.labels['kubernetes.io/metadata.name'];
    if (fixed !== undefined && fixed !== n.name)
      fail(
        ['namespaces', i, 'labels', 'kubernetes.io/metadata.name'],
        `the API server sets this label to the namespace's name ('${n.name}')`,
      );
    listed.set(n.name, n.labels);
  });
  const names = new Set([DEFAULT_NAMESPACE, ...listed.keys()]);
  for (const p of input.pods) names.add(p.namespace ?? DEFAULT_NAMESPACE);
  for (const s of input.services) names.add(s.namespace);
  for (const np of input.networkPolicies) names.add(np.namespace);
  return [...names].sort().map((name) => ({ name, labels: { ...listed.get(name), 'kubernetes.io/metadata.name': name } }));
}

/**
 * Each service's status.loadBalancer.ingress IPs: as given, else spec.loadBalancerIP, else the lowest
 * free address of cluster.loadBalancerPool (as MetalLB's allocator hands them out; the pool's
 * network and broadcast addresses and addresses of nodes, gateways or given LoadBalancer IPs are
 * skipped). A LoadBalancer with none of these stays pending, as in a cluster without a load balancer.
 */
function loadBalancerIPs(
  input: TopologyInput,
  used: Map<number, Path>,
  fail: (path: Path, message: string) => void,
): (string[] | undefined)[] {
  const pool = input.cluster.loadBalancerPool !== undefined ? parseCidr(input.cluster.loadBalancerPool, false) : undefined;
  const taken = new Set<number>(used.keys());
  const given = input.services.map((svc) =>
    svc.type !== 'LoadBalancer'
      ? undefined
      : svc.status?.loadBalancer.ingress.length
        ? svc.status.loadBalancer.ingress.map((g) => g.ip)
        : svc.loadBalancerIP !== undefined
          ? [svc.loadBalancerIP]
          : undefined,
  );
  for (const ips of given) for (const ip of ips ?? []) if (parseIp(ip) !== undefined) taken.add(parseIp(ip)!);
  let k = 1;
  return input.services.map((svc, i) => {
    if (svc.type !== 'LoadBalancer' || given[i] || !pool) return given[i];
    while (k < size(pool.prefix) - 1 && taken.has(nth(pool, k))) k++;
    if (k >= size(pool.prefix) - 1) {
      fail(['services', i], `no free LoadBalancer IP left in cluster.loadBalancerPool ${input.cluster.loadBalancerPool}`);
      return undefined;
    }
    taken.add(nth(pool, k));
    return [formatIp(nth(pool, k++))];
  });
}

/** A pod's endpoint conditions with EndpointSlice's defaults: ready unless terminating, serving. */
function endpointConditions(c: { ready?: boolean; serving?: boolean; terminating?: boolean }): EndpointConditions {
  const terminating = c.terminating ?? false;
  return { ready: c.ready ?? !terminating, serving: c.serving ?? true, terminating };
}

import { createHash, hash } from 'node:crypto';
import { parseIp } from '../topology/ipv4';
import { podMeta, type ProxyMode, type Topology, type TopologyEndpointSlice, type TopologyPod } from '../topology/types';

// What kube-proxy knows on every node, derived from the topology: service ports with their
// endpoints (pods chosen by the selector). Every rule generator (iptables, ipvs, nftables)
// works from this, so the three modes always describe the same services.

export interface Endpoint {
  ip: string;
  port: number;
  pod: string;
  node: string;
  /** EndpointSlice conditions (a pod without `conditions` is ready and serving) */
  ready: boolean;
  serving: boolean;
  terminating: boolean;
}

export interface ServicePortModel {
  namespace: string;
  service: string;
  /** '' when the port is unnamed */
  portName: string;
  /** "ns/name:port" as kube-proxy writes it ("ns/name" for an unnamed port) */
  id: string;
  type: 'ClusterIP' | 'NodePort' | 'LoadBalancer';
  protocol: 'TCP' | 'UDP';
  clusterIP: string;
  port: number;
  nodePort?: number;
  /** externalTrafficPolicy: Local (node ports to this node's endpoints only, source kept) */
  externalLocal?: true;
  /** internalTrafficPolicy: Local (the cluster IP to this node's endpoints only) */
  internalLocal?: true;
  /** every endpoint with its conditions, in the same order: the per-node (Local) choice is made from these */
  allEndpoints: Endpoint[];
  /** spec.externalIPs */
  externalIPs?: string[];
  /** status.loadBalancer.ingress IPs (kube-proxy's LoadBalancerVIPs) */
  loadBalancerIPs?: string[];
  /** loadBalancerSourceRanges (only with loadBalancerIPs does kube-proxy write a firewall) */
  sourceRanges?: string[];
  /** the service's healthCheckNodePort (LoadBalancer, externalTrafficPolicy Local) */
  healthCheckNodePort?: number;
  /** sessionAffinity: ClientIP's timeout (stickyMaxAgeSeconds); undefined = no affinity */
  affinitySeconds?: number;
  /**
   * The endpoints kube-proxy uses (CategorizeEndpoints): the ready ones, or when none is ready
   * the serving and terminating ones. Sorted by their "ip:port" text, as kube-proxy sorts them
   * (10.1.1.11:11 before 10.1.1.1:11).
   */
  endpoints: Endpoint[];
}

export interface ProxyModel {
  mode: ProxyMode;
  /** 1 << masqueradeBit (0x4000 by default) */
  mark: number;
  scheduler: string;
  /** the cluster's pod CIDR: traffic from elsewhere to a cluster IP is masqueraded */
  clusterCIDR: string;
  /** the service CIDR (kube-proxy learns it from ServiceCIDR objects): unallocated addresses in it are dropped (nftables) */
  serviceCIDR: string;
  /**
   * kube-proxy's --nodeport-addresses with its default for the mode applied: [] = every local
   * address (iptables, ipvs); ['primary'] = the node's own IP (nftables' default since 1.31).
   */
  nodePortAddresses: string[];
  /** --iptables-localhost-nodeports (iptables mode only, default true): node ports on 127.0.0.1, masqueraded */
  localhostNodePorts: boolean;
  /** sorted by cluster IP, then port, then protocol */
  services: ServicePortModel[];
}

/** A node as the generators need it: node-port rules bind to its own addresses in some modes. */
export interface ProxyNode {
  name: string;
  /** the node's primary IP (its InternalIP) */
  ip: string;
  /**
   * Every IPv4 address the node has besides loopback and kube-ipvs0 (eth0, cni0, flannel.1), as
   * kube-proxy sees them when it matches --nodeport-addresses; [ip] when left out.
   */
  localAddresses?: string[];
}

/** The nodes of a topology as kube-proxy on each sees itself. */
export function proxyNodes(topo: Topology): ProxyNode[] {
  return topo.nodes.map((n) => ({
    name: n.name,
    ip: n.ip,
    // flannel: eth0, cni0, flannel.<vni> (vxlan); calico: eth0, vxlan.calico (vxlan mode); its cali veths have no address
    localAddresses: [
      n.ip,
      ...(n.cni0 ? [n.cni0] : []),
      ...(topo.cluster.backend === 'vxlan' && n.vtep ? [n.vtep] : []),
      ...(n.tunnel ? [n.tunnel] : []),
    ],
  }));
}

/** The kube-proxy default of --nodeport-addresses for a mode, where the topology leaves it out. */
export const defaultNodePortAddresses = (mode: ProxyMode): string[] => (mode === 'nftables' ? ['primary'] : []);

export function proxyModel(topo: Topology): ProxyModel {
  // addresses as numbers once, not twice per comparison: sorting 50k endpoints parses a lot
  const keys = new Map<string, number>();
  const ipKey = (ip: string) => {
    let k = keys.get(ip);
    if (k === undefined) keys.set(ip, (k = parseIp(ip)!));
    return k;
  };
  const services: ServicePortModel[] = [];
  const select = podSelector(topo.pods);
  const slicesOf = new Map<string, TopologyEndpointSlice[]>();
  for (const sl of topo.endpointSlices ?? []) {
    const key = `${sl.namespace}/${sl.service}`;
    slicesOf.set(key, [...(slicesOf.get(key) ?? []), sl]);
  }
  for (const svc of topo.services) {
    if (svc.clusterIP === 'None') continue; // headless: kube-proxy writes nothing for it, the DNS answers with its pods
    const slices = slicesOf.get(`${svc.namespace}/${svc.name}`);
    const pods = slices ? [] : select(svc.namespace, svc.selector);
    for (const sp of svc.ports) {
      const endpoints: Endpoint[] = [];
      for (const pod of pods) {
        // A named targetPort is looked up in each pod's ports; pods without it are not endpoints.
        const port =
          typeof sp.targetPort === 'number'
            ? sp.targetPort
            : pod.ports.find((p) => p.name === sp.targetPort && p.protocol === sp.protocol)?.port;
        const c = pod.conditions ?? { ready: true, serving: true, terminating: false };
        if (port !== undefined) endpoints.push({ ip: pod.ip, port, pod: pod.name, node: pod.node, ...c });
      }
      // given slices: kube-proxy matches a service port to the slice port of the same name and protocol
      for (const sl of slices ?? []) {
        const port = sl.ports.find((p) => p.name === sp.name && p.protocol === sp.protocol)?.port;
        if (port === undefined) continue;
        for (const e of sl.endpoints) endpoints.push({ ip: e.ip, port, pod: e.pod ?? '', node: e.node ?? '', ...e.conditions });
      }
      // kube-proxy sorts endpoints by their "ip:port" text; the order decides which endpoint gets
      // which probability (iptables) or vmap slot (nftables)
      const text = new Map(endpoints.map((e) => [e, `${e.ip}:${e.port}`]));
      endpoints.sort((a, b) => {
        const x = text.get(a)!;
        const y = text.get(b)!;
        return x < y ? -1 : x > y ? 1 : 0;
      });
      const usable = usableEndpoints(endpoints);
      services.push({
        namespace: svc.namespace,
        service: svc.name,
        portName: sp.name,
        id: servicePortName(svc.namespace, svc.name, sp.name),
        type: svc.type,
        protocol: sp.protocol,
        clusterIP: svc.clusterIP,
        port: sp.port,
        ...(sp.nodePort !== undefined ? { nodePort: sp.nodePort } : {}),
        ...(svc.externalLocal ? { externalLocal: true as const } : {}),
        ...(svc.internalLocal ? { internalLocal: true as const } : {}),
        ...(svc.affinity ? { affinitySeconds: svc.affinity.timeoutSeconds } : {}),
        ...(svc.externalIPs ? { externalIPs: svc.externalIPs } : {}),
        ...(svc.loadBalancerIPs ? { loadBalancerIPs: svc.loadBalancerIPs } : {}),
        ...(svc.sourceRanges ? { sourceRanges: svc.sourceRanges } : {}),
        ...(svc.healthCheckNodePort !== undefined ? { healthCheckNodePort: svc.healthCheckNodePort } : {}),
        endpoints: usable,
        allEndpoints: endpoints,
      });
    }
  }
  services.sort((a, b) => ipKey(a.clusterIP) - ipKey(b.clusterIP) || a.port - b.port || a.protocol.localeCompare(b.protocol));
  return {
    mode: topo.proxy.mode,
    mark: (1 << topo.proxy.masqueradeBit) >>> 0,
    scheduler: topo.proxy.scheduler,
    clusterCIDR: topo.cluster.podCIDR,
    serviceCIDR: topo.cluster.serviceCIDR,
    nodePortAddresses: topo.proxy.nodePortAddresses ?? defaultNodePortAddresses(topo.proxy.mode),
    localhostNodePorts: topo.proxy.localhostNodePorts,
    services,
  };
}

/** kube-proxy's usable endpoints (CategorizeEndpoints): the ready ones, else the serving terminating ones. */
function usableEndpoints(eps: Endpoint[]): Endpoint[] {
  const ready = eps.filter((e) => e.ready);
  return ready.length ? ready : eps.filter((e) => e.serving && e.terminating);
}

/** A node port, an external IP or a LoadBalancer IP makes a service port reachable from outside (ExternallyAccessible). */
export const externallyAccessible = (sp: ServicePortModel) =>
  sp.nodePort !== undefined || !!sp.externalIPs?.length || !!sp.loadBalancerIPs?.length;

/** kube-proxy's usesFWChain: LoadBalancer IPs with loadBalancerSourceRanges get a firewall chain. */
export const usesFirewall = (sp: ServicePortModel) => !!sp.loadBalancerIPs?.length && !!sp.sourceRanges?.length;

/**
 * The endpoints a node uses for Local traffic policy (either kind): its own usable ones, chosen
 * among this node's endpoints only (ready, else serving-terminating), as kube-proxy does.
 */
export const localEndpoints = (sp: ServicePortModel, node: string): Endpoint[] =>
  usableEndpoints(sp.allEndpoints.filter((e) => e.node === node));

/** What kube-proxy derives per node for a service port's traffic policies (CategorizeEndpoints and syncProxyRules). */
export interface PolicyView {
  /** the service has a usable endpoint somewhere */
  hasEndpoints: boolean;
  /** the endpoints of the cluster chain (KUBE-SVC / service-), [] when it is not used */
  cluster: Endpoint[];
  /** the endpoints of the local chain (KUBE-SVL / local-), [] when it is not used */
  local: Endpoint[];
  /** cluster-IP traffic has somewhere to go (else dropped: "has no local endpoints") */
  hasInternal: boolean;
  /** node-port traffic has somewhere to go */
  hasExternal: boolean;
  /** every endpoint some chain uses, in "ip:port" text order: the endpoint chains to write */
  reachable: Endpoint[];
}

export function policyView(sp: ServicePortModel, node: string | undefined): PolicyView {
  const ext = externallyAccessible(sp);
  const externalLocal = ext && sp.externalLocal === true;
  const usesCluster = !sp.internalLocal || (ext && !externalLocal);
  const usesLocal = sp.internalLocal === true || externalLocal;
  const cluster = usesCluster ? sp.endpoints : [];
  const local = usesLocal && node !== undefined ? localEndpoints(sp, node) : [];
  const hasEndpoints = sp.endpoints.length > 0;
  // the common case (no Local policy) without the union: large labs have thousands of services
  if (!usesLocal) return { hasEndpoints, cluster, local, hasInternal: hasEndpoints, hasExternal: hasEndpoints, reachable: cluster };
  const inBoth = new Set([...cluster, ...local]);
  return {
    hasEndpoints,
    cluster,
    local,
    hasInternal: hasEndpoints && (!sp.internalLocal || local.length > 0),
    hasExternal: hasEndpoints && (!externalLocal || local.length > 0),
    reachable: sp.allEndpoints.filter((e) => inBoth.has(e)),
  };
}

/**
 * Pods matching a label selector, through an index of label=value → pods: thousands of
 * services over tens of thousands of pods would otherwise test every pod for every service.
 * An empty selector selects no pod (a Service without a selector has no automatic endpoints).
 */
/** A service's selector matches pods of the service's own namespace only, as in Kubernetes. */
function podSelector(pods: readonly TopologyPod[]): (namespace: string, selector: Record<string, string>) => TopologyPod[] {
  const index = new Map<string, Set<TopologyPod>>();
  for (const p of pods) {
    const ns = podMeta(p).namespace;
    for (const [k, v] of Object.entries(p.labels)) {
      const key = `${ns}\0${k}=${v}`;
      index.set(key, (index.get(key) ?? new Set()).add(p));
    }
  }
  return (namespace, selector) => {
    const sets = Object.entries(selector).map(([k, v]) => index.get(`${namespace}\0${k}=${v}`) ?? new Set<TopologyPod>());
    if (!sets.length) return [];
    sets.sort((a, b) => a.size - b.size);
    return [...sets[0]!].filter((p) => sets.every((s) => s.has(p)));
  };
}

export function servicePortName(namespace: string, name: string, port: string): string {
  return `${namespace}/${name}${port ? `:${port}` : ''}`;
}

/** "0x4000" as kube-proxy prints marks */
export const markHex = (mark: number) => `0x${mark.toString(16)}`;

// --- kube-proxy's chain names ------------------------------------------------------------
// sha256 of the service port name and lower-case protocol (plus "ip:port" for an endpoint),
// base32 (RFC 4648, upper case), first 16 characters: iptables chain names are at most 28.

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

export function base32(buf: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const b of buf) {
    value = ((value << 8) | b) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

// crypto.hash (Node >= 20.12) is the one-shot form, about twice as fast as createHash for
// the tens of thousands of names a large lab needs; 16 base32 characters use 10 bytes.
export const sha256 = (text: string): Buffer =>
  typeof hash === 'function' ? hash('sha256', text, 'buffer') : createHash('sha256').update(text).digest();
const sha256Hex = (text: string): string =>
  typeof hash === 'function' ? hash('sha256', text, 'hex') : createHash('sha256').update(text).digest('hex');

/**
 * base32 of the first 5 × `groups` bytes of sha256(text), 8 characters per group: the same text
 * as base32(sha256(text).subarray(0, 5 * groups)), read from the hex digest (5 bytes are 40 bits,
 * exact in a double) — no Buffer per name, which a large table's ten thousand names felt.
 */
export function sha256Base32(text: string, groups: number): string {
  const hex = sha256Hex(text);
  let out = '';
  for (let g = 0; g < groups; g++) {
    let v = parseInt(hex.slice(g * 10, g * 10 + 10), 16);
    let chunk = '';
    for (let i = 0; i < 8; i++) {
      chunk = BASE32[v % 32]! + chunk;
      v = Math.floor(v / 32);
    }
    out += chunk;
  }
  return out;
}
export const hash16 = (text: string) => sha256Base32(text, 2);
export const portProtoHash = (sp: Pick<ServicePortModel, 'id' | 'protocol'>) => hash16(sp.id + sp.protocol.toLowerCase());
export const svcChain = (sp: ServicePortModel) => `KUBE-SVC-${portProtoHash(sp)}`;
export const extChain = (sp: ServicePortModel) => `KUBE-EXT-${portProtoHash(sp)}`;
/** the local-policy chain (externalTrafficPolicy or internalTrafficPolicy Local) */
export const svlChain = (sp: ServicePortModel) => `KUBE-SVL-${portProtoHash(sp)}`;
/** the loadBalancerSourceRanges chain */
export const fwChain = (sp: ServicePortModel) => `KUBE-FW-${portProtoHash(sp)}`;
export const sepChain = (sp: Pick<ServicePortModel, 'id' | 'protocol'>, ep: Pick<Endpoint, 'ip' | 'port'>) =>
  `KUBE-SEP-${hash16(sp.id + sp.protocol.toLowerCase() + `${ep.ip}:${ep.port}`)}`;

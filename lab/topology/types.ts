import type { TopologyNetworkPolicy } from './netpol';

// The resolved topology: every default applied, every address decided. Plans are made from this.

/** The pod network's dataplane: flannel's backends (vxlan, host-gw) or Calico's modes. */
export type Backend = 'vxlan' | 'host-gw' | 'calico-bgp' | 'calico-vxlan' | 'calico-ipip';
export type CniName = 'flannel' | 'calico';
export type CalicoMode = 'bgp' | 'vxlan' | 'ipip';

/** Calico's settings, resolved (cluster.cni: calico only). */
export interface CalicoSpec {
  mode: CalicoMode;
  /** encapsulate only between segments; nodes on one segment route directly (vxlan, ipip) */
  crossSubnet: boolean;
  blockSize: number;
  asNumber: number;
  /** the IPPool's natOutgoing: cali-nat-outgoing masquerades pod traffic leaving the pool */
  natOutgoing: boolean;
  /** vxlan.calico's VNI and UDP port: Calico's defaults (FelixConfiguration vxlanVNI, vxlanPort) */
  vni: number;
  port: number;
  /** bgp mode: the route reflector nodes (none: the full mesh) and their cluster ID */
  routeReflectors?: string[];
  routeReflectorClusterID?: string;
}
/** The cluster DNS, resolved: the lab adds kube-system/kube-dns at clusterIP and its server pods. */
export interface DnsSpec {
  domain: string;
  clusterIP: string;
  /** the DNS server pods (kube-system, k8s-app: kube-dns) the lab added */
  pods: string[];
}
export type RuntimeKind = 'netns' | 'docker';

export interface PodPort {
  port: number;
  protocol: 'TCP' | 'UDP';
  name?: string;
}

export interface TopologyNode {
  name: string;
  ip: string; // underlay address of eth0
  underlay: string; // the segment it sits on (CIDR)
  gateway: string; // default route: the segment's gateway in the lab's own namespace
  podSubnet: string; // CIDR; calico: the node's first IPAM block
  cni0?: string; // flannel: <subnet>.1
  vtep?: string; // flannel: <subnet>.0, flannel.<vni>'s address
  blocks?: string[]; // calico: the IPAM blocks this node owns (affinity), in the order claimed
  tunnel?: string; // calico vxlan: vxlan.calico's address, the first of its first block
  host?: string; // docker runtime with `hosts:`: the host whose engine runs it
}

export type EngineSpec =
  | { kind: 'local'; socket: string }
  | { kind: 'ssh'; user: string; host: string; port: number; identityFile?: string; knownHosts?: string; proxyCommand?: string[] }
  | { kind: 'tcp'; host: string; port: number; tls: { ca: string; cert: string; key: string } };

export interface TopologyHost {
  name: string;
  engine: EngineSpec;
  /** where the other hosts send the lab's underlay tunnel (several hosts only) */
  address?: string;
}

export interface TopologyPod {
  /**
   * The pod's name in the lab: its Kubernetes name in namespace 'default', `<ns>/<name>` in any
   * other (podRef); podMeta gives both parts back.
   */
  name: string;
  node: string;
  ip: string;
  labels: Record<string, string>;
  ports: PodPort[];
  /** EndpointSlice conditions; left out = ready, serving, not terminating */
  conditions?: EndpointConditions;
  /** the Kubernetes namespace; left out = default (kept out so that default-only labs read as before) */
  namespace?: string;
  hostname?: string;
  subdomain?: string;
}

export interface EndpointConditions {
  ready: boolean;
  serving: boolean;
  terminating: boolean;
}

export type ProxyMode = 'iptables' | 'ipvs' | 'nftables' | 'none';

export interface ServicePortSpec {
  name: string; // '' when unnamed
  port: number;
  targetPort: number | string; // a number, or a pod port's name
  protocol: 'TCP' | 'UDP';
  nodePort?: number; // NodePort and LoadBalancer services
}

export interface TopologyService {
  name: string;
  namespace: string;
  type: 'ClusterIP' | 'NodePort' | 'LoadBalancer';
  /** 'None' for a headless service */
  clusterIP: string;
  selector: Record<string, string>;
  ports: ServicePortSpec[];
  /** externalTrafficPolicy / internalTrafficPolicy: Local (left out = Cluster) */
  externalLocal?: true;
  internalLocal?: true;
  /** sessionAffinity: ClientIP, with its timeout; left out = None */
  affinity?: { timeoutSeconds: number };
  /** spec.externalIPs */
  externalIPs?: string[];
  /** LoadBalancer: status.loadBalancer.ingress IPs (given, or allocated from cluster.loadBalancerPool) */
  loadBalancerIPs?: string[];
  /** LoadBalancer: loadBalancerSourceRanges as CIDRs */
  sourceRanges?: string[];
  /** LoadBalancer with externalTrafficPolicy Local: kube-proxy's health check server's port */
  healthCheckNodePort?: number;
}

/** A given EndpointSlice, resolved: each endpoint's node and pod found (by address when not named). */
export interface TopologyEndpointSlice {
  name: string;
  namespace: string;
  service: string;
  ports: { name: string; port: number; protocol: 'TCP' | 'UDP' }[];
  endpoints: { ip: string; node?: string; pod?: string; conditions: EndpointConditions }[];
}

export interface RuleFileSpec {
  nodes: '*' | string[];
  tool: 'iptables-restore' | 'nft' | 'ipset' | 'ipvsadm';
  file: string; // absolute
  mode: 'replace' | 'append';
  text: string; // the file's content, read when the topology was loaded
}

export interface ProxySpec {
  mode: ProxyMode;
  masqueradeBit: number;
  scheduler: string;
  /** --nodeport-addresses as written; undefined = kube-proxy's default for the mode (see model/proxy.ts) */
  nodePortAddresses?: string[];
  /** --iptables-localhost-nodeports */
  localhostNodePorts: boolean;
  rules: RuleFileSpec[];
}

/** A Kubernetes namespace: every one a pod, a service or `namespaces:` names, with its labels. */
export interface TopologyNamespace {
  name: string;
  /** with kubernetes.io/metadata.name: <name>, which the API server sets on every namespace */
  labels: Record<string, string>;
}

export const DEFAULT_NAMESPACE = 'default';
/** The lab's name for pod `name` of Kubernetes namespace `namespace`. */
export const podRef = (namespace: string | undefined, name: string): string =>
  namespace === undefined || namespace === DEFAULT_NAMESPACE ? name : `${namespace}/${name}`;
/** A pod's Kubernetes namespace and name. */
export function podMeta(pod: Pick<TopologyPod, 'name' | 'namespace'>): { namespace: string; name: string } {
  const slash = pod.name.indexOf('/');
  return slash < 0
    ? { namespace: pod.namespace ?? DEFAULT_NAMESPACE, name: pod.name }
    : { namespace: pod.name.slice(0, slash), name: pod.name.slice(slash + 1) };
}

export interface Topology {
  name: string;
  runtime: RuntimeKind;
  source: string; // file it came from
  cluster: {
    cni: CniName;
    podCIDR: string;
    serviceCIDR: string;
    underlay: { cidr: string; gateway: string }[]; // segments; gateway = .1, in the lab namespace
    backend: Backend;
    /** flannel's VXLAN */
    vni: number;
    port: number;
    mtu: number;
    calico?: CalicoSpec;
    /** the cluster DNS (cluster.dns: true): its domain and the kube-dns service's address */
    dns?: DnsSpec;
    /** where LoadBalancer IPs are allocated (cluster.loadBalancerPool) */
    loadBalancerPool?: string;
  };
  proxy: ProxySpec;
  /** docker runtime: the machines running nodes; empty = this machine only */
  hosts: TopologyHost[];
  nodes: TopologyNode[];
  /** sorted by name; 'default' always, and every namespace a pod or service uses */
  namespaces: TopologyNamespace[];
  pods: TopologyPod[];
  services: TopologyService[];
  /** EndpointSlices given in the topology (a service with any takes its endpoints from them only) */
  endpointSlices: TopologyEndpointSlice[];
  /** NetworkPolicies, validated as the API server does, its defaults applied (lab/topology/netpol.ts) */
  networkPolicies: TopologyNetworkPolicy[];
}

import { z } from 'zod';
import { InputError } from '../errors';
import { networkPolicySchema } from './netpol';

// The topology file as written by a user. Defaults and allocation happen in resolve.ts,
// so this schema only says what may be written; strict objects make unknown keys errors.

/** DNS-label names: they become parts of network namespace names (kdl.<lab>.<node>.<pod>). */
export const NAME_RE = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
const nameOf = (what: string, max: number) =>
  z
    .string()
    .max(max, { error: `${what} names are at most ${max} characters` })
    .regex(NAME_RE, {
      error: `not a valid ${what} name: use lowercase letters, digits and '-' (it names a network namespace)`,
    });

export const labName = nameOf('lab', 32);

/** Why a lab name given anywhere (a flag, an environment variable, a state file) is refused; undefined if it is valid. */
export function labNameProblem(name: string): string | undefined {
  const r = labName.safeParse(name);
  return r.success ? undefined : `'${name}': ${r.error.issues[0]?.message ?? 'not a valid lab name'}`;
}

/** The name, if it is a valid lab name; else exit 2 naming the flag (or file) it came from. Empty is refused too. */
export function checkLabName(name: string, from = '--name'): string {
  const problem = labNameProblem(name);
  if (problem) throw InputError.of(from, '', problem);
  return name;
}
const ipv4 = z.string().regex(/^\d{1,3}(\.\d{1,3}){3}$/, { error: 'not an IPv4 address' });
const cidr = z.string().regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/, { error: 'not an IPv4 CIDR (a.b.c.d/len)' });
const port = z.number().int().min(1).max(65535);

const podPort = z.union([port, z.strictObject({ port, protocol: z.enum(['TCP', 'UDP']).default('TCP'), name: z.string().optional() })]);

export const nodeSchema = z.strictObject({
  name: nameOf('node', 63),
  ip: ipv4.optional(),
  podSubnet: cidr.optional(),
  /** the host (of `hosts:`) whose engine runs this node; spread over the hosts when left out */
  host: z.string().optional(),
});

/** A machine whose Docker engine runs nodes (docker runtime): this one, or one reached over ssh/tcp. */
export const hostSchema = z.strictObject({
  name: nameOf('host', 32),
  /** local (this machine's socket), unix:///path, ssh://[user@]host[:port], tcp://host:port (TLS) */
  engine: z.string().default('local'),
  /** where the other hosts send this lab's underlay tunnel (default: the ssh host, when it is an address) */
  address: ipv4.optional(),
  identityFile: z.string().optional(),
  knownHosts: z.string().optional(),
  /** argv whose stdin/stdout reach the ssh server (like ssh's ProxyCommand); %h, %p are replaced */
  proxyCommand: z.array(z.string()).min(1).optional(),
  /** tcp:// engines: client certificate files (as DOCKER_CERT_PATH holds them) */
  tls: z.strictObject({ ca: z.string(), cert: z.string(), key: z.string() }).optional(),
});

export const podSchema = z.strictObject({
  name: nameOf('pod', 63),
  node: z.string(),
  ip: ipv4.optional(),
  labels: z.record(z.string(), z.string()).default({}),
  ports: z.array(podPort).default([]),
  /**
   * The pod's endpoint conditions as an EndpointSlice shows them (discovery.k8s.io/v1): ready
   * (default: not terminating), serving (default true), terminating (default false).
   */
  conditions: z
    .strictObject({ ready: z.boolean().optional(), serving: z.boolean().optional(), terminating: z.boolean().optional() })
    .optional(),
  /**
   * the Kubernetes namespace; default 'default'. Pods in other namespaces are named `<ns>/<name>`
   * in the lab (scenarios, exec, status), as kubectl's `-n ns` would find them.
   */
  namespace: nameOf('namespace', 63).optional(),
  /** with subdomain (a headless service's name): <hostname>.<subdomain>.<ns>.svc.<domain> in the cluster DNS */
  hostname: nameOf('hostname', 63).optional(),
  subdomain: nameOf('subdomain', 63).optional(),
});

/** Calico's settings (cluster.cni: calico): its mode, IPAM block size, BGP AS. */
export const calicoSchema = z.strictObject({
  /** bgp: routes between nodes learned by BIRD, no encapsulation; vxlan: vxlan.calico (VNI 4096, UDP 4789); ipip: tunl0 */
  mode: z.enum(['bgp', 'vxlan', 'ipip']).default('bgp'),
  /** vxlan/ipip: encapsulate only towards nodes on another underlay segment (the IPPool's CrossSubnet) */
  crossSubnet: z.boolean().default(false),
  /** prefix length of the IPAM blocks handed to nodes (Calico's IPPool blockSize) */
  blockSize: z.number().int().min(20).max(32).default(26),
  /** the AS of every node's BIRD (an iBGP full mesh) */
  asNumber: z.number().int().min(1).max(4294967295).default(64512),
  /** the IPPool's natOutgoing: pods' traffic to outside the pool (and the cluster) masqueraded by cali-nat-outgoing */
  natOutgoing: z.boolean().default(true),
  /**
   * bgp mode: these nodes are route reflectors (Calico: a routeReflectorClusterID on the node, the
   * mesh off, BGPPeers from every node to the reflectors); unset: the full node-to-node mesh
   */
  routeReflectors: z.array(z.string()).min(1).optional(),
  /** the reflectors' cluster ID (Node spec.bgp.routeReflectorClusterID) */
  routeReflectorClusterID: z.ipv4().optional(),
});

export const clusterSchema = z.strictObject({
  /** the CNI that builds the pod network: flannel (cni0 bridge, vxlan or host-gw) or calico (pure L3) */
  cni: z.enum(['flannel', 'calico']).default('flannel'),
  podCIDR: cidr.default('10.42.0.0/16'),
  /** flannel: prefix length of each node's pod subnet when it is allocated (default 24) */
  nodeSubnetPrefix: z.number().int().min(16).max(29).optional(),
  serviceCIDR: cidr.default('10.43.0.0/16'),
  /** the underlay segments; each becomes a bridge in the lab's own namespace, gateway = .1 */
  underlay: z.union([cidr, z.array(cidr).min(1)]).default('192.168.205.0/24'),
  /** flannel's backend (default vxlan) */
  backend: z.enum(['vxlan', 'host-gw']).optional(),
  /** flannel's VXLAN settings */
  vxlan: z
    .strictObject({
      // flannel.<vni> must fit IFNAMSIZ (15 characters): at most 7 digits, below the 24-bit limit.
      vni: z
        .number()
        .int()
        .min(1)
        .max(9999999, { error: 'at most 9999999: flannel.<vni> is an interface name (15 characters)' })
        .default(1),
      port: port.default(8472),
    })
    .optional(),
  calico: calicoSchema.optional(),
  /** pod network MTU; default 1450 for vxlan (50 bytes of encapsulation), 1480 for ipip, 1500 otherwise */
  mtu: z.number().int().min(576).max(9000).optional(),
  /** the cluster DNS: kube-system/kube-dns at the service CIDR's .10, dnsmasq in two pods (lab/pods/dns.ts);
   * default on, as in every kind/k3s/kubeadm cluster, except with proxy.mode none (no rules lead to it) */
  dns: z.boolean().optional(),
  /** the cluster's DNS domain (kubelet's --cluster-domain) */
  domain: z
    .string()
    .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/, { error: 'not a DNS domain (labels of a-z, 0-9, -)' })
    .default('cluster.local'),
  /** LoadBalancer IPs are handed out from here (like a MetalLB IPAddressPool) when a service gives none */
  loadBalancerPool: cidr.optional(),
});

const servicePort = z.strictObject({
  name: z
    .string()
    .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, { error: 'port names are DNS labels' })
    .optional(),
  port,
  /** a number, or the name of a pod port */
  targetPort: z.union([port, z.string()]).optional(),
  protocol: z.enum(['TCP', 'UDP']).default('TCP'),
  // any port: the cluster's --service-node-port-range decides (30000-32767 by default, where
  // the lab allocates); kube-proxy takes whatever it is given (its own tests use 3001)
  nodePort: z
    .number()
    .int()
    .min(1, { error: 'nodePort must be in 1-65535' })
    .max(65535, { error: 'nodePort must be in 1-65535' })
    .optional(),
});

export const serviceSchema = z.strictObject({
  name: nameOf('service', 63),
  /** the Kubernetes namespace: it appears in rule comments and chain-name hashes (ns/name:port) */
  namespace: nameOf('namespace', 63).default('default'),
  type: z.enum(['ClusterIP', 'NodePort', 'LoadBalancer']).default('ClusterIP'),
  /** None: a headless service (no cluster IP, no kube-proxy rules; the DNS answers with the pods' IPs) */
  clusterIP: z.union([z.literal('None'), ipv4]).optional(),
  /** left out: a service without selector, whose endpoints come from endpointSlices */
  selector: z.record(z.string(), z.string()).default({}),
  ports: z.array(servicePort).min(1, { error: 'a service needs at least one port' }),
  /** Local: node-port traffic only to the node's own endpoints, the client's address kept */
  externalTrafficPolicy: z.enum(['Cluster', 'Local']).default('Cluster'),
  /** Local: cluster-IP traffic only to endpoints on the client's node */
  internalTrafficPolicy: z.enum(['Cluster', 'Local']).default('Cluster'),
  /** ClientIP: a client keeps its endpoint for sessionAffinityConfig.clientIP.timeoutSeconds */
  sessionAffinity: z.enum(['None', 'ClientIP']).default('None'),
  sessionAffinityConfig: z
    .strictObject({
      clientIP: z.strictObject({
        // the apiserver's bounds: 1 s to 1 day, 10800 (3 h) when left out
        timeoutSeconds: z
          .number()
          .int()
          .min(1, { error: 'timeoutSeconds must be in 1-86400' })
          .max(86400, { error: 'timeoutSeconds must be in 1-86400' })
          .default(10800),
      }),
    })
    .optional(),
  /** addresses outside the cluster this service also answers on (kube-proxy's "external IP" rules) */
  externalIPs: z.array(ipv4).optional(),
  /** LoadBalancer: the address asked of the load balancer (spec.loadBalancerIP); else the pool's next free one */
  loadBalancerIP: ipv4.optional(),
  /** LoadBalancer: the sources the load balancer IP accepts (KUBE-FW- / firewall- chains); left out = any */
  loadBalancerSourceRanges: z.array(cidr).optional(),
  /** LoadBalancer: false = no node ports allocated (only those given) */
  allocateLoadBalancerNodePorts: z.boolean().optional(),
  /** LoadBalancer with externalTrafficPolicy Local: the port kube-proxy's health check server answers on */
  healthCheckNodePort: port.optional(),
  /** what the load balancer reports (status.loadBalancer.ingress): these IPs instead of an allocated one */
  status: z.strictObject({ loadBalancer: z.strictObject({ ingress: z.array(z.strictObject({ ip: ipv4 })).default([]) }) }).optional(),
});

/**
 * An EndpointSlice (discovery.k8s.io/v1) given as it is, not derived from a selector: a service
 * with slices takes its endpoints from them (as kube-proxy does; the EndpointSlice controller's
 * derived slices are what the lab computes otherwise). Also the way to a service without selector.
 */
export const endpointSliceSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/, { error: 'not a valid EndpointSlice name (a DNS subdomain)' }),
  namespace: nameOf('namespace', 63).default('default'),
  /** the kubernetes.io/service-name label: the service in the same namespace the slice belongs to */
  service: nameOf('service', 63),
  addressType: z.literal('IPv4').default('IPv4'),
  ports: z
    .array(
      z.strictObject({
        name: z.string().default(''),
        port,
        protocol: z.enum(['TCP', 'UDP']).default('TCP'),
      }),
    )
    .default([]),
  endpoints: z
    .array(
      z.strictObject({
        addresses: z
          .array(ipv4)
          .min(1, { error: 'an endpoint has at least one address' })
          .max(1, { error: 'IPv4 slices: one address per endpoint' }),
        nodeName: z.string().optional(),
        conditions: z
          .strictObject({ ready: z.boolean().optional(), serving: z.boolean().optional(), terminating: z.boolean().optional() })
          .optional(),
        /** the pod behind the address, when it is one of the lab's (found by address otherwise) */
        targetRef: z.strictObject({ kind: z.literal('Pod'), name: z.string(), namespace: z.string().optional() }).optional(),
      }),
    )
    .default([]),
});

/** A user's own rule file for some nodes: installed instead of, or after, the generated rules. */
const ruleFile = z.strictObject({
  nodes: z.union([z.literal('*'), z.array(z.string())]).default('*'),
  tool: z.enum(['iptables-restore', 'nft', 'ipset', 'ipvsadm']),
  file: z.string(),
  mode: z.enum(['replace', 'append']).default('append'),
});

export const proxySchema = z.strictObject({
  mode: z.enum(['iptables', 'ipvs', 'nftables', 'none']).default('iptables'),
  /** kube-proxy's --iptables-masquerade-bit: the mark is 1 << bit (14 → 0x4000) */
  masqueradeBit: z.number().int().min(0).max(31).default(14),
  /** IPVS scheduler (ipvsadm -s) */
  scheduler: z.enum(['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq']).default('rr'),
  /**
   * kube-proxy's --nodeport-addresses: CIDRs, or 'primary' (the node's own IP). Left out, kube-proxy's
   * default for the mode: every local address (iptables, ipvs), 'primary' (nftables).
   */
  nodePortAddresses: z.array(z.union([z.literal('primary'), cidr])).optional(),
  /** kube-proxy's --iptables-localhost-nodeports (iptables mode): node ports answer on 127.0.0.1 too */
  localhostNodePorts: z.boolean().default(true),
  rules: z.array(ruleFile).default([]),
});

/** A Kubernetes namespace and its labels (namespaceSelector in network policies matches these). */
export const namespaceSchema = z.strictObject({
  name: nameOf('namespace', 63),
  labels: z.record(z.string(), z.string()).default({}),
});

export const topologySchema = z.strictObject({
  name: labName,
  runtime: z.enum(['netns', 'docker']).default('netns'),
  cluster: clusterSchema.default(clusterSchema.parse({})),
  proxy: proxySchema.default(proxySchema.parse({})),
  /** docker runtime: the machines whose engines run the nodes (default: this one) */
  hosts: z.array(hostSchema).optional(),
  /** Kubernetes YAML (files or folders, relative to this file) whose objects join the lab (lab/topology/manifests) */
  manifests: z.array(z.string().min(1)).optional(),
  /** at least one, here or as Node objects of `manifests:` */
  nodes: z.array(nodeSchema).default([]),
  /** Kubernetes namespaces with labels; the ones pods and services use exist without being listed */
  namespaces: z.array(namespaceSchema).default([]),
  pods: z.array(podSchema).default([]),
  services: z.array(serviceSchema).default([]),
  endpointSlices: z.array(endpointSliceSchema).default([]),
  /** NetworkPolicy objects (networking.k8s.io/v1), metadata and spec flattened (lab/topology/netpol.ts) */
  networkPolicies: z.array(networkPolicySchema).default([]),
});

export type TopologyInput = z.infer<typeof topologySchema>;
export type PodPortInput = z.infer<typeof podPort>;

import { createHash } from 'node:crypto';
import { stringify } from 'yaml';
import type { LabelSelector, NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicyRule, TopologyNetworkPolicy } from '../topology/netpol';
import { podMeta, type Topology, type TopologyPod, type TopologyService } from '../topology/types';

// The lab as Kubernetes objects, with the API's standard fields only (what `kubectl get -o yaml`
// prints of a cluster, less what the lab does not model): Namespaces, Nodes, Pods, Services,
// EndpointSlices. `lab export` prints them as a List, `lab get` shows them as kubectl does; read
// back as manifests they give the same lab. Pure: from the topology alone (and the time the lab
// was brought up, for creationTimestamp).

export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  creationTimestamp?: string;
  deletionTimestamp?: string;
}

interface Condition {
  type: string;
  status: 'True' | 'False';
}

export interface NamespaceObject {
  apiVersion: 'v1';
  kind: 'Namespace';
  metadata: ObjectMeta;
  spec: { finalizers: string[] };
  status: { phase: 'Active' };
}

export interface NodeObject {
  apiVersion: 'v1';
  kind: 'Node';
  metadata: ObjectMeta;
  spec: { podCIDR: string; podCIDRs: string[] };
  status: { addresses: { type: 'InternalIP' | 'Hostname'; address: string }[]; conditions: Condition[] };
}

export interface ContainerPort {
  containerPort: number;
  protocol: 'TCP' | 'UDP';
  name?: string;
}

export interface PodObject {
  apiVersion: 'v1';
  kind: 'Pod';
  metadata: ObjectMeta;
  spec: { nodeName: string; containers: { name: string; ports?: ContainerPort[] }[]; hostname?: string; subdomain?: string };
  status: {
    phase: 'Running';
    podIP: string;
    podIPs: { ip: string }[];
    hostIP: string;
    conditions: Condition[];
    containerStatuses: { name: string; ready: boolean; restartCount: number; started: boolean }[];
  };
}

export interface ServicePortObject {
  name?: string;
  protocol: 'TCP' | 'UDP';
  port: number;
  targetPort: number | string;
  nodePort?: number;
}

export interface ServiceObject {
  apiVersion: 'v1';
  kind: 'Service';
  metadata: ObjectMeta;
  spec: {
    type: TopologyService['type'];
    clusterIP: string;
    clusterIPs: string[];
    ports: ServicePortObject[];
    selector?: Record<string, string>;
    sessionAffinity: 'None' | 'ClientIP';
    sessionAffinityConfig?: { clientIP: { timeoutSeconds: number } };
    externalTrafficPolicy?: 'Cluster' | 'Local';
    internalTrafficPolicy: 'Cluster' | 'Local';
    ipFamilies: ['IPv4'];
    ipFamilyPolicy: 'SingleStack';
  };
  status: { loadBalancer: Record<string, never> };
}

export interface EndpointObject {
  addresses: string[];
  conditions: { ready: boolean; serving: boolean; terminating: boolean };
  nodeName?: string;
  targetRef?: { kind: 'Pod'; name: string; namespace: string };
}

export interface EndpointSliceObject {
  apiVersion: 'discovery.k8s.io/v1';
  kind: 'EndpointSlice';
  metadata: ObjectMeta;
  addressType: 'IPv4';
  endpoints: EndpointObject[];
  ports: { name: string; port: number; protocol: 'TCP' | 'UDP' }[];
}

export interface SelectorObject {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}
interface PeerObject {
  podSelector?: SelectorObject;
  namespaceSelector?: SelectorObject;
  ipBlock?: { cidr: string; except?: string[] };
}
interface PolicyPortObject {
  protocol: 'TCP' | 'UDP';
  port?: number | string;
  endPort?: number;
}

export interface NetworkPolicyObject {
  apiVersion: 'networking.k8s.io/v1';
  kind: 'NetworkPolicy';
  metadata: ObjectMeta;
  spec: {
    podSelector: SelectorObject;
    policyTypes: string[];
    ingress?: { from?: PeerObject[]; ports?: PolicyPortObject[] }[];
    egress?: { to?: PeerObject[]; ports?: PolicyPortObject[] }[];
  };
}

export type K8sObject = NamespaceObject | NodeObject | PodObject | ServiceObject | EndpointSliceObject | NetworkPolicyObject;

export interface LabObjects {
  namespaces: NamespaceObject[];
  nodes: NodeObject[];
  pods: PodObject[];
  services: ServiceObject[];
  endpointSlices: EndpointSliceObject[];
  networkPolicies: NetworkPolicyObject[];
}

/** `kubectl get -o yaml` of several objects: a List. */
export interface ListObject {
  apiVersion: 'v1';
  kind: 'List';
  items: K8sObject[];
  metadata: { resourceVersion: '' };
}

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
export const MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by';
export const MANAGED_BY_CONTROLLER = 'endpointslice-controller.k8s.io';
/** the one container the lab's pods stand for (its listeners are the pod's ports) */
export const CONTAINER_NAME = 'app';

const byName = <T extends { metadata: ObjectMeta }>(a: T, b: T) =>
  (a.metadata.namespace ?? '').localeCompare(b.metadata.namespace ?? '') || a.metadata.name.localeCompare(b.metadata.name);

/** The alphabet of the API server's generateName suffixes (no vowels, no 0/1/3). */
const SUFFIX_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
/** `<base>-<5 chars>` as a generated name looks; derived from `seed` so that the same lab gives the same names */
export function generatedName(base: string, seed: string): string {
  const h = createHash('sha256').update(seed).digest();
  let s = '';
  for (let i = 0; i < 5; i++) s += SUFFIX_ALPHABET[h[i]! % SUFFIX_ALPHABET.length];
  return `${base}-${s}`;
}

/** Every object of the lab, sorted by namespace and name as the API server lists them. */
export function labObjects(topo: Topology, createdAt?: string): LabObjects {
  const meta = (name: string, namespace?: string, labels?: Record<string, string>): ObjectMeta => ({
    name,
    ...(namespace !== undefined ? { namespace } : {}),
    ...(labels && Object.keys(labels).length ? { labels: { ...labels } } : {}),
    ...(createdAt ? { creationTimestamp: createdAt } : {}),
  });
  const nodeIP = new Map(topo.nodes.map((n) => [n.name, n.ip]));
  const namespaces = topo.namespaces.map((ns): NamespaceObject => ({
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: meta(ns.name, undefined, { ...ns.labels, 'kubernetes.io/metadata.name': ns.name }),
    spec: { finalizers: ['kubernetes'] },
    status: { phase: 'Active' },
  }));
  const nodes = topo.nodes.map((n): NodeObject => ({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: meta(n.name, undefined, { 'kubernetes.io/hostname': n.name, 'kubernetes.io/os': 'linux' }),
    spec: { podCIDR: n.podSubnet, podCIDRs: [n.podSubnet] },
    status: {
      addresses: [
        { type: 'InternalIP', address: n.ip },
        { type: 'Hostname', address: n.name },
      ],
      conditions: [{ type: 'Ready', status: 'True' }],
    },
  }));
  const pods = topo.pods.map((p): PodObject => podObject(p, meta, nodeIP.get(p.node) ?? '', createdAt));
  const services = topo.services.map((s): ServiceObject => serviceObject(s, meta(s.name, s.namespace)));
  const endpointSlices = sliceObjects(topo, meta);
  return {
    namespaces: namespaces.sort(byName),
    nodes: nodes.sort(byName),
    pods: pods.sort(byName),
    services: services.sort(byName),
    endpointSlices: endpointSlices.sort(byName),
    networkPolicies: (topo.networkPolicies ?? []).map((np) => policyObject(np, meta(np.name, np.namespace))).sort(byName),
  };
}

export function selectorObject(s: LabelSelector): SelectorObject {
  return {
    ...(Object.keys(s.matchLabels).length ? { matchLabels: { ...s.matchLabels } } : {}),
    ...(s.matchExpressions.length
      ? {
          matchExpressions: s.matchExpressions.map((e) => ({
            key: e.key,
            operator: e.operator,
            ...(e.values.length ? { values: [...e.values] } : {}),
          })),
        }
      : {}),
  };
}

function policyObject(np: TopologyNetworkPolicy, metadata: ObjectMeta): NetworkPolicyObject {
  const peer = (p: NetworkPolicyPeer): PeerObject => ({
    ...(p.podSelector ? { podSelector: selectorObject(p.podSelector) } : {}),
    ...(p.namespaceSelector ? { namespaceSelector: selectorObject(p.namespaceSelector) } : {}),
    ...(p.ipBlock ? { ipBlock: { cidr: p.ipBlock.cidr, ...(p.ipBlock.except.length ? { except: [...p.ipBlock.except] } : {}) } } : {}),
  });
  const port = (p: NetworkPolicyPort): PolicyPortObject => ({
    protocol: p.protocol,
    ...(p.port !== undefined ? { port: p.port } : {}),
    ...(p.endPort !== undefined ? { endPort: p.endPort } : {}),
  });
  const rule = (r: NetworkPolicyRule, key: 'from' | 'to') => ({
    ...(r.peers.length ? { [key]: r.peers.map(peer) } : {}),
    ...(r.ports.length ? { ports: r.ports.map(port) } : {}),
  });
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata,
    spec: {
      podSelector: selectorObject(np.podSelector),
      policyTypes: [...np.policyTypes],
      ...(np.ingress.length ? { ingress: np.ingress.map((r) => rule(r, 'from')) } : {}),
      ...(np.egress.length ? { egress: np.egress.map((r) => rule(r, 'to')) } : {}),
    },
  };
}

type Meta = (name: string, namespace?: string, labels?: Record<string, string>) => ObjectMeta;

/**
 * A pod: Ready as its EndpointSlice conditions say (a terminating pod is being deleted: it has a
 * deletionTimestamp, and is Ready while it still serves, as the EndpointSlice controller reads it).
 */
function podObject(p: TopologyPod, meta: Meta, hostIP: string, createdAt: string | undefined): PodObject {
  const { namespace, name } = podMeta(p);
  const c = p.conditions ?? { ready: true, serving: true, terminating: false };
  const ready = c.terminating ? c.serving : c.ready;
  const status = (v: boolean) => (v ? 'True' : 'False');
  const m = meta(name, namespace, p.labels);
  if (c.terminating) m.deletionTimestamp = createdAt ?? '1970-01-01T00:00:00Z';
  const ports = p.ports.map((pp): ContainerPort => ({
    ...(pp.name ? { name: pp.name } : {}),
    containerPort: pp.port,
    protocol: pp.protocol,
  }));
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: m,
    spec: {
      nodeName: p.node,
      containers: [{ name: CONTAINER_NAME, ...(ports.length ? { ports } : {}) }],
      ...(p.hostname ? { hostname: p.hostname } : {}),
      ...(p.subdomain ? { subdomain: p.subdomain } : {}),
    },
    status: {
      phase: 'Running',
      podIP: p.ip,
      podIPs: [{ ip: p.ip }],
      hostIP,
      conditions: [
        { type: 'Initialized', status: 'True' },
        { type: 'Ready', status: status(ready) },
        { type: 'ContainersReady', status: status(ready) },
        { type: 'PodScheduled', status: 'True' },
      ],
      containerStatuses: [{ name: CONTAINER_NAME, ready, restartCount: 0, started: true }],
    },
  };
}

function serviceObject(s: TopologyService, metadata: ObjectMeta): ServiceObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata,
    spec: {
      type: s.type,
      clusterIP: s.clusterIP,
      clusterIPs: [s.clusterIP],
      ports: s.ports.map((p) => ({
        ...(p.name ? { name: p.name } : {}),
        protocol: p.protocol,
        port: p.port,
        targetPort: p.targetPort,
        ...(p.nodePort !== undefined ? { nodePort: p.nodePort } : {}),
      })),
      ...(Object.keys(s.selector).length ? { selector: { ...s.selector } } : {}),
      sessionAffinity: s.affinity ? 'ClientIP' : 'None',
      ...(s.affinity ? { sessionAffinityConfig: { clientIP: { timeoutSeconds: s.affinity.timeoutSeconds } } } : {}),
      // the API server sets externalTrafficPolicy only where node ports are (NodePort, LoadBalancer)
      ...(s.type !== 'ClusterIP' ? { externalTrafficPolicy: s.externalLocal ? ('Local' as const) : ('Cluster' as const) } : {}),
      internalTrafficPolicy: s.internalLocal ? 'Local' : 'Cluster',
      ipFamilies: ['IPv4'],
      ipFamilyPolicy: 'SingleStack',
    },
    status: { loadBalancer: {} },
  };
}

/**
 * The EndpointSlices: the topology's own (as given), and for every service with a selector and
 * none given, the slices the EndpointSlice controller makes — its pods' addresses, one slice per
 * set of resolved ports (a named targetPort may be a different number on different pods; a pod
 * without that port is left out of that port's slice), named `<service>-<5 chars>`.
 */
function sliceObjects(topo: Topology, meta: Meta): EndpointSliceObject[] {
  const out: EndpointSliceObject[] = [];
  const given = new Set(topo.endpointSlices.map((sl) => `${sl.namespace}/${sl.service}`));
  const podByIp = new Map(topo.pods.map((p) => [p.ip, p]));
  const podByRef = new Map(topo.pods.map((p) => [p.name, p]));
  for (const sl of topo.endpointSlices)
    out.push({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: meta(sl.name, sl.namespace, { [SERVICE_NAME_LABEL]: sl.service }),
      addressType: 'IPv4',
      endpoints: sl.endpoints.map((e) => {
        const pod = (e.pod !== undefined ? podByRef.get(e.pod) : undefined) ?? podByIp.get(e.ip);
        return {
          addresses: [e.ip],
          conditions: { ...e.conditions },
          ...(e.node ? { nodeName: e.node } : {}),
          ...(pod ? { targetRef: { kind: 'Pod' as const, ...podMeta(pod) } } : {}),
        };
      }),
      ports: sl.ports.map((p) => ({ name: p.name, port: p.port, protocol: p.protocol })),
    });
  for (const svc of topo.services) {
    if (given.has(`${svc.namespace}/${svc.name}`) || !Object.keys(svc.selector).length) continue;
    const selected = topo.pods.filter(
      (p) => podMeta(p).namespace === svc.namespace && Object.entries(svc.selector).every(([k, v]) => p.labels[k] === v),
    );
    const groups = new Map<string, { ports: EndpointSliceObject['ports']; endpoints: EndpointObject[] }>();
    for (const pod of selected) {
      const ports = svc.ports.flatMap((sp) => {
        const port =
          typeof sp.targetPort === 'number'
            ? sp.targetPort
            : pod.ports.find((pp) => pp.name === sp.targetPort && pp.protocol === sp.protocol)?.port;
        return port === undefined ? [] : [{ name: sp.name, port, protocol: sp.protocol }];
      });
      const key = JSON.stringify(ports);
      const g = groups.get(key) ?? groups.set(key, { ports, endpoints: [] }).get(key)!;
      const c = pod.conditions ?? { ready: true, serving: true, terminating: false };
      g.endpoints.push({
        addresses: [pod.ip],
        conditions: { ready: c.ready, serving: c.serving, terminating: c.terminating },
        nodeName: pod.node,
        targetRef: { kind: 'Pod', ...podMeta(pod) },
      });
    }
    // a service whose selector matches nothing still has its (empty) slice, as the controller keeps one
    if (!groups.size) groups.set('[]', { ports: [], endpoints: [] });
    [...groups.values()].forEach((g, i) =>
      out.push({
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: meta(generatedName(svc.name, `${topo.name}/${svc.namespace}/${svc.name}/${i}`), svc.namespace, {
          [SERVICE_NAME_LABEL]: svc.name,
          [MANAGED_BY_LABEL]: MANAGED_BY_CONTROLLER,
        }),
        addressType: 'IPv4',
        endpoints: g.endpoints,
        ports: g.ports,
      }),
    );
  }
  return out;
}

/** Every object in one List, kinds in the order a cluster dump reads best (namespaces first, policies last). */
export function labList(o: LabObjects): ListObject {
  return {
    apiVersion: 'v1',
    kind: 'List',
    items: [...o.namespaces, ...o.nodes, ...o.pods, ...o.services, ...o.endpointSlices, ...o.networkPolicies],
    metadata: { resourceVersion: '' },
  };
}

/** Keys sorted at every level, as kubectl prints objects (through unstructured maps). */
function sorted(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sorted);
  if (typeof v === 'object' && v !== null)
    return Object.fromEntries(
      Object.entries(v)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, x]) => [k, sorted(x)]),
    );
  return v;
}

/** An object or a List as `kubectl get -o yaml` (sequences not indented under their key) or `-o json` (4 spaces) prints it. */
export function renderObjects(o: K8sObject | ListObject, format: 'yaml' | 'json'): string {
  if (format === 'json') return `${JSON.stringify(sorted(o), null, 4)}\n`;
  return stringify(sorted(o), { indentSeq: false, lineWidth: 0, version: '1.1' }); // 1.1: quoted as Go's yaml quotes ("True", timestamps, "on")
}

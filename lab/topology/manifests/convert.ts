import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { InputIssue } from '../../errors';
import { networkPolicySchema } from '../netpol';
import { endpointSliceSchema, namespaceSchema, nodeSchema, podSchema, serviceSchema } from '../schema';
import type { YamlSource } from '../yaml-source';
import { generatedPodNames, podTemplateHash } from './names';
import { type K8sObject, objectIssue, parseObject, UNSUPPORTED_KINDS } from './objects';

// Kubernetes objects → the topology's input (nodes, namespaces, pods, services, endpointSlices),
// each item with its origin so that a problem found later (resolve.ts) names the object and the
// line it came from. Only what the lab relies on is read strictly; the rest of an object (status
// conditions, managedFields, annotations, volumes, …) is what kubectl prints and is let be.

type Path = (string | number)[];

/** Where a topology item came from: its object, and how a field path of the item maps to the object's. */
export interface Origin {
  label: string;
  src: YamlSource;
  map: (field: Path) => Path;
}
export interface Item<T> {
  value: T;
  origin: Origin;
}

export type NodeIn = z.input<typeof nodeSchema>;
export type PodIn = z.input<typeof podSchema>;
export type ServiceIn = z.input<typeof serviceSchema>;
export type SliceIn = z.input<typeof endpointSliceSchema>;
export type NamespaceIn = z.input<typeof namespaceSchema>;
/** A NetworkPolicy flattened like services (lab/topology/netpol.ts): metadata's name/namespace and the spec's fields. */
export type NetworkPolicyIn = z.input<typeof networkPolicySchema>;

export interface ManifestInput {
  nodes: Item<NodeIn>[];
  namespaces: Item<NamespaceIn>[];
  pods: Item<PodIn>[];
  services: Item<ServiceIn>[];
  endpointSlices: Item<SliceIn>[];
  networkPolicies: Item<NetworkPolicyIn>[];
  /** kube-proxy's ConfigMap (kube-system/kube-proxy, config.conf) */
  proxy: {
    mode?: 'iptables' | 'ipvs' | 'nftables';
    masqueradeBit?: number;
    nodePortAddresses?: string[];
    scheduler?: string;
    origin?: Origin;
  };
  /** what the objects say of the cluster: kubeadm's ClusterConfiguration, kube-proxy's clusterCIDR, the nodes */
  cluster: { podCIDR?: string; serviceCIDR?: string; domain?: string; backend?: 'vxlan' | 'host-gw'; clusterName?: string };
  issues: InputIssue[];
  warnings: InputIssue[];
}

/** A node as the scheduler sees it: for spreading controllers' pods. */
export interface SchedNode {
  name: string;
  labels: Record<string, string>;
  unschedulable: boolean;
  taints: { key: string; value?: string; effect: string }[];
}

const labels = z.record(z.string(), z.string());
const meta = z.looseObject({
  name: z.string(),
  namespace: z.string().optional(),
  labels: labels.nullish(),
  annotations: z.record(z.string(), z.string()).nullish(),
  ownerReferences: z.array(z.looseObject({ kind: z.string(), name: z.string() })).nullish(),
  deletionTimestamp: z.string().nullish(),
});

const containerPort = z.strictObject({
  name: z.string().optional(),
  containerPort: z.number().int().min(1).max(65535),
  protocol: z.enum(['TCP', 'UDP', 'SCTP']).default('TCP'),
  hostPort: z.number().int().optional(),
  hostIP: z.string().optional(),
});
const toleration = z.looseObject({
  key: z.string().optional(),
  operator: z.enum(['Exists', 'Equal']).optional(),
  value: z.string().optional(),
  effect: z.string().optional(),
});
const podSpec = z.looseObject({
  nodeName: z.string().optional(),
  hostNetwork: z.boolean().optional(),
  hostname: z.string().optional(),
  subdomain: z.string().optional(),
  nodeSelector: labels.nullish(),
  tolerations: z.array(toleration).nullish(),
  containers: z.array(z.looseObject({ name: z.string(), ports: z.array(containerPort).nullish() })).min(1),
});
const podObject = z.looseObject({
  metadata: meta,
  spec: podSpec,
  status: z
    .looseObject({
      podIP: z.string().optional(),
      phase: z.string().optional(),
      conditions: z.array(z.looseObject({ type: z.string(), status: z.string() })).nullish(),
    })
    .optional(),
});
const labelSelector = z.strictObject({
  matchLabels: labels.nullish(),
  matchExpressions: z
    .array(
      z.strictObject({
        key: z.string(),
        operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']),
        values: z.array(z.string()).nullish(),
      }),
    )
    .nullish(),
});
const workload = z.looseObject({
  metadata: meta,
  spec: z.looseObject({
    replicas: z.number().int().min(0).optional(),
    selector: labelSelector,
    serviceName: z.string().optional(),
    template: z.looseObject({ metadata: z.looseObject({ labels: labels.nullish() }).optional(), spec: podSpec }),
  }),
});
const nodeObject = z.looseObject({
  metadata: meta,
  spec: z
    .looseObject({
      podCIDR: z.string().optional(),
      podCIDRs: z.array(z.string()).nullish(),
      providerID: z.string().optional(),
      unschedulable: z.boolean().optional(),
      taints: z.array(z.looseObject({ key: z.string(), value: z.string().optional(), effect: z.string() })).nullish(),
    })
    .optional(),
  status: z.looseObject({ addresses: z.array(z.strictObject({ type: z.string(), address: z.string() })).nullish() }).optional(),
});
// Every field of a v1 ServiceSpec: one the lab does not know is a typo, not a newer Kubernetes.
const servicePort = z.strictObject({
  name: z.string().optional(),
  port: z.number(),
  targetPort: z.union([z.number(), z.string()]).optional(),
  protocol: z.enum(['TCP', 'UDP', 'SCTP']).optional(),
  nodePort: z.number().optional(),
  appProtocol: z.string().optional(),
});
const serviceObject = z.looseObject({
  metadata: meta,
  spec: z.strictObject({
    type: z.enum(['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName']).default('ClusterIP'),
    clusterIP: z.string().optional(),
    clusterIPs: z.array(z.string()).nullish(),
    ipFamilies: z.array(z.enum(['IPv4', 'IPv6'])).nullish(),
    ipFamilyPolicy: z.enum(['SingleStack', 'PreferDualStack', 'RequireDualStack']).optional(),
    selector: labels.nullish(),
    ports: z.array(servicePort).nullish(),
    externalTrafficPolicy: z.string().optional(),
    internalTrafficPolicy: z.string().optional(),
    sessionAffinity: z.string().optional(),
    sessionAffinityConfig: z.unknown().optional(),
    publishNotReadyAddresses: z.boolean().optional(),
    externalIPs: z.array(z.string()).nullish(),
    externalName: z.string().optional(),
    loadBalancerIP: z.string().optional(),
    loadBalancerSourceRanges: z.array(z.string()).nullish(),
    loadBalancerClass: z.string().optional(),
    allocateLoadBalancerNodePorts: z.boolean().optional(),
    healthCheckNodePort: z.number().optional(),
    trafficDistribution: z.string().optional(),
  }),
});
const sliceObject = z.looseObject({
  metadata: meta,
  addressType: z.string(),
  ports: z
    .array(
      z.strictObject({
        name: z.string().optional(),
        port: z.number().optional(),
        protocol: z.string().optional(),
        appProtocol: z.string().optional(),
      }),
    )
    .nullish(),
  endpoints: z
    .array(
      z.strictObject({
        addresses: z.array(z.string()),
        conditions: z
          .strictObject({ ready: z.boolean().optional(), serving: z.boolean().optional(), terminating: z.boolean().optional() })
          .optional(),
        hostname: z.string().optional(),
        nodeName: z.string().optional(),
        zone: z.string().optional(),
        targetRef: z.looseObject({ kind: z.string().optional(), name: z.string().optional(), namespace: z.string().optional() }).optional(),
        hints: z.unknown().optional(),
        deprecatedTopology: z.unknown().optional(),
      }),
    )
    .nullish(),
});
const policyObject = z.looseObject({
  metadata: meta,
  spec: z.strictObject({
    podSelector: z.unknown(),
    policyTypes: z.unknown().optional(),
    ingress: z.unknown().optional(),
    egress: z.unknown().optional(),
  }),
});

const NOT_YET = 'not modelled by the lab yet';

/** Does a selector (matchLabels and matchExpressions) select these labels? */
export function selects(sel: z.output<typeof labelSelector>, l: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (l[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = Object.hasOwn(l, e.key);
    const inValues = has && (e.values ?? []).includes(l[e.key]!);
    if (e.operator === 'In' && !inValues) return false;
    if (e.operator === 'NotIn' && inValues) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

/** Does a pod with these tolerations tolerate a taint (the scheduler's TolerationsTolerateTaint)? */
function tolerates(tols: z.output<typeof toleration>[], t: SchedNode['taints'][number]): boolean {
  return tols.some((tol) => {
    if (tol.effect && tol.effect !== t.effect) return false;
    if (!tol.key) return tol.operator === 'Exists';
    if (tol.key !== t.key) return false;
    return tol.operator === 'Exists' || (tol.value ?? '') === (t.value ?? '');
  });
}

/** The nodes a pod template may land on: nodeSelector, taints (NoSchedule, NoExecute), cordoned nodes unless a DaemonSet's. */
function eligible(nodes: readonly SchedNode[], spec: z.output<typeof podSpec>, daemon: boolean): SchedNode[] {
  // the DaemonSet controller adds tolerations for unschedulable (and not-ready) nodes to its pods
  const tols = [...(spec.tolerations ?? []), ...(daemon ? [{ key: 'node.kubernetes.io/unschedulable', operator: 'Exists' as const }] : [])];
  return nodes.filter(
    (n) =>
      (daemon || !n.unschedulable) &&
      Object.entries(spec.nodeSelector ?? {}).every(([k, v]) => n.labels[k] === v) &&
      n.taints.every((t) => (t.effect !== 'NoSchedule' && t.effect !== 'NoExecute') || tolerates(tols, t)),
  );
}

const fieldMap =
  (table: Record<string, Path>, rest: (p: Path) => Path) =>
  (field: Path): Path => {
    const [head, ...tail] = field;
    const base = typeof head === 'string' ? table[head] : undefined;
    return base ? [...base, ...tail] : rest(field);
  };

/** Everything of the objects the lab reads, as topology input; `nodes` are the topology's own, for spreading pods. */
export function convertObjects(objects: readonly K8sObject[], topologyNodes: readonly string[]): ManifestInput {
  const out: ManifestInput = {
    nodes: [],
    namespaces: [],
    pods: [],
    services: [],
    endpointSlices: [],
    networkPolicies: [],
    proxy: {},
    cluster: {},
    issues: [],
    warnings: [],
  };
  const issues = out.issues;
  const fail = (o: K8sObject, path: Path, message: string): void => void issues.push(objectIssue(o, path, message));
  const warn = (o: K8sObject, path: Path, message: string) => out.warnings.push(objectIssue(o, path, message));
  const ignored = new Map<string, { count: number; first: K8sObject }>();
  const ignore = (o: K8sObject) => {
    const e = ignored.get(o.kind);
    if (e) e.count++;
    else ignored.set(o.kind, { count: 1, first: o });
  };
  const hostNetwork: string[] = [];

  // Nodes first: the controllers' pods are spread over them.
  const sched: SchedNode[] = topologyNodes.map((name) => ({
    name,
    labels: { 'kubernetes.io/hostname': name },
    unschedulable: false,
    taints: [],
  }));
  for (const o of objects.filter((x) => x.kind === 'Node')) {
    const n = parseObject(o, nodeObject, issues);
    if (!n) continue;
    const ips = n.status?.addresses ?? [];
    const ipIndex = ips.findIndex((a) => a.type === 'InternalIP');
    const podCIDR = n.spec?.podCIDR ?? n.spec?.podCIDRs?.[0];
    out.nodes.push({
      value: {
        name: o.name,
        ...(ipIndex >= 0 ? { ip: ips[ipIndex]!.address } : {}),
        ...(podCIDR !== undefined ? { podSubnet: podCIDR } : {}),
      },
      origin: {
        label: o.label,
        src: o.src,
        map: fieldMap(
          { name: ['metadata', 'name'], ip: ['status', 'addresses', ipIndex, 'address'], podSubnet: ['spec', 'podCIDR'] },
          () => [],
        ),
      },
    });
    sched.push({
      name: o.name,
      labels: { 'kubernetes.io/hostname': o.name, ...(n.metadata.labels ?? {}) },
      unschedulable: n.spec?.unschedulable ?? false,
      taints: n.spec?.taints ?? [],
    });
    // flannel writes its backend on every node; kind's nodes (providerID kind://docker/<cluster>/<node>) route like host-gw (kindnet)
    const flannel = n.metadata.annotations?.['flannel.alpha.coreos.com/backend-type'];
    const kind = /^kind:\/\/[^/]+\/([^/]+)\//.exec(n.spec?.providerID ?? '');
    if (flannel === 'vxlan' || flannel === 'host-gw') out.cluster.backend ??= flannel;
    else if (kind) out.cluster.backend ??= 'host-gw';
    if (kind) out.cluster.clusterName ??= kind[1];
  }

  // Which controllers' pods the dump already has: those are read as Pods, not made again.
  const owned = new Set<string>();
  for (const o of objects) {
    const refs = (o.data['metadata'] as { ownerReferences?: unknown } | undefined)?.ownerReferences;
    if (Array.isArray(refs))
      for (const r of refs as { kind?: unknown; name?: unknown }[]) owned.add(`${String(r.kind)}\0${o.namespace ?? ''}\0${String(r.name)}`);
  }
  const isOwned = (kind: string, o: K8sObject) => owned.has(`${kind}\0${o.namespace ?? ''}\0${o.name}`);

  const podPorts = (o: K8sObject, spec: z.output<typeof podSpec>, at: Path) => {
    const ports: { port: number; protocol: 'TCP' | 'UDP'; name?: string }[] = [];
    const paths: Path[] = [];
    spec.containers.forEach((c, ci) =>
      (c.ports ?? []).forEach((p, pi) => {
        const path = [...at, 'containers', ci, 'ports', pi];
        if (p.protocol === 'SCTP') return fail(o, [...path, 'protocol'], `SCTP is ${NOT_YET}`);
        ports.push({ port: p.containerPort, protocol: p.protocol, ...(p.name !== undefined ? { name: p.name } : {}) });
        paths.push(path);
      }),
    );
    return { ports, paths };
  };
  const podOrigin = (o: K8sObject, table: Record<string, Path>, portPaths: Path[], rest: Path): Origin => ({
    label: o.label,
    src: o.src,
    map: fieldMap(table, (f) => (f[0] === 'ports' && typeof f[1] === 'number' ? [...(portPaths[f[1]] ?? rest), ...f.slice(2)] : rest)),
  });

  for (const o of objects) {
    switch (o.kind) {
      case 'Node':
        break;
      case 'Namespace': {
        const n = parseObject(o, z.looseObject({ metadata: meta }), issues);
        if (n)
          out.namespaces.push({
            value: { name: o.name, labels: n.metadata.labels ?? {} },
            origin: { label: o.label, src: o.src, map: fieldMap({ name: ['metadata', 'name'], labels: ['metadata', 'labels'] }, () => []) },
          });
        break;
      }
      case 'Pod': {
        const p = parseObject(o, podObject, issues);
        if (!p) break;
        const phase = p.status?.phase;
        if (p.spec.hostNetwork) {
          hostNetwork.push(o.label);
          break;
        }
        if (phase === 'Succeeded' || phase === 'Failed') break; // no sandbox, never an endpoint
        if (p.spec.nodeName === undefined) {
          warn(o, ['spec'], 'not scheduled (no spec.nodeName, Pending): left out');
          break;
        }
        const { ports, paths } = podPorts(o, p.spec, ['spec']);
        const ready = p.status?.conditions?.find((c) => c.type === 'Ready');
        const terminating = typeof p.metadata.deletionTimestamp === 'string';
        const conditions =
          terminating || ready?.status === 'False'
            ? { ...(ready ? { ready: ready.status === 'True' && !terminating } : {}), ...(terminating ? { terminating: true } : {}) }
            : undefined;
        out.pods.push({
          value: {
            name: o.name,
            namespace: o.namespace!,
            node: p.spec.nodeName,
            ...(p.status?.podIP ? { ip: p.status.podIP } : {}),
            labels: p.metadata.labels ?? {},
            ports,
            ...(conditions ? { conditions } : {}),
            ...(p.spec.hostname !== undefined ? { hostname: p.spec.hostname } : {}),
            ...(p.spec.subdomain !== undefined ? { subdomain: p.spec.subdomain } : {}),
          },
          origin: podOrigin(
            o,
            {
              name: ['metadata', 'name'],
              namespace: ['metadata', 'namespace'],
              node: ['spec', 'nodeName'],
              ip: ['status', 'podIP'],
              labels: ['metadata', 'labels'],
              conditions: ['status', 'conditions'],
              hostname: ['spec', 'hostname'],
              subdomain: ['spec', 'subdomain'],
            },
            paths,
            [],
          ),
        });
        break;
      }
      case 'Deployment':
      case 'ReplicaSet':
      case 'StatefulSet':
      case 'DaemonSet': {
        const w = parseObject(o, workload, issues);
        if (!w) break;
        const tmplLabels = w.spec.template.metadata?.labels ?? {};
        // the apiserver refuses a workload whose selector does not select its own template
        if (!selects(w.spec.selector, tmplLabels)) {
          fail(o, ['spec', 'selector'], `does not match the template's labels (${JSON.stringify(tmplLabels)}): the API server refuses it`);
          break;
        }
        // a ReplicaSet (of a Deployment) or Pods in the dump that name it as owner: those stand for it
        if (isOwned(o.kind, o)) break;
        const spec = w.spec.template.spec;
        if (spec.hostNetwork) {
          hostNetwork.push(o.label);
          break;
        }
        const daemon = o.kind === 'DaemonSet';
        const nodes = eligible(sched, spec, daemon);
        const count = daemon ? nodes.length : (w.spec.replicas ?? 1);
        if (!count) break;
        if (!nodes.length) {
          warn(
            o,
            ['spec', 'template', 'spec'],
            `no node can take its pods (nodeSelector, taints, cordoned nodes): ${count} left out, Pending`,
          );
          break;
        }
        const ns = o.namespace!;
        let names: string[];
        const extra: Record<string, string> = {};
        if (o.kind === 'StatefulSet') {
          names = Array.from({ length: count }, (_, i) => `${o.name}-${i}`);
        } else if (o.kind === 'Deployment') {
          const hash = podTemplateHash(ns, o.name);
          extra['pod-template-hash'] = hash;
          names = generatedPodNames(ns, `${o.name}-${hash}`, count);
        } else names = generatedPodNames(ns, o.name, count);
        const { ports, paths } = podPorts(o, spec, ['spec', 'template', 'spec']);
        names.forEach((name, i) => {
          const sts =
            o.kind === 'StatefulSet'
              ? {
                  hostname: name,
                  ...(w.spec.serviceName ? { subdomain: w.spec.serviceName } : {}),
                }
              : {};
          out.pods.push({
            value: {
              name,
              namespace: ns,
              node: nodes[i % nodes.length]!.name,
              labels: {
                ...tmplLabels,
                ...extra,
                ...(o.kind === 'StatefulSet'
                  ? { 'statefulset.kubernetes.io/pod-name': name, 'apps.kubernetes.io/pod-index': String(i) }
                  : {}),
              },
              ports,
              ...sts,
            },
            origin: podOrigin(
              { ...o, label: `${o.label} (pod ${name})` },
              {
                name: ['metadata', 'name'],
                namespace: ['metadata', 'namespace'],
                labels: ['spec', 'template', 'metadata', 'labels'],
                subdomain: ['spec', 'serviceName'],
              },
              paths,
              ['spec', 'template'],
            ),
          });
        });
        break;
      }
      case 'Service':
        service(o);
        break;
      case 'EndpointSlice':
        slice(o);
        break;
      case 'NetworkPolicy': {
        const p = parseObject(o, policyObject, issues);
        if (p)
          out.networkPolicies.push({
            // kubectl prints absent lists as null: left out, as the API server defaults them
            value: {
              name: o.name,
              namespace: o.namespace!,
              ...Object.fromEntries(Object.entries(p.spec).filter(([, v]) => v !== null)),
            } as NetworkPolicyIn,
            origin: {
              label: o.label,
              src: o.src,
              map: fieldMap({ name: ['metadata', 'name'], namespace: ['metadata', 'namespace'] }, (f) => ['spec', ...f]),
            },
          });
        break;
      }
      case 'ConfigMap':
        if (o.namespace === 'kube-system' && o.name === 'kube-proxy') kubeProxy(o);
        else if (o.namespace === 'kube-system' && o.name === 'kubeadm-config') kubeadm(o);
        else ignore(o);
        break;
      default:
        if (UNSUPPORTED_KINDS[o.kind] !== undefined) fail(o, ['kind'], `${o.kind}: ${UNSUPPORTED_KINDS[o.kind]}`);
        else ignore(o);
    }
  }

  function service(o: K8sObject): void {
    const s = parseObject(o, serviceObject, issues);
    if (!s) return;
    const spec = s.spec;
    if (spec.type === 'ExternalName') {
      warn(o, ['spec', 'type'], 'an ExternalName service is a DNS CNAME, without kube-proxy rules: left out');
      return;
    }
    const shape = serviceSchema.shape as Record<string, z.ZodType>;
    const modelled = (key: string) => key in shape;
    if (spec.type === 'LoadBalancer' && !shape['type']!.safeParse('LoadBalancer').success)
      return fail(o, ['spec', 'type'], `LoadBalancer is ${NOT_YET} (issue 18)`);
    // fields the topology has not (yet) got: an error only when set to something that changes the rules
    const unmodelled: [string, boolean][] = [
      ['externalIPs', (spec.externalIPs ?? []).length > 0],
      ['loadBalancerIP', !!spec.loadBalancerIP],
      ['loadBalancerSourceRanges', (spec.loadBalancerSourceRanges ?? []).length > 0],
      ['loadBalancerClass', spec.loadBalancerClass !== undefined],
      ['allocateLoadBalancerNodePorts', spec.allocateLoadBalancerNodePorts === false],
      ['healthCheckNodePort', spec.healthCheckNodePort !== undefined],
      ['publishNotReadyAddresses', spec.publishNotReadyAddresses === true],
      ['trafficDistribution', spec.trafficDistribution !== undefined],
    ];
    const passed: Record<string, unknown> = {};
    for (const [key, set] of unmodelled) {
      if (!set) continue;
      if (modelled(key)) passed[key] = (spec as Record<string, unknown>)[key];
      else fail(o, ['spec', key], `${NOT_YET}`);
    }
    if (spec.ipFamilies?.includes('IPv6') || spec.ipFamilyPolicy === 'RequireDualStack')
      fail(o, ['spec', spec.ipFamilies?.includes('IPv6') ? 'ipFamilies' : 'ipFamilyPolicy'], 'the lab is IPv4 only');
    const ips = spec.clusterIPs ?? [];
    if (ips.length > 1) fail(o, ['spec', 'clusterIPs'], 'several cluster IPs (dual stack): the lab is IPv4 only');
    if (ips[0] !== undefined && spec.clusterIP !== undefined && ips[0] !== spec.clusterIP)
      fail(o, ['spec', 'clusterIPs', 0], `must equal spec.clusterIP (${spec.clusterIP}), as the API server requires`);
    const clusterIP = spec.clusterIP ?? ips[0];
    (spec.ports ?? []).forEach((p, i) => {
      if (p.protocol === 'SCTP') fail(o, ['spec', 'ports', i, 'protocol'], `SCTP is ${NOT_YET}`);
    });
    out.services.push({
      value: {
        name: o.name,
        namespace: o.namespace!,
        type: spec.type,
        ...(clusterIP ? { clusterIP } : {}),
        selector: spec.selector ?? {},
        ports: (spec.ports ?? []).map((p) => ({
          ...(p.name ? { name: p.name } : {}),
          port: p.port,
          ...(p.targetPort !== undefined ? { targetPort: p.targetPort } : {}),
          protocol: p.protocol === 'UDP' ? 'UDP' : 'TCP',
          ...(p.nodePort !== undefined ? { nodePort: p.nodePort } : {}),
        })),
        ...(spec.externalTrafficPolicy !== undefined ? { externalTrafficPolicy: spec.externalTrafficPolicy as 'Cluster' } : {}),
        ...(spec.internalTrafficPolicy !== undefined ? { internalTrafficPolicy: spec.internalTrafficPolicy as 'Cluster' } : {}),
        ...(spec.sessionAffinity !== undefined ? { sessionAffinity: spec.sessionAffinity as 'None' } : {}),
        ...(spec.sessionAffinityConfig !== undefined && spec.sessionAffinity === 'ClientIP'
          ? { sessionAffinityConfig: spec.sessionAffinityConfig as { clientIP: object } }
          : {}),
        ...passed,
      },
      origin: {
        label: o.label,
        src: o.src,
        map: fieldMap({ name: ['metadata', 'name'], namespace: ['metadata', 'namespace'] }, (f) =>
          f[0] === 'clusterIP' && spec.clusterIP === undefined ? ['spec', 'clusterIPs', 0] : ['spec', ...f],
        ),
      },
    });
  }

  function slice(o: K8sObject): void {
    const s = parseObject(o, sliceObject, issues);
    if (!s) return;
    if (s.addressType !== 'IPv4') return void fail(o, ['addressType'], `${s.addressType}: the lab is IPv4 only`);
    const service = s.metadata.labels?.['kubernetes.io/service-name'];
    if (service === undefined)
      return void fail(o, ['metadata', 'labels'], 'has no kubernetes.io/service-name label: kube-proxy would not know its service');
    let bad = false;
    (s.ports ?? []).forEach((p, i) => {
      if (p.port === undefined) {
        bad = true;
        fail(o, ['ports', i], `a port without a number (every port of the endpoints) is ${NOT_YET}`);
      }
      if (p.protocol === 'SCTP') {
        bad = true;
        fail(o, ['ports', i, 'protocol'], `SCTP is ${NOT_YET}`);
      }
    });
    if (bad) return;
    out.endpointSlices.push({
      value: {
        name: o.name,
        namespace: o.namespace!,
        service,
        addressType: 'IPv4',
        ports: (s.ports ?? []).map((p) => ({ name: p.name ?? '', port: p.port!, protocol: (p.protocol ?? 'TCP') as 'TCP' })),
        endpoints: (s.endpoints ?? []).map((e) => ({
          addresses: e.addresses,
          ...(e.nodeName !== undefined ? { nodeName: e.nodeName } : {}),
          ...(e.conditions ? { conditions: e.conditions } : {}),
          ...(e.targetRef?.kind === 'Pod' && e.targetRef.name
            ? {
                targetRef: {
                  kind: 'Pod' as const,
                  name: e.targetRef.name,
                  ...(e.targetRef.namespace ? { namespace: e.targetRef.namespace } : {}),
                },
              }
            : {}),
        })),
      },
      origin: {
        label: o.label,
        src: o.src,
        map: fieldMap(
          {
            name: ['metadata', 'name'],
            namespace: ['metadata', 'namespace'],
            service: ['metadata', 'labels', 'kubernetes.io/service-name'],
          },
          (f) => f,
        ),
      },
    });
  }

  function configText(o: K8sObject, key: string): { text: string; path: Path } | undefined {
    const data = o.data['data'];
    const text = typeof data === 'object' && data !== null ? (data as Record<string, unknown>)[key] : undefined;
    if (typeof text !== 'string') {
      warn(o, ['data'], `has no data["${key}"]: the lab's defaults stand`);
      return undefined;
    }
    return { text, path: ['data', key] };
  }
  function parseConfig(o: K8sObject, c: { text: string; path: Path }): Record<string, unknown> | undefined {
    try {
      const v: unknown = parseYaml(c.text);
      if (typeof v === 'object' && v !== null) return v as Record<string, unknown>;
    } catch (e) {
      fail(o, c.path, `not YAML: ${(e as Error).message.split('\n')[0]}`);
      return undefined;
    }
    fail(o, c.path, 'not a configuration (a mapping)');
    return undefined;
  }

  // kube-proxy's ConfigMap (kubeadm, kind): its KubeProxyConfiguration decides the mode and the mark.
  function kubeProxy(o: K8sObject): void {
    const c = configText(o, 'config.conf');
    const cfg = c && parseConfig(o, c);
    if (!c || !cfg) return;
    const r = z
      .looseObject({
        kind: z.literal('KubeProxyConfiguration').optional(),
        mode: z.string().optional(),
        clusterCIDR: z.string().optional(),
        nodePortAddresses: z.array(z.string()).nullish(),
        iptables: z.looseObject({ masqueradeBit: z.number().int().min(0).max(31).nullish() }).nullish(),
        ipvs: z.looseObject({ scheduler: z.string().optional() }).nullish(),
      })
      .safeParse(cfg);
    if (!r.success) {
      for (const i of r.error.issues) fail(o, c.path, `config.conf: ${i.path.map(String).join('.')}: ${i.message}`);
      return;
    }
    const mode = r.data.mode ?? '';
    // an empty mode is the platform's default: iptables on Linux
    if (mode === '' || mode === 'iptables' || mode === 'ipvs' || mode === 'nftables') out.proxy.mode = mode || 'iptables';
    else fail(o, c.path, `config.conf: mode ${mode}: the lab runs iptables, ipvs or nftables`);
    if (typeof r.data.iptables?.masqueradeBit === 'number') out.proxy.masqueradeBit = r.data.iptables.masqueradeBit;
    if (r.data.nodePortAddresses?.length) out.proxy.nodePortAddresses = r.data.nodePortAddresses;
    if (r.data.ipvs?.scheduler) out.proxy.scheduler = r.data.ipvs.scheduler;
    if (r.data.clusterCIDR) out.cluster.podCIDR ??= r.data.clusterCIDR;
    out.proxy.origin = { label: o.label, src: o.src, map: () => c.path };
  }

  // kubeadm's ClusterConfiguration: the pod and service subnets and the DNS domain, as kubeadm init was told.
  function kubeadm(o: K8sObject): void {
    const c = configText(o, 'ClusterConfiguration');
    const cfg = c && parseConfig(o, c);
    const net = cfg?.['networking'];
    if (typeof net !== 'object' || net === null) return;
    const n = net as Record<string, unknown>;
    if (typeof n['podSubnet'] === 'string') out.cluster.podCIDR = n['podSubnet'].split(',')[0]!;
    if (typeof n['serviceSubnet'] === 'string') out.cluster.serviceCIDR = n['serviceSubnet'].split(',')[0]!;
    if (typeof n['dnsDomain'] === 'string') out.cluster.domain = n['dnsDomain'];
  }

  for (const [kind, { count, first }] of [...ignored].sort(([a], [b]) => a.localeCompare(b)))
    out.warnings.push({
      file: first.src.file,
      path: '',
      message: `${count} ${kind}${count === 1 ? '' : 's'} ignored (they do not change the dataplane)`,
      ...first.src.locate([]),
    });
  if (hostNetwork.length)
    out.warnings.push({
      file: objects.find((o) => hostNetwork.includes(o.label))!.src.file,
      path: '',
      message: `${hostNetwork.length} hostNetwork pod${hostNetwork.length === 1 ? '' : 's'} left out (${hostNetwork.join(', ')}): such a pod is its node's network namespace, with the node's address; the lab's node is there without them`,
    });
  return out;
}

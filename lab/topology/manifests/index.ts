import type { z } from 'zod';
import { InputError, type InputIssue } from '../../errors';
import { type Cidr, formatCidr, formatIp, nth, parseCidr, parseIp, size } from '../ipv4';
import {
  endpointSliceSchema,
  labNameProblem,
  namespaceSchema,
  nodeSchema,
  podSchema,
  proxySchema,
  serviceSchema,
  topologySchema,
  type TopologyInput,
} from '../schema';
import { dnsWanted } from '../dns';
import { networkPolicySchema } from '../netpol';
import { formatPath, type IssueSource } from '../yaml-source';
import { convertObjects, type Item, type ManifestInput, type Origin } from './convert';
import { manifestFiles, readObjects } from './objects';

export { isKubernetesText } from './objects';

// Kubernetes objects as a lab's input: read (objects.ts), turned into topology input (convert.ts)
// and merged into the user's topology — or, given alone (`lab up -f dump.yaml`), made into one
// with the cluster's ranges inferred from the objects. A problem found later, by the topology's own
// checks (resolve.ts), still names the object and its line: MergedSource maps the merged items'
// paths back to their objects.

type Path = (string | number)[];
type ListKey = 'nodes' | 'namespaces' | 'pods' | 'services' | 'endpointSlices' | 'networkPolicies';

/** The objects of `paths` (files or folders) as topology input; every problem of every object at once. */
export function readManifests(paths: readonly string[], topologyNodes: readonly string[], from = ''): ManifestInput {
  const files = manifestFiles(paths, from);
  const { objects, issues } = readObjects(files);
  const m = convertObjects(objects, topologyNodes);
  m.issues.unshift(...issues);
  return m;
}

/** Issues of the merged topology: the topology's own paths from its file, the manifests' items from their objects. */
export class MergedSource implements IssueSource {
  private readonly origins = new Map<string, Map<number, Origin>>();
  constructor(
    private readonly base: IssueSource | undefined,
    readonly file: string,
    private readonly inferred: Record<string, string> = {},
  ) {}

  add(list: string, index: number, origin: Origin): void {
    let m = this.origins.get(list);
    if (!m) this.origins.set(list, (m = new Map<number, Origin>()));
    m.set(index, origin);
  }

  private originOf(path: readonly (string | number)[]): { o: Origin; field: Path } | undefined {
    const [list, index, ...field] = path;
    const o = typeof list === 'string' && typeof index === 'number' ? this.origins.get(list)?.get(index) : undefined;
    return o ? { o, field } : undefined;
  }

  issue(path: readonly (string | number)[], message: string, key?: string): InputIssue {
    const at = this.originOf(key === undefined ? path : [...path, key]);
    if (at) {
      const objPath = at.o.map(at.field);
      const shown = formatPath(objPath);
      return {
        file: at.o.src.file,
        path: '',
        message: `${at.o.label}: ${shown ? `${shown}: ` : ''}${message}`,
        ...at.o.src.locate(objPath),
      };
    }
    if (this.base) return this.base.issue(path, message, key);
    const shown = formatPath(key === undefined ? path : [...path, key]);
    const why = this.inferred[shown.split('[')[0]!];
    return { file: this.file, path: shown, message: why ? `${message} (${why})` : message };
  }

  locate(path: readonly (string | number)[], key?: string): { line: number; col: number } | undefined {
    const at = this.originOf(path);
    if (at) return at.o.src.locate(at.o.map(at.field), key);
    return this.base?.locate(path, key);
  }

  docPath(path: readonly (string | number)[]): (string | number)[] {
    const at = this.originOf(path);
    // another item's place in a message ("also …"): the object and its file say it better than pods[12]
    if (at) return [`${at.o.label} in ${at.o.src.file}`];
    return this.base ? this.base.docPath(path) : [...path];
  }
}

/** An issue at an origin's object as a whole (its map of the empty path). */
function originIssue(o: Origin, message: string, field: Path = []): InputIssue {
  const probe = new MergedSource(undefined, '');
  probe.add('x', 0, o);
  return probe.issue(['x', 0, ...field], message);
}

const SCHEMAS: Record<ListKey, z.ZodType> = {
  nodes: nodeSchema,
  namespaces: namespaceSchema,
  pods: podSchema,
  services: serviceSchema,
  endpointSlices: endpointSliceSchema,
  networkPolicies: networkPolicySchema,
};

/**
 * Adds the manifests' items to `input` (after the topology's own), and what kube-proxy's ConfigMap
 * says to its proxy. Issues (items the topology's schema refuses) name their objects.
 */
export function mergeManifests(input: TopologyInput, m: ManifestInput, source: MergedSource, warn: (i: InputIssue) => void): InputIssue[] {
  const issues = [...m.issues];
  const lists = input as unknown as Record<ListKey, unknown[]>;
  const take = (key: ListKey, items: Item<unknown>[]) => {
    for (const it of items) {
      const r = SCHEMAS[key].safeParse(it.value, { reportInput: true });
      if (!r.success) {
        for (const i of r.error.issues) {
          const field = i.path.filter((p): p is string | number => typeof p !== 'symbol');
          const probe = new MergedSource(undefined, '');
          probe.add(key, 0, it.origin);
          issues.push(
            probe.issue([key, 0, ...field], i.code === 'unrecognized_keys' ? `unknown field(s) ${i.keys.join(', ')}` : i.message),
          );
        }
        continue;
      }
      source.add(key, lists[key].length, it.origin);
      lists[key].push(r.data);
    }
  };
  take('nodes', m.nodes);
  take('namespaces', m.namespaces);
  take('pods', m.pods);
  take('services', m.services);
  take('endpointSlices', m.endpointSlices);
  take('networkPolicies', m.networkPolicies);
  // kube-proxy's own configuration is the cluster's truth: it wins over the topology's proxy (the CLI's --proxy over both)
  if (m.proxy.mode !== undefined) input.proxy.mode = m.proxy.mode;
  if (m.proxy.masqueradeBit !== undefined) input.proxy.masqueradeBit = m.proxy.masqueradeBit;
  if (m.proxy.nodePortAddresses !== undefined) input.proxy.nodePortAddresses = m.proxy.nodePortAddresses;
  if (m.proxy.scheduler !== undefined) {
    const sch = proxySchema.shape.scheduler.safeParse(m.proxy.scheduler);
    if (sch.success) input.proxy.scheduler = sch.data;
    else if (m.proxy.origin)
      issues.push(originIssue(m.proxy.origin, `config.conf: ipvs.scheduler ${m.proxy.scheduler}: not one ipvsadm knows`));
  }
  if (m.cluster.domain !== undefined) input.cluster.domain = m.cluster.domain;
  // a cluster's own kube-dns wins: the lab's cluster DNS would be a second kube-system/kube-dns
  // (and one whose service sits at the lab's DNS address, the service CIDR's .10, keeps it: the cluster has its own)
  const cidr = parseCidr(input.cluster.serviceCIDR);
  const dnsIp = cidr ? formatIp(nth(cidr, 10)) : undefined;
  const clash = m.services.find((s) => (s.value.namespace === 'kube-system' && s.value.name === 'kube-dns') || s.value.clusterIP === dnsIp);
  if (clash && dnsWanted(input)) {
    input.cluster.dns = false;
    warn(
      originIssue(
        clash.origin,
        `${clash.value.clusterIP ?? 'allocated'}: ${clash.value.name === 'kube-dns' ? "the cluster's own DNS service" : "the lab's DNS address (the service CIDR's .10) is taken"}: the lab's cluster DNS (cluster.dns) is off`,
        ['clusterIP'],
      ),
    );
  }

  // kubectl takes a service that selects no pod (its endpoints are empty; kube-proxy rejects its traffic): a warning
  for (const s of m.services) {
    const sel = Object.entries(s.value.selector ?? {});
    if (!sel.length) continue;
    const hit = input.pods.some((p) => (p.namespace ?? 'default') === s.value.namespace && sel.every(([k, v]) => p.labels[k] === v));
    if (!hit) {
      const probe = new MergedSource(undefined, '');
      probe.add('services', 0, s.origin);
      warn(probe.issue(['services', 0, 'selector'], 'selects no pod: its endpoints are empty and kube-proxy rejects its traffic'));
    }
  }
  for (const w of m.warnings) warn(w);
  return issues;
}

/** The smallest CIDR holding every address, but never longer than `longest` (/24 for an underlay). */
function covering(ips: number[], longest: number): Cidr {
  let prefix = longest;
  const fits = (p: number) => {
    const base = ips[0]! - (ips[0]! % size(p));
    return ips.every((ip) => ip >= base && ip < base + size(p));
  };
  while (prefix > 0 && !fits(prefix)) prefix--;
  return { base: ips[0]! - (ips[0]! % size(prefix)), prefix };
}

const cidrsOf = (texts: (string | undefined)[]): Cidr[] =>
  texts.flatMap((t) => {
    const c = t === undefined ? undefined : parseCidr(t, false);
    return c ? [c] : [];
  });

/**
 * A topology made from the objects alone: its name from `name`, the kind cluster's name or the
 * nodes' common prefix; the underlay the smallest CIDR (at most /24) holding the nodes'
 * InternalIPs; podCIDR from kubeadm's ClusterConfiguration, kube-proxy's clusterCIDR, or the
 * nodes' podCIDRs (their covering /16 or wider); serviceCIDR from kubeadm, else the services'
 * cluster IPs (the smallest covering /16, or wider: /12 when they span more). What each came from
 * is said in the returned `inferred` (and in an error about it).
 */
export function inferTopology(m: ManifestInput, name?: string): { input: TopologyInput; inferred: Record<string, string> } {
  const inferred: Record<string, string> = {};
  const nodeNames = m.nodes.map((n) => n.value.name);
  let lab = name ?? m.cluster.clusterName;
  if (lab === undefined && nodeNames.length > 1) {
    let prefix = nodeNames[0]!;
    for (const n of nodeNames) while (!n.startsWith(prefix)) prefix = prefix.slice(0, -1);
    prefix = prefix.replace(/[-.]+$/, '');
    if (prefix.length >= 3) lab = prefix;
  }
  if (lab === undefined || labNameProblem(lab)) lab = 'cluster';
  const cluster: Record<string, unknown> = {};
  if (m.cluster.backend) cluster['backend'] = m.cluster.backend;
  const nodeIps = m.nodes.flatMap((n) => {
    const ip = n.value.ip === undefined ? undefined : parseIp(n.value.ip);
    return ip === undefined ? [] : [ip];
  });
  if (nodeIps.length) {
    cluster['underlay'] = formatCidr(covering(nodeIps, 24));
    inferred['cluster.underlay'] = "the smallest CIDR (at most /24) holding the Nodes' InternalIPs";
  }
  const podCIDR = m.cluster.podCIDR ?? coveringCidrs(cidrsOf(m.nodes.map((n) => n.value.podSubnet)), 16);
  if (podCIDR) {
    cluster['podCIDR'] = podCIDR;
    inferred['cluster.podCIDR'] =
      m.cluster.podCIDR !== undefined
        ? "kubeadm's ClusterConfiguration or kube-proxy's clusterCIDR"
        : "the /16 (or wider) holding the Nodes' podCIDRs";
  }
  const svcIps = m.services.flatMap((s) => {
    const ip = s.value.clusterIP === undefined ? undefined : parseIp(s.value.clusterIP);
    return ip === undefined ? [] : [ip];
  });
  const serviceCIDR = m.cluster.serviceCIDR ?? (svcIps.length ? formatCidr(covering(svcIps, 16)) : undefined);
  if (serviceCIDR) {
    cluster['serviceCIDR'] = serviceCIDR;
    inferred['cluster.serviceCIDR'] =
      m.cluster.serviceCIDR !== undefined
        ? "kubeadm's ClusterConfiguration"
        : "the smallest CIDR (/16 or wider) holding the Services' cluster IPs";
  }
  if (!m.nodes.length)
    throw InputError.of(
      '-f',
      '',
      'the objects have no Node: a lab needs nodes (add `kubectl get nodes -o yaml`, or give a topology with manifests:)',
    );
  return { input: topologySchema.parse({ name: lab, cluster, nodes: [] }), inferred };
}

/** The covering CIDR of some CIDRs, at most /`longest` long. */
function coveringCidrs(cidrs: Cidr[], longest: number): string | undefined {
  if (!cidrs.length) return undefined;
  const ends = cidrs.flatMap((c) => [c.base, c.base + size(c.prefix) - 1]);
  return formatCidr(covering(ends, longest));
}

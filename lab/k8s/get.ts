import { InputError } from '../errors';
import type {
  EndpointSliceObject,
  K8sObject,
  LabObjects,
  NetworkPolicyObject,
  NodeObject,
  ObjectMeta,
  PodObject,
  SelectorObject,
  ServiceObject,
} from './objects';

// `lab get`: kubectl's table views of the lab's objects, column for column as kubectl's printers
// write them (pkg/printers/internalversion/printers.go: printPod, printService,
// printEndpointSlice, printNode, printNetworkPolicy) and aligned as its tabwriter aligns them
// (min width 6, padding 3). Pure.

export type Resource = 'pods' | 'services' | 'endpointslices' | 'nodes' | 'networkpolicies';

/** kubectl's names, short names and singulars of the resources the lab has. */
const ALIASES: Record<string, Resource> = {
  pods: 'pods',
  pod: 'pods',
  po: 'pods',
  services: 'services',
  service: 'services',
  svc: 'services',
  endpointslices: 'endpointslices',
  endpointslice: 'endpointslices',
  'endpointslices.discovery.k8s.io': 'endpointslices',
  nodes: 'nodes',
  node: 'nodes',
  no: 'nodes',
  networkpolicies: 'networkpolicies',
  networkpolicy: 'networkpolicies',
  netpol: 'networkpolicies',
};

export const RESOURCES: readonly Resource[] = ['pods', 'services', 'endpointslices', 'nodes', 'networkpolicies'];

export function resourceOf(word: string): Resource {
  const r = ALIASES[word.toLowerCase()];
  if (!r)
    throw InputError.of(
      'resource',
      '',
      `the server doesn't have a resource type "${word}" (the lab has: pods (po), services (svc), endpointslices, nodes (no), networkpolicies (netpol))`,
    );
  return r;
}

export type Output = 'table' | 'wide' | 'yaml' | 'json';

export function outputOf(o: string | undefined): Output {
  if (o === undefined) return 'table';
  if (o === 'wide' || o === 'yaml' || o === 'json') return o;
  throw InputError.of(
    '--output',
    '',
    `unable to match a printer suitable for the output format "${o}", allowed formats are: json, wide, yaml`,
  );
}

export interface GetRequest {
  resource: Resource;
  /** the namespace (-n), default 'default'; ignored for nodes */
  namespace: string;
  allNamespaces: boolean;
  names: string[];
}

/** The objects a `get` selects: of its kind, in its namespace (or all), by name when names are given. */
export function selectObjects(objects: LabObjects, req: GetRequest): { found: K8sObject[]; missing: string[] } {
  const all: K8sObject[] =
    req.resource === 'pods'
      ? objects.pods
      : req.resource === 'services'
        ? objects.services
        : req.resource === 'endpointslices'
          ? objects.endpointSlices
          : req.resource === 'nodes'
            ? objects.nodes
            : objects.networkPolicies;
  const clusterScoped = req.resource === 'nodes';
  const inScope = all.filter((o) => clusterScoped || req.allNamespaces || o.metadata.namespace === req.namespace);
  if (!req.names.length) return { found: inScope, missing: [] };
  const found = req.names.flatMap((n) => inScope.filter((o) => o.metadata.name === n));
  return { found, missing: req.names.filter((n) => !inScope.some((o) => o.metadata.name === n)) };
}

/** kubectl's messages: what it prints to stderr when nothing matched, or a name is not there. */
export function notFoundLines(req: GetRequest, missing: string[]): string[] {
  const singular: Record<Resource, string> = {
    pods: 'pods',
    services: 'services',
    endpointslices: 'endpointslices.discovery.k8s.io',
    nodes: 'nodes',
    networkpolicies: 'networkpolicies.networking.k8s.io',
  };
  return missing.map((n) => `Error from server (NotFound): ${singular[req.resource]} "${n}" not found`);
}

export function noResourcesLine(req: GetRequest): string {
  return req.resource === 'nodes' || req.allNamespaces ? 'No resources found' : `No resources found in ${req.namespace} namespace.`;
}

// --- AGE ---------------------------------------------------------------------------------------

/** apimachinery's duration.HumanDuration: 45s, 3m20s, 12m, 5h3m, 20h, 3d4h, 40d, 2y30d. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) return hours % 24 === 0 ? `${Math.floor(hours / 24)}d` : `${Math.floor(hours / 24)}d${hours % 24}h`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  const days = Math.floor(hours / 24);
  if (hours < 24 * 365 * 8) return days % 365 === 0 ? `${Math.floor(days / 365)}y` : `${Math.floor(days / 365)}y${days % 365}d`;
  return `${Math.floor(days / 365)}y`;
}

const age = (m: ObjectMeta, now: number) => (m.creationTimestamp ? humanDuration(now - Date.parse(m.creationTimestamp)) : '<unknown>');

// --- columns -------------------------------------------------------------------------------------

/** labels.FormatLabels / a selector as kubectl prints it: k=v,k2=v2 sorted, `<none>` when empty. */
const formatLabels = (l: Record<string, string> | undefined) => {
  const e = Object.entries(l ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return e.length ? e.map(([k, v]) => `${k}=${v}`).join(',') : '<none>';
};

function podRow(p: PodObject, wide: boolean, now: number): string[] {
  const ready = p.status.containerStatuses.filter((c) => c.ready).length;
  const row = [
    p.metadata.name,
    `${ready}/${p.spec.containers.length}`,
    p.metadata.deletionTimestamp ? 'Terminating' : p.status.phase,
    String(p.status.containerStatuses.reduce((n, c) => n + c.restartCount, 0)),
    age(p.metadata, now),
  ];
  if (wide) row.push(p.status.podIP || '<none>', p.spec.nodeName || '<none>', '<none>', '<none>');
  return row;
}

function servicePorts(s: ServiceObject): string {
  if (!s.spec.ports.length) return '<none>';
  return s.spec.ports.map((p) => `${p.port}${p.nodePort !== undefined ? `:${p.nodePort}` : ''}/${p.protocol}`).join(',');
}

function serviceRow(s: ServiceObject, wide: boolean, now: number): string[] {
  const row = [s.metadata.name, s.spec.type, s.spec.clusterIP, '<none>', servicePorts(s), age(s.metadata, now)];
  if (wide) row.push(formatLabels(s.spec.selector));
  return row;
}

/** listWithMoreString: the first 3, then "+ N more...", `<unset>` for none */
const firstThree = (items: string[]) => {
  const head = items.slice(0, 3).join(',');
  return items.length > 3 ? `${head} + ${items.length - 3} more...` : head || '<unset>';
};

function sliceRow(s: EndpointSliceObject, now: number): string[] {
  return [
    s.metadata.name,
    s.addressType,
    firstThree(s.ports.map((p) => String(p.port))),
    firstThree(s.endpoints.flatMap((e) => e.addresses)),
    age(s.metadata, now),
  ];
}

function nodeRow(n: NodeObject, wide: boolean, now: number): string[] {
  const ready = n.status.conditions.some((c) => c.type === 'Ready' && c.status === 'True');
  const roles = Object.keys(n.metadata.labels ?? {})
    .filter((k) => k.startsWith('node-role.kubernetes.io/'))
    .map((k) => k.slice('node-role.kubernetes.io/'.length))
    .sort();
  // no kubelet runs in the lab: status.nodeInfo is not there, and kubectl prints what it prints then
  const row = [n.metadata.name, ready ? 'Ready' : 'NotReady', roles.join(',') || '<none>', age(n.metadata, now), ''];
  if (wide) {
    const internal = n.status.addresses.filter((a) => a.type === 'InternalIP').map((a) => a.address);
    row.push(internal.join(',') || '<none>', '<none>', '<unknown>', '<unknown>', '<unknown>');
  }
  return row;
}

/** metav1.FormatLabelSelector: requirements sorted by key (k=v, k in (a,b), k notin (a,b), k, !k), `<none>` when empty */
export function formatSelector(s: SelectorObject): string {
  const reqs: [string, string][] = Object.entries(s.matchLabels ?? {}).map(([k, v]) => [k, `${k}=${v}`]);
  for (const e of s.matchExpressions ?? []) {
    const values = [...(e.values ?? [])].sort().join(',');
    const text =
      e.operator === 'In'
        ? `${e.key} in (${values})`
        : e.operator === 'NotIn'
          ? `${e.key} notin (${values})`
          : e.operator === 'Exists'
            ? e.key
            : `!${e.key}`;
    reqs.push([e.key, text]);
  }
  reqs.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return reqs.map(([, t]) => t).join(',') || '<none>';
}

const policyRow = (p: NetworkPolicyObject, now: number) => [p.metadata.name, formatSelector(p.spec.podSelector), age(p.metadata, now)];

const HEADERS: Record<Resource, { table: string[]; wide: string[] }> = {
  pods: { table: ['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE'], wide: ['IP', 'NODE', 'NOMINATED NODE', 'READINESS GATES'] },
  services: { table: ['NAME', 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)', 'AGE'], wide: ['SELECTOR'] },
  endpointslices: { table: ['NAME', 'ADDRESSTYPE', 'PORTS', 'ENDPOINTS', 'AGE'], wide: [] },
  nodes: {
    table: ['NAME', 'STATUS', 'ROLES', 'AGE', 'VERSION'],
    wide: ['INTERNAL-IP', 'EXTERNAL-IP', 'OS-IMAGE', 'KERNEL-VERSION', 'CONTAINER-RUNTIME'],
  },
  networkpolicies: { table: ['NAME', 'POD-SELECTOR', 'AGE'], wide: [] },
};

/** Go's text/tabwriter as kubectl sets it up: every cell but a row's last padded to max(width + 3, 6). */
export function tabwrite(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows) r.slice(0, -1).forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length + 3, 6)));
  return rows.map((r) => r.map((c, i) => (i < r.length - 1 ? c.padEnd(widths[i]!) : c)).join('')).join('\n') + '\n';
}

/** The table kubectl get prints for these objects (all of one resource). */
/** kubectl's `<type>/` before each name when several types are listed at once */
const TYPE_PREFIX: Record<Resource, string> = {
  pods: 'pod/',
  services: 'service/',
  endpointslices: 'endpointslice.discovery.k8s.io/',
  nodes: 'node/',
  networkpolicies: 'networkpolicy.networking.k8s.io/',
};

export function getTable(
  resource: Resource,
  objects: K8sObject[],
  opts: { wide: boolean; allNamespaces: boolean; now: number; typed?: boolean },
): string {
  const h = HEADERS[resource];
  const namespaced = resource !== 'nodes' && opts.allNamespaces;
  const header = [...(namespaced ? ['NAMESPACE'] : []), ...h.table, ...(opts.wide ? h.wide : [])];
  const rows = objects.map((o) => {
    const row =
      o.kind === 'Pod'
        ? podRow(o, opts.wide, opts.now)
        : o.kind === 'Service'
          ? serviceRow(o, opts.wide, opts.now)
          : o.kind === 'EndpointSlice'
            ? sliceRow(o, opts.now)
            : o.kind === 'Node'
              ? nodeRow(o, opts.wide, opts.now)
              : o.kind === 'NetworkPolicy'
                ? policyRow(o, opts.now)
                : [o.metadata.name];
    if (opts.typed) row[0] = `${TYPE_PREFIX[resource]}${row[0]}`;
    return [...(namespaced ? [o.metadata.namespace ?? ''] : []), ...row];
  });
  return tabwrite([header, ...rows]);
}

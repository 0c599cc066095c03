import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import type { z } from 'zod';
import { InputError, type InputIssue } from '../../errors';
import { formatPath, YamlSource } from '../yaml-source';

// Kubernetes objects read from files: multi-document YAML, JSON, and the `kind: List` that
// `kubectl get … -o yaml` prints. Each object keeps its source, so that any problem found in it
// later names its file, line, column and the object itself (`Service ithome/nginx: spec.ports[0]…`).

type Path = (string | number)[];

export interface K8sObject {
  kind: string;
  apiVersion: string;
  name: string;
  /** namespaced kinds: metadata.namespace, 'default' when left out (as kubectl apply does) */
  namespace?: string;
  data: Record<string, unknown>;
  /** the object's own source: paths are the object's (spec.ports[0]), line:col the file's */
  src: YamlSource;
  /** `Service ithome/nginx`, `Node kind-worker` */
  label: string;
}

/** The apiVersion each kind the lab reads is served at (the others are not looked at). */
export const READ_KINDS: Readonly<Record<string, string>> = {
  Namespace: 'v1',
  Node: 'v1',
  Pod: 'v1',
  Service: 'v1',
  ConfigMap: 'v1',
  Deployment: 'apps/v1',
  ReplicaSet: 'apps/v1',
  StatefulSet: 'apps/v1',
  DaemonSet: 'apps/v1',
  EndpointSlice: 'discovery.k8s.io/v1',
  NetworkPolicy: 'networking.k8s.io/v1',
};

/**
 * Kinds that change a cluster's dataplane, which the lab cannot model yet: refused by name rather
 * than ignored, since the lab's rules would silently differ from the cluster's.
 */
export const UNSUPPORTED_KINDS: Readonly<Record<string, string>> = {
  Ingress: 'an ingress controller (not kube-proxy) serves it; the lab has none yet',
  IngressClass: 'an ingress controller (not kube-proxy) serves it; the lab has none yet',
  Gateway: 'the Gateway API needs a gateway implementation; the lab has none yet',
  GatewayClass: 'the Gateway API needs a gateway implementation; the lab has none yet',
  HTTPRoute: 'the Gateway API needs a gateway implementation; the lab has none yet',
  GRPCRoute: 'the Gateway API needs a gateway implementation; the lab has none yet',
  TCPRoute: 'the Gateway API needs a gateway implementation; the lab has none yet',
  UDPRoute: 'the Gateway API needs a gateway implementation; the lab has none yet',
  TLSRoute: 'the Gateway API needs a gateway implementation; the lab has none yet',
  AdminNetworkPolicy: 'admin network policies are not modelled yet',
  BaselineAdminNetworkPolicy: 'admin network policies are not modelled yet',
  GlobalNetworkPolicy: "Calico's own policies are not modelled yet",
  ServiceCIDR: 'multiple service CIDRs are not modelled yet (the lab has one serviceCIDR)',
};

const CLUSTER_SCOPED = new Set(['Namespace', 'Node', 'GlobalNetworkPolicy', 'AdminNetworkPolicy', 'BaselineAdminNetworkPolicy']);

/** An issue about an object: `<Kind ns/name>: <path>: message`, at the path's line:col. */
export function objectIssue(
  o: Pick<K8sObject, 'src' | 'label'>,
  path: readonly (string | number)[],
  message: string,
  key?: string,
): InputIssue {
  const full = key === undefined ? [...path] : [...path, key];
  const shown = formatPath(full);
  return { file: o.src.file, path: '', message: `${o.label}: ${shown ? `${shown}: ` : ''}${message}`, ...o.src.locate(path, key) };
}

/** Validates an object (or a part of it) with a zod schema; every problem is an issue naming the object. */
export function parseObject<T extends z.ZodType>(
  o: K8sObject,
  schema: T,
  issues: InputIssue[],
  at: Path = [],
  value: unknown = o.data,
): z.output<T> | undefined {
  const r = schema.safeParse(value, { reportInput: true });
  if (r.success) return r.data;
  for (const i of r.error.issues) {
    const path = [...at, ...i.path.filter((p): p is string | number => typeof p !== 'symbol')];
    if (i.code === 'unrecognized_keys')
      for (const k of i.keys) issues.push(objectIssue(o, path, `unknown field '${k}' (the lab reads this kind strictly)`, k));
    else if (i.code === 'invalid_type' && i.input === undefined) issues.push(objectIssue(o, path, 'is required'));
    else issues.push(objectIssue(o, path, i.message));
  }
  return undefined;
}

const MANIFEST_EXT = new Set(['.yaml', '.yml', '.json']);

/** The files of `paths`: a file as it is, a folder's *.yaml, *.yml and *.json (not recursive) in name order. */
export function manifestFiles(paths: readonly string[], from = ''): string[] {
  return paths.flatMap((p) => {
    let dir: boolean;
    try {
      dir = statSync(p).isDirectory();
    } catch (e) {
      throw InputError.of(from || p, '', `cannot read ${p}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    if (!dir) return [p];
    return readdirSync(p)
      .filter((f) => MANIFEST_EXT.has(extname(f)))
      .sort()
      .map((f) => join(p, f));
  });
}

/** Does this text hold Kubernetes objects (apiVersion and kind at the top of a document) rather than a topology? */
export function isKubernetesText(text: string): boolean {
  return /^apiVersion:/m.test(text) && /^kind:/m.test(text) && !/^nodes:/m.test(text);
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Every object of the files, `kind: List` items taken out, with the problems every object has (no kind, wrong apiVersion, duplicates). */
export function readObjects(files: readonly string[]): { objects: K8sObject[]; issues: InputIssue[] } {
  const objects: K8sObject[] = [];
  const issues: InputIssue[] = [];
  const seen = new Map<string, K8sObject>();
  const take = (src: YamlSource, data: unknown) => {
    const where: Pick<K8sObject, 'src' | 'label'> = { src, label: 'object' };
    if (data === null || data === undefined) return;
    if (!isRecord(data)) return void issues.push(objectIssue(where, [], 'not a Kubernetes object (a mapping with apiVersion and kind)'));
    const { kind, apiVersion } = data;
    if (typeof kind !== 'string' || !kind)
      return void issues.push(objectIssue(where, [], 'is required (a Kubernetes object has apiVersion and kind)', 'kind'));
    // kubectl get prints kind: List; the API itself PodList, ServiceList, …
    if (kind === 'List' || (kind.endsWith('List') && Array.isArray(data['items']))) {
      const items = data['items'];
      if (items === null || items === undefined) return;
      if (!Array.isArray(items)) return void issues.push(objectIssue({ src, label: kind }, ['items'], 'is not a list'));
      items.forEach((item, i) => take(src.sub(['items', i]), item));
      return;
    }
    const meta = isRecord(data['metadata']) ? data['metadata'] : {};
    const name = meta['name'];
    const namespaced = !CLUSTER_SCOPED.has(kind);
    const ns = namespaced ? (typeof meta['namespace'] === 'string' ? meta['namespace'] : 'default') : undefined;
    const label = `${kind} ${typeof name === 'string' ? (ns === undefined ? name : `${ns}/${name}`) : '(no name)'}`;
    const o = { src, label };
    if (typeof apiVersion !== 'string')
      return void issues.push(objectIssue(o, [], 'is required (a Kubernetes object has apiVersion and kind)', 'apiVersion'));
    if (typeof name !== 'string' || !name) return void issues.push(objectIssue(o, ['metadata'], 'is required', 'name'));
    const expected = READ_KINDS[kind];
    // Calico's projectcalico.org NetworkPolicy has the same kind as Kubernetes'
    if (kind === 'NetworkPolicy' && apiVersion.includes('projectcalico.org'))
      return void issues.push(objectIssue(o, ['apiVersion'], `${apiVersion}: Calico's own policies are not modelled yet`));
    if (expected !== undefined && apiVersion !== expected)
      return void issues.push(objectIssue(o, ['apiVersion'], `${apiVersion} is not how a ${kind} is served: use ${expected}`));
    const obj: K8sObject = { kind, apiVersion, name, ...(ns !== undefined ? { namespace: ns } : {}), data, src, label };
    if (expected !== undefined) {
      const key = `${kind}\0${ns ?? ''}\0${name}`;
      const prev = seen.get(key);
      if (prev) {
        const at = prev.src.locate([]);
        return void issues.push(objectIssue(obj, [], `a duplicate object (also at ${prev.src.file}${at ? `:${at.line}:${at.col}` : ''})`));
      }
      seen.set(key, obj);
    }
    objects.push(obj);
  };
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      issues.push({ file, path: '', message: `cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}` });
      continue;
    }
    try {
      for (const src of YamlSource.documentsOfText(text, file)) take(src, src.data);
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      issues.push(...e.issues);
    }
  }
  return { objects, issues };
}

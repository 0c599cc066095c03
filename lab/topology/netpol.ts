import { z } from 'zod';
import { formatCidr, parseCidr, type Cidr } from './ipv4';

// NetworkPolicy (networking.k8s.io/v1) in the topology: the object's metadata and spec, flattened
// as services are. The schema says what may be written (strict: unknown fields are errors); the
// API server's own validation (ValidateNetworkPolicySpec, ValidateLabelSelector) runs in
// resolveNetworkPolicies, with the value's path so errors name file:line:col.

const OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist'] as const;
export type SelectorOperator = (typeof OPERATORS)[number];

export const labelSelectorSchema = z.strictObject({
  matchLabels: z.record(z.string(), z.string()).optional(),
  matchExpressions: z
    .array(
      z.strictObject({
        key: z.string(),
        operator: z.enum(OPERATORS),
        values: z.array(z.string()).optional(),
      }),
    )
    .optional(),
});

const peerSchema = z.strictObject({
  podSelector: labelSelectorSchema.optional(),
  namespaceSelector: labelSelectorSchema.optional(),
  ipBlock: z.strictObject({ cidr: z.string(), except: z.array(z.string()).optional() }).optional(),
});

const policyPortSchema = z.strictObject({
  protocol: z.enum(['TCP', 'UDP']).default('TCP'),
  /** a number, or the name of a port of the destination pod (resolved per pod) */
  port: z.union([z.number().int(), z.string()]).optional(),
  endPort: z.number().int().optional(),
});

export const networkPolicySchema = z.strictObject({
  name: z.string(),
  namespace: z.string().default('default'),
  podSelector: labelSelectorSchema,
  policyTypes: z.array(z.enum(['Ingress', 'Egress'])).optional(),
  ingress: z.array(z.strictObject({ from: z.array(peerSchema).optional(), ports: z.array(policyPortSchema).optional() })).optional(),
  egress: z.array(z.strictObject({ to: z.array(peerSchema).optional(), ports: z.array(policyPortSchema).optional() })).optional(),
});
export type NetworkPolicyInput = z.infer<typeof networkPolicySchema>;
type SelectorInput = z.infer<typeof labelSelectorSchema>;
type PeerInput = z.infer<typeof peerSchema>;
type PortInput = z.infer<typeof policyPortSchema>;

// ---- resolved -------------------------------------------------------------------------------

export interface LabelSelector {
  matchLabels: Record<string, string>;
  matchExpressions: { key: string; operator: SelectorOperator; values: string[] }[];
}
/** A peer: pods by podSelector and/or namespaceSelector, or addresses by ipBlock (canonical CIDRs). */
export interface NetworkPolicyPeer {
  /** left out with namespaceSelector: every pod of the selected namespaces */
  podSelector?: LabelSelector;
  /** left out with podSelector: the policy's own namespace */
  namespaceSelector?: LabelSelector;
  ipBlock?: { cidr: string; except: string[] };
}
export interface NetworkPolicyPort {
  protocol: 'TCP' | 'UDP';
  /** left out: every port of the protocol; a name: the destination pod's port of that name */
  port?: number | string;
  endPort?: number;
}
/** One ingress (from) or egress (to) rule: `peers` empty = every peer, `ports` empty = every port. */
export interface NetworkPolicyRule {
  peers: NetworkPolicyPeer[];
  ports: NetworkPolicyPort[];
}
export type PolicyType = 'Ingress' | 'Egress';
export interface TopologyNetworkPolicy {
  name: string;
  namespace: string;
  podSelector: LabelSelector;
  /** as the API server defaults it: Ingress, plus Egress when egress rules are given */
  policyTypes: PolicyType[];
  ingress: NetworkPolicyRule[];
  egress: NetworkPolicyRule[];
}

// ---- the API server's validation ---------------------------------------------------------------

type Path = (string | number)[];
type Fail = (path: Path, message: string) => void;

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** A label key as IsQualifiedName checks it: [prefix/]name, the prefix a DNS subdomain. */
function labelKeyProblem(key: string): string | undefined {
  const parts = key.split('/');
  const name = parts.length === 2 ? parts[1]! : parts[0]!;
  if (parts.length > 2) return `'${key}' is not a qualified name (at most one '/')`;
  if (parts.length === 2 && (parts[0]!.length > 253 || !DNS1123_SUBDOMAIN.test(parts[0]!)))
    return `'${key}': the prefix must be a DNS subdomain`;
  if (name.length > 63 || !QUALIFIED_NAME.test(name))
    return `'${key}' is not a valid label key (at most 63 of A-Z, a-z, 0-9, '-', '_', '.', alphanumeric at both ends)`;
  return undefined;
}
const labelValueProblem = (v: string): string | undefined =>
  v.length > 63 || !LABEL_VALUE.test(v)
    ? `'${v}' is not a valid label value (at most 63 of A-Z, a-z, 0-9, '-', '_', '.', alphanumeric at both ends)`
    : undefined;

/** IsValidPortName: an IANA service name, as pods' named ports are. */
export function portNameProblem(name: string): string | undefined {
  if (name.length > 15) return `'${name}': a port name is at most 15 characters`;
  if (!/^[-a-z0-9]+$/.test(name)) return `'${name}': a port name has only a-z, 0-9 and '-'`;
  if (!/[a-z]/.test(name)) return `'${name}': a port name has at least one letter`;
  if (name.includes('--')) return `'${name}': a port name has no '--'`;
  if (name.startsWith('-') || name.endsWith('-')) return `'${name}': a port name neither starts nor ends with '-'`;
  return undefined;
}

function selector(s: SelectorInput, path: Path, fail: Fail): LabelSelector {
  for (const [k, v] of Object.entries(s.matchLabels ?? {})) {
    const kp = labelKeyProblem(k);
    if (kp) fail([...path, 'matchLabels', k], kp);
    const vp = labelValueProblem(v);
    if (vp) fail([...path, 'matchLabels', k], vp);
  }
  const matchExpressions = (s.matchExpressions ?? []).map((e, i) => {
    const ep: Path = [...path, 'matchExpressions', i];
    const kp = labelKeyProblem(e.key);
    if (kp) fail([...ep, 'key'], kp);
    const values = e.values ?? [];
    if ((e.operator === 'In' || e.operator === 'NotIn') && values.length === 0)
      fail(e.values ? [...ep, 'values'] : [...ep, 'operator'], `values must be given when operator is '${e.operator}'`);
    if ((e.operator === 'Exists' || e.operator === 'DoesNotExist') && values.length > 0)
      fail([...ep, 'values'], `values may not be given when operator is '${e.operator}'`);
    values.forEach((v, j) => {
      const vp = labelValueProblem(v);
      if (vp) fail([...ep, 'values', j], vp);
    });
    return { key: e.key, operator: e.operator, values };
  });
  return { matchLabels: { ...(s.matchLabels ?? {}) }, matchExpressions };
}

function peer(p: PeerInput, path: Path, fail: Fail): NetworkPolicyPeer {
  const count = [p.podSelector, p.namespaceSelector, p.ipBlock].filter((x) => x !== undefined).length;
  if (count === 0) fail(path, 'a peer needs podSelector, namespaceSelector or ipBlock');
  else if (p.ipBlock && count > 1) fail(path, 'a peer may not have both ipBlock and a selector');
  const out: NetworkPolicyPeer = {};
  if (p.podSelector) out.podSelector = selector(p.podSelector, [...path, 'podSelector'], fail);
  if (p.namespaceSelector) out.namespaceSelector = selector(p.namespaceSelector, [...path, 'namespaceSelector'], fail);
  if (p.ipBlock) {
    const bp: Path = [...path, 'ipBlock'];
    // the API server takes a CIDR with host bits set and uses its network (10.0.0.1/24 = 10.0.0.0/24)
    const cidr = parseCidr(p.ipBlock.cidr, false);
    if (!cidr) fail([...bp, 'cidr'], `${p.ipBlock.cidr} is not a valid IPv4 CIDR`);
    const except = (p.ipBlock.except ?? []).map((t, i) => {
      const e = parseCidr(t, false);
      if (!e) fail([...bp, 'except', i], `${t} is not a valid IPv4 CIDR`);
      else if (cidr && !strictSubset(cidr, e)) fail([...bp, 'except', i], `${t} must be a strict subset of cidr ${p.ipBlock!.cidr}`);
      return e;
    });
    out.ipBlock = {
      cidr: cidr ? formatCidr(cidr) : p.ipBlock.cidr,
      except: except.map((e, i) => (e ? formatCidr(e) : p.ipBlock!.except![i]!)),
    };
  }
  return out;
}

const strictSubset = (outer: Cidr, inner: Cidr) =>
  inner.prefix > outer.prefix && inner.base >= outer.base && inner.base < outer.base + 2 ** (32 - outer.prefix);

function policyPort(p: PortInput, path: Path, fail: Fail): NetworkPolicyPort {
  if (typeof p.port === 'number') {
    if (p.port < 1 || p.port > 65535) fail([...path, 'port'], `${p.port} is not a port (1-65535)`);
    if (p.endPort !== undefined) {
      if (p.endPort < p.port) fail([...path, 'endPort'], `endPort ${p.endPort} must be greater than or equal to port ${p.port}`);
      if (p.endPort < 1 || p.endPort > 65535) fail([...path, 'endPort'], `${p.endPort} is not a port (1-65535)`);
    }
  } else if (typeof p.port === 'string') {
    const np = portNameProblem(p.port);
    if (np) fail([...path, 'port'], np);
    if (p.endPort !== undefined) fail([...path, 'endPort'], `endPort may not be given when port is a name ('${p.port}')`);
  } else if (p.endPort !== undefined) fail([...path, 'endPort'], 'endPort may not be given without port');
  return {
    protocol: p.protocol,
    ...(p.port !== undefined ? { port: p.port } : {}),
    ...(p.endPort !== undefined && p.endPort !== p.port ? { endPort: p.endPort } : {}),
  };
}

/** The policies, checked as the API server checks them, with its defaults applied. */
export function resolveNetworkPolicies(input: NetworkPolicyInput[], fail: Fail): TopologyNetworkPolicy[] {
  const seen = new Set<string>();
  return input.map((np, i): TopologyNetworkPolicy => {
    const path: Path = ['networkPolicies', i];
    if (np.name.length > 253 || !DNS1123_SUBDOMAIN.test(np.name))
      fail([...path, 'name'], `'${np.name}' is not a valid name (a DNS subdomain)`);
    if (np.namespace.length > 63 || !DNS1123_LABEL.test(np.namespace))
      fail([...path, 'namespace'], `'${np.namespace}' is not a valid namespace name (a DNS label)`);
    const key = `${np.namespace}/${np.name}`;
    if (seen.has(key)) fail([...path, 'name'], `duplicate network policy '${key}'`);
    seen.add(key);
    const types = np.policyTypes ?? (np.egress?.length ? ['Ingress', 'Egress'] : ['Ingress']);
    if (new Set(types).size !== types.length) fail([...path, 'policyTypes'], 'a policy type appears twice');
    const rules = (rs: { from?: PeerInput[]; to?: PeerInput[]; ports?: PortInput[] }[] | undefined, dir: 'ingress' | 'egress') =>
      (rs ?? []).map((r, j): NetworkPolicyRule => ({
        peers: (r.from ?? r.to ?? []).map((p, k) => peer(p, [...path, dir, j, dir === 'ingress' ? 'from' : 'to', k], fail)),
        ports: (r.ports ?? []).map((p, k) => policyPort(p, [...path, dir, j, 'ports', k], fail)),
      }));
    return {
      name: np.name,
      namespace: np.namespace,
      podSelector: selector(np.podSelector, [...path, 'podSelector'], fail),
      policyTypes: (['Ingress', 'Egress'] as const).filter((t) => types.includes(t)),
      ingress: rules(np.ingress, 'ingress'),
      egress: rules(np.egress, 'egress'),
    };
  });
}

// ---- selection (shared by the compiler, status and the expected walk) ---------------------------

/** Does a label selector match these labels (metav1.LabelSelectorAsSelector semantics)? */
export function selects(s: LabelSelector, labels: Record<string, string>): boolean {
  // for…in, not Object.entries: the policy compiler asks this millions of times
  for (const k in s.matchLabels) if (labels[k] !== s.matchLabels[k]) return false;
  for (const e of s.matchExpressions) {
    const has = Object.hasOwn(labels, e.key);
    switch (e.operator) {
      case 'In':
        if (!has || !e.values.includes(labels[e.key]!)) return false;
        break;
      case 'NotIn':
        if (has && e.values.includes(labels[e.key]!)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}

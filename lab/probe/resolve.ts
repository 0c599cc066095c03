import { LabError } from '../errors';
import type { LabNames, ServiceTarget } from '../model/names';
import { type DnsLookup, lookupName } from '../pods/dns';
import type { Runtime } from '../runtime/runtime';
import { isDnsServer } from '../topology/dns';

// Targets given by name (`web.default.svc.cluster.local:80`, `web.default:80`, `web:80`), as a
// client in a pod has them: the lab knows purely what its cluster DNS answers (lookupName, for
// the expected walk and the expectations), and the probe asks the pod's own resolver for real
// (getent in the pod's namespace, where `ip netns exec` mounts its resolv.conf) before it
// connects to the address it got.

export interface NameLookup {
  /** as written */
  name: string;
  /** what the lab's DNS data answers, the names the search list tries up to it */
  expected: DnsLookup;
}

export type NamedTarget = ServiceTarget & { dns?: NameLookup };

/** a DNS name: labels of letters, digits and '-', an optional final dot */
const DNS_NAME = /^(?=.{1,254}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?$/i;

/**
 * `<name>:<port>` whose name is no address, node or pod of the lab: a name the `from` pod
 * resolves through the cluster DNS. undefined when `text` is not of that form (LabNames.target
 * takes it); an error text when the name cannot be resolved from there.
 */
export function nameTarget(names: LabNames, from: string, text: string, protocol?: 'TCP' | 'UDP'): NamedTarget | string | undefined {
  const m = /^(.+):(\d+)$/.exec(text);
  if (!m || /^(service|nodeport):/.test(text) || names.ip(m[1]!) !== undefined || !DNS_NAME.test(m[1]!)) return undefined;
  const name = m[1]!;
  const topo = names.topo;
  const dns = topo.cluster.dns;
  if (!dns) return `'${name}' is no node or pod of lab ${topo.name}, and the lab has no cluster DNS to resolve it (cluster.dns: false)`;
  const pod = topo.pods.find((p) => p.name === from.replace(/^pod:/, ''));
  if (!pod || isDnsServer(topo, pod.name))
    return `'${name}' is a name for the cluster DNS, resolved by a pod's resolv.conf: ${from} has none (a node, or a DNS server pod, uses the host's resolver, which does not know ${dns.domain})`;
  const expected = lookupName(topo, pod, name);
  const ip = expected.addresses[0];
  if (ip === undefined)
    return `'${name}' does not resolve from ${pod.name}: the cluster DNS has no such name (tried ${expected.tried.join(', ')})`;
  const port = Number(m[2]);
  const proto = protocol ?? 'TCP';
  const service = names.services.find((s) => s.protocol === proto && s.clusterIP === ip && s.port === port);
  return { ip, port, protocol: proto, ...(service ? { service } : {}), dns: { name, expected } };
}

/** What the pod's resolver answered (getent ahostsv4): its addresses and canonical name. */
export interface Resolved {
  addresses: string[];
  canonical?: string;
}

/** Parses `getent ahostsv4`: "<ip> STREAM <canonical>", then a DGRAM and a RAW line per address. */
export function parseAhosts(text: string): Resolved {
  const addresses: string[] = [];
  let canonical: string | undefined;
  for (const line of text.split('\n')) {
    const [ip, kind, cname] = line.trim().split(/\s+/);
    if (!ip || !kind) continue;
    if (!addresses.includes(ip)) addresses.push(ip);
    if (cname && canonical === undefined) canonical = cname;
  }
  return { addresses, ...(canonical ? { canonical } : {}) };
}

/** The name resolved inside the namespace by its own resolver (libc, the pod's resolv.conf): real queries on the wire. */
export async function resolveInPod(rt: Runtime, ns: string, name: string, signal?: AbortSignal): Promise<Resolved> {
  if (!DNS_NAME.test(name)) throw new LabError(`not a DNS name: '${name}'`, 2);
  const r = await rt.run(ns, ['getent', 'ahostsv4', name], { check: false, timeoutMs: 30_000, ...(signal ? { signal } : {}) });
  const got = r.code === 0 ? parseAhosts(r.stdout) : { addresses: [] };
  if (!got.addresses.length)
    throw new LabError(
      `'${name}' does not resolve in ${ns}: getent ahostsv4 exited ${r.code}${r.code === 2 ? ' (no such name: NXDOMAIN after the whole search list)' : ''}${r.stderr.trim() ? `: ${r.stderr.trim()}` : ''}`,
    );
  return got;
}

/** The real answer set against the lab's data: the address to use, or why they disagree. */
export function checkResolved(t: NamedTarget, got: Resolved): string {
  const dns = t.dns!;
  const ip = got.addresses.find((a) => dns.expected.addresses.includes(a));
  if (ip === undefined)
    throw new LabError(
      `'${dns.name}' resolved to ${got.addresses.join(', ')}, but the lab's cluster DNS data answers ${dns.expected.answered} with ${dns.expected.addresses.join(', ')}`,
    );
  return ip;
}

import { podNamespace } from '../model/kernel-names';
import { modelOf } from '../model/lab';
import { isDnsServer } from '../topology/dns';
import type { Topology, TopologyPod } from '../topology/types';
import type { Daemon } from './servers';

// The cluster DNS's data and its servers, planned from the topology (pure; lab/ops/dns.ts writes
// the files and runs them). The records are those of the Kubernetes DNS specification
// (kubernetes/dns docs/specification.md) that CoreDNS's kubernetes plugin serves:
//   <svc>.<ns>.svc.<domain>               A: the cluster IP; headless (clusterIP: None): every selected pod
//   <host>.<svc>.<ns>.svc.<domain>         A: a headless service's pod (its hostname when its subdomain
//                                          is the service, else its address with dashes)
//   _<port>._<proto>.<svc>.<ns>.svc.<domain>  SRV: named ports (headless: one per pod, to its name above)
//   <a-b-c-d>.<ns>.pod.<domain>            A: every pod
// and nothing else in the domain: dnsmasq's local=/<domain>/ answers NXDOMAIN for the rest and,
// with no-resolv and no server= line, it forwards nothing anywhere.

export interface DnsRecords {
  /** [name, address], sorted by name then address */
  a: [string, string][];
  srv: { name: string; target: string; port: number }[];
}

export interface DnsServer {
  pod: string;
  node: string;
  ns: string;
  ip: string;
}

const dashed = (ip: string) => ip.replace(/\./g, '-');
const podNs = (p: TopologyPod) => p.namespace ?? 'default';

export function dnsServers(topo: Topology): DnsServer[] {
  const pods = new Map(topo.pods.map((p) => [p.name, p]));
  return (topo.cluster.dns?.pods ?? []).flatMap((name) => {
    const p = pods.get(name);
    return p ? [{ pod: p.name, node: p.node, ns: podNamespace(topo.name, p.node, p.name), ip: p.ip }] : [];
  });
}

export function dnsRecords(topo: Topology): DnsRecords {
  const domain = topo.cluster.dns?.domain ?? 'cluster.local';
  const a = new Set<string>();
  const srv: DnsRecords['srv'] = [];
  const addA = (name: string, ip: string) => a.add(`${name} ${ip}`);
  // Endpoints as kube-proxy sees them, including each port's resolved target port; headless
  // services are not in the proxy model, so their pods are selected here the same way.
  const byId = new Map(modelOf(topo).proxy.services.map((s) => [`${s.namespace}/${s.service}/${s.portName}/${s.protocol}`, s]));
  const selects = (sel: Record<string, string>, p: TopologyPod) =>
    Object.keys(sel).length > 0 && Object.entries(sel).every(([k, v]) => p.labels[k] === v);
  for (const svc of topo.services) {
    const fqdn = `${svc.name}.${svc.namespace}.svc.${domain}`;
    if (svc.clusterIP !== 'None') {
      addA(fqdn, svc.clusterIP);
      for (const sp of svc.ports)
        if (sp.name && byId.has(`${svc.namespace}/${svc.name}/${sp.name}/${sp.protocol}`))
          srv.push({ name: `_${sp.name}._${sp.protocol.toLowerCase()}.${fqdn}`, target: fqdn, port: sp.port });
      continue;
    }
    // ready endpoints only, as CoreDNS answers a headless service (publishNotReadyAddresses: false)
    const pods = topo.pods.filter((p) => selects(svc.selector, p) && p.conditions?.ready !== false);
    for (const p of pods) {
      const host = `${p.hostname !== undefined && p.subdomain === svc.name ? p.hostname : dashed(p.ip)}.${fqdn}`;
      addA(fqdn, p.ip);
      addA(host, p.ip);
      for (const sp of svc.ports) {
        if (!sp.name) continue;
        const port =
          typeof sp.targetPort === 'number'
            ? sp.targetPort
            : p.ports.find((x) => x.name === sp.targetPort && x.protocol === sp.protocol)?.port;
        if (port !== undefined) srv.push({ name: `_${sp.name}._${sp.protocol.toLowerCase()}.${fqdn}`, target: host, port });
      }
    }
  }
  for (const p of topo.pods) addA(`${dashed(p.ip)}.${podNs(p)}.pod.${domain}`, p.ip);
  const pairs = [...a].map((l): [string, string] => {
    const [name, ip] = l.split(' ') as [string, string];
    return [name, ip];
  });
  pairs.sort(([n1, i1], [n2, i2]) => (n1 < n2 ? -1 : n1 > n2 ? 1 : i1 < i2 ? -1 : i1 > i2 ? 1 : 0));
  srv.sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : x.target < y.target ? -1 : x.target > y.target ? 1 : x.port - y.port));
  return { a: pairs, srv };
}

/** The addn-hosts file: one "address name" line per A record (dnsmasq returns every address a name has). */
export function dnsHostsFile(records: DnsRecords): string {
  return records.a.map(([name, ip]) => `${ip} ${name}\n`).join('');
}

/** dnsmasq's configuration for one server pod; `hostsFile` is where the addn-hosts file is written. */
export function dnsmasqConfig(topo: Topology, server: DnsServer, records: DnsRecords, hostsFile: string): string {
  const domain = topo.cluster.dns?.domain ?? 'cluster.local';
  return [
    `# cluster DNS of lab ${topo.name}: ${server.pod} on ${server.node} (generated; kube-system/kube-dns ${topo.cluster.dns?.clusterIP})`,
    'port=53',
    // only the pod's own address, so the server is the pod's and `ready` sees its port bound
    `listen-address=${server.ip}`,
    'bind-interfaces',
    // no upstream: no resolv.conf read, no server= line; the cluster domain is answered locally
    'no-resolv',
    'no-hosts',
    `local=/${domain}/`,
    'domain-needed',
    `addn-hosts=${hostsFile}`,
    ...records.srv.map((s) => `srv-host=${s.name},${s.target},${s.port}`),
    // the same answer from both servers every time: no caching of its own data to go stale
    'cache-size=0',
    'log-facility=-',
    // stays root: the files live in the lab's 0700 state folder; no pid file (the lab tracks the process)
    'user=root',
    'pid-file=',
    '',
  ].join('\n');
}

/** dnsmasq in the foreground (-k), so its pid is the daemon's; ready once UDP 53 is bound. */
export function dnsDaemon(server: DnsServer, confFile: string): Daemon {
  return { ns: server.ns, argv: ['dnsmasq', '-k', `--conf-file=${confFile}`], env: {}, ready: { port: 53, protocol: 'UDP' } };
}

/** The resolver configuration kubelet writes for a pod of dnsPolicy ClusterFirst. */
export function podResolvConf(topo: Topology, pod: TopologyPod): string | undefined {
  const dns = topo.cluster.dns;
  if (!dns || isDnsServer(topo, pod.name)) return undefined; // CoreDNS's own pods: dnsPolicy Default
  const ns = podNs(pod);
  return `nameserver ${dns.clusterIP}\nsearch ${ns}.svc.${dns.domain} svc.${dns.domain} ${dns.domain}\noptions ndots:5\n`;
}

/** The names a pod's resolver (glibc, kubelet's search list, ndots:5) tries for `name`, in order. */
export function searchNames(topo: Topology, pod: TopologyPod, name: string): string[] {
  const dns = topo.cluster.dns;
  const n = name.toLowerCase();
  if (n.endsWith('.')) return [n.slice(0, -1)];
  if (!dns) return [n];
  const ns = podNs(pod);
  const search = [`${ns}.svc.${dns.domain}`, `svc.${dns.domain}`, dns.domain].map((d) => `${n}.${d}`);
  // res_search: at least ndots dots, the name as given first; fewer, the search list first and the name last
  return (n.match(/\./g) ?? []).length >= 5 ? [n, ...search] : [...search, n];
}

export interface DnsLookup {
  /** the names tried, in order, up to the one that answered */
  tried: string[];
  /** the name that answered */
  answered?: string;
  /** its A records, in the hosts file's order */
  addresses: string[];
}

/** What the lab's cluster DNS answers a pod asking for `name` (A records), as its resolver walks the search list. */
export function lookupName(topo: Topology, pod: TopologyPod, name: string, records: DnsRecords = dnsRecords(topo)): DnsLookup {
  const tried: string[] = [];
  for (const q of searchNames(topo, pod, name)) {
    tried.push(q);
    const addresses = records.a.filter(([n]) => n === q).map(([, ip]) => ip);
    if (addresses.length) return { tried, answered: q, addresses };
  }
  return { tried, addresses: [] };
}

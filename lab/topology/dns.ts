import { formatIp, nth, parseCidr } from './ipv4';
import type { TopologyInput } from './schema';
import { podRef, type DnsSpec, type Topology } from './types';

// The cluster DNS as the lab adds it to a topology (cluster.dns: true): the kube-system/kube-dns
// Service at the service CIDR's .10 (kubelet's --cluster-dns as k3s and kubeadm set it) and its
// server pods on the first two nodes, so a query crosses kube-proxy's DNAT and, from the other
// nodes, the tunnel. They are ordinary pods and an ordinary service of the topology from here
// on: the network plan makes them, kube-proxy's rules lead to them; lab/pods/dns.ts feeds them.

export const DNS_NAMESPACE = 'kube-system';
export const DNS_SERVICE = 'kube-dns';
export const DNS_LABELS: Readonly<Record<string, string>> = { 'k8s-app': 'kube-dns' };
/** how many server pods (on as many distinct nodes as there are, up to this) */
const SERVERS = 2;

export const dnsPodName = (i: number) => `kube-dns-${i + 1}`;

/** cluster.dns unset: on, as a cluster has it (either runtime), unless no kube-proxy would lead to the service. */
const dnsByDefault = (input: TopologyInput) => input.proxy.mode !== 'none';

/** Whether the lab will run its cluster DNS: cluster.dns as written, else the default above. */
export const dnsWanted = (input: TopologyInput): boolean => input.cluster.dns ?? dnsByDefault(input);

type Fail = (path: (string | number)[], message: string) => unknown;

/** Adds the DNS service and pods to the input (before allocation); undefined when the DNS is off. */
export function addClusterDns(input: TopologyInput, fail: Fail): DnsSpec | undefined {
  if (!dnsWanted(input)) return undefined;
  const cidr = parseCidr(input.cluster.serviceCIDR);
  if (!cidr) return undefined; // reported with the other CIDR checks
  const clusterIP = formatIp(nth(cidr, 10));
  let clash = false;
  input.services.forEach((s, i) => {
    if (s.clusterIP === clusterIP) {
      clash = true;
      fail(
        ['services', i, 'clusterIP'],
        `${clusterIP} is the cluster DNS's address (kube-system/kube-dns, the service CIDR's .10): choose another, or set cluster.dns: false`,
      );
    }
    if (s.namespace === DNS_NAMESPACE && s.name === DNS_SERVICE)
      fail(['services', i, 'name'], `${DNS_NAMESPACE}/${DNS_SERVICE} is the lab's own cluster DNS service (cluster.dns: true)`);
  });
  const nodes = input.nodes.slice(0, SERVERS);
  const names = nodes.map((_, i) => podRef(DNS_NAMESPACE, dnsPodName(i)));
  const taken = new Set<string>();
  input.pods.forEach((p, i) => {
    const ref = podRef(p.namespace, p.name);
    if (!names.includes(ref)) return;
    taken.add(p.name);
    fail(['pods', i, 'name'], `'${ref}' is the name of a cluster DNS pod (cluster.dns: true)`);
  });
  // (a name taken is reported once, above, not again as a duplicate)
  input.pods.push(
    ...nodes
      .flatMap((n, i) => (taken.has(dnsPodName(i)) ? [] : [{ n, i }]))
      .map(({ n, i }) => ({
        name: dnsPodName(i),
        node: n.name,
        namespace: DNS_NAMESPACE,
        labels: { ...DNS_LABELS },
        ports: [
          { port: 53, protocol: 'UDP' as const, name: 'dns' },
          { port: 53, protocol: 'TCP' as const, name: 'dns-tcp' },
        ],
      })),
  );
  if (!clash)
    input.services.push({
      name: DNS_SERVICE,
      namespace: DNS_NAMESPACE,
      type: 'ClusterIP',
      clusterIP,
      selector: { ...DNS_LABELS },
      externalTrafficPolicy: 'Cluster',
      internalTrafficPolicy: 'Cluster',
      sessionAffinity: 'None',
      ports: [
        { name: 'dns', port: 53, targetPort: 53, protocol: 'UDP' },
        { name: 'dns-tcp', port: 53, targetPort: 53, protocol: 'TCP' },
      ],
    });
  return { domain: input.cluster.domain, clusterIP, pods: names };
}

/** Whether a pod is one of the lab's DNS servers (it runs dnsmasq, not the reply listeners). */
export function isDnsServer(topo: Topology, pod: string): boolean {
  return topo.cluster.dns?.pods.includes(pod) ?? false;
}

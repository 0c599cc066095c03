import { createHash } from 'node:crypto';
import { podMeta } from '../topology/types';

// Every object the lab creates is named from the lab's prefix, so that `down` can find it
// in the kernel without any state file:
//   kdl.<lab>                 the lab's own namespace: underlay segments and their gateways
//   kdl.<lab>.<node>          a node
//   kdl.<lab>.<node>.<pod>    a pod on that node (namespace default)
//   kdl.<lab>.<node>.<ns>.<pod>  a pod of Kubernetes namespace <ns> (the lab's pod name <ns>/<pod>)
// Lab, node, namespace and pod names are DNS labels (no dots), so splitting on '.' is unambiguous.

export const PREFIX = 'kdl';

export const labNamespace = (lab: string) => `${PREFIX}.${lab}`;
/**
 * A lab over several hosts has an underlay namespace on each, every one named kdl.<lab> on its
 * own machine; the plan and the runtime tell them apart as kdl.<lab>@<host>.
 */
export const labNamespaceOn = (lab: string, host?: string) => (host ? `${labNamespace(lab)}@${host}` : labNamespace(lab));
/** A host's own network namespace, where the lab only makes its underlay tunnel's socket. */
export const hostSelf = (host: string) => `@${host}`;
/** Is `ns` the lab's own namespace (on any host) or one of its nodes' or pods'? */
export const inLab = (ns: string, lab: string) =>
  ns === labNamespace(lab) || ns.startsWith(`${labNamespace(lab)}.`) || ns.startsWith(`${labNamespace(lab)}@`);
export const nodeNamespace = (lab: string, node: string) => `${PREFIX}.${lab}.${node}`;
export const podNamespace = (lab: string, node: string, pod: string) => `${PREFIX}.${lab}.${node}.${pod.replace('/', '.')}`;

export type NamespaceRole =
  | { role: 'lab'; lab: string; host?: string }
  | { role: 'node'; lab: string; node: string }
  | { role: 'pod'; lab: string; node: string; pod: string };

export function parseNamespace(ns: string): NamespaceRole | undefined {
  const parts = ns.split('.');
  if (parts[0] !== PREFIX || parts.some((p) => p === '')) return undefined;
  const [, labPart, node, ...podParts] = parts;
  if (labPart === undefined || parts.length > 5) return undefined;
  const pod = podParts.length ? podParts.join('/') : undefined;
  const [lab, host] = labPart.split('@') as [string, string | undefined];
  if (node === undefined) return { role: 'lab', lab, ...(host ? { host } : {}) };
  if (host !== undefined) return undefined;
  if (pod === undefined) return { role: 'node', lab, node };
  return { role: 'pod', lab, node, pod };
}

const hex = (text: string, n: number) => createHash('sha256').update(text).digest('hex').slice(0, n);

/** The node-side end of a pod's veth, named as the CNI bridge plugin names it (veth + 8 hex). */
export const podVethName = (lab: string, pod: string) => `veth${hex(`${lab}/${pod}`, 8)}`;
/**
 * The node-side end of a pod's veth under Calico: 'cali' + the first 11 hex digits of the SHA-1 of
 * the workload's "<namespace>.<pod>", as libcalico-go's VethNameForWorkload names it (so a lab pod
 * named like a cluster's pod gets the same cali name). `pod` is the lab's name (<ns>/<pod> outside
 * namespace default).
 */
export const calicoVethName = (pod: string) => {
  const { namespace, name } = podMeta({ name: pod });
  return `cali${createHash('sha1').update(`${namespace}.${name}`).digest('hex').slice(0, 11)}`;
};
/** Calico's VXLAN device (Felix names it so). */
export const CALICO_VXLAN = 'vxlan.calico';
/** Calico's IP-in-IP device: the ipip module's fallback device, which every namespace gets. */
export const CALICO_IPIP = 'tunl0';
/** A Calico node's tunnel device: vxlan.calico, tunl0, none in bgp mode (or under flannel). */
export const calicoTunnelDev = (backend: string): string | undefined =>
  backend === 'calico-vxlan' ? CALICO_VXLAN : backend === 'calico-ipip' ? CALICO_IPIP : undefined;
/** The lab-namespace end of a node's underlay link. */
export const underlayPortName = (lab: string, node: string) => `ul${hex(`${lab}/${node}`, 8)}`;
/** A lab's underlay tunnel between hosts, in each host's underlay namespace. */
export const hostTunnelName = (lab: string) => `kdlu${hex(lab, 8)}`;
/** The tunnel's VXLAN id: from the lab's name, so two labs across the same hosts do not mix. */
export const hostTunnelVni = (lab: string) => (parseInt(hex(`vni/${lab}`, 6), 16) % 16_000_000) + 1000;
export const HOST_TUNNEL_PORT = 4790;
/** The bridge of underlay segment i in the lab's namespace. */
export const segmentBridgeName = (i: number) => `underlay${i}`;
export const vxlanName = (vni: number) => `flannel.${vni}`;

/**
 * Deterministic, locally administered unicast MACs: a lab built twice has the same addresses,
 * so captures are comparable, and every node knows its peers' flannel MACs up front
 * (flannel learns them from its store; here the plan computes them).
 */
export function macFor(lab: string, ns: string, ifname: string): string {
  const h = createHash('sha256').update(`${lab}/${ns}/${ifname}`).digest();
  const bytes = [(h[0]! & 0xfc) | 0x02, h[1]!, h[2]!, h[3]!, h[4]!, h[5]!];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

const vtepMacs = new Map<string, string>();
/** flannel.<vni>'s MAC on a node: every peer's neigh and fdb entries need it (N² look-ups in an
 *  N-node lab, so each is hashed once: 1,000 nodes would otherwise hash a million times). */
export function vtepMac(lab: string, node: string, vni: number): string {
  const key = `${lab}/${node}/${vni}`;
  let mac = vtepMacs.get(key);
  if (mac === undefined) vtepMacs.set(key, (mac = macFor(lab, nodeNamespace(lab, node), vxlanName(vni))));
  return mac;
}

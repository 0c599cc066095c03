import { createHash } from 'node:crypto';
import { parseIp } from '../topology/ipv4';
import type { ProxyMode, Topology } from '../topology/types';

// What kube-proxy knows on every node, derived from the topology: service ports with their
// endpoints (pods chosen by the selector). Every rule generator (iptables, ipvs, nftables)
// works from this, so the three modes always describe the same services.

export interface Endpoint {
  ip: string;
  port: number;
  pod: string;
  node: string;
}

export interface ServicePortModel {
  namespace: string;
  service: string;
  /** '' when the port is unnamed */
  portName: string;
  /** "ns/name:port" as kube-proxy writes it ("ns/name" for an unnamed port) */
  id: string;
  type: 'ClusterIP' | 'NodePort';
  protocol: 'TCP' | 'UDP';
  clusterIP: string;
  port: number;
  nodePort?: number;
  /** sorted by IP, then port (kube-proxy's order) */
  endpoints: Endpoint[];
}

export interface ProxyModel {
  mode: ProxyMode;
  /** 1 << masqueradeBit (0x4000 by default) */
  mark: number;
  scheduler: string;
  /** the cluster's pod CIDR: traffic from elsewhere to a cluster IP is masqueraded */
  clusterCIDR: string;
  /** sorted by cluster IP, then port, then protocol */
  services: ServicePortModel[];
}

/** A node as the generators need it: node-port rules bind to its own addresses in some modes. */
export interface ProxyNode {
  name: string;
  ip: string;
}

export function proxyModel(topo: Topology): ProxyModel {
  const services: ServicePortModel[] = [];
  for (const svc of topo.services) {
    const pods = topo.pods.filter((p) => Object.entries(svc.selector).every(([k, v]) => p.labels[k] === v));
    for (const sp of svc.ports) {
      const endpoints: Endpoint[] = [];
      for (const pod of pods) {
        // A named targetPort is looked up in each pod's ports; pods without it are not endpoints.
        const port = typeof sp.targetPort === 'number' ? sp.targetPort : pod.ports.find((p) => p.name === sp.targetPort && p.protocol === sp.protocol)?.port;
        if (port !== undefined) endpoints.push({ ip: pod.ip, port, pod: pod.name, node: pod.node });
      }
      endpoints.sort((a, b) => parseIp(a.ip)! - parseIp(b.ip)! || a.port - b.port);
      services.push({
        namespace: svc.namespace,
        service: svc.name,
        portName: sp.name,
        id: servicePortName(svc.namespace, svc.name, sp.name),
        type: svc.type,
        protocol: sp.protocol,
        clusterIP: svc.clusterIP,
        port: sp.port,
        ...(sp.nodePort !== undefined ? { nodePort: sp.nodePort } : {}),
        endpoints,
      });
    }
  }
  services.sort((a, b) => parseIp(a.clusterIP)! - parseIp(b.clusterIP)! || a.port - b.port || a.protocol.localeCompare(b.protocol));
  return { mode: topo.proxy.mode, mark: 1 << topo.proxy.masqueradeBit >>> 0, scheduler: topo.proxy.scheduler, clusterCIDR: topo.cluster.podCIDR, services };
}

export function servicePortName(namespace: string, name: string, port: string): string {
  return `${namespace}/${name}${port ? `:${port}` : ''}`;
}

/** "0x4000" as kube-proxy prints marks */
export const markHex = (mark: number) => `0x${mark.toString(16)}`;

// --- kube-proxy's chain names ------------------------------------------------------------
// sha256 of the service port name and lower-case protocol (plus "ip:port" for an endpoint),
// base32 (RFC 4648, upper case), first 16 characters: iptables chain names are at most 28.

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

export function base32(buf: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const b of buf) {
    value = ((value << 8) | b) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

const hash16 = (text: string) => base32(createHash('sha256').update(text).digest()).slice(0, 16);

export const portProtoHash = (sp: Pick<ServicePortModel, 'id' | 'protocol'>) => hash16(sp.id + sp.protocol.toLowerCase());
export const svcChain = (sp: ServicePortModel) => `KUBE-SVC-${portProtoHash(sp)}`;
export const extChain = (sp: ServicePortModel) => `KUBE-EXT-${portProtoHash(sp)}`;
export const sepChain = (sp: ServicePortModel, ep: Endpoint) => `KUBE-SEP-${hash16(sp.id + sp.protocol.toLowerCase() + `${ep.ip}:${ep.port}`)}`;

import { calicoTunnelDev, calicoVethName, labNamespace, nodeNamespace, podNamespace, podVethName, vxlanName } from './kernel-names';
import { modelOf } from './lab';
import type { ServicePortModel } from './proxy';
import { parseIp } from '../topology/ipv4';
import type { Topology } from '../topology/types';

// Symbolic names in scenarios, resolved from the lab: `node2.flannel.1` (or `node2:flannel.1`),
// `node1` (its eth0), `pod:web-1` / `web-1` (its eth0), `service:web[:port]`. Addresses come
// from the topology; MACs from the kernel (the lab's `status` view), so they are what the
// interfaces really carry. The reverse maps name what a probe or a capture saw.

export interface Iface {
  owner: string; // node or pod name
  kind: 'node' | 'pod';
  name: string; // interface name
  ns: string;
  ip?: string;
  mac?: string;
}

export interface ServiceTarget {
  ip: string;
  port: number;
  protocol: 'TCP' | 'UDP';
  service?: ServicePortModel;
  /** a nodePort target: the node it was sent to */
  node?: string;
}

/** What the kernel holds, as `status` reads it (lab/status's LabView has this shape): the MACs. */
export interface KernelView {
  nodes: readonly { name: string; namespace: string; interfaces: readonly { name: string; kind: string; mac: string }[] }[];
  pods: readonly { name: string; node: string; namespace: string; interfaces: readonly { name: string; kind: string; mac: string }[] }[];
}

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

export class LabNames {
  private readonly ifaces = new Map<string, Iface>(); // "<owner>.<iface>"
  private readonly byIp = new Map<string, string>();
  private readonly byMac = new Map<string, string>();
  readonly services: ServicePortModel[];

  constructor(
    readonly topo: Topology,
    view?: KernelView,
  ) {
    const lab = topo.name;
    const vx = vxlanName(topo.cluster.vni);
    for (const n of topo.nodes) {
      const ns = nodeNamespace(lab, n.name);
      this.add({ owner: n.name, kind: 'node', name: 'eth0', ns, ip: n.ip });
      if (n.cni0) this.add({ owner: n.name, kind: 'node', name: 'cni0', ns, ip: n.cni0 });
      if (topo.cluster.backend === 'vxlan' && n.vtep) this.add({ owner: n.name, kind: 'node', name: vx, ns, ip: n.vtep });
      if (n.tunnel) this.add({ owner: n.name, kind: 'node', name: calicoTunnelDev(topo.cluster.backend)!, ns, ip: n.tunnel });
    }
    for (const p of topo.pods) this.add({ owner: p.name, kind: 'pod', name: 'eth0', ns: podNamespace(lab, p.node, p.name), ip: p.ip });
    for (const s of topo.cluster.underlay) this.byIp.set(s.gateway, '@lab.gateway');
    this.services = modelOf(topo).proxy.services;
    for (const s of this.services) if (!this.byIp.has(s.clusterIP)) this.byIp.set(s.clusterIP, `service:${s.service}`);
    // MACs as the kernel has them (every interface of every lab namespace, not only the named ones)
    for (const nsView of view ? [...view.nodes, ...view.pods] : []) {
      for (const i of nsView.interfaces) {
        if (i.kind === 'loopback' || !MAC_RE.test(i.mac)) continue;
        const key = `${nsView.name}.${i.name}`;
        const known = this.ifaces.get(key);
        if (known) known.mac = i.mac;
        else
          this.ifaces.set(key, {
            owner: nsView.name,
            kind: 'node' in nsView ? 'pod' : 'node',
            name: i.name,
            ns: nsView.namespace,
            mac: i.mac,
          });
        this.byMac.set(i.mac.toLowerCase(), key);
      }
    }
  }

  private add(i: Iface): void {
    const key = `${i.owner}.${i.name}`;
    this.ifaces.set(key, i);
    if (i.ip && !this.byIp.has(i.ip)) this.byIp.set(i.ip, i.kind === 'pod' ? `pod:${i.owner}` : key);
  }

  isNode(name: string): boolean {
    return this.topo.nodes.some((n) => n.name === name);
  }

  /** The namespace a probe runs in: a node's or a pod's. */
  namespaceOf(name: string): string | undefined {
    const bare = name.replace(/^(pod|node):/, '');
    if (bare === '@lab') return labNamespace(this.topo.name);
    const node = this.topo.nodes.find((n) => n.name === bare);
    if (node) return nodeNamespace(this.topo.name, node.name);
    const pod = this.topo.pods.find((p) => p.name === bare);
    return pod ? podNamespace(this.topo.name, pod.node, pod.name) : undefined;
  }

  /** `<node|pod>[.:]<iface>`, `pod:x`, `node:x` or a bare name (its eth0) → the interface. */
  iface(symbol: string): Iface | undefined {
    const m = /^(?:(pod|node):)?([a-z0-9-]+(?:\/[a-z0-9-]+)?)(?:[.:](.+))?$/.exec(symbol);
    if (!m) return undefined;
    const [, kind, owner, name] = m;
    const i = this.ifaces.get(`${owner}.${name ?? 'eth0'}`);
    return i && (!kind || i.kind === kind) ? i : undefined;
  }

  /** An address, or a name that stands for one; undefined when it names nothing. */
  ip(symbol: string): string | undefined {
    if (parseIp(symbol) !== undefined) return symbol;
    const svc = /^service:(.+)$/.exec(symbol);
    if (svc) return this.service(svc[1]!)?.clusterIP;
    if (symbol === '@lab.gateway') return this.topo.cluster.underlay[0]?.gateway;
    return this.iface(symbol)?.ip;
  }

  mac(symbol: string): string | undefined {
    if (MAC_RE.test(symbol)) return symbol.toLowerCase();
    return this.iface(symbol)?.mac;
  }

  /** Every address of a node (eth0, cni0, flannel) or of a pod. */
  addressesOf(owner: string): string[] {
    return [...this.ifaces.values()].filter((i) => i.owner === owner && i.ip).map((i) => i.ip!);
  }

  /** The node or pod an address belongs to. */
  ownerOfIp(ip: string): string | undefined {
    return [...this.ifaces.values()].find((i) => i.ip === ip)?.owner;
  }

  /** A name for what a probe saw: 10.42.1.0 → node2.flannel.1. */
  nameOf(value: string): string | undefined {
    return this.byIp.get(value) ?? this.byMac.get(value.toLowerCase());
  }

  /** `web`, `default/web`, with an optional `:port` (name or number). */
  service(ref: string): ServicePortModel | undefined {
    const m = /^(?:([a-z0-9-]+)\/)?([a-z0-9-]+)(?::(.+))?$/.exec(ref);
    if (!m) return undefined;
    const [, ns, name, port] = m;
    return this.services.find(
      (s) => s.service === name && (!ns || s.namespace === ns) && (port === undefined || s.portName === port || String(s.port) === port),
    );
  }

  /** What a connect probe reaches: `ip:port`, `<name>:port`, `service:<ref>`, `nodeport:<ref>@<node>`. */
  target(text: string, protocol?: 'TCP' | 'UDP'): ServiceTarget | string {
    const svc = /^service:(.+)$/.exec(text);
    if (svc) {
      const s = this.service(svc[1]!);
      if (!s) return `no service '${svc[1]}' (known: ${this.serviceNames()})`;
      return { ip: s.clusterIP, port: s.port, protocol: protocol ?? s.protocol, service: s };
    }
    const np = /^nodeport:(.+)@([a-z0-9-]+)$/.exec(text);
    if (np) {
      const s = this.service(np[1]!);
      if (!s) return `no service '${np[1]}' (known: ${this.serviceNames()})`;
      if (s.nodePort === undefined) return `service ${s.id} has no node port (it is ${s.type})`;
      const node = this.topo.nodes.find((n) => n.name === np[2]);
      if (!node) return `no node '${np[2]}'`;
      return { ip: node.ip, port: s.nodePort, protocol: protocol ?? s.protocol, service: s, node: node.name };
    }
    const m = /^(.+):(\d+)$/.exec(text);
    if (!m) return `expected ip:port, <node|pod>:port, service:<name>[:<port>] or nodeport:<service>@<node>, got '${text}'`;
    const ip = this.ip(m[1]!);
    if (!ip) return `'${m[1]}' is not an address or a node/pod of this lab`;
    const port = Number(m[2]);
    const proto = protocol ?? 'TCP';
    // a cluster IP, LoadBalancer or external IP, or a node port given by number still names its service
    const service = this.services.find(
      (s) =>
        s.protocol === proto &&
        (((s.clusterIP === ip || s.loadBalancerIPs?.includes(ip) || s.externalIPs?.includes(ip)) && s.port === port) ||
          (s.nodePort === port && this.isNodeIp(ip))),
    );
    return { ip, port, protocol: proto, ...(service ? { service } : {}) };
  }

  private isNodeIp(ip: string): boolean {
    return this.topo.nodes.some((n) => this.addressesOf(n.name).includes(ip));
  }

  private serviceNames(): string {
    return [...new Set(this.services.map((s) => `${s.namespace}/${s.service}`))].join(', ') || 'none';
  }

  /** Names a user may write, for error messages. */
  known(): string {
    return [...this.ifaces.keys()].join(', ');
  }
}

/** What the kernel takes as an interface name (dev_valid_name: < 16 bytes, no '/', ':' or space, not '.' or '..'), narrowed to the usual characters. */
export const IFNAME_RE = /^(?!\.\.?$)[A-Za-z0-9_.-]{1,15}$/;

/** A capture point, `<node|pod|@lab>[:<interface|any>]`, in the lab's namespaces; an error text if it names nothing. */
export function resolvePoint(names: LabNames, at: string): { owner: string; iface: string; ns: string } | string {
  const m = /^(@lab|[a-z0-9-]+(?:\/[a-z0-9-]+)?)(?::(.+))?$/.exec(at);
  const owner = m?.[1] ?? at;
  const iface = m?.[2] ?? 'any';
  // the name is part of the pcap's file name and tcpdump's -i: a kernel interface name only (no '/', not '..')
  if (!IFNAME_RE.test(iface)) return `'${iface}' is not an interface name (at most 15 of letters, digits, '.', '_', '-'; not . or ..)`;
  const ns = names.namespaceOf(owner);
  if (!ns)
    return `no node or pod '${owner}' (write <node|pod>:<interface>, e.g. node1:eth0, client:eth0, node2:flannel.1, or @lab:<interface>)`;
  const allowed = interfacesOf(owner, names);
  if (allowed && !allowed.includes(iface)) return `'${owner}' has no interface '${iface}' (it has ${allowed.join(', ')})`;
  return { owner, iface, ns };
}

/** The interfaces a capture may name on a node or pod; undefined: any name (the lab namespace). */
function interfacesOf(owner: string, names: LabNames): string[] | undefined {
  const topo = names.topo;
  if (owner === '@lab') return undefined;
  const node = topo.nodes.find((n) => n.name === owner);
  if (!node) return ['any', 'eth0', 'lo'];
  const mine = topo.pods.filter((p) => p.node === owner);
  if (topo.cluster.cni === 'calico')
    return [
      'any',
      'eth0',
      ...(node.tunnel ? [calicoTunnelDev(topo.cluster.backend)!] : []),
      'lo',
      ...mine.map((p) => calicoVethName(p.name)),
    ];
  const veths = mine.map((p) => podVethName(topo.name, p.name));
  return ['any', 'eth0', 'cni0', ...(topo.cluster.backend === 'vxlan' ? [vxlanName(topo.cluster.vni)] : []), 'lo', ...veths];
}

import { labNamespace, nodeNamespace, parseNamespace } from '../model/kernel-names';
import { planNamespaces } from '../network/plan';
import type { Runtime } from '../runtime/runtime';
import { isAlive, listRecords, readRecord } from '../state/store';
import { type BgpNodeView, inspectBgp } from './bgp';
import { POLICY_TABLE, podPolicies } from '../policy/compile';

// What is up, read from the kernel (`ip -j -d addr` in every lab namespace), with the state
// record only adding what the kernel cannot say (the topology file, whether `up` finished).

export interface InterfaceView {
  name: string;
  index: number;
  kind: string; // veth, bridge, vxlan, loopback...
  mac: string;
  mtu: number;
  state: string;
  addresses: string[]; // CIDR form
  master?: string;
  /** the other end of a veth: its ifindex, and the namespace id it lives in (as the kernel reports it) */
  peerIndex?: number;
  vxlan?: { vni: number; port: number; local?: string; dev?: number };
}

export interface NamespaceView {
  namespace: string;
  interfaces: InterfaceView[];
}

export type LabState = 'up' | 'creating' | 'interrupted' | 'incomplete' | 'unknown';

export interface LabView {
  name: string;
  runtime: string;
  state: LabState;
  topology?: string; // file it was brought up from
  backend?: string;
  underlay: NamespaceView;
  nodes: (NamespaceView & { name: string })[];
  pods: (NamespaceView & { name: string; node: string })[];
  /** namespaces the record expects but the kernel does not have */
  missing: string[];
  /** Calico's bgp mode: every node's BGP sessions as its BIRD reports them */
  bgp?: BgpNodeView[];
  /** a lab with NetworkPolicies: which isolate each pod, and whether its node holds the agent's table */
  policies?: PodPolicyView[];
}

export interface PodPolicyView {
  pod: string;
  node: string;
  ingress: string[];
  egress: string[];
  /** the node's kube-network-policies table jumps to this pod's chain for each isolated direction */
  installed: boolean;
}

/** Labs that exist in the kernel or in a state record, optionally only the named one. */
export async function inspectLabs(rt: Runtime, only?: string): Promise<LabView[]> {
  const all = await rt.listNamespaces();
  const byLab = new Map<string, string[]>();
  for (const ns of all) {
    const r = parseNamespace(ns);
    if (!r) continue;
    const list = byLab.get(r.lab);
    if (list) list.push(ns);
    else byLab.set(r.lab, [ns]);
  }
  for (const lab of listRecords()) if (!byLab.has(lab)) byLab.set(lab, []);
  const labs = [...byLab.keys()].filter((l) => only === undefined || l === only).sort();
  return Promise.all(labs.map((lab) => inspectLab(rt, lab, byLab.get(lab)!)));
}

async function inspectLab(rt: Runtime, lab: string, namespaces: string[]): Promise<LabView> {
  const json = await rt.readAddresses(namespaces);
  const views = [...json].map(([namespace, text]): NamespaceView => ({ namespace, interfaces: parseIpAddrJson(text) }));
  const rec = readRecord(lab);
  // (the namespaces alone: planning the whole lab to list them is minutes at 1,000 nodes)
  const expected = rec ? planNamespaces(rec.topology) : [];
  const present = new Set(namespaces);
  const missing = expected.filter((ns) => !present.has(ns));
  let state: LabState = 'unknown';
  if (rec?.status === 'creating') state = isAlive(rec.pid) ? 'creating' : 'interrupted';
  else if (rec?.status === 'up') state = missing.length ? 'incomplete' : 'up';
  const view: LabView = {
    name: lab,
    runtime: rec?.runtime ?? rt.kind,
    state,
    ...(rec ? { topology: rec.topology.source, backend: rec.topology.cluster.backend } : {}),
    underlay: { namespace: labNamespace(lab), interfaces: [] },
    nodes: [],
    pods: [],
    missing,
  };
  for (const v of views) {
    const r = parseNamespace(v.namespace);
    if (r?.role === 'lab') {
      // several hosts: the first host's underlay namespace (it holds the gateway) stands for the lab
      const first = rec?.topology.hosts?.[0]?.name;
      if (!r.host || r.host === first || (!first && !view.underlay.interfaces.length)) view.underlay = v;
    } else if (r?.role === 'node') view.nodes.push({ name: r.node, ...v });
    else if (r?.role === 'pod') view.pods.push({ name: r.pod, node: r.node, ...v });
  }
  // Nodes and pods in topology order when the record has it, by name otherwise.
  const order = new Map((rec?.topology ? [...rec.topology.nodes, ...rec.topology.pods] : []).map((x, i) => [x.name, i]));
  const cmp = (a: { name: string }, b: { name: string }) =>
    (order.get(a.name) ?? 1e9) - (order.get(b.name) ?? 1e9) || a.name.localeCompare(b.name);
  view.nodes.sort(cmp);
  view.pods.sort(cmp);
  if (rec?.topology.cluster.backend === 'calico-bgp' && view.nodes.length) view.bgp = await inspectBgp(rt, rec.topology);
  if (rec?.topology.networkPolicies?.length && view.nodes.length) view.policies = await inspectPolicies(rt, rec.topology);
  return view;
}

/** The policies selecting each pod (from the record), checked against each node's table (the kernel). */
async function inspectPolicies(rt: Runtime, topo: NonNullable<ReturnType<typeof readRecord>>['topology']): Promise<PodPolicyView[]> {
  const maps = new Map<string, string>();
  for (const n of topo.nodes) {
    const r = await rt.run(nodeNamespace(topo.name, n.name), ['nft', 'list', 'table', 'ip', POLICY_TABLE], { check: false });
    maps.set(n.name, r.code === 0 ? r.stdout : '');
  }
  return podPolicies(topo).map((p) => {
    const text = maps.get(p.node) ?? '';
    const has = (dir: string) => text.includes(`${p.ip} : jump ${dir}-${p.pod}`);
    const installed = (!p.ingress.length || has('ingress')) && (!p.egress.length || has('egress'));
    return { pod: p.pod, node: p.node, ingress: p.ingress, egress: p.egress, installed };
  });
}

interface IpAddrJson {
  ifindex: number;
  ifname: string;
  link_index?: number;
  mtu: number;
  operstate: string;
  master?: string;
  address?: string;
  link_type?: string;
  linkinfo?: { info_kind?: string; info_data?: { id?: number; port?: number; local?: string; link?: number } };
  addr_info?: { family: string; local: string; prefixlen: number }[];
}

export function parseIpAddrJson(text: string): InterfaceView[] {
  const rows = JSON.parse(text || '[]') as IpAddrJson[];
  return rows.map((r) => {
    const info = r.linkinfo?.info_data;
    const kind = r.linkinfo?.info_kind ?? r.link_type ?? 'unknown';
    const v: InterfaceView = {
      name: r.ifname,
      index: r.ifindex,
      kind,
      mac: r.address ?? '',
      mtu: r.mtu,
      state: r.operstate,
      addresses: (r.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`),
    };
    if (r.master) v.master = r.master;
    if (kind === 'veth' && r.link_index !== undefined) v.peerIndex = r.link_index;
    if (kind === 'vxlan' && info)
      v.vxlan = {
        vni: info.id ?? 0,
        port: info.port ?? 0,
        ...(info.local ? { local: info.local } : {}),
        ...(info.link !== undefined ? { dev: info.link } : {}),
      };
    return v;
  });
}

import { createHash } from 'node:crypto';
import { nodeNamespace } from '../model/kernel-names';
import {
  selects,
  type NetworkPolicyPeer,
  type NetworkPolicyPort,
  type NetworkPolicyRule,
  type PolicyType,
  type TopologyNetworkPolicy,
} from '../topology/netpol';
import { podMeta, type Topology, type TopologyPod } from '../topology/types';

// The NetworkPolicy agent's compiler: the resolved topology → one nftables table per node.
// Pure; golden-tested (lab/policy/__tests__). docs/network-policy.md says why this form.
//
// Each node holds the rules of ITS pods only (as kube-router and Calico's felix do): a packet is
// judged for egress on its source pod's node and for ingress on its destination pod's node.
// The checks run in the forward hook (flannel's cni0 bridge with br_netfilter, Calico's routed
// cali veths, the vxlan/underlay devices: every pod packet crosses it), after kube-proxy's DNAT
// (prerouting), so a connection to a ClusterIP is judged against the backend pod it now goes to;
// and in the input hook for a pod's egress to its node's own addresses.

/** The agent's table in every node's namespace (kube-network-policies' name in kind clusters). */
export const POLICY_TABLE = 'kube-network-policies';

/** The policies of one direction that select a pod (`ns/name`), in the topology's order. */
export interface PodPolicies {
  pod: string;
  node: string;
  ip: string;
  ingress: string[];
  egress: string[];
}

export const policyId = (p: Pick<TopologyNetworkPolicy, 'namespace' | 'name'>) => `${p.namespace}/${p.name}`;

/** Does policy `np` select pod `pod` (same namespace, podSelector matches)? */
export function policySelects(np: TopologyNetworkPolicy, pod: TopologyPod): boolean {
  return podMeta(pod).namespace === np.namespace && selects(np.podSelector, pod.labels);
}

/** For every pod: the policies isolating it per direction (empty = not isolated in it). */
export function podPolicies(topo: Topology): PodPolicies[] {
  // a policy selects pods of its own namespace only: look at those
  const byNs = new Map<string, TopologyNetworkPolicy[]>();
  for (const np of topo.networkPolicies) byNs.set(np.namespace, [...(byNs.get(np.namespace) ?? []), np]);
  return topo.pods.map((pod) => {
    const mine = (byNs.get(podMeta(pod).namespace) ?? []).filter((np) => selects(np.podSelector, pod.labels));
    const of = (t: PolicyType) => mine.filter((np) => np.policyTypes.includes(t)).map(policyId);
    return { pod: pod.name, node: pod.node, ip: pod.ip, ingress: of('Ingress'), egress: of('Egress') };
  });
}

/** Each topology's peers' pods, found once (5,000 policies over 1,000 pods ask again and again). */
const peerCache = new WeakMap<Topology, WeakMap<NetworkPolicyPeer, TopologyPod[]>>();

/** The pods a peer with selectors stands for (ipBlock peers stand for addresses instead). */
export function peerPods(topo: Topology, np: TopologyNetworkPolicy, peer: NetworkPolicyPeer): TopologyPod[] {
  let byPeer = peerCache.get(topo);
  if (!byPeer) peerCache.set(topo, (byPeer = new WeakMap()));
  const known = byPeer.get(peer);
  if (known) return known;
  const nsLabels = new Map(topo.namespaces.map((n) => [n.name, n.labels]));
  const pods = topo.pods.filter((p) => {
    const ns = podMeta(p).namespace;
    if (peer.namespaceSelector ? !selects(peer.namespaceSelector, nsLabels.get(ns) ?? {}) : ns !== np.namespace) return false;
    return peer.podSelector ? selects(peer.podSelector, p.labels) : true;
  });
  byPeer.set(peer, pods);
  return pods;
}

/** A port of a rule made numeric for one destination pod: a name is that pod's port of the name. */
export function resolvePort(port: NetworkPolicyPort, dest: TopologyPod | undefined): { from: number; to: number } | 'any' | undefined {
  if (port.port === undefined) return 'any';
  if (typeof port.port === 'number') return { from: port.port, to: port.endPort ?? port.port };
  const named = dest?.ports.find((p) => p.name === port.port && p.protocol === port.protocol);
  return named ? { from: named.port, to: named.port } : undefined;
}

export interface NodePolicyRules {
  node: string;
  ns: string;
  /** the `nft -f` text: the table deleted and made again, one transaction */
  text: string;
  /** pods on the node isolated for ingress / egress */
  isolated: { ingress: number; egress: number };
}

/** nft comments hold at most 128 bytes: longer ones end in '…' */
const COMMENT_MAX = 128;
export function fitComment(s: string): string {
  if (Buffer.byteLength(s) <= COMMENT_MAX) return s;
  let out = s;
  while (Buffer.byteLength(out) > COMMENT_MAX - 3) out = out.slice(0, -1);
  return `${out}…`;
}
const quote = (s: string) => `"${fitComment(s.replace(/"/g, "'"))}"`;
/** The policies named in a comment: all of them, or how many when they do not fit. */
const policiesText = (ids: string[]) => (ids.join(', ').length <= 80 ? ids.join(', ') : `${ids.length} policies`);
/** The comment of a pod's final drop (lab/policy/verdict.ts predicts it for the trace). */
export const dropComment = (pod: string, dir: 'ingress' | 'egress', ids: string[]) =>
  fitComment(`${pod}: no ${dir} rule of ${policiesText(ids)} allows it`);
/** nft names: a letter first, then letters, digits, '/', '-', '_', '.'; at most 255 characters. */
const nftName = (s: string) => (s.length <= 250 ? s : `${s.slice(0, 240)}~${createHash('sha256').update(s).digest('hex').slice(0, 8)}`);
const chainOf = (dir: 'ingress' | 'egress', pod: string) => nftName(`${dir}-${pod}`);
const setOf = (dir: 'ingress' | 'egress', np: TopologyNetworkPolicy, i: number) => nftName(`${dir}.${policyId(np)}.${i}`);
const range = (r: { from: number; to: number }) => (r.from === r.to ? `${r.from}` : `${r.from}-${r.to}`);
const elements = (xs: string[]) => `{ ${xs.join(', ')} }`;

/** The rules (nft statements without the verdict) one policy rule gives for one local pod. */
function ruleMatches(
  topo: Topology,
  np: TopologyNetworkPolicy,
  rule: NetworkPolicyRule,
  i: number,
  dir: 'ingress' | 'egress',
  pod: TopologyPod,
): string[] {
  const peerAddr = dir === 'ingress' ? 'ip saddr' : 'ip daddr';
  const podPeers = rule.peers.filter((p) => !p.ipBlock);
  const blocks = rule.peers.filter((p) => p.ipBlock);
  // address parts: '' = every peer
  const addrs: { match: string; pods?: TopologyPod[] }[] = [];
  if (rule.peers.length === 0) addrs.push({ match: '' });
  if (podPeers.length) {
    const pods = [...new Set(podPeers.flatMap((p) => peerPods(topo, np, p)))];
    addrs.push({ match: `${peerAddr} @${setOf(dir, np, i)}`, pods });
  }
  for (const b of blocks) {
    const { cidr, except } = b.ipBlock!;
    addrs.push({ match: `${peerAddr} ${cidr}${except.length ? ` ${peerAddr} != ${elements(except)}` : ''}` });
  }
  if (rule.ports.length === 0) return addrs.map((a) => a.match);

  const out: string[] = [];
  for (const a of addrs) {
    for (const proto of ['tcp', 'udp'] as const) {
      const ports = rule.ports.filter((p) => p.protocol.toLowerCase() === proto);
      if (!ports.length) continue;
      const l4 = `meta l4proto ${proto}`;
      const join = (...parts: string[]) => parts.filter(Boolean).join(' ');
      const dport = (rs: { from: number; to: number }[]) => {
        const texts = [...new Set([...rs].sort((p, q) => p.from - q.from || p.to - q.to).map(range))];
        return `th dport ${texts.length === 1 ? texts[0] : elements(texts)}`;
      };
      // ingress: every port, named ones too, is this pod's; egress: names are each destination's
      const here = ports.filter((p) => dir === 'ingress' || typeof p.port !== 'string').map((p) => resolvePort(p, pod));
      const named = dir === 'egress' ? ports.filter((p) => typeof p.port === 'string') : [];
      if (here.includes('any')) out.push(join(a.match, l4));
      else {
        const rs = here.filter((r): r is { from: number; to: number } => typeof r === 'object');
        if (rs.length) out.push(join(a.match, l4, dport(rs)));
      }
      if (!named.length) continue;
      {
        // egress: each destination pod's own number for the name; an ipBlock has no pods to ask
        if (a.match && !a.pods) continue;
        const dests = a.pods ?? topo.pods;
        const pairs = [
          ...new Set(
            dests.flatMap((d) =>
              named.map((p) => resolvePort(p, d)).flatMap((r) => (typeof r === 'object' ? [`${d.ip} . ${range(r)}`] : [])),
            ),
          ),
        ];
        if (pairs.length) out.push(join(l4, `ip daddr . th dport ${elements(pairs)}`));
      }
    }
  }
  return out;
}

/** The sets of one policy: the addresses of the pods its selector peers stand for, per rule. */
function policySets(topo: Topology, np: TopologyNetworkPolicy): string[] {
  const out: string[] = [];
  const dirs = [
    ['ingress', np.policyTypes.includes('Ingress') ? np.ingress : []],
    ['egress', np.policyTypes.includes('Egress') ? np.egress : []],
  ] as const;
  for (const [dir, rules] of dirs)
    rules.forEach((r, i) => {
      const podPeers = r.peers.filter((p) => !p.ipBlock);
      if (!podPeers.length) return;
      const ips = [...new Set(podPeers.flatMap((p) => peerPods(topo, np, p)).map((p) => p.ip))];
      const comment = `${policyId(np)} ${dir}[${i}]: pods of ${podPeers.map(peerText).join(', ')}`;
      out.push(
        `\tset ${setOf(dir, np, i)} {`,
        '\t\ttype ipv4_addr',
        `\t\tcomment ${quote(comment)}`,
        ...(ips.length ? [`\t\telements = ${elements(ips)}`] : []),
        '\t}',
      );
    });
  return out;
}

const selectorText = (s: {
  matchLabels: Record<string, string>;
  matchExpressions: { key: string; operator: string; values: string[] }[];
}) => {
  const parts = [
    ...Object.entries(s.matchLabels).map(([k, v]) => `${k}=${v}`),
    ...s.matchExpressions.map((e) => `${e.key} ${e.operator}${e.values.length ? ` (${e.values.join(',')})` : ''}`),
  ];
  return parts.length ? parts.join(',') : 'all';
};
const peerText = (p: NetworkPolicyPeer) =>
  [p.namespaceSelector ? `namespaces ${selectorText(p.namespaceSelector)}` : '', p.podSelector ? `pods ${selectorText(p.podSelector)}` : '']
    .filter(Boolean)
    .join(' / ');

/** One node's table: every local pod a policy isolates gets a chain per isolated direction. */
export function compileNode(topo: Topology, node: string, selected: PodPolicies[] = podPolicies(topo)): NodePolicyRules {
  const local = topo.pods.filter((p) => p.node === node);
  const sel = new Map(selected.map((s) => [s.pod, s]));
  const byId = new Map(topo.networkPolicies.map((np) => [policyId(np), np]));
  const chains: string[] = [];
  const ingressMap: string[] = [];
  const egressMap: string[] = [];
  // sets only of policies that isolate a local pod: a node holds what its pods need
  const used = new Set<string>();
  for (const pod of local) {
    const s = sel.get(pod.name)!;
    for (const dir of ['ingress', 'egress'] as const) {
      const ids = s[dir];
      if (!ids.length) continue;
      const chain = chainOf(dir, pod.name);
      (dir === 'ingress' ? ingressMap : egressMap).push(`${pod.ip} : jump ${chain}`);
      const body = [`\t\tcomment ${quote(`pod ${pod.name} (${pod.ip}) isolated for ${dir} by ${policiesText(ids)}`)}`];
      if (dir === 'ingress')
        body.push(`\t\tfib saddr type local return comment ${quote("from the node itself: kubelet's probes (as kube-router allows)")}`);
      for (const id of ids) {
        const np = byId.get(id)!;
        used.add(id);
        (dir === 'ingress' ? np.ingress : np.egress).forEach((r, i) => {
          for (const m of ruleMatches(topo, np, r, i, dir, pod))
            body.push(`\t\t${m ? `${m} ` : ''}return comment ${quote(`${id} ${dir}[${i}]`)}`);
        });
      }
      body.push(`\t\tcounter drop comment ${quote(dropComment(pod.name, dir, ids))}`);
      chains.push(`\tchain ${chain} {`, ...body, '\t}');
    }
  }
  const sets = topo.networkPolicies.filter((np) => used.has(policyId(np))).flatMap((np) => policySets(topo, np));
  const map = (name: string, els: string[], comment: string) => [
    `\tmap ${name} {`,
    '\t\ttype ipv4_addr : verdict',
    `\t\tcomment ${quote(comment)}`,
    ...(els.length ? [`\t\telements = ${elements(els)}`] : []),
    '\t}',
  ];
  const established = `\t\tct state established,related accept comment ${quote('replies and connections already allowed pass')}`;
  const text = [
    `table ip ${POLICY_TABLE}`,
    `delete table ip ${POLICY_TABLE}`,
    `table ip ${POLICY_TABLE} {`,
    `\tcomment ${quote(`NetworkPolicy agent of node ${node}: the rules of its pods`)}`,
    ...sets,
    ...map('ingress-pods', ingressMap, 'local pods isolated for ingress → their chain'),
    ...map('egress-pods', egressMap, 'local pods isolated for egress → their chain'),
    '\tchain forward {',
    '\t\ttype filter hook forward priority filter - 5; policy accept;',
    established,
    `\t\tip daddr vmap @ingress-pods comment ${quote('ingress of local pods (after DNAT: the backend pod)')}`,
    `\t\tip saddr vmap @egress-pods comment ${quote('egress of local pods')}`,
    '\t}',
    '\tchain input {',
    '\t\ttype filter hook input priority filter - 5; policy accept;',
    established,
    `\t\tip saddr vmap @egress-pods comment ${quote("egress of local pods to the node's own addresses")}`,
    '\t}',
    ...chains,
    '}',
  ].join('\n');
  return {
    node,
    ns: nodeNamespace(topo.name, node),
    text: text + '\n',
    isolated: { ingress: ingressMap.length, egress: egressMap.length },
  };
}

/** Every node's table. */
export function compilePolicies(topo: Topology): NodePolicyRules[] {
  const selected = podPolicies(topo);
  return topo.nodes.map((n) => compileNode(topo, n.name, selected));
}

/** The text that removes the agent's table (a lab whose last policy went away). */
export const removeTableText = `table ip ${POLICY_TABLE}\ndelete table ip ${POLICY_TABLE}\n`;

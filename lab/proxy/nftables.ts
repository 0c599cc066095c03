import {
  type Endpoint,
  externallyAccessible,
  markHex,
  policyView,
  type ProxyModel,
  type ProxyNode,
  type ServicePortModel,
  sha256Base32,
  usesFirewall,
} from '../model/proxy';
import { contains, parseCidr, parseIp } from '../topology/ipv4';

// kube-proxy's nftables mode (GA in Kubernetes 1.33), as text for `nft -f`: one table
// `ip kube-proxy`, replaced atomically. Layout, names and comments follow kube-proxy's
// nftables proxier (pkg/proxy/nftables/proxier.go), e.g. for a real cluster's API service:
//   map service-ips { ... elements = { 10.43.0.1 . tcp . 443 : goto service-2QRHZV4L-default/kubernetes/tcp/https } }
//   chain service-2QRHZV4L-default/kubernetes/tcp/https {
//     ip daddr 10.43.0.1 ip saddr != 10.42.0.0/16 jump mark-for-masquerade
//     numgen random mod 1 vmap { 0 : goto endpoint-MIBO4EMV-default/kubernetes/tcp/https__10.34.4.142/6443 } }
//
// Checked against kube-proxy's own test dumps (pkg/proxy/nftables/proxier_test.go at
// kubernetes/kubernetes 81810de6, see lab/proxy/__tests__/conformance/nftables/). Differences
// from kube-proxy, on purpose:
// - The first install (and `apply --full`) replaces the whole table in one transaction: `add
//   table` (so that `delete` cannot fail), `delete table`, then the table block. A re-sync is one
//   transaction of add/flush/delete commands, as kube-proxy's (resync.ts); it deletes stale
//   chains in the same transaction, where kube-proxy waits a second (kernels before 6.2 noticed a
//   chain was unreferenced only a moment after its last map element went).

export const TABLE_FAMILY = 'ip';
export const TABLE_NAME = 'kube-proxy';

// --- chain names ---------------------------------------------------------------------------

/** knftables.NameLengthMax (256) minus the longest prefix kube-proxy puts before a base (16). */
const CHAIN_NAME_BASE_LENGTH_MAX = 256 - 16;

/** kube-proxy's hashAndTruncate: first 8 characters of base32(sha256(name)), '-', name; cut to 240. */
export function hashAndTruncate(name: string): string {
  const hashed = `${sha256Base32(name, 1)}-${name}`; // 8 base32 characters = 5 bytes
  return hashed.length > CHAIN_NAME_BASE_LENGTH_MAX ? `${hashed.slice(0, CHAIN_NAME_BASE_LENGTH_MAX - 3)}...` : hashed;
}

type PortName = Pick<ServicePortModel, 'namespace' | 'service' | 'portName' | 'protocol'>;
const proto = (sp: Pick<ServicePortModel, 'protocol'>) => sp.protocol.toLowerCase();

/** "HASH-namespace/service/protocol/portName", e.g. "ULMVA6XW-ns1/svc1/tcp/p80" */
export const servicePortChainNameBase = (sp: PortName) => hashAndTruncate(`${sp.namespace}/${sp.service}/${proto(sp)}/${sp.portName}`);

/** "HASH-namespace/service/protocol/portName__ip/port", e.g. "5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80" */
export const servicePortEndpointChainNameBase = (sp: PortName, ep: Pick<Endpoint, 'ip' | 'port'>) =>
  hashAndTruncate(`${sp.namespace}/${sp.service}/${proto(sp)}/${sp.portName}__${ep.ip.replaceAll(':', '.')}/${ep.port}`);

export const nftServiceChain = (sp: PortName) => `service-${servicePortChainNameBase(sp)}`;
export const nftExternalChain = (sp: PortName) => `external-${servicePortChainNameBase(sp)}`;
/** loadBalancerSourceRanges: drops the sources not in them, before DNAT */
export const nftFirewallChain = (sp: PortName) => `firewall-${servicePortChainNameBase(sp)}`;
/** the local-policy chain (externalTrafficPolicy or internalTrafficPolicy Local): this node's endpoints */
export const nftLocalChain = (sp: PortName) => `local-${servicePortChainNameBase(sp)}`;
export const nftEndpointChain = (sp: PortName, ep: Pick<Endpoint, 'ip' | 'port'>) => `endpoint-${servicePortEndpointChainNameBase(sp, ep)}`;
/** sessionAffinity ClientIP: the endpoint's set of clients seen lately (dynamic, with timeout) */
export const nftAffinitySet = (sp: PortName, ep: Pick<Endpoint, 'ip' | 'port'>) => `affinity-${servicePortEndpointChainNameBase(sp, ep)}`;

// kube-proxy's fixed object names
const SERVICES = 'services';
const SERVICE_IPS = 'service-ips';
const SERVICE_NODEPORTS = 'service-nodeports';
const CLUSTER_IPS = 'cluster-ips';
const SERVICE_ENDPOINTS_CHECK = 'service-endpoints-check';
const NODEPORT_ENDPOINTS_CHECK = 'nodeport-endpoints-check';
const NO_ENDPOINT_SERVICES = 'no-endpoint-services';
const NO_ENDPOINT_NODEPORTS = 'no-endpoint-nodeports';
const REJECT_CHAIN = 'reject-chain';
const CLUSTER_IPS_CHECK = 'cluster-ips-check';
const NODEPORT_IPS = 'nodeport-ips';
const FIREWALL_IPS = 'firewall-ips';
const FIREWALL_CHECK = 'firewall-check';
const MARK_MASQ = 'mark-for-masquerade';
const MASQUERADING = 'masquerading';

// --- the table being written ----------------------------------------------------------------

interface BaseChain {
  type: 'filter' | 'nat';
  hook: 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting';
  priority: number;
}

export interface ChainDef {
  name: string;
  base?: BaseChain;
  comment?: string;
  /** `#` lines written above the chain */
  note?: string;
  rules: string[];
}

export interface SetDef {
  kind: 'set' | 'map';
  name: string;
  type: string;
  comment?: string;
  flags?: string[];
  /** seconds */
  timeout?: number;
  elements: string[];
}

/**
 * kube-proxy's base chains: firewall checks before DNAT (dstnat - 10, on the destination the
 * client asked for), the endpoint and cluster-IP checks at filter priority (after DNAT), NAT at
 * dstnat / srcnat. Priorities are written as numbers, as kube-proxy's test dumps show them: nft
 * 1.0.6 (Debian 12) refuses `dstnat - 10` on a filter chain's input/forward/output hook ("invalid
 * priority expression value in this context"; prerouting takes it), and the kernel stores the
 * same number either way (nftables.kernel.test.ts reads it back).
 */
const BASE_CHAINS: [string, BaseChain][] = [
  ['filter-prerouting-pre-dnat', { type: 'filter', hook: 'prerouting', priority: -110 }],
  ['filter-output-pre-dnat', { type: 'filter', hook: 'output', priority: -110 }],
  ['filter-forward', { type: 'filter', hook: 'forward', priority: 0 }],
  ['filter-input', { type: 'filter', hook: 'input', priority: 0 }],
  ['filter-output', { type: 'filter', hook: 'output', priority: 0 }],
  ['nat-prerouting', { type: 'nat', hook: 'prerouting', priority: -100 }],
  ['nat-output', { type: 'nat', hook: 'output', priority: -100 }],
  ['nat-postrouting', { type: 'nat', hook: 'postrouting', priority: 100 }],
];

/** kube-proxy's nftablesJumpChains, in its order (which decides the order inside each base chain): [from, extra match, to] */
const JUMPS: [string, string, string][] = [
  ['filter-input', 'ct state new', NODEPORT_ENDPOINTS_CHECK],
  ['filter-input', 'ct state new', SERVICE_ENDPOINTS_CHECK],
  ['filter-forward', 'ct state new', SERVICE_ENDPOINTS_CHECK],
  ['filter-output', 'ct state new', SERVICE_ENDPOINTS_CHECK],
  ['filter-prerouting-pre-dnat', 'ct state new', FIREWALL_CHECK],
  ['filter-output-pre-dnat', 'ct state new', FIREWALL_CHECK],
  ['nat-output', '', SERVICES],
  ['nat-prerouting', '', SERVICES],
  ['nat-postrouting', '', MASQUERADING],
  ['filter-forward', 'ct state new', CLUSTER_IPS_CHECK],
  ['filter-output', 'ct state new', CLUSTER_IPS_CHECK],
];

/**
 * The node addresses --nodeport-addresses selects (kube-proxy's NodePortAddresses.GetNodeIPs),
 * or undefined when it selects every local address (an empty list, or 0.0.0.0/0): then kube-proxy
 * has no nodeport-ips set and matches `fib daddr type local` instead. `primary` is the node's own
 * IP; a CIDR takes the node's addresses inside it (eth0, cni0, flannel.1); loopback never counts.
 */
export function nodePortIPs(model: Pick<ProxyModel, 'nodePortAddresses'>, node: ProxyNode): string[] | undefined {
  const cidrs = model.nodePortAddresses.filter((a) => a !== 'primary').map((a) => parseCidr(a, false)!);
  if (!model.nodePortAddresses.length || cidrs.some((c) => c.prefix === 0)) return undefined;
  const local = node.localAddresses ?? [node.ip];
  const picked = new Set<string>();
  if (model.nodePortAddresses.includes('primary')) picked.add(node.ip);
  for (const ip of local) if (cidrs.some((c) => contains(c, parseIp(ip)!))) picked.add(ip);
  return [...picked].filter((ip) => !ip.startsWith('127.'));
}

export const quote = (s: string) => `"${s.replace(/["\\]/g, '\\$&')}"`;

/**
 * The `nft -f` text for one node. Applying it replaces whatever `table ip kube-proxy` held, in
 * one transaction: `nft -f` sends the whole file as one batch, so either all of it applies or
 * none, and packets never see a half-built table.
 */
export const nftablesRules = (model: ProxyModel, node: ProxyNode): string => renderNftTable(nftablesTable(model, node));

/** One node's table as objects: chains and sets in the order they are written. */
export interface NftTable {
  header: string[];
  chains: ChainDef[];
  sets: SetDef[];
}

/**
 * The table for one node, or (`services` a part of the model's) the part of it those service
 * ports make: the fixed chains and sets, and only their chains and elements. What a service
 * port contributes depends on it, the node and the model's settings, never on other services:
 * the re-sync (resync.ts) generates only the services that changed.
 */
export function nftablesTable(model: ProxyModel, node: ProxyNode, services: readonly ServicePortModel[] = model.services): NftTable {
  const mark = markHex(model.mark);
  const chains = new Map<string, ChainDef>();
  const chain = (name: string, base?: BaseChain): ChainDef => {
    let c = chains.get(name);
    if (!c) chains.set(name, (c = base ? { name, base, rules: [] } : { name, rules: [] }));
    return c;
  };
  for (const [name, base] of BASE_CHAINS) chain(name, base);
  for (const [from, match, to] of JUMPS) {
    chain(to);
    chain(from).rules.push(`${match ? `${match} ` : ''}jump ${to}`);
  }
  const npIPs = nodePortIPs(model, node);
  // the node ports' destinations: the nodeport-ips set, or (every local address) fib
  const npMatch = npIPs ? `ip daddr @${NODEPORT_IPS}` : 'ip daddr != 127.0.0.0/8';
  chain(NODEPORT_ENDPOINTS_CHECK).rules.push(`${npMatch} meta l4proto . th dport vmap @${NO_ENDPOINT_NODEPORTS}`);
  chain(SERVICE_ENDPOINTS_CHECK).rules.push(`ip daddr . meta l4proto . th dport vmap @${NO_ENDPOINT_SERVICES}`);
  chain(FIREWALL_CHECK).rules.push(`ip daddr . meta l4proto . th dport vmap @${FIREWALL_IPS}`);
  chain(SERVICES).rules.push(
    `ip daddr . meta l4proto . th dport vmap @${SERVICE_IPS}`,
    // must stay last: anything addressed to this node that no service IP took may be a node port
    `${npIPs ? '' : 'fib daddr type local '}${npMatch} meta l4proto . th dport vmap @${SERVICE_NODEPORTS}`,
  );
  chain(MASQUERADING).rules.push(
    `meta mark and ${mark} == 0 return`,
    // clear the mark, so a packet that is re-routed is not masqueraded twice
    `meta mark set meta mark xor ${mark}`,
    'masquerade fully-random',
  );
  chain(MARK_MASQ).rules.push(`meta mark set meta mark or ${mark}`);
  chain(CLUSTER_IPS_CHECK).rules.push(
    `ip daddr @${CLUSTER_IPS} reject comment ${quote('Reject traffic to invalid ports of ClusterIPs')}`,
    // the rest of the service CIDR: no service has that address, so nothing could ever answer
    `ip daddr { ${model.serviceCIDR} } drop comment ${quote('Drop traffic to unallocated ClusterIPs')}`,
  );
  const reject = chain(REJECT_CHAIN);
  reject.comment = `helper for @${NO_ENDPOINT_SERVICES} / @${NO_ENDPOINT_NODEPORTS}`;
  reject.rules.push('reject');

  const set = (kind: SetDef['kind'], name: string, type: string, comment: string): SetDef => ({ kind, name, type, comment, elements: [] });
  const clusterIPs = set('set', CLUSTER_IPS, 'ipv4_addr', 'Active ClusterIPs');
  const nodePortIPSet = set('set', NODEPORT_IPS, 'ipv4_addr', 'IPs that accept NodePort traffic');
  nodePortIPSet.elements.push(...(npIPs ?? []));
  const noEndpointServices = set(
    'map',
    NO_ENDPOINT_SERVICES,
    'ipv4_addr . inet_proto . inet_service : verdict',
    'vmap to drop or reject packets to services with no endpoints',
  );
  const noEndpointNodePorts = set(
    'map',
    NO_ENDPOINT_NODEPORTS,
    'inet_proto . inet_service : verdict',
    'vmap to drop or reject packets to service nodeports with no endpoints',
  );
  const firewallIPs = set(
    'map',
    FIREWALL_IPS,
    'ipv4_addr . inet_proto . inet_service : verdict',
    'destinations that are subject to LoadBalancerSourceRanges',
  );
  const serviceIPs = set(
    'map',
    SERVICE_IPS,
    'ipv4_addr . inet_proto . inet_service : verdict',
    'ClusterIP, ExternalIP and LoadBalancer IP traffic',
  );
  const serviceNodePorts = set('map', SERVICE_NODEPORTS, 'inet_proto . inet_service : verdict', 'NodePort traffic');

  const affinity: SetDef[] = [];
  const seenIPs = new Set<string>();
  for (const sp of services) {
    const p = proto(sp);
    if (!seenIPs.has(sp.clusterIP)) clusterIPs.elements.push(sp.clusterIP);
    seenIPs.add(sp.clusterIP);
    const v = policyView(sp, node.name);
    // one hash per service port (its chains share the base) and per endpoint (its chain and affinity set)
    const spName = `${sp.namespace}/${sp.service}/${p}/${sp.portName}`; // what servicePortChainNameBase hashes
    const base = hashAndTruncate(spName);
    const svcName = `service-${base}`;
    const localName = `local-${base}`;
    const extName = `external-${base}`;
    const fwName = `firewall-${base}`;
    // internalTrafficPolicy Local: the cluster IP leads to this node's endpoints only (local-…)
    const internal = sp.internalLocal ? localName : svcName;
    const accessible = externallyAccessible(sp);
    const externalLocal = sp.externalLocal === true && accessible;
    // No usable endpoint: no nat chains at all, only a reject in the filter chains (so that the
    // client hears "connection refused" at once instead of waiting for a timeout); a Local policy
    // without an endpoint on this node: dropped (there are endpoints elsewhere)
    const verdict = v.hasEndpoints ? 'drop' : `goto ${REJECT_CHAIN}`;
    const noEndpoint = (ip: string) => `${ip} . ${p} . ${sp.port} comment ${quote(sp.id)} : ${verdict}`;
    if (v.hasInternal) serviceIPs.elements.push(`${sp.clusterIP} . ${p} . ${sp.port} : goto ${internal}`);
    else noEndpointServices.elements.push(noEndpoint(sp.clusterIP));
    for (const ip of sp.externalIPs ?? []) {
      if (v.hasEndpoints) serviceIPs.elements.push(`${ip} . ${p} . ${sp.port} : goto ${extName}`);
      if (!v.hasExternal) noEndpointServices.elements.push(noEndpoint(ip));
    }
    // loadBalancerSourceRanges: firewall-check (before DNAT) sends the LoadBalancer IP's packets to firewall-…
    const usesFW = usesFirewall(sp);
    for (const ip of sp.loadBalancerIPs ?? []) {
      if (v.hasEndpoints) serviceIPs.elements.push(`${ip} . ${p} . ${sp.port} : goto ${extName}`);
      if (usesFW) firewallIPs.elements.push(`${ip} . ${p} . ${sp.port} : goto ${fwName}`);
    }
    if (!v.hasExternal) for (const ip of sp.loadBalancerIPs ?? []) noEndpointServices.elements.push(noEndpoint(ip));
    if (sp.nodePort !== undefined) {
      if (v.hasEndpoints) serviceNodePorts.elements.push(`${p} . ${sp.nodePort} : goto ${extName}`);
      if (!v.hasExternal) noEndpointNodePorts.elements.push(`${p} . ${sp.nodePort} comment ${quote(sp.id)} : ${verdict}`);
    }
    if (usesFW) {
      const fw = chain(fwName);
      fw.note = `${sp.id} (${sp.protocol}) loadBalancerSourceRanges`;
      const sources = [...sp.sourceRanges!];
      // a node reaching its own LoadBalancer IP (a local address on VIP-like LBs) has it as its source
      const nodeIp = parseIp(node.ip)!;
      if (sp.sourceRanges!.some((r) => contains(parseCidr(r, false)!, nodeIp))) sources.push(...sp.loadBalancerIPs!);
      fw.rules.push(`ip saddr != { ${sources.join(', ')} } drop`);
    }
    if (!v.hasEndpoints) continue;
    if (v.hasInternal)
      // Off-cluster clients of a cluster IP are masqueraded: the reply must come back this way.
      // (No port match: service-ips sent only this IP, protocol and port here.)
      chain(internal).rules.push(`ip daddr ${sp.clusterIP} ip saddr != ${model.clusterCIDR} jump ${MARK_MASQ}`);
    // each endpoint's chain and (ClientIP affinity) set: one hash, both names
    const sticky = sp.affinitySeconds !== undefined;
    const epNames = new Map<Endpoint, { chain: string; set: string | undefined }>();
    for (const ep of v.reachable) {
      const b = hashAndTruncate(`${spName}__${ep.ip.replaceAll(':', '.')}/${ep.port}`); // servicePortEndpointChainNameBase
      const set = sticky ? `affinity-${b}` : undefined;
      epNames.set(ep, { chain: `endpoint-${b}`, set });
      if (set)
        affinity.push({
          kind: 'set',
          name: set,
          type: 'ipv4_addr',
          flags: ['dynamic', 'timeout'],
          timeout: sp.affinitySeconds!,
          elements: [],
        });
    }
    const toEndpoints = (c: ChainDef, eps: Endpoint[]) => {
      const names = eps.map((ep) => epNames.get(ep)!);
      // sessionAffinity ClientIP: a client in an endpoint's set (seen within the timeout) goes back there
      if (sticky) for (const n of names) c.rules.push(`ip saddr @${n.set!} goto ${n.chain}`);
      let vmap = '';
      for (let i = 0; i < names.length; i++) vmap += `${i ? ', ' : ''}${i} : goto ${names[i]!.chain}`;
      c.rules.push(`numgen random mod ${eps.length} vmap { ${vmap} }`);
    };
    const described = (eps: Endpoint[]) => eps.map((e) => `${e.ip}:${e.port}`).join(', ');
    if (v.cluster.length) {
      const svc = chain(svcName);
      svc.note = `${sp.id} (${sp.protocol}) cluster IP ${sp.clusterIP}:${sp.port} -> ${described(v.cluster)}`;
      toEndpoints(svc, v.cluster);
    }
    if (v.local.length) {
      const local = chain(localName);
      local.note = `${sp.id} (${sp.protocol}) endpoints on ${node.name} (Local traffic policy) -> ${described(v.local)}`;
      toEndpoints(local, v.local);
    }
    if (accessible) {
      const ext = chain(extName);
      ext.note = `${sp.id} (${sp.protocol}) ${[
        ...(sp.nodePort !== undefined ? [`node port ${sp.nodePort}`] : []),
        ...(sp.externalIPs ?? []).map((ip) => `external IP ${ip}`),
        ...(sp.loadBalancerIPs ?? []).map((ip) => `LoadBalancer IP ${ip}`),
      ].join(', ')}`;
      if (!externalLocal)
        // externalTrafficPolicy: Cluster – the endpoint may be on another node, so masquerade.
        ext.rules.push(`jump ${MARK_MASQ}`, `goto ${svcName}`);
      else {
        // Local keeps the client's address; pods and the node itself are short-circuited to the
        // cluster chain, as if they had gone out to a load balancer and back
        ext.rules.push(
          `ip saddr ${model.clusterCIDR} goto ${svcName} comment ${quote('short-circuit pod traffic')}`,
          `fib saddr type local jump ${MARK_MASQ} comment ${quote('masquerade local traffic')}`,
          `fib saddr type local goto ${svcName} comment ${quote('short-circuit local traffic')}`,
        );
        if (v.hasExternal) ext.rules.push(`goto ${localName}`);
      }
    }
    for (const [ep, { chain: name, set }] of epNames) {
      const epc = chain(name);
      epc.note = `${sp.id} endpoint ${ep.ip}:${ep.port} (pod ${ep.pod} on ${ep.node})`;
      // hairpin: an endpoint reaching itself through the service must be masqueraded
      epc.rules.push(`ip saddr ${ep.ip} jump ${MARK_MASQ}`);
      if (set) epc.rules.push(`update @${set} { ip saddr }`);
      epc.rules.push(`meta l4proto ${p} dnat to ${ep.ip}:${ep.port}`);
    }
  }

  const serviceChain = (c: ChainDef) => c.name.includes('/'); // kube-proxy's test: only service chains have '/'
  const all = [...chains.values()];
  return {
    header: [
      `# kube-proxy nftables mode for node ${node.name} (${node.ip}): ${model.services.length} service ports, masquerade mark ${mark}, cluster CIDR ${model.clusterCIDR}`,
    ],
    chains: [...all.filter((c) => !serviceChain(c)), ...all.filter(serviceChain)],
    sets: [
      clusterIPs,
      ...(npIPs ? [nodePortIPSet] : []),
      noEndpointServices,
      noEndpointNodePorts,
      firewallIPs,
      serviceIPs,
      serviceNodePorts,
      ...affinity,
    ],
  };
}

/** The whole table as `nft -f` text: fixed chains, sets and maps, service chains (kube-proxy's order). */
export function renderNftTable(t: NftTable): string {
  // one array of lines, pushed into in place (no per-chain arrays: a large table has tens of thousands of chains)
  const out: string[] = [
    ...t.header,
    `# Apply with \`nft -f\`: one transaction replaces the whole table (add, so that delete cannot fail; delete; recreate).`,
    `add table ${TABLE_FAMILY} ${TABLE_NAME}`,
    `delete table ${TABLE_FAMILY} ${TABLE_NAME}`,
    `table ${TABLE_FAMILY} ${TABLE_NAME} {`,
    `\tcomment ${quote('rules for kube-proxy')}`,
  ];
  const serviceChains: ChainDef[] = [];
  for (const c of t.chains)
    if (c.name.includes('/')) serviceChains.push(c);
    else renderChain(c, out);
  for (const s of t.sets) renderSet(s, out);
  for (const c of serviceChains) renderChain(c, out);
  out.push('}');
  return `${out.join('\n')}\n`;
}

/** Appends the chain's lines to out, after an empty line. */
function renderChain(c: ChainDef, out: string[]): void {
  out.push('');
  if (c.note) out.push(`\t# ${c.note}`);
  out.push(`\tchain ${c.name} {`);
  if (c.base) out.push(`\t\ttype ${c.base.type} hook ${c.base.hook} priority ${c.base.priority}; policy accept;`);
  if (c.comment) out.push(`\t\tcomment ${quote(c.comment)}`);
  for (const r of c.rules) out.push(`\t\t${r}`);
  out.push('\t}');
}

/** Appends the set's lines to out, after an empty line. */
function renderSet(s: SetDef, out: string[]): void {
  out.push('', `\t${s.kind} ${s.name} {`, `\t\ttype ${s.type}`);
  if (s.flags) out.push(`\t\tflags ${s.flags.join(',')}`);
  if (s.timeout !== undefined) out.push(`\t\ttimeout ${s.timeout}s`);
  if (s.comment !== undefined) out.push(`\t\tcomment ${quote(s.comment)}`);
  if (s.elements.length) out.push(`\t\telements = { ${s.elements.join(',\n\t\t\t     ')} }`);
  out.push('\t}');
}

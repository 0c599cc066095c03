import { addForwardAcceptRules, addMasqueradeRules, comment, FILTER_BUILTINS, NAT_BUILTINS, RestoreTable } from './iptables';
import { contains, parseCidr, parseIp } from '../topology/ipv4';
import {
  type Endpoint,
  externallyAccessible,
  localEndpoints,
  markHex,
  type ProxyModel,
  type ProxyNode,
  type ServicePortModel,
} from '../model/proxy';

// kube-proxy's IPVS mode (pkg/proxy/ipvs/proxier.go), as four batches for one node:
//   link      `ip -batch`: the cluster IPs as /32 on kube-ipvs0, so the kernel takes them as local
//             (IPVS hooks LOCAL_IN: a packet must be routed to this host to meet it)
//   ipset     `ipset restore`: the sets the iptables rules match on (their size, not the rule
//             count, grows with the services)
//   iptables  `iptables-restore`: a fixed set of filter + nat rules around the sets
//   ipvsadm   `ipvsadm -R`: one virtual service per clusterIP:port, external IP, LoadBalancer IP
//             and node address:nodePort (every local address unless --nodeport-addresses narrows
//             them), persistent (-p) with ClientIP affinity, one masquerading real server per
//             endpoint (the node's own with a Local traffic policy, as syncEndpoint picks them)
// Article 001 (shared/seeds) walks the path: PREROUTING (KUBE-SERVICES marks for SNAT) → INPUT
// (IPVS DNATs to an endpoint) → POSTROUTING (KUBE-POSTROUTING masquerades marked / hairpin traffic).
//
// Re-sync: every batch can be applied again on a node that already has an older version, and
// leaves exactly the new state: `link` flushes kube-ipvs0's addresses and adds the current ones,
// `ipset` creates with -exist, flushes, then adds, `iptables` replaces whole tables, `ipvsadm`
// starts with -C (clear). The device itself is created once, by ipvsDeviceCreate(), before the
// first `link` batch (see below): `ip` has no idempotent "add if missing".

/** kube-proxy's dummy interface (defaultDummyDevice) */
export const IPVS_DEVICE = 'kube-ipvs0';

/**
 * The link type that stands in for kube-proxy's `dummy`.
 *
 * kube-proxy creates kube-ipvs0 as `dummy` and leaves it DOWN; addresses on it still get their
 * `local` route in table local (the kernel adds those for a down device too), so the cluster IPs
 * are local (`-m addrtype --dst-type LOCAL` matches, the stack accepts packets to them), while a
 * down /32 gets no route in table main that would attract traffic, and NOARP keeps it silent.
 *
 * This machine's kernel has no dummy (`# CONFIG_DUMMY is not set`, no modules). Probed in a
 * throw-away namespace (`ip link add x type T`): dummy, vrf, ipvlan, nlmon, vcan, gre, ipip, sit,
 * gretap, geneve, bond and team are "Unknown device type"; macvlan is rejected on lo; bridge, ifb,
 * veth, vxlan and tun exist. Of those, ifb is the one that behaves like dummy: a stand-alone
 * software device that drops whatever is sent to it (nothing redirects to it here), is NOARP by
 * itself, needs no peer (veth), no UDP socket and VNI (vxlan), no fd holder (tun), and is not a
 * bridge (which would answer ARP unless told not to and would look like cni0 to anything listing
 * bridges). Like kube-ipvs0 it is never set up: `ip -d link` shows <BROADCAST,NOARP> state DOWN.
 * Tried and rejected for idempotence: `ip link replace kube-ipvs0 type ifb` (and bridge, veth,
 * vxlan) fails with EOPNOTSUPP when the device exists, so creation stays a separate step.
 */
export const IPVS_DEVICE_TYPE = 'ifb';

/** `ip -batch` lines that create kube-ipvs0: run once, when the node has no kube-ipvs0 yet. */
/** kube-ipvs0's creation: kube-proxy's `dummy` where the kernel has it (a stock Debian kernel, the VM), ifb here */
export const ipvsDeviceCreate = (type: 'dummy' | 'ifb' = IPVS_DEVICE_TYPE): string[] => [`link add ${IPVS_DEVICE} type ${type}`];

export interface IpvsRules {
  /** `ip -batch` lines; kube-ipvs0 must exist (ipvsDeviceCreate); safe to run again */
  link: string[];
  /** `ipset restore` input */
  ipset: string;
  /** `iptables-restore` input: whole filter and nat tables */
  iptables: string;
  /** `ipvsadm -R` input */
  ipvsadm: string;
}

// --- the sets (pkg/proxy/ipvs/ipset.go), in kube-proxy's order, with its comments ------------

export interface IpsetDef {
  name: string;
  type: 'hash:ip' | 'hash:ip,port' | 'hash:ip,port,ip' | 'hash:ip,port,net' | 'bitmap:port';
  comment: string;
}

const set = (name: string, type: IpsetDef['type'], comment: string): IpsetDef => ({ name, type, comment });

/**
 * Every set kube-proxy creates (its ipsetInfo list, in that order): it ensures all of them on
 * every sync, and the filter rules match on some of them whether they have members or not. The
 * lab fills all but the SCTP ones (it has no SCTP); the others are created empty, as on a node
 * without such services.
 */
export const IPSETS = {
  loopBack: set('KUBE-LOOP-BACK', 'hash:ip,port,ip', 'Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose'),
  clusterIP: set('KUBE-CLUSTER-IP', 'hash:ip,port', 'Kubernetes service cluster ip + port for masquerade purpose'),
  externalIP: set('KUBE-EXTERNAL-IP', 'hash:ip,port', 'Kubernetes service external ip + port for masquerade and filter purpose'),
  externalIPLocal: set('KUBE-EXTERNAL-IP-LOCAL', 'hash:ip,port', 'Kubernetes service external ip + port with externalTrafficPolicy=local'),
  loadBalancer: set('KUBE-LOAD-BALANCER', 'hash:ip,port', 'Kubernetes service lb portal'),
  loadBalancerFW: set(
    'KUBE-LOAD-BALANCER-FW',
    'hash:ip,port',
    'Kubernetes service load balancer ip + port for load balancer with sourceRange',
  ),
  loadBalancerLocal: set(
    'KUBE-LOAD-BALANCER-LOCAL',
    'hash:ip,port',
    'Kubernetes service load balancer ip + port with externalTrafficPolicy=local',
  ),
  loadBalancerSourceIP: set(
    'KUBE-LOAD-BALANCER-SOURCE-IP',
    'hash:ip,port,ip',
    'Kubernetes service load balancer ip + port + source IP for packet filter purpose',
  ),
  loadBalancerSourceCIDR: set(
    'KUBE-LOAD-BALANCER-SOURCE-CIDR',
    'hash:ip,port,net',
    'Kubernetes service load balancer ip + port + source cidr for packet filter purpose',
  ),
  nodePortTCP: set('KUBE-NODE-PORT-TCP', 'bitmap:port', 'Kubernetes nodeport TCP port for masquerade purpose'),
  nodePortLocalTCP: set('KUBE-NODE-PORT-LOCAL-TCP', 'bitmap:port', 'Kubernetes nodeport TCP port with externalTrafficPolicy=local'),
  nodePortUDP: set('KUBE-NODE-PORT-UDP', 'bitmap:port', 'Kubernetes nodeport UDP port for masquerade purpose'),
  nodePortLocalUDP: set('KUBE-NODE-PORT-LOCAL-UDP', 'bitmap:port', 'Kubernetes nodeport UDP port with externalTrafficPolicy=local'),
  nodePortSCTP: set(
    'KUBE-NODE-PORT-SCTP-HASH',
    'hash:ip,port',
    "Kubernetes nodeport SCTP port for masquerade purpose with type 'hash ip:port'",
  ),
  nodePortLocalSCTP: set(
    'KUBE-NODE-PORT-LOCAL-SCTP-HASH',
    'hash:ip,port',
    "Kubernetes nodeport SCTP port with externalTrafficPolicy=local with type 'hash ip:port'",
  ),
  healthCheckNodePort: set('KUBE-HEALTH-CHECK-NODE-PORT', 'bitmap:port', 'Kubernetes health check node port'),
  ipvsIPs: set('KUBE-IPVS-IPS', 'hash:ip', 'Addresses on the ipvs interface'),
} as const;

/** kube-proxy's create options: hash sets get family/hashsize/maxelem, bitmaps the whole port range. */
const createOptions = (s: IpsetDef) => (s.type === 'bitmap:port' ? 'range 0-65535' : 'family inet hashsize 1024 maxelem 65536');

// --- the node's addresses for node ports --------------------------------------------------------

const isLoopback = (ip: string) => ip.startsWith('127.');
const inCidr = (ip: string, cidr: string) => {
  const c = parseCidr(cidr);
  const n = parseIp(ip);
  return c !== undefined && n !== undefined && contains(c, n);
};

/**
 * The addresses a node's node ports are virtual services on, as kube-proxy's IPVS proxier picks
 * them (syncProxyRules, "nodeIPs"):
 *   - --nodeport-addresses unset (or 0.0.0.0/0): every address of every interface but kube-ipvs0,
 *     loopback left out (GetAllLocalAddressesExcept(kube-ipvs0)): eth0, cni0, flannel.1 here;
 *   - CIDRs: the addresses of every interface inside one of them (GetNodeIPs over
 *     net.InterfaceAddrs(), which includes kube-ipvs0's cluster IPs), loopback left out;
 *     `primary` is the node's own IP (kube-proxy turns it into <node IP>/32).
 */
export function nodePortIPs(model: ProxyModel, node: ProxyNode): string[] {
  const local = [...new Set(node.localAddresses ?? [node.ip])].filter((ip) => !isLoopback(ip));
  const npa = model.nodePortAddresses;
  if (!npa.length || npa.includes('0.0.0.0/0')) return local;
  const candidates = [...new Set([...local, ...clusterIPs(model)])];
  return candidates.filter((ip) => !isLoopback(ip) && npa.some((a) => (a === 'primary' ? ip === node.ip : inCidr(ip, a))));
}

/** kube-proxy's syncEndpoint: Local policy → this node's endpoints, or all of them when it has none (kubernetes#97081: local pods still reach it). */
export function realServers(sp: ServicePortModel, node: ProxyNode | undefined, onlyLocal: boolean): Endpoint[] {
  if (!onlyLocal || !node) return sp.endpoints;
  const local = localEndpoints(sp, node.name);
  return local.length ? local : sp.endpoints;
}

/** Members of each set for one node, in a stable order (duplicates dropped); every set, empty or not. */
export function ipsetMembers(model: ProxyModel, node: ProxyNode): Map<string, string[]> {
  const members = new Map<string, Set<string>>(Object.values(IPSETS).map((s) => [s.name, new Set<string>()]));
  const put = (s: IpsetDef, entry: string) => members.get(s.name)!.add(entry);
  const hasNodeIPs = nodePortIPs(model, node).length > 0;
  const nodeIp = parseIp(node.ip);
  for (const sp of model.services) {
    const proto = sp.protocol.toLowerCase();
    const local = sp.externalLocal === true && externallyAccessible(sp);
    // hairpin: an endpoint on this node reaching itself through the service is masqueraded
    for (const ep of sp.endpoints) if (ep.node === node.name) put(IPSETS.loopBack, `${ep.ip},${proto}:${ep.port},${ep.ip}`);
    put(IPSETS.clusterIP, `${sp.clusterIP},${proto}:${sp.port}`);
    for (const ip of sp.externalIPs ?? []) put(local ? IPSETS.externalIPLocal : IPSETS.externalIP, `${ip},${proto}:${sp.port}`);
    for (const ip of sp.loadBalancerIPs ?? []) {
      const entry = `${ip},${proto}:${sp.port}`;
      put(IPSETS.loadBalancer, entry);
      if (local) put(IPSETS.loadBalancerLocal, entry);
      if (!sp.sourceRanges?.length) continue;
      put(IPSETS.loadBalancerFW, entry);
      for (const r of sp.sourceRanges) put(IPSETS.loadBalancerSourceCIDR, `${entry},${r}`);
      // the node reaching its own LB IP (source = the LB IP) when a range holds the node's IP
      if (nodeIp !== undefined && sp.sourceRanges.some((r) => contains(parseCidr(r, false)!, nodeIp)))
        put(IPSETS.loadBalancerSourceIP, `${entry},${ip}`);
    }
    // kube-proxy skips a node port altogether when the node has no address for it
    if (sp.nodePort !== undefined && hasNodeIPs) {
      put(sp.protocol === 'TCP' ? IPSETS.nodePortTCP : IPSETS.nodePortUDP, String(sp.nodePort));
      if (local) put(sp.protocol === 'TCP' ? IPSETS.nodePortLocalTCP : IPSETS.nodePortLocalUDP, String(sp.nodePort));
    }
    if (sp.healthCheckNodePort !== undefined) put(IPSETS.healthCheckNodePort, String(sp.healthCheckNodePort));
    for (const ip of boundAddresses(sp)) put(IPSETS.ipvsIPs, ip);
  }
  return new Map([...members].map(([name, m]) => [name, [...m]]));
}

/** What a service port binds on kube-ipvs0: its cluster IP, external IPs and LoadBalancer IPs. */
const boundAddresses = (sp: ServicePortModel) => [sp.clusterIP, ...(sp.externalIPs ?? []), ...(sp.loadBalancerIPs ?? [])];

export function ipsetRestore(model: ProxyModel, node: ProxyNode): string {
  const members = ipsetMembers(model, node);
  const out: string[] = [];
  for (const s of Object.values(IPSETS)) {
    out.push(`# ${s.name}: ${s.comment}`, `create ${s.name} ${s.type} ${createOptions(s)} -exist`, `flush ${s.name}`);
    for (const m of members.get(s.name) ?? []) out.push(`add ${s.name} ${m}`);
  }
  return `${out.join('\n')}\n`;
}

// --- iptables ---------------------------------------------------------------------------------

const matchSet = (s: IpsetDef, dirs: string) => ['-m', 'set', '--match-set', s.name, dirs];

/** kube-proxy's chains (iptablesChains), declared in its order. */
export const IPVS_CHAINS = {
  nat: ['KUBE-SERVICES', 'KUBE-POSTROUTING', 'KUBE-NODE-PORT', 'KUBE-LOAD-BALANCER', 'KUBE-MARK-MASQ'],
  filter: [
    'KUBE-FORWARD',
    'KUBE-NODE-PORT',
    'KUBE-PROXY-FIREWALL',
    'KUBE-SOURCE-RANGES-FIREWALL',
    'KUBE-IPVS-FILTER',
    'KUBE-IPVS-OUT-FILTER',
  ],
} as const;

/**
 * The jumps from the built-in chains (iptablesJumpChain), as they stand after kube-proxy's first
 * sync: it inserts each at the top of its chain (EnsureRule Prepend) in its list's order, so a later
 * entry ends up above an earlier one (INPUT: KUBE-IPVS-FILTER, KUBE-PROXY-FIREWALL, KUBE-NODE-PORT).
 */
/** kube-proxy's ipsetWithIptablesChain: [set, table, from, to, match, protocol] (SCTP left out: the lab has none). */
const IPSET_JUMPS: [IpsetDef, 'nat' | 'filter', string, string, string, string?][] = [
  [IPSETS.loopBack, 'nat', 'KUBE-POSTROUTING', 'MASQUERADE', 'dst,dst,src'],
  [IPSETS.loadBalancer, 'nat', 'KUBE-SERVICES', 'KUBE-LOAD-BALANCER', 'dst,dst'],
  [IPSETS.loadBalancerLocal, 'nat', 'KUBE-LOAD-BALANCER', 'RETURN', 'dst,dst'],
  [IPSETS.nodePortLocalTCP, 'nat', 'KUBE-NODE-PORT', 'RETURN', 'dst', 'tcp'],
  [IPSETS.nodePortTCP, 'nat', 'KUBE-NODE-PORT', 'KUBE-MARK-MASQ', 'dst', 'tcp'],
  [IPSETS.nodePortLocalUDP, 'nat', 'KUBE-NODE-PORT', 'RETURN', 'dst', 'udp'],
  [IPSETS.nodePortUDP, 'nat', 'KUBE-NODE-PORT', 'KUBE-MARK-MASQ', 'dst', 'udp'],
  [IPSETS.loadBalancerFW, 'filter', 'KUBE-PROXY-FIREWALL', 'KUBE-SOURCE-RANGES-FIREWALL', 'dst,dst'],
  [IPSETS.loadBalancerSourceCIDR, 'filter', 'KUBE-SOURCE-RANGES-FIREWALL', 'RETURN', 'dst,dst,src'],
  [IPSETS.loadBalancerSourceIP, 'filter', 'KUBE-SOURCE-RANGES-FIREWALL', 'RETURN', 'dst,dst,src'],
];

export const IPVS_JUMPS: { table: 'nat' | 'filter'; from: string; to: string; comment: string }[] = [
  { table: 'nat', from: 'PREROUTING', to: 'KUBE-SERVICES', comment: 'kubernetes service portals' },
  { table: 'nat', from: 'OUTPUT', to: 'KUBE-SERVICES', comment: 'kubernetes service portals' },
  { table: 'nat', from: 'POSTROUTING', to: 'KUBE-POSTROUTING', comment: 'kubernetes postrouting rules' },
  { table: 'filter', from: 'INPUT', to: 'KUBE-IPVS-FILTER', comment: 'kubernetes ipvs access filter' },
  { table: 'filter', from: 'INPUT', to: 'KUBE-PROXY-FIREWALL', comment: 'kube-proxy firewall rules' },
  { table: 'filter', from: 'INPUT', to: 'KUBE-NODE-PORT', comment: 'kubernetes health check rules' },
  { table: 'filter', from: 'FORWARD', to: 'KUBE-PROXY-FIREWALL', comment: 'kube-proxy firewall rules' },
  { table: 'filter', from: 'FORWARD', to: 'KUBE-FORWARD', comment: 'kubernetes forwarding rules' },
  { table: 'filter', from: 'OUTPUT', to: 'KUBE-IPVS-OUT-FILTER', comment: 'kubernetes ipvs access filter' },
];

/**
 * kube-proxy's writeIptablesRules for the lab's services, rule for rule in its order. It shares
 * the masquerade and KUBE-FORWARD accept rules with iptables mode, but writes KUBE-POSTROUTING
 * after its hairpin rule and has no INVALID drop in KUBE-FORWARD.
 */
export function ipvsIptables(model: ProxyModel, node: ProxyNode): string {
  const members = ipsetMembers(model, node);
  const has = (s: IpsetDef) => (members.get(s.name)?.length ?? 0) > 0;
  const m = markHex(model.mark);
  const filter = new RestoreTable('filter', FILTER_BUILTINS);
  const nat = new RestoreTable('nat', NAT_BUILTINS);
  for (const c of IPVS_CHAINS.nat) nat.chain(c);
  for (const c of IPVS_CHAINS.filter) filter.chain(c);
  for (const j of IPVS_JUMPS) (j.table === 'nat' ? nat : filter).add(j.from, ...comment(j.comment), '-j', j.to);

  // connections from localhost are left alone
  nat.add('KUBE-SERVICES', '-s', '127.0.0.0/8', '-j', 'RETURN');
  // the sets with a fixed jump (ipsetWithIptablesChain, in its order), only when they have members
  for (const [s, table, from, to, dirs, p] of IPSET_JUMPS)
    if (has(s)) (table === 'nat' ? nat : filter).add(from, ...(p ? ['-p', p] : []), ...comment(s.comment), ...matchSet(s, dirs), '-j', to);
  if (has(IPSETS.clusterIP))
    // traffic to a cluster IP from outside the pod network (a node, a router) is masqueraded
    // (kube-proxy's cluster-CIDR local detector: `! -s <cluster CIDR>`)
    nat.add(
      'KUBE-SERVICES',
      ...comment(IPSETS.clusterIP.comment),
      ...matchSet(IPSETS.clusterIP, 'dst,dst'),
      '!',
      '-s',
      model.clusterCIDR,
      '-j',
      'KUBE-MARK-MASQ',
    );
  // external IPs: masqueraded (Cluster policy), then accepted from off the machine or when local
  const externalIPRules = (s: IpsetDef) => {
    const words = [...comment(s.comment), ...matchSet(s, 'dst,dst')];
    nat.add(
      'KUBE-SERVICES',
      ...words,
      '-m',
      'physdev',
      '!',
      '--physdev-is-in',
      '-m',
      'addrtype',
      '!',
      '--src-type',
      'LOCAL',
      '-j',
      'ACCEPT',
    );
    nat.add('KUBE-SERVICES', ...words, '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'ACCEPT');
  };
  if (has(IPSETS.externalIP)) {
    nat.add('KUBE-SERVICES', ...comment(IPSETS.externalIP.comment), ...matchSet(IPSETS.externalIP, 'dst,dst'), '-j', 'KUBE-MARK-MASQ');
    externalIPRules(IPSETS.externalIP);
  }
  if (has(IPSETS.externalIPLocal)) externalIPRules(IPSETS.externalIPLocal);
  nat
    .add('KUBE-SERVICES', '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'KUBE-NODE-PORT')
    .add('KUBE-LOAD-BALANCER', '-j', 'KUBE-MARK-MASQ');
  filter.add('KUBE-SOURCE-RANGES-FIREWALL', '-j', 'DROP');
  // a LoadBalancer IP with source ranges that leave out the node: the node may not reach it
  for (const sp of model.services) {
    const nodeIp = parseIp(node.ip);
    if (!sp.sourceRanges?.length || nodeIp === undefined || sp.sourceRanges.some((r) => contains(parseCidr(r, false)!, nodeIp))) continue;
    for (const ip of sp.loadBalancerIPs ?? [])
      filter.add(
        'KUBE-IPVS-OUT-FILTER',
        '-s',
        ip,
        '-m',
        'ipvs',
        '--vaddr',
        ip,
        '--vproto',
        sp.protocol.toLowerCase(),
        '--vport',
        String(sp.port),
        '-j',
        'DROP',
      );
  }
  // accept cluster-IP and LoadBalancer traffic here, so that no other nat rule gets in IPVS's way
  for (const s of [IPSETS.clusterIP, IPSETS.loadBalancer]) if (has(s)) nat.add('KUBE-SERVICES', ...matchSet(s, 'dst,dst'), '-j', 'ACCEPT');
  addForwardAcceptRules(filter, m);
  filter.add(
    'KUBE-NODE-PORT',
    ...comment(IPSETS.healthCheckNodePort.comment),
    ...matchSet(IPSETS.healthCheckNodePort, 'dst'),
    '-j',
    'ACCEPT',
  );
  // kube-ipvs0 makes every cluster IP local: only service ports may be reached through them,
  // not the node's own ports (kubernetes#72236)
  for (const [s, dirs] of [
    [IPSETS.loadBalancer, 'dst,dst'],
    [IPSETS.clusterIP, 'dst,dst'],
    [IPSETS.externalIP, 'dst,dst'],
    [IPSETS.externalIPLocal, 'dst,dst'],
    [IPSETS.healthCheckNodePort, 'dst'],
  ] as const)
    filter.add('KUBE-IPVS-FILTER', ...matchSet(s, dirs), '-j', 'RETURN');
  filter.add('KUBE-IPVS-FILTER', '-m', 'conntrack', '--ctstate', 'NEW', ...matchSet(IPSETS.ipvsIPs, 'dst'), '-j', 'REJECT');
  addMasqueradeRules(nat, m);
  return `${filter.render()}\n${nat.render()}\n`;
}

// --- kube-ipvs0 -------------------------------------------------------------------------------

/** Every cluster IP once, in the model's (numeric) order. */
export const clusterIPs = (model: ProxyModel): string[] => [...new Set(model.services.map((s) => s.clusterIP))];

export function ipvsLink(model: ProxyModel): string[] {
  // flush + add, not a diff: the batch leaves exactly the current addresses (for the moment
  // between the two a packet to a cluster IP would not be local; rules are re-synced rarely).
  // External and LoadBalancer IPs are bound too (syncService with bindAddr), after the cluster IPs.
  const bound = [...new Set([...clusterIPs(model), ...model.services.flatMap(boundAddresses)])];
  return [`addr flush dev ${IPVS_DEVICE}`, ...bound.map((ip) => `addr add ${ip}/32 dev ${IPVS_DEVICE}`)];
}

// --- ipvsadm ----------------------------------------------------------------------------------

const flag = (sp: Pick<ServicePortModel, 'protocol'>) => (sp.protocol === 'TCP' ? '-t' : '-u');

/** The virtual services of one service port on one node: its cluster IP, and each node-port address (nodePortIPs). */
export function virtualServices(sp: ServicePortModel, nodeIPs: string[]): string[] {
  return [`${sp.clusterIP}:${sp.port}`, ...(sp.nodePort !== undefined ? nodeIPs.map((ip) => `${ip}:${sp.nodePort}`) : [])];
}

export function ipvsadmRestore(model: ProxyModel, node: ProxyNode): string {
  const out = ['-C'];
  const nodeIPs = nodePortIPs(model, node);
  for (const sp of model.services) {
    // sessionAffinity ClientIP: a persistent virtual service, timeout stickyMaxAgeSeconds
    const persist = sp.affinitySeconds !== undefined ? ` -p ${sp.affinitySeconds}` : '';
    const externalLocal = sp.externalLocal === true && externallyAccessible(sp);
    // in kube-proxy's order: cluster IP (ITP), external IPs, LoadBalancer IPs, node ports (ETP)
    const vss: [string, boolean][] = [
      [`${sp.clusterIP}:${sp.port}`, sp.internalLocal === true],
      ...(sp.externalIPs ?? []).map((ip): [string, boolean] => [`${ip}:${sp.port}`, externalLocal]),
      ...(sp.loadBalancerIPs ?? []).map((ip): [string, boolean] => [`${ip}:${sp.port}`, externalLocal]),
      ...(sp.nodePort !== undefined ? nodeIPs.map((ip): [string, boolean] => [`${ip}:${sp.nodePort}`, externalLocal]) : []),
    ];
    for (const [vs, onlyLocal] of vss) {
      out.push(`-A ${flag(sp)} ${vs} -s ${model.scheduler}${persist}`);
      // NAT forwarding (-m, "Masq" in ipvsadm -L: the kernel's default, which kube-proxy leaves), weight 1
      for (const ep of realServers(sp, node, onlyLocal)) out.push(`-a ${flag(sp)} ${vs} -r ${ep.ip}:${ep.port} -m -w 1`);
    }
  }
  return `${out.join('\n')}\n`;
}

export function ipvsRules(model: ProxyModel, node: ProxyNode): IpvsRules {
  return {
    link: ipvsLink(model),
    ipset: ipsetRestore(model, node),
    iptables: ipvsIptables(model, node),
    ipvsadm: ipvsadmRestore(model, node),
  };
}

// --- reading ipvsadm -R input / ipvsadm -S -n output back -------------------------------------

export interface RealServer {
  address: string; // ip:port
  forward: 'masq' | 'gate' | 'ipip';
  weight: number;
}

export interface VirtualService {
  protocol: 'TCP' | 'UDP';
  address: string; // ip:port
  scheduler: string;
  /** -p: persistence timeout in seconds (sessionAffinity ClientIP) */
  persistent?: number;
  reals: RealServer[];
}

export interface ParsedIpvsadm {
  clear: boolean;
  /** keyed "TCP 10.43.0.10:80" */
  services: Map<string, VirtualService>;
}

const ADDR = /^\d{1,3}(\.\d{1,3}){3}:\d{1,5}$/;

/** Parses `ipvsadm -R` input (as ipvsadm -S -n writes it); throws on a line it does not understand. */
export function parseIpvsadm(text: string): ParsedIpvsadm {
  const out: ParsedIpvsadm = { clear: false, services: new Map() };
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const fail = (why: string): never => {
      throw new Error(`ipvsadm line ${i + 1}: ${why}: ${line}`);
    };
    const w = line.split(/\s+/);
    if (w[0] === '-C') {
      if (w.length > 1) fail('-C takes no arguments');
      out.clear = true;
      return;
    }
    const opts = new Map<string, string>();
    for (let j = 1; j < w.length; j++) {
      const o = w[j]!;
      if (!o.startsWith('-')) fail(`unexpected '${o}'`);
      const v = o === '-m' || o === '-g' || o === '-i' ? '' : w[++j];
      if (v === undefined) fail(`${o} needs a value`);
      if (opts.has(o)) fail(`${o} given twice`);
      opts.set(o, v!);
    }
    const t = opts.get('-t');
    const u = opts.get('-u');
    if ((t === undefined) === (u === undefined)) fail('needs exactly one of -t / -u');
    const address = (t ?? u)!;
    if (!ADDR.test(address)) fail(`not an ip:port: ${address}`);
    const key = `${t !== undefined ? 'TCP' : 'UDP'} ${address}`;
    if (w[0] === '-A') {
      const scheduler = opts.get('-s') ?? fail('-A needs -s <scheduler>');
      const p = opts.get('-p');
      if (p !== undefined && !/^\d+$/.test(p)) fail('-p needs a timeout in seconds');
      if (opts.size !== 2 + (p !== undefined ? 1 : 0)) fail('unknown options');
      if (out.services.has(key)) fail(`virtual service ${key} added twice`);
      out.services.set(key, {
        protocol: t !== undefined ? 'TCP' : 'UDP',
        address,
        scheduler,
        ...(p !== undefined ? { persistent: Number(p) } : {}),
        reals: [],
      });
    } else if (w[0] === '-a') {
      const vs = out.services.get(key) ?? fail(`real server for undeclared virtual service ${key}`);
      const r = opts.get('-r') ?? fail('-a needs -r <ip:port>');
      if (!ADDR.test(r)) fail(`not an ip:port: ${r}`);
      const forward = opts.has('-m') ? 'masq' : opts.has('-i') ? 'ipip' : 'gate';
      const weight = Number(opts.get('-w') ?? '1');
      if (!Number.isInteger(weight) || weight < 0) fail('bad weight');
      const known = new Set(['-t', '-u', '-r', '-m', '-g', '-i', '-w']);
      if ([...opts.keys()].some((k) => !known.has(k))) fail('unknown options');
      vs.reals.push({ address: r, forward, weight });
    } else fail(`unknown command ${w[0]}`);
  });
  return out;
}

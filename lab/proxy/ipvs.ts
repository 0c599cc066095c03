import { addMasqueradeChains, comment, FILTER_BUILTINS, NAT_BUILTINS, RestoreTable } from './iptables';
import { markHex, type ProxyModel, type ProxyNode, type ServicePortModel } from '../model/proxy';

// kube-proxy's IPVS mode (pkg/proxy/ipvs/proxier.go), as four batches for one node:
//   link      `ip -batch`: the cluster IPs as /32 on kube-ipvs0, so the kernel takes them as local
//             (IPVS hooks LOCAL_IN: a packet must be routed to this host to meet it)
//   ipset     `ipset restore`: the sets the iptables rules match on (their size, not the rule
//             count, grows with the services)
//   iptables  `iptables-restore`: a fixed set of filter + nat rules around the sets
//   ipvsadm   `ipvsadm -R`: one virtual service per clusterIP:port and per nodeIP:nodePort,
//             one masquerading real server per endpoint
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
  type: 'hash:ip' | 'hash:ip,port' | 'hash:ip,port,ip' | 'bitmap:port';
  comment: string;
}

const set = (name: string, type: IpsetDef['type'], comment: string): IpsetDef => ({ name, type, comment });

/** The sets a lab of ClusterIP and NodePort services needs (no LoadBalancer, externalIPs, SCTP or health checks). */
export const IPSETS = {
  loopBack: set('KUBE-LOOP-BACK', 'hash:ip,port,ip', 'Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose'),
  clusterIP: set('KUBE-CLUSTER-IP', 'hash:ip,port', 'Kubernetes service cluster ip + port for masquerade purpose'),
  nodePortTCP: set('KUBE-NODE-PORT-TCP', 'bitmap:port', 'Kubernetes nodeport TCP port for masquerade purpose'),
  nodePortUDP: set('KUBE-NODE-PORT-UDP', 'bitmap:port', 'Kubernetes nodeport UDP port for masquerade purpose'),
  ipvsIPs: set('KUBE-IPVS-IPS', 'hash:ip', 'Addresses on the ipvs interface'),
} as const;

/** kube-proxy's create options: hash sets get family/hashsize/maxelem, bitmaps the whole port range. */
const createOptions = (s: IpsetDef) => (s.type === 'bitmap:port' ? 'range 0-65535' : 'family inet hashsize 1024 maxelem 65536');

/** Members of each set for one node, in a stable order (duplicates dropped). */
export function ipsetMembers(model: ProxyModel, node: ProxyNode): Map<string, string[]> {
  const members = new Map<string, Set<string>>(Object.values(IPSETS).map((s) => [s.name, new Set<string>()]));
  const put = (s: IpsetDef, entry: string) => members.get(s.name)!.add(entry);
  for (const sp of model.services) {
    const proto = sp.protocol.toLowerCase();
    // hairpin: an endpoint on this node reaching itself through the service is masqueraded
    for (const ep of sp.endpoints) if (ep.node === node.name) put(IPSETS.loopBack, `${ep.ip},${proto}:${ep.port},${ep.ip}`);
    put(IPSETS.clusterIP, `${sp.clusterIP},${proto}:${sp.port}`);
    if (sp.nodePort !== undefined) put(sp.protocol === 'TCP' ? IPSETS.nodePortTCP : IPSETS.nodePortUDP, String(sp.nodePort));
    put(IPSETS.ipvsIPs, sp.clusterIP);
  }
  return new Map([...members].map(([name, m]) => [name, [...m]]));
}

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

export function ipvsIptables(model: ProxyModel, node: ProxyNode): string {
  const members = ipsetMembers(model, node);
  const has = (s: IpsetDef) => (members.get(s.name)?.length ?? 0) > 0;
  const filter = new RestoreTable('filter', FILTER_BUILTINS);
  const nat = new RestoreTable('nat', NAT_BUILTINS);
  // kube-proxy's chains, declared in its order (iptablesChains)
  nat.chain('KUBE-SERVICES').chain('KUBE-POSTROUTING').chain('KUBE-NODE-PORT').chain('KUBE-MARK-MASQ');
  filter.chain('KUBE-FORWARD').chain('KUBE-IPVS-FILTER');

  nat
    .add('PREROUTING', ...comment('kubernetes service portals'), '-j', 'KUBE-SERVICES')
    .add('OUTPUT', ...comment('kubernetes service portals'), '-j', 'KUBE-SERVICES')
    // connections from localhost are left alone
    .add('KUBE-SERVICES', '-s', '127.0.0.0/8', '-j', 'RETURN');
  // The sets with a fixed jump (ipsetWithIptablesChain), only when they have members. The
  // hairpin MASQUERADE must come before KUBE-POSTROUTING's `! --mark ... -j RETURN`, which
  // addMasqueradeChains adds below: rules render in the order they are added.
  if (has(IPSETS.loopBack))
    nat.add('KUBE-POSTROUTING', ...comment(IPSETS.loopBack.comment), ...matchSet(IPSETS.loopBack, 'dst,dst,src'), '-j', 'MASQUERADE');
  for (const [s, p] of [
    [IPSETS.nodePortTCP, 'tcp'],
    [IPSETS.nodePortUDP, 'udp'],
  ] as const)
    if (has(s)) nat.add('KUBE-NODE-PORT', '-p', p, ...comment(s.comment), ...matchSet(s, 'dst'), '-j', 'KUBE-MARK-MASQ');
  if (has(IPSETS.clusterIP))
    // traffic to a cluster IP from outside the pod network (a node, a router) is masqueraded
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
  nat.add('KUBE-SERVICES', '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'KUBE-NODE-PORT');
  // accept cluster-IP traffic here, so that no other nat rule gets in IPVS's way
  if (has(IPSETS.clusterIP)) nat.add('KUBE-SERVICES', ...matchSet(IPSETS.clusterIP, 'dst,dst'), '-j', 'ACCEPT');

  // KUBE-MARK-MASQ and KUBE-POSTROUTING are the iptables mode's. Its filter half is not: IPVS mode
  // has no `--ctstate INVALID -j DROP` in KUBE-FORWARD, so that half is written here instead.
  addMasqueradeChains(nat, new RestoreTable('filter', FILTER_BUILTINS), model.mark);
  const m = markHex(model.mark);
  filter
    .add('INPUT', ...comment('kubernetes ipvs access filter'), '-j', 'KUBE-IPVS-FILTER')
    .add('FORWARD', ...comment('kubernetes forwarding rules'), '-j', 'KUBE-FORWARD')
    .add('KUBE-FORWARD', ...comment('kubernetes forwarding rules'), '-m', 'mark', '--mark', `${m}/${m}`, '-j', 'ACCEPT')
    .add(
      'KUBE-FORWARD',
      ...comment('kubernetes forwarding conntrack rule'),
      '-m',
      'conntrack',
      '--ctstate',
      'RELATED,ESTABLISHED',
      '-j',
      'ACCEPT',
    )
    // kube-ipvs0 makes every cluster IP local: only service ports may be reached through them,
    // not the node's own ports (kubernetes#72236)
    .add('KUBE-IPVS-FILTER', ...matchSet(IPSETS.clusterIP, 'dst,dst'), '-j', 'RETURN')
    .add('KUBE-IPVS-FILTER', '-m', 'conntrack', '--ctstate', 'NEW', ...matchSet(IPSETS.ipvsIPs, 'dst'), '-j', 'REJECT');
  return `${filter.render()}\n${nat.render()}\n`;
}

// --- kube-ipvs0 -------------------------------------------------------------------------------

/** Every cluster IP once, in the model's (numeric) order. */
export const clusterIPs = (model: ProxyModel): string[] => [...new Set(model.services.map((s) => s.clusterIP))];

export function ipvsLink(model: ProxyModel): string[] {
  // flush + add, not a diff: the batch leaves exactly the current addresses (for the moment
  // between the two a packet to a cluster IP would not be local; rules are re-synced rarely)
  return [`addr flush dev ${IPVS_DEVICE}`, ...clusterIPs(model).map((ip) => `addr add ${ip}/32 dev ${IPVS_DEVICE}`)];
}

// --- ipvsadm ----------------------------------------------------------------------------------

const flag = (sp: Pick<ServicePortModel, 'protocol'>) => (sp.protocol === 'TCP' ? '-t' : '-u');

/** The virtual services of one service port on one node: its cluster IP, and the node's own address for a node port. */
export function virtualServices(sp: ServicePortModel, node: ProxyNode): string[] {
  return [`${sp.clusterIP}:${sp.port}`, ...(sp.nodePort !== undefined ? [`${node.ip}:${sp.nodePort}`] : [])];
}

export function ipvsadmRestore(model: ProxyModel, node: ProxyNode): string {
  const out = ['-C'];
  for (const sp of model.services) {
    for (const vs of virtualServices(sp, node)) {
      out.push(`-A ${flag(sp)} ${vs} -s ${model.scheduler}`);
      // NAT forwarding (-m, "Masq" in ipvsadm -L), weight 1: what kube-proxy sets for every endpoint
      for (const ep of sp.endpoints) out.push(`-a ${flag(sp)} ${vs} -r ${ep.ip}:${ep.port} -m -w 1`);
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
      if (opts.size !== 2) fail('unknown options');
      if (out.services.has(key)) fail(`virtual service ${key} added twice`);
      out.services.set(key, { protocol: t !== undefined ? 'TCP' : 'UDP', address, scheduler, reals: [] });
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

import {
  type Endpoint,
  extChain,
  externallyAccessible,
  fwChain,
  markHex,
  policyView,
  type ProxyModel,
  type ProxyNode,
  sepChain,
  type ServicePortModel,
  svcChain,
  svlChain,
  usesFirewall,
} from '../model/proxy';
import { contains, parseCidr, parseIp } from '../topology/ipv4';
import { type ParsedTables, parseTables, ruleKey } from './iptables-parse';

// kube-proxy's iptables mode as iptables-restore text, and the table writer IPVS mode shares.
// Rules are written word for word as kube-proxy writes them (pkg/proxy/iptables/proxier.go), e.g.
//   -A KUBE-SVC-7CWUT4JBGBRVUN2L -m comment --comment "default/nginx-test:80-80 cluster IP" -m tcp -p tcp -d 10.43.6.58 --dport 80 ! -s 10.42.0.0/16 -j KUBE-MARK-MASQ
// iptables-save prints the same rule in the kernel's order (-d 10.43.6.58/32 first, ...).

/** An iptables-restore table being written: chains in order of declaration, then rules. */
export class RestoreTable {
  private readonly chains = new Map<string, string>(); // name → policy ('-' for user chains)
  private readonly rules: string[] = [];
  private readonly inserts: string[] = [];
  private readonly deletes: string[] = [];
  constructor(
    readonly name: 'filter' | 'nat' | 'mangle',
    builtins: string[],
  ) {
    for (const b of builtins) this.chains.set(b, 'ACCEPT');
  }
  chain(name: string): this {
    if (!this.chains.has(name)) this.chains.set(name, '-');
    return this;
  }
  add(chain: string, ...words: string[]): this {
    return this.line(chain, words.join(' '));
  }
  /** A rule given as its text after `-A <chain> ` */
  line(chain: string, rest: string): this {
    this.chain(chain);
    this.rules.push(`-A ${chain} ${rest}`);
    return this;
  }
  /** `-I <chain> ...`: put at the top of a chain that exists (a built-in one), without declaring it. */
  insert(chain: string, ...words: string[]): this {
    this.inserts.push(`-I ${chain} ${words.join(' ')}`);
    return this;
  }
  /** `:<chain>` (flushes it) then `-X <chain>`: a chain that is no longer used goes. */
  deleteChain(chain: string): this {
    this.chain(chain);
    this.deletes.push(`-X ${chain}`);
    return this;
  }
  /** Each declared chain's rules (the text after `-A <chain> `), in order; inserts and deletes left out. */
  chainRules(): Map<string, string[]> {
    const out = new Map<string, string[]>([...this.chains.keys()].map((c) => [c, []]));
    for (const r of this.rules) {
      const at = r.indexOf(' ', 3);
      out.get(r.slice(3, at))!.push(r.slice(at + 1));
    }
    return out;
  }
  render(): string {
    const decl = [...this.chains].map(([c, p]) => `:${c} ${p} [0:0]`);
    return [`*${this.name}`, ...decl, ...this.inserts, ...this.rules, ...this.deletes, 'COMMIT'].join('\n');
  }
}

/** `-m comment --comment X`, quoted the way iptables-save quotes it (only when needed). */
export const comment = (text: string) => ['-m', 'comment', '--comment', /^[\w./:+-]+$/.test(text) ? text : `"${text}"`];

const proto = (sp: ServicePortModel) => sp.protocol.toLowerCase();

export const FILTER_BUILTINS = ['INPUT', 'FORWARD', 'OUTPUT'];
export const NAT_BUILTINS = ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'];

/**
 * KUBE-POSTROUTING and KUBE-MARK-MASQ as both the iptables and the IPVS proxier write them:
 * masquerade what carries the mark, clearing it first so that a packet re-routed is not
 * masqueraded twice. --random-fully: kube-proxy adds it where iptables supports it, as it does here.
 */
export function addMasqueradeRules(nat: RestoreTable, m: string): void {
  nat
    .line('KUBE-POSTROUTING', `-m mark ! --mark ${m}/${m} -j RETURN`)
    .line('KUBE-POSTROUTING', `-j MARK --xor-mark ${m}`)
    .line('KUBE-POSTROUTING', `${comment('kubernetes service traffic requiring SNAT').join(' ')} -j MASQUERADE --random-fully`)
    .line('KUBE-MARK-MASQ', `-j MARK --or-mark ${m}`);
}

/** KUBE-FORWARD's accept rules for marked and established traffic (both proxiers; iptables mode drops INVALID first). */
export function addForwardAcceptRules(filter: RestoreTable, m: string): void {
  filter
    .line('KUBE-FORWARD', `${comment('kubernetes forwarding rules').join(' ')} -m mark --mark ${m}/${m} -j ACCEPT`)
    .line(
      'KUBE-FORWARD',
      `${comment('kubernetes forwarding conntrack rule').join(' ')} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
    );
}

/** 1/(n-i) with 10 decimals, as kube-proxy writes it; the last endpoint gets no probability. */
export const probability = (n: number, i: number) => (1 / (n - i)).toFixed(10);

// --- iptables mode ------------------------------------------------------------------------------
// As kube-proxy's iptables proxier (pkg/proxy/iptables/proxier.go) writes it: one
// `iptables-restore --noflush` of the filter and nat tables. Only kube-proxy's own chains are
// declared (declaring a chain flushes it), so chains of anyone else survive a re-sync; the jumps
// from the built-in chains kube-proxy adds itself (`iptables -C` / `-I`), here as `-I` lines of
// the first install; chains of services that went away are deleted (`-X`).

/** The jumps from built-in chains, in kube-proxy's order (iptablesJumpChains, then kubelet's KUBE-FIREWALL). */
const JUMPS: { table: 'filter' | 'nat'; from: string; to: string; comment?: string; newOnly?: boolean }[] = [
  { table: 'filter', from: 'INPUT', to: 'KUBE-EXTERNAL-SERVICES', comment: 'kubernetes externally-visible service portals', newOnly: true },
  {
    table: 'filter',
    from: 'FORWARD',
    to: 'KUBE-EXTERNAL-SERVICES',
    comment: 'kubernetes externally-visible service portals',
    newOnly: true,
  },
  { table: 'filter', from: 'INPUT', to: 'KUBE-NODEPORTS', comment: 'kubernetes health check service ports' },
  { table: 'filter', from: 'FORWARD', to: 'KUBE-SERVICES', comment: 'kubernetes service portals', newOnly: true },
  { table: 'filter', from: 'OUTPUT', to: 'KUBE-SERVICES', comment: 'kubernetes service portals', newOnly: true },
  { table: 'filter', from: 'FORWARD', to: 'KUBE-FORWARD', comment: 'kubernetes forwarding rules' },
  { table: 'filter', from: 'INPUT', to: 'KUBE-PROXY-FIREWALL', comment: 'kubernetes load balancer firewall', newOnly: true },
  { table: 'filter', from: 'OUTPUT', to: 'KUBE-PROXY-FIREWALL', comment: 'kubernetes load balancer firewall', newOnly: true },
  { table: 'filter', from: 'FORWARD', to: 'KUBE-PROXY-FIREWALL', comment: 'kubernetes load balancer firewall', newOnly: true },
  { table: 'nat', from: 'OUTPUT', to: 'KUBE-SERVICES', comment: 'kubernetes service portals' },
  { table: 'nat', from: 'PREROUTING', to: 'KUBE-SERVICES', comment: 'kubernetes service portals' },
  { table: 'nat', from: 'POSTROUTING', to: 'KUBE-POSTROUTING', comment: 'kubernetes postrouting rules' },
  { table: 'filter', from: 'INPUT', to: 'KUBE-FIREWALL' },
  { table: 'filter', from: 'OUTPUT', to: 'KUBE-FIREWALL' },
];

/** Prefixes of the per-service chains kube-proxy deletes when unused (isServiceChainName). */
export const SERVICE_CHAIN_PREFIXES = ['KUBE-SVC-', 'KUBE-SVL-', 'KUBE-SEP-', 'KUBE-FW-', 'KUBE-EXT-'];

/** The nat chains of the services: what a sync writes, and what the next one deletes if gone. */
export function serviceChains(model: ProxyModel, node?: string): Set<string> {
  const out = new Set<string>();
  for (const sp of model.services) {
    const v = policyView(sp, node);
    if (!v.hasEndpoints) continue;
    if (v.cluster.length) out.add(svcChain(sp));
    if (v.local.length) out.add(svlChain(sp));
    if (externallyAccessible(sp)) out.add(extChain(sp));
    if (usesFirewall(sp)) out.add(fwChain(sp));
    for (const ep of v.reachable) out.add(sepChain(sp, ep));
  }
  return out;
}

/**
 * The addresses node ports answer on, as kube-proxy's --nodeport-addresses decides on this node:
 * 'all' (no list: `-m addrtype --dst-type LOCAL`), else the node's addresses in one of the CIDRs
 * (`primary`: the node IP), loopback first as the kernel lists lo first.
 */
export function nodePortTargets(model: ProxyModel, node?: ProxyNode): 'all' | string[] {
  if (!model.nodePortAddresses.length) return 'all';
  const cidrs = model.nodePortAddresses.filter((a) => a !== 'primary').map((c) => parseCidr(c, false)!);
  const primary = model.nodePortAddresses.includes('primary');
  const addrs = ['127.0.0.1', ...(node?.localAddresses ?? (node ? [node.ip] : []))];
  return [...new Set(addrs)].filter((a) => (primary && a === node?.ip) || cidrs.some((c) => contains(c, parseIp(a)!)));
}

/** kube-proxy turns localhostNodePorts off when --nodeport-addresses leaves out 127.0.0.1 (NewProxier). */
export function localhostNodePortsOn(model: ProxyModel): boolean {
  if (!model.localhostNodePorts) return false;
  if (!model.nodePortAddresses.length) return true;
  const lo = parseIp('127.0.0.1')!;
  return model.nodePortAddresses.some((a) => a !== 'primary' && contains(parseCidr(a, false)!, lo));
}

/** The sysctl kube-proxy sets for localhostNodePorts: packets from 127.0.0.1 may be routed off the host (DNAT to a pod). */
export const ROUTE_LOCALNET = 'net.ipv4.conf.all.route_localnet=1';

export interface IptablesOptions {
  /** the model of the previous sync: its service chains that are gone now are deleted (-X) */
  previous?: ProxyModel;
  /** a re-sync: the jumps from the built-in chains are in place (the first install inserted them) */
  resync?: boolean;
  /**
   * What the node's tables hold now (its iptables-save), as kube-proxy reads them on a sync: a
   * jump that is missing is inserted again (its `iptables -C`, else `-I`), and every service
   * chain of the node that is no longer used is deleted (instead of those of `previous`).
   */
  held?: ParsedTables;
  /** only these service ports (part of the model's), for a re-sync of what changed (resync.ts) */
  services?: readonly ServicePortModel[];
}

const jumpWords = (j: (typeof JUMPS)[number]) => [
  ...(j.newOnly ? ['-m', 'conntrack', '--ctstate', 'NEW'] : []),
  ...(j.comment ? comment(j.comment) : []),
  '-j',
  j.to,
];

/** The jumps a sync inserts: all on the first install; on a re-sync those the node lacks (if known). */
function jumpsToInsert(opts: IptablesOptions): typeof JUMPS {
  const held = opts.held;
  if (!held) return opts.resync ? [] : JUMPS;
  const have = new Set(held.rules.map(ruleKey));
  return JUMPS.filter((j) => {
    const [r] = parseTables(`*${j.table}\n-A ${j.from} ${jumpWords(j).join(' ')}\nCOMMIT\n`).rules;
    return !have.has(ruleKey(r!));
  });
}

/** The service chains to delete: the node's (when known) or the previous sync's, that are not used now. */
function staleChains(model: ProxyModel, opts: IptablesOptions, node?: ProxyNode): string[] {
  if (!opts.held && !opts.previous) return []; // (every service's chain names hashed for nothing)
  const now = serviceChains(model, node?.name);
  const before = opts.held
    ? [...(opts.held.chains.get('nat') ?? [])].filter((c) => SERVICE_CHAIN_PREFIXES.some((p) => c.startsWith(p)))
    : opts.previous
      ? [...serviceChains(opts.previous, node?.name)]
      : [];
  return before.filter((c) => !now.has(c)).sort();
}

const q = (text: string) => comment(text).slice(3)[0]!; // the comment's text, quoted when needed
const kpPort = (sp: ServicePortModel) => `-m ${proto(sp)} -p ${proto(sp)}`;

/** One node's restore text (it depends on the node only through nodePortAddresses). */
export function iptablesRules(model: ProxyModel, node?: ProxyNode, opts: IptablesOptions = {}): string {
  const t = iptablesTables(model, node, opts);
  return `${t.filter.render()}\n${t.nat.render()}\n`;
}

/**
 * The filter and nat tables being written. With `opts.services` the chains every service shares
 * (KUBE-SERVICES, KUBE-NODEPORTS, ...) hold only those services' rules; a service's own chains
 * (SERVICE_CHAIN_PREFIXES) are whole, and what a service writes depends on it, the node and the
 * model's settings only.
 */
export function iptablesTables(
  model: ProxyModel,
  node?: ProxyNode,
  opts: IptablesOptions = {},
): { filter: RestoreTable; nat: RestoreTable } {
  const filter = new RestoreTable('filter', []);
  const nat = new RestoreTable('nat', []);
  const m = markHex(model.mark);
  const localhost = localhostNodePortsOn(model);
  for (const c of ['KUBE-SERVICES', 'KUBE-EXTERNAL-SERVICES', 'KUBE-FORWARD', 'KUBE-NODEPORTS', 'KUBE-PROXY-FIREWALL', 'KUBE-FIREWALL'])
    filter.chain(c);
  for (const c of ['KUBE-SERVICES', 'KUBE-NODEPORTS', 'KUBE-POSTROUTING', 'KUBE-MARK-MASQ']) nat.chain(c);
  for (const j of jumpsToInsert(opts)) (j.table === 'filter' ? filter : nat).insert(j.from, ...jumpWords(j));

  addMasqueradeRules(nat, m);
  if (localhost)
    // route_localnet lets 127.0.0.1 be routed off the host: drop what arrives for 127/8 from elsewhere
    filter.line(
      'KUBE-FIREWALL',
      `${comment('block incoming localnet connections').join(' ')} -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP`,
    );

  for (const sp of opts.services ?? model.services) {
    const svc = svcChain(sp);
    const dst = `${kpPort(sp)} -d ${sp.clusterIP} --dport ${sp.port}`;
    const v = policyView(sp, node?.name);
    const svl = svlChain(sp);
    const ext = extChain(sp);
    const fw = fwChain(sp);
    // internalTrafficPolicy Local: the cluster IP leads to this node's endpoints only (KUBE-SVL)
    const internal = sp.internalLocal ? svl : svc;
    const accessible = externallyAccessible(sp);
    const externalLocal = sp.externalLocal === true && accessible;
    const usesFW = v.hasEndpoints && usesFirewall(sp);
    // No endpoint: refuse at once, as kube-proxy does, instead of letting the SYN time out; a Local
    // policy without an endpoint on this node: dropped (the service has endpoints elsewhere)
    const noEndpoints = q(`${sp.id} has no endpoints`);
    const noLocal = q(`${sp.id} has no local endpoints`);
    const [internalTarget, internalComment] = v.hasEndpoints ? ['DROP', noLocal] : ['REJECT', noEndpoints];
    const [externalTarget, externalComment] = v.hasEndpoints ? ['DROP', noLocal] : ['REJECT', noEndpoints];
    const cip = q(`${sp.id} cluster IP`);
    if (v.hasInternal) nat.line('KUBE-SERVICES', `-m comment --comment ${cip} ${dst} -j ${internal}`);
    else filter.line('KUBE-SERVICES', `-m comment --comment ${internalComment} ${dst} -j ${internalTarget}`);
    for (const ip of sp.externalIPs ?? []) {
      const to = `${kpPort(sp)} -d ${ip} --dport ${sp.port}`;
      if (v.hasEndpoints) nat.line('KUBE-SERVICES', `-m comment --comment ${q(`${sp.id} external IP`)} ${to} -j ${ext}`);
      if (!v.hasExternal) filter.line('KUBE-EXTERNAL-SERVICES', `-m comment --comment ${externalComment} ${to} -j ${externalTarget}`);
    }
    for (const ip of sp.loadBalancerIPs ?? []) {
      const to = `${kpPort(sp)} -d ${ip} --dport ${sp.port}`;
      if (v.hasEndpoints) nat.line('KUBE-SERVICES', `-m comment --comment ${q(`${sp.id} loadbalancer IP`)} ${to} -j ${usesFW ? fw : ext}`);
      // what KUBE-FW did not send on was not DNATed: it still has the LoadBalancer IP here
      if (usesFW) filter.line('KUBE-PROXY-FIREWALL', `-m comment --comment ${q(`${sp.id} traffic not accepted by ${fw}`)} ${to} -j DROP`);
    }
    if (!v.hasExternal)
      for (const ip of sp.loadBalancerIPs ?? [])
        filter.line(
          'KUBE-EXTERNAL-SERVICES',
          `-m comment --comment ${externalComment} ${kpPort(sp)} -d ${ip} --dport ${sp.port} -j ${externalTarget}`,
        );
    if (sp.nodePort !== undefined) {
      if (v.hasEndpoints) nat.line('KUBE-NODEPORTS', `-m comment --comment ${q(sp.id)} ${kpPort(sp)} --dport ${sp.nodePort} -j ${ext}`);
      if (!v.hasExternal)
        filter.line(
          'KUBE-EXTERNAL-SERVICES',
          `-m comment --comment ${externalComment} -m addrtype --dst-type LOCAL ${kpPort(sp)} --dport ${sp.nodePort} -j ${externalTarget}`,
        );
    }
    // the health check server's port is open whether or not this node has endpoints
    if (sp.healthCheckNodePort !== undefined)
      filter.line(
        'KUBE-NODEPORTS',
        `-m comment --comment ${q(`${sp.id} health check node port`)} -m tcp -p tcp --dport ${sp.healthCheckNodePort} -j ACCEPT`,
      );
    if (!v.hasEndpoints) continue;
    // traffic to the cluster IP from outside the pod network is masqueraded
    if (v.hasInternal) nat.line(internal, `-m comment --comment ${cip} ${dst} ! -s ${model.clusterCIDR} -j KUBE-MARK-MASQ`);
    if (accessible) {
      nat.chain(ext);
      if (!externalLocal) {
        // the endpoint may be on another node: masquerade, so that the reply comes back this way
        nat.line(ext, `-m comment --comment ${q(`masquerade traffic for ${sp.id} external destinations`)} -j KUBE-MARK-MASQ`);
        nat.line(ext, `-j ${svc}`);
      } else {
        // externalTrafficPolicy Local keeps the client's address; pods and the node itself are
        // short-circuited to the cluster chain, as if they had gone out to a load balancer and back
        nat.line(ext, `-m comment --comment ${q(`pod traffic for ${sp.id} external destinations`)} -s ${model.clusterCIDR} -j ${svc}`);
        nat.line(
          ext,
          `-m comment --comment ${q(`masquerade LOCAL traffic for ${sp.id} external destinations`)} -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ`,
        );
        nat.line(
          ext,
          `-m comment --comment ${q(`route LOCAL traffic for ${sp.id} external destinations`)} -m addrtype --src-type LOCAL -j ${svc}`,
        );
        if (v.hasExternal) nat.line(ext, `-j ${svl}`);
      }
    }
    if (usesFW) {
      // loadBalancerSourceRanges: only these sources go on; the rest falls off the end of KUBE-FW
      // un-DNATed and KUBE-PROXY-FIREWALL (filter) drops it
      const lbComment = `-m comment --comment ${q(`${sp.id} loadbalancer IP`)}`;
      const ranges = sp.sourceRanges!;
      for (const r of ranges) nat.line(fw, `${lbComment} -s ${r} -j ${ext}`);
      // a node reaching its own LoadBalancer IP (a local address on VIP-like LBs) has it as its source
      const nodeIp = node ? parseIp(node.ip) : undefined;
      if (nodeIp !== undefined && ranges.some((r) => contains(parseCidr(r, false)!, nodeIp)))
        for (const ip of sp.loadBalancerIPs!) nat.line(fw, `${lbComment} -s ${ip} -j ${ext}`);
      nat.line(fw, `-m comment --comment ${q(`other traffic to ${sp.id} will be dropped by KUBE-PROXY-FIREWALL`)}`);
    }
    // The per-endpoint rules are most of a large ruleset: whole lines, the shared words built once.
    const p = proto(sp);
    const idComment = `-m comment --comment ${q(sp.id)}`;
    const affinity = sp.affinitySeconds;
    const seps = new Map(v.reachable.map((ep) => [ep, sepChain(sp, ep)]));
    const toEndpoints = (chain: string, eps: Endpoint[]) => {
      const n = eps.length;
      if (affinity !== undefined)
        // sessionAffinity ClientIP: a client seen lately (the endpoint's `recent` list) goes back to it
        for (const ep of eps) {
          const sep = seps.get(ep)!;
          nat.line(
            chain,
            `-m comment --comment ${q(`${sp.id} -> ${ep.ip}:${ep.port}`)} -m recent --name ${sep} --rcheck --seconds ${affinity} --reap -j ${sep}`,
          );
        }
      eps.forEach((ep, i) => {
        const pick = i < n - 1 ? ` -m statistic --mode random --probability ${probability(n, i)}` : '';
        nat.line(chain, `-m comment --comment ${q(`${sp.id} -> ${ep.ip}:${ep.port}`)}${pick} -j ${seps.get(ep)}`);
      });
    };
    if (v.cluster.length) toEndpoints(svc, v.cluster);
    if (v.local.length) toEndpoints(svl, v.local);
    for (const [ep, sep] of seps) {
      // hairpin: an endpoint reaching itself through the service must be masqueraded
      nat.line(sep, `${idComment} -s ${ep.ip} -j KUBE-MARK-MASQ`);
      const remember = affinity !== undefined ? ` -m recent --name ${sep} --set` : '';
      nat.line(sep, `${idComment}${remember} -m ${p} -p ${p} -j DNAT --to-destination ${ep.ip}:${ep.port}`);
    }
  }
  for (const c of staleChains(model, opts, node)) nat.deleteChain(c);
  // Must stay last: anything addressed to this node that no cluster-IP rule took may be a node port.
  const last = comment('kubernetes service nodeports; NOTE: this must be the last rule in this chain').join(' ');
  const targets = nodePortTargets(model, node);
  if (targets === 'all')
    nat.line('KUBE-SERVICES', `${last} -m addrtype --dst-type LOCAL${localhost ? '' : ' ! -d 127.0.0.0/8'} -j KUBE-NODEPORTS`);
  else for (const ip of targets) if (ip !== '127.0.0.1' || localhost) nat.line('KUBE-SERVICES', `${last} -d ${ip} -j KUBE-NODEPORTS`);

  filter.line('KUBE-FORWARD', '-m conntrack --ctstate INVALID -j DROP');
  addForwardAcceptRules(filter, m);
  return { filter, nat };
}

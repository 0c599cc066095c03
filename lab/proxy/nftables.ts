import { base32, type Endpoint, markHex, type ProxyModel, type ProxyNode, type ServicePortModel, sha256 } from '../model/proxy';

// kube-proxy's nftables mode (GA in Kubernetes 1.33), as text for `nft -f`: one table
// `ip kube-proxy`, replaced atomically. Layout, names and comments follow kube-proxy's
// nftables proxier (pkg/proxy/nftables/proxier.go), e.g. as a real cluster lists it:
//   map service-ips { ... elements = { 10.43.0.1 . tcp . 443 : goto service-2QRHZV4L-default/kubernetes/tcp/https } }
//   chain service-2QRHZV4L-default/kubernetes/tcp/https {
//     ip daddr 10.43.0.1 tcp dport 443 ip saddr != 10.42.0.0/16 jump mark-for-masquerade
//     numgen random mod 1 vmap { 0 : goto endpoint-MIBO4EMV-default/kubernetes/tcp/https__10.34.4.142/6443 } }
//
// Differences from kube-proxy, on purpose:
// - Priorities are written as numbers (-110, -90, -100, 100). kube-proxy writes `dstnat - 10`
//   etc.; nft 1.0.6 (Debian 12) rejects `dstnat` on the input/forward/output hooks ("invalid
//   priority expression value in this context"). The numbers are the same values.
// - Node ports are taken for any local address (`fib daddr type local`), kube-proxy's behaviour
//   with `--nodeport-addresses` unset; its nftables-mode default `primary` would add a
//   `nodeport-ips` set holding only the node IP. This matches the iptables mode's
//   `--dst-type LOCAL`.
// - cluster-ips-check has no "Drop traffic to unallocated ClusterIPs" rule: kube-proxy only
//   writes it when it knows the service CIDRs, which the proxy model does not carry.
// - No LoadBalancer, externalIPs, session affinity or Local traffic policies (the topology has
//   none), so firewall-ips stays empty and there are no local-/firewall-/affinity- objects.
// - kube-proxy applies changes as one transaction of add/flush/delete commands and deletes stale
//   chains a second later; here the whole table is replaced in one transaction instead:
//   `add table` (so that `delete` cannot fail), `delete table`, then the table block.

export const TABLE_FAMILY = 'ip';
export const TABLE_NAME = 'kube-proxy';

// --- chain names ---------------------------------------------------------------------------

/** knftables.NameLengthMax (256) minus the longest prefix kube-proxy puts before a base (16). */
const CHAIN_NAME_BASE_LENGTH_MAX = 256 - 16;

/** kube-proxy's hashAndTruncate: first 8 characters of base32(sha256(name)), '-', name; cut to 240. */
export function hashAndTruncate(name: string): string {
  const hashed = `${base32(sha256(name).subarray(0, 5))}-${name}`; // 8 base32 characters = 5 bytes
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
export const nftEndpointChain = (sp: PortName, ep: Pick<Endpoint, 'ip' | 'port'>) => `endpoint-${servicePortEndpointChainNameBase(sp, ep)}`;

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

interface ChainDef {
  name: string;
  base?: BaseChain;
  comment?: string;
  /** `#` lines written above the chain */
  note?: string;
  rules: string[];
}

interface SetDef {
  kind: 'set' | 'map';
  name: string;
  type: string;
  comment: string;
  elements: string[];
}

/** kube-proxy's base chains: filter before DNAT (dstnat - 10), one filter chain after it (+ 10). */
const BASE_CHAINS: [string, BaseChain][] = [
  ['filter-prerouting', { type: 'filter', hook: 'prerouting', priority: -110 }],
  ['filter-input', { type: 'filter', hook: 'input', priority: -110 }],
  ['filter-forward', { type: 'filter', hook: 'forward', priority: -110 }],
  ['filter-output', { type: 'filter', hook: 'output', priority: -110 }],
  ['filter-output-post-dnat', { type: 'filter', hook: 'output', priority: -90 }],
  ['nat-prerouting', { type: 'nat', hook: 'prerouting', priority: -100 }],
  ['nat-output', { type: 'nat', hook: 'output', priority: -100 }],
  ['nat-postrouting', { type: 'nat', hook: 'postrouting', priority: 100 }],
];

/** kube-proxy's nftablesJumpChains: [from, extra match, to] */
const JUMPS: [string, string, string][] = [
  ['filter-input', 'ct state new', NODEPORT_ENDPOINTS_CHECK],
  ['filter-input', 'ct state new', SERVICE_ENDPOINTS_CHECK],
  ['filter-forward', 'ct state new', SERVICE_ENDPOINTS_CHECK],
  ['filter-output', 'ct state new', SERVICE_ENDPOINTS_CHECK],
  ['filter-prerouting', 'ct state new', FIREWALL_CHECK],
  ['filter-output', 'ct state new', FIREWALL_CHECK],
  ['nat-output', '', SERVICES],
  ['nat-prerouting', '', SERVICES],
  ['nat-postrouting', '', MASQUERADING],
  ['filter-forward', 'ct state new', CLUSTER_IPS_CHECK],
  ['filter-output-post-dnat', 'ct state new', CLUSTER_IPS_CHECK],
];

const quote = (s: string) => `"${s.replace(/["\\]/g, '\\$&')}"`;

/**
 * The `nft -f` text for one node. Applying it replaces whatever `table ip kube-proxy` held, in
 * one transaction: `nft -f` sends the whole file as one batch, so either all of it applies or
 * none, and packets never see a half-built table.
 */
export function nftablesRules(model: ProxyModel, node: ProxyNode): string {
  const mark = markHex(model.mark);
  const chains = new Map<string, ChainDef>();
  const chain = (name: string, base?: BaseChain): ChainDef => {
    let c = chains.get(name);
    if (!c) chains.set(name, (c = { name, ...(base ? { base } : {}), rules: [] }));
    return c;
  };
  for (const [name, base] of BASE_CHAINS) chain(name, base);
  for (const [from, match, to] of JUMPS) {
    chain(to);
    chain(from).rules.push(`${match ? `${match} ` : ''}jump ${to}`);
  }
  chain(NODEPORT_ENDPOINTS_CHECK).rules.push(`ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @${NO_ENDPOINT_NODEPORTS}`);
  chain(SERVICE_ENDPOINTS_CHECK).rules.push(`ip daddr . meta l4proto . th dport vmap @${NO_ENDPOINT_SERVICES}`);
  chain(FIREWALL_CHECK).rules.push(`ip daddr . meta l4proto . th dport vmap @${FIREWALL_IPS}`);
  chain(SERVICES).rules.push(
    `ip daddr . meta l4proto . th dport vmap @${SERVICE_IPS}`,
    // must stay last: anything addressed to this node that no service IP took may be a node port
    `fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @${SERVICE_NODEPORTS}`,
  );
  chain(MASQUERADING).rules.push(
    `meta mark and ${mark} == 0 return`,
    // clear the mark, so a packet that is re-routed is not masqueraded twice
    `meta mark set meta mark xor ${mark}`,
    'masquerade fully-random',
  );
  chain(MARK_MASQ).rules.push(`meta mark set meta mark or ${mark}`);
  chain(CLUSTER_IPS_CHECK).rules.push(`ip daddr @${CLUSTER_IPS} reject comment ${quote('Reject traffic to invalid ports of ClusterIPs')}`);
  const reject = chain(REJECT_CHAIN);
  reject.comment = `helper for @${NO_ENDPOINT_SERVICES} / @${NO_ENDPOINT_NODEPORTS}`;
  reject.rules.push('reject');

  const set = (kind: SetDef['kind'], name: string, type: string, comment: string): SetDef => ({ kind, name, type, comment, elements: [] });
  const clusterIPs = set('set', CLUSTER_IPS, 'ipv4_addr', 'Active ClusterIPs');
  const noEndpointServices = set('map', NO_ENDPOINT_SERVICES, 'ipv4_addr . inet_proto . inet_service : verdict', 'vmap to drop or reject packets to services with no endpoints');
  const noEndpointNodePorts = set('map', NO_ENDPOINT_NODEPORTS, 'inet_proto . inet_service : verdict', 'vmap to drop or reject packets to service nodeports with no endpoints');
  const firewallIPs = set('map', FIREWALL_IPS, 'ipv4_addr . inet_proto . inet_service : verdict', 'destinations that are subject to LoadBalancerSourceRanges');
  const serviceIPs = set('map', SERVICE_IPS, 'ipv4_addr . inet_proto . inet_service : verdict', 'ClusterIP, ExternalIP and LoadBalancer IP traffic');
  const serviceNodePorts = set('map', SERVICE_NODEPORTS, 'inet_proto . inet_service : verdict', 'NodePort traffic');

  const seenIPs = new Set<string>();
  for (const sp of model.services) {
    const p = proto(sp);
    if (!seenIPs.has(sp.clusterIP)) clusterIPs.elements.push(sp.clusterIP);
    seenIPs.add(sp.clusterIP);
    if (!sp.endpoints.length) {
      // No endpoint: no nat chains at all, only a reject in the filter chains (so that the
      // client hears "connection refused" at once instead of waiting for a timeout).
      noEndpointServices.elements.push(`${sp.clusterIP} . ${p} . ${sp.port} comment ${quote(sp.id)} : goto ${REJECT_CHAIN}`);
      if (sp.nodePort !== undefined) noEndpointNodePorts.elements.push(`${p} . ${sp.nodePort} comment ${quote(sp.id)} : goto ${REJECT_CHAIN}`);
      continue;
    }
    const svc = chain(nftServiceChain(sp));
    svc.note = `${sp.id} (${sp.protocol}) cluster IP ${sp.clusterIP}:${sp.port} -> ${sp.endpoints.map((e) => `${e.ip}:${e.port}`).join(', ')}`;
    serviceIPs.elements.push(`${sp.clusterIP} . ${p} . ${sp.port} : goto ${svc.name}`);
    // Off-cluster clients of a cluster IP are masqueraded: the reply must come back this way.
    svc.rules.push(`ip daddr ${sp.clusterIP} ${p} dport ${sp.port} ip saddr != ${model.clusterCIDR} jump ${MARK_MASQ}`);
    const epChains = sp.endpoints.map((ep) => nftEndpointChain(sp, ep)); // hashed once, used twice
    svc.rules.push(`numgen random mod ${sp.endpoints.length} vmap { ${epChains.map((c, i) => `${i} : goto ${c}`).join(', ')} }`);
    if (sp.nodePort !== undefined) {
      // externalTrafficPolicy: Cluster – the endpoint may be on another node, so masquerade.
      const ext = chain(nftExternalChain(sp));
      ext.note = `${sp.id} (${sp.protocol}) node port ${sp.nodePort}`;
      serviceNodePorts.elements.push(`${p} . ${sp.nodePort} : goto ${ext.name}`);
      ext.rules.push(`jump ${MARK_MASQ}`, `goto ${svc.name}`);
    }
    for (const [i, ep] of sp.endpoints.entries()) {
      const epc = chain(epChains[i]!);
      epc.note = `${sp.id} endpoint ${ep.ip}:${ep.port} (pod ${ep.pod} on ${ep.node})`;
      // hairpin: an endpoint reaching itself through the service must be masqueraded
      epc.rules.push(`ip saddr ${ep.ip} jump ${MARK_MASQ}`, `meta l4proto ${p} dnat to ${ep.ip}:${ep.port}`);
    }
  }

  const out: string[] = [
    `# kube-proxy nftables mode for node ${node.name} (${node.ip}): ${model.services.length} service ports, masquerade mark ${mark}, cluster CIDR ${model.clusterCIDR}`,
    `# Apply with \`nft -f\`: one transaction replaces the whole table (add, so that delete cannot fail; delete; recreate).`,
    `add table ${TABLE_FAMILY} ${TABLE_NAME}`,
    `delete table ${TABLE_FAMILY} ${TABLE_NAME}`,
    `table ${TABLE_FAMILY} ${TABLE_NAME} {`,
    `\tcomment ${quote('rules for kube-proxy')}`,
  ];
  const serviceChain = (c: ChainDef) => c.name.includes('/'); // kube-proxy's test: only service chains have '/'
  const all = [...chains.values()];
  for (const c of all.filter((c) => !serviceChain(c))) out.push('', ...renderChain(c));
  for (const s of [clusterIPs, noEndpointServices, noEndpointNodePorts, firewallIPs, serviceIPs, serviceNodePorts]) out.push('', ...renderSet(s));
  for (const c of all.filter(serviceChain)) out.push('', ...renderChain(c));
  out.push('}');
  return `${out.join('\n')}\n`;
}

function renderChain(c: ChainDef): string[] {
  const lines = c.note ? [`\t# ${c.note}`] : [];
  lines.push(`\tchain ${c.name} {`);
  if (c.base) lines.push(`\t\ttype ${c.base.type} hook ${c.base.hook} priority ${c.base.priority}; policy accept;`);
  if (c.comment) lines.push(`\t\tcomment ${quote(c.comment)}`);
  for (const r of c.rules) lines.push(`\t\t${r}`);
  lines.push('\t}');
  return lines;
}

function renderSet(s: SetDef): string[] {
  const lines = [`\t${s.kind} ${s.name} {`, `\t\ttype ${s.type}`, `\t\tcomment ${quote(s.comment)}`];
  if (s.elements.length) {
    const head = '\t\telements = { ';
    lines.push(head + s.elements.map((e, i) => (i ? `\t\t\t     ${e}` : e)).join(',\n') + ' }');
  }
  lines.push('\t}');
  return lines;
}

// --- reading a table back: a canonical, order-independent summary ------------------------------
//
// What the kernel holds is read with `nft -j list table ip kube-proxy` and reduced by nftSummary;
// what was generated is reduced by nftSummaryOfText, a small parser for the nft syntax this file
// writes (it throws on anything else, so it cannot silently skip a rule). Both produce the same
// canonical strings, so a kernel test can prove "installed == generated" without trusting nft to
// have understood the text the way we meant it, and a pure unit test can check the text itself.
// The summary keeps:
//   - chains by name: base chain type/hook/priority/policy, and rules *in order* (order matters
//     inside a chain), each as one canonical string (explicit ==, numbers in decimal, `and/or/xor`
//     as `& | ^`, anonymous vmaps sorted by key, plain `reject` for the default icmp port-unreachable);
//   - sets and maps by name: type, comment, flags and sorted elements (with element comments).
// It leaves out the table comment and chain comments: nft 1.0.6's JSON output does not carry them.

export interface NftChainSummary {
  /** "type nat hook prerouting priority -100 policy accept" for a base chain */
  base?: string;
  rules: string[];
}

export interface NftSetSummary {
  kind: 'set' | 'map';
  /** "ipv4_addr . inet_proto . inet_service : verdict" */
  type: string;
  comment?: string;
  flags?: string[];
  /** sorted; map elements as "key [comment "..."] : verdict" */
  elements: string[];
}

export interface NftSummary {
  chains: Record<string, NftChainSummary>;
  sets: Record<string, NftSetSummary>;
}

const sortedRecord = <T>(entries: Iterable<[string, T]>): Record<string, T> => Object.fromEntries([...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
const byNumberThenText = (a: string, b: string) => {
  const na = Number(a.split(' ')[0]);
  const nb = Number(b.split(' ')[0]);
  return Number.isNaN(na) || Number.isNaN(nb) || na === nb ? (a < b ? -1 : a > b ? 1 : 0) : na - nb;
};

// ---- from `nft -j` ----

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: Json | undefined): string => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : JSON.stringify(v ?? null));

/** the one key of an nft JSON object such as {"match": {...}} */
function single(o: JsonObject): [string, Json] {
  const keys = Object.keys(o);
  if (keys.length !== 1) return ['?', o];
  return [keys[0]!, o[keys[0]!] ?? null];
}

function jsonValue(v: Json | undefined): string {
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return `{ ${v.map(jsonValue).sort(byNumberThenText).join(', ')} }`;
  if (!isObject(v)) return JSON.stringify(v ?? null);
  const [k, b] = single(v);
  const body = isObject(b) ? b : {};
  switch (k) {
    case 'payload':
      return `${str(body.protocol)} ${str(body.field)}`;
    case 'meta':
      return `meta ${str(body.key)}`;
    case 'ct':
      return `ct ${str(body.key)}`;
    case 'fib':
      return `fib ${(Array.isArray(body.flags) ? body.flags : [body.flags ?? null]).map(str).join(' . ')} ${str(body.result)}`;
    case 'numgen':
      return `numgen ${str(body.mode)} mod ${str(body.mod)}${body.offset ? ` offset ${str(body.offset)}` : ''}`;
    case 'concat':
      return (Array.isArray(b) ? b : []).map(jsonValue).join(' . ');
    case 'prefix':
      return `${str(body.addr)}/${str(body.len)}`;
    case 'range':
      return (Array.isArray(b) ? b : []).map(jsonValue).join('-');
    case '&':
    case '|':
    case '^':
      return (Array.isArray(b) ? b : []).map(jsonValue).join(` ${k} `);
    case 'set':
      return `{ ${(Array.isArray(b) ? b : [b]).map(jsonMapEntry).sort(byNumberThenText).join(', ')} }`;
    case 'elem':
      return `${jsonValue(body.val)}${typeof body.comment === 'string' ? ` comment ${quote(body.comment)}` : ''}`;
    default:
      return JSON.stringify(v);
  }
}

/** an element of a set, or [key, verdict] of a map */
function jsonMapEntry(e: Json): string {
  if (Array.isArray(e) && e.length === 2) return `${jsonValue(e[0])} : ${jsonVerdict(e[1])}`;
  return jsonValue(e);
}

function jsonVerdict(v: Json | undefined): string {
  if (!isObject(v)) return jsonValue(v);
  const [k, b] = single(v);
  if ((k === 'jump' || k === 'goto') && isObject(b)) return `${k} ${str(b.target)}`;
  if (['accept', 'drop', 'return', 'continue'].includes(k)) return k;
  return jsonValue(v);
}

function jsonStatement(s: Json): string {
  if (!isObject(s)) return JSON.stringify(s);
  const [k, b] = single(s);
  const body = isObject(b) ? b : {};
  switch (k) {
    case 'match': {
      const op = str(body.op);
      return `${jsonValue(body.left)} ${op === 'in' ? '==' : op} ${jsonValue(body.right)}`;
    }
    case 'vmap':
      return `${jsonValue(body.key)} vmap ${typeof body.data === 'string' ? body.data : jsonValue(body.data)}`;
    case 'mangle':
      return `${jsonValue(body.key)} set ${jsonValue(body.value)}`;
    case 'jump':
    case 'goto':
    case 'accept':
    case 'drop':
    case 'return':
    case 'continue':
      return jsonVerdict(s);
    case 'reject':
      // plain `reject` in an ip table is icmp port-unreachable; nft -j spells that out
      if (b === null || (body.type === 'icmp' && body.expr === 'port-unreachable')) return 'reject';
      return `reject with ${str(body.type)} ${str(body.expr)}`;
    case 'masquerade':
    case 'snat':
    case 'dnat': {
      const flags = body.flags === undefined ? [] : Array.isArray(body.flags) ? body.flags.map(str) : [str(body.flags)];
      const to = body.addr === undefined ? '' : ` to ${jsonValue(body.addr)}${body.port === undefined ? '' : `:${jsonValue(body.port)}`}`;
      return `${k}${to}${flags.length ? ` ${flags.sort().join(',')}` : ''}`;
    }
    default:
      return JSON.stringify(s);
  }
}

/**
 * Summarises the parsed output of `nft -j list table ip kube-proxy` (or `list ruleset`: other
 * tables are ignored). Anything this does not know is kept as raw JSON, so it still compares
 * unequal with what was generated instead of vanishing.
 */
export function nftSummary(fromJson: unknown): NftSummary {
  if (!isObject(fromJson as Json) || !Array.isArray((fromJson as JsonObject).nftables)) throw new Error('not the output of nft -j: no "nftables" array');
  const chains = new Map<string, NftChainSummary>();
  const sets = new Map<string, NftSetSummary>();
  const ours = (o: JsonObject) => o.family === TABLE_FAMILY && (o.table ?? o.name) === TABLE_NAME;
  const chainOf = (name: string) => {
    let c = chains.get(name);
    if (!c) chains.set(name, (c = { rules: [] }));
    return c;
  };
  for (const item of (fromJson as JsonObject).nftables as Json[]) {
    if (!isObject(item)) continue;
    const [kind, body] = single(item);
    if (!isObject(body) || kind === 'metainfo' || kind === 'table' || !ours(body)) continue;
    if (kind === 'chain') {
      const c = chainOf(str(body.name));
      if (body.hook !== undefined) c.base = `type ${str(body.type)} hook ${str(body.hook)} priority ${str(body.prio)} policy ${str(body.policy ?? 'accept')}`;
    } else if (kind === 'rule') {
      const expr = Array.isArray(body.expr) ? body.expr : [];
      const text = expr.map(jsonStatement).join(' ');
      chainOf(str(body.chain)).rules.push(typeof body.comment === 'string' ? `${text} comment ${quote(body.comment)}` : text);
    } else if (kind === 'set' || kind === 'map') {
      const type = (Array.isArray(body.type) ? body.type.map(str) : [str(body.type)]).join(' . ') + (kind === 'map' ? ` : ${str(body.map)}` : '');
      const elems = Array.isArray(body.elem) ? body.elem : [];
      const s: NftSetSummary = { kind, type, elements: elems.map(jsonMapEntry).sort() };
      if (typeof body.comment === 'string') s.comment = body.comment;
      if (body.flags !== undefined) s.flags = (Array.isArray(body.flags) ? body.flags.map(str) : [str(body.flags)]).sort();
      sets.set(str(body.name), s);
    } else {
      // an object kind this summary does not model (counter, flowtable, ...): keep it visible
      sets.set(`${kind} ${str(body.name)}`, { kind: 'set', type: JSON.stringify(body), elements: [] });
    }
  }
  return { chains: sortedRecord(chains), sets: sortedRecord(sets) };
}

// ---- from the generated text ----

const STD_PRIORITIES: Record<string, number> = { raw: -300, mangle: -150, dstnat: -100, filter: 0, security: 50, srcnat: 100 };
const TOKEN = /"(?:[^"\\]|\\.)*"|[{};,]|[^\s{};,]+/g;
const tokens = (line: string) => line.match(TOKEN) ?? [];
const unquote = (t: string) => (t.startsWith('"') ? t.slice(1, -1).replace(/\\(.)/g, '$1') : t);

/** A literal as nft -j reports it: numbers in decimal, everything else as written. */
function canonLiteral(t: string): string {
  if (/^0x[0-9a-f]+$/i.test(t)) return String(parseInt(t, 16));
  if (/^\d+$/.test(t)) return String(Number(t));
  return unquote(t);
}

class RuleParser {
  private i = 0;
  constructor(
    private readonly toks: string[],
    private readonly where: string,
  ) {}
  private fail(msg: string): never {
    throw new Error(`${this.where}: ${msg} at token ${this.i + 1} of: ${this.toks.join(' ')}`);
  }
  private peek(): string | undefined {
    return this.toks[this.i];
  }
  private next(): string {
    const t = this.toks[this.i++];
    if (t === undefined) this.fail('unexpected end of rule');
    return t;
  }
  private expect(t: string) {
    if (this.next() !== t) this.fail(`expected '${t}'`);
  }

  parse(): string {
    const out: string[] = [];
    let comment: string | undefined;
    while (this.peek() !== undefined) {
      const t = this.peek()!;
      if (t === 'comment') {
        this.next();
        comment = unquote(this.next());
      } else if (t === 'jump' || t === 'goto') {
        this.next();
        out.push(`${t} ${this.next()}`);
      } else if (['accept', 'drop', 'return', 'continue'].includes(t)) {
        out.push(this.next());
      } else if (t === 'reject') {
        this.next();
        if (this.peek() === 'with') {
          this.next();
          const type = this.next();
          if (this.peek() === 'type') this.next();
          const code = this.next();
          out.push(type === 'icmp' && code === 'port-unreachable' ? 'reject' : `reject with ${type} ${code}`);
        } else out.push('reject');
      } else if (t === 'masquerade') {
        this.next();
        const flags: string[] = [];
        while (['random', 'fully-random', 'persistent'].includes(this.peek() ?? '')) {
          flags.push(this.next());
          if (this.peek() === ',') this.next();
        }
        out.push(`masquerade${flags.length ? ` ${flags.sort().join(',')}` : ''}`);
      } else if (t === 'dnat' || t === 'snat') {
        this.next();
        this.expect('to');
        const to = this.next();
        const m = /^(\d+\.\d+\.\d+\.\d+)(?::(\d+))?$/.exec(to);
        if (!m) this.fail(`cannot read ${t} target '${to}'`);
        out.push(`${t} to ${m[1]}${m[2] ? `:${Number(m[2])}` : ''}`);
      } else {
        const lhs = this.expr();
        const n = this.peek();
        if (n === 'vmap') {
          this.next();
          out.push(`${lhs} vmap ${this.vmapData()}`);
        } else if (n === 'set') {
          this.next();
          out.push(`${lhs} set ${this.expr()}`);
        } else {
          let op = '==';
          if (n === '==' || n === '!=') op = this.next();
          out.push(`${lhs} ${op} ${this.value()}`);
        }
      }
    }
    return comment === undefined ? out.join(' ') : `${out.join(' ')} comment ${quote(comment)}`;
  }

  /** selector ('.' selector)* */
  private expr(): string {
    const parts = [this.operand()];
    while (this.peek() === '.') {
      this.next();
      parts.push(this.operand());
    }
    return parts.join(' . ');
  }

  /** a selector, optionally combined with a constant: `meta mark and 0x4000` */
  private operand(): string {
    let s = this.selector();
    const ops: Record<string, string> = { and: '&', '&': '&', or: '|', '|': '|', xor: '^', '^': '^' };
    while (ops[this.peek() ?? ''] !== undefined) s = `${s} ${ops[this.next()]} ${canonLiteral(this.next())}`;
    return s;
  }

  private selector(): string {
    const t = this.next();
    switch (t) {
      case 'ip':
      case 'tcp':
      case 'udp':
      case 'th':
        return `${t} ${this.next()}`;
      case 'meta':
      case 'ct':
        return `${t} ${this.next()}`;
      case 'mark': // kube-proxy's shorthand for meta mark
        return 'meta mark';
      case 'fib': {
        const flags = [this.next()];
        while (this.peek() === '.') {
          this.next();
          flags.push(this.next());
        }
        return `fib ${flags.join(' . ')} ${this.next()}`;
      }
      case 'numgen': {
        const mode = this.next();
        this.expect('mod');
        const mod = canonLiteral(this.next());
        let offset = '';
        if (this.peek() === 'offset') {
          this.next();
          const o = canonLiteral(this.next());
          if (o !== '0') offset = ` offset ${o}`;
        }
        return `numgen ${mode} mod ${mod}${offset}`;
      }
      default:
        return this.fail(`unknown expression '${t}'`);
    }
  }

  private value(): string {
    const t = this.next();
    if (t !== '{') return canonLiteral(t);
    const items: string[] = [];
    while (this.peek() !== '}') {
      items.push(canonLiteral(this.next()));
      if (this.peek() === ',') this.next();
    }
    this.next();
    return `{ ${items.sort(byNumberThenText).join(', ')} }`;
  }

  private vmapData(): string {
    const t = this.next();
    if (t.startsWith('@')) return t;
    if (t !== '{') this.fail('expected @map or { ... } after vmap');
    const entries: string[] = [];
    while (this.peek() !== '}') {
      const key = canonLiteral(this.next());
      this.expect(':');
      const verdict = this.next();
      entries.push(verdict === 'jump' || verdict === 'goto' ? `${key} : ${verdict} ${this.next()}` : `${key} : ${verdict}`);
      if (this.peek() === ',') this.next();
    }
    this.next();
    return `{ ${entries.sort(byNumberThenText).join(', ')} }`;
  }
}

/** one element of an `elements = { ... }` list, as nftSummary writes it */
function canonElement(toks: string[], kind: 'set' | 'map', where: string): string {
  const colon = toks.indexOf(':');
  const keyEnd = kind === 'map' ? colon : toks.length;
  if (kind === 'map' && colon < 0) throw new Error(`${where}: map element without ':': ${toks.join(' ')}`);
  const keyToks = toks.slice(0, keyEnd);
  const ci = keyToks.indexOf('comment');
  const key = (ci < 0 ? keyToks : keyToks.slice(0, ci)).filter((t) => t !== '.').map(canonLiteral).join(' . ');
  const comment = ci < 0 ? '' : ` comment ${quote(unquote(keyToks[ci + 1] ?? '""'))}`;
  if (kind === 'set') return key + comment;
  const v = toks.slice(colon + 1);
  const verdict = v[0] === 'jump' || v[0] === 'goto' ? `${v[0]} ${v[1] ?? ''}` : v.join(' ');
  return `${key}${comment} : ${verdict}`;
}

/**
 * Summarises `nft -f` text as nftSummary summarises what the kernel lists, without the kernel:
 * it models the commands this generator writes (add/delete/flush table, the table block with
 * chains, sets and maps) and throws on anything else.
 */
export function nftSummaryOfText(text: string): NftSummary {
  let chains = new Map<string, NftChainSummary>();
  let sets = new Map<string, NftSetSummary>();
  let exists = false;
  type Where = { kind: 'top' } | { kind: 'table' } | { kind: 'chain'; c: NftChainSummary } | { kind: 'set'; s: NftSetSummary };
  let where: Where = { kind: 'top' };
  let pendingElements: string[] | undefined;
  let depth = 0;
  const isOurTable = (toks: string[], at: number) => toks[at] === TABLE_FAMILY && toks[at + 1] === TABLE_NAME;

  const lines = text.split('\n');
  lines.forEach((raw, n) => {
    const line = raw.trim();
    const at = `line ${n + 1}`;
    if (!line || line.startsWith('#')) return;
    const toks = tokens(line);
    if (pendingElements) {
      for (const t of toks) {
        if (t === '{') depth++;
        if (t === '}') depth--;
        pendingElements.push(t);
      }
    } else if (where.kind === 'top') {
      const [verb, obj] = toks;
      if (obj !== 'table' && verb !== 'table') throw new Error(`${at}: unsupported command: ${line}`);
      if (verb === 'table' && isOurTable(toks, 1) && toks[3] === '{') {
        exists = true;
        where = { kind: 'table' };
      } else if (obj === 'table' && isOurTable(toks, 2) && toks.length === 4) {
        if (verb === 'add') exists = true;
        else if (verb === 'delete' || verb === 'destroy') {
          if (!exists && verb === 'delete') throw new Error(`${at}: delete of a table that does not exist here`);
          exists = false;
          chains = new Map();
          sets = new Map();
        } else if (verb === 'flush') {
          for (const c of chains.values()) c.rules = [];
        } else throw new Error(`${at}: unsupported command: ${line}`);
      } else throw new Error(`${at}: only table ${TABLE_FAMILY} ${TABLE_NAME} is modelled: ${line}`);
    } else if (where.kind === 'table') {
      const [kw, name] = toks;
      if (kw === '}') where = { kind: 'top' };
      else if (kw === 'comment') return; // not in nft -j output (see above)
      else if ((kw === 'chain' || kw === 'set' || kw === 'map') && name && toks[2] === '{' && toks.length === 3) {
        if (kw === 'chain') {
          const c = chains.get(name) ?? { rules: [] };
          chains.set(name, c);
          where = { kind: 'chain', c };
        } else {
          const s: NftSetSummary = sets.get(name) ?? { kind: kw, type: '', elements: [] };
          sets.set(name, s);
          where = { kind: 'set', s };
        }
      } else throw new Error(`${at}: unexpected in table block: ${line}`);
    } else if (where.kind === 'chain') {
      const c = where.c;
      if (toks[0] === '}' && toks.length === 1) where = { kind: 'table' };
      else if (toks[0] === 'comment') return; // not in nft -j output (see above)
      else if (toks[0] === 'type') {
        const m = /^type (\w+) hook (\w+) priority ([\w+\s-]+?);(?:\s*policy (\w+);)?$/.exec(line);
        if (!m) throw new Error(`${at}: cannot read base chain: ${line}`);
        const prio = m[3]!.replace(/\s+/g, '');
        const pm = /^([a-z]+)?([+-]?\d+)?$/.exec(prio);
        const named = pm?.[1];
        if (!pm || (named !== undefined && STD_PRIORITIES[named] === undefined)) throw new Error(`${at}: cannot read priority '${m[3]}'`);
        const value = (named !== undefined ? STD_PRIORITIES[named]! : 0) + Number(pm[2] ?? 0);
        c.base = `type ${m[1]} hook ${m[2]} priority ${value} policy ${m[4] ?? 'accept'}`;
      } else c.rules.push(new RuleParser(toks, at).parse());
    } else {
      const s = where.s;
      if (toks[0] === '}' && toks.length === 1) where = { kind: 'table' };
      else if (toks[0] === 'type') {
        s.type = toks.slice(1).join(' ').replace(/;$/, '');
        if (s.kind === 'map' && !s.type.includes(' : ')) throw new Error(`${at}: map type without ': data type': ${line}`);
      } else if (toks[0] === 'comment') s.comment = unquote(toks[1] ?? '""');
      else if (toks[0] === 'flags') s.flags = toks.slice(1).filter((t) => t !== ',' && t !== ';').sort();
      else if (toks[0] === 'elements' && toks[1] === '=' && toks[2] === '{') {
        pendingElements = [];
        depth = 1;
        for (const t of toks.slice(3)) {
          if (t === '{') depth++;
          if (t === '}') depth--;
          pendingElements.push(t);
        }
      } else throw new Error(`${at}: unexpected in ${s.kind}: ${line}`);
    }
    if (pendingElements && depth === 0 && where.kind === 'set') {
      // the list is complete: split at top-level commas, drop the closing brace
      const s = where.s;
      const body = pendingElements.slice(0, -1);
      let d = 0;
      let cur: string[] = [];
      const items: string[][] = [];
      for (const t of body) {
        if (t === '{') d++;
        if (t === '}') d--;
        if (t === ',' && d === 0) {
          items.push(cur);
          cur = [];
        } else cur.push(t);
      }
      if (cur.length) items.push(cur);
      s.elements.push(...items.map((it) => canonElement(it, s.kind, at)));
      s.elements.sort();
      pendingElements = undefined;
    }
  });
  if (where.kind !== 'top' || pendingElements) throw new Error('unterminated block at end of text');
  if (!exists) return { chains: {}, sets: {} };
  return { chains: sortedRecord(chains), sets: sortedRecord(sets) };
}

/** Human-readable differences between two summaries (empty when they are equal). */
export function diffSummaries(want: NftSummary, got: NftSummary): string[] {
  const out: string[] = [];
  const names = (a: object, b: object) => [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  for (const name of names(want.chains, got.chains)) {
    const w = want.chains[name];
    const g = got.chains[name];
    if (!w || !g) {
      out.push(`chain ${name}: ${w ? 'missing' : 'unexpected'}`);
      continue;
    }
    if (w.base !== g.base) out.push(`chain ${name}: base '${w.base ?? '-'}' != '${g.base ?? '-'}'`);
    const n = Math.max(w.rules.length, g.rules.length);
    for (let i = 0; i < n; i++)
      if (w.rules[i] !== g.rules[i]) out.push(`chain ${name} rule ${i + 1}: want '${w.rules[i] ?? '(none)'}', got '${g.rules[i] ?? '(none)'}'`);
  }
  for (const name of names(want.sets, got.sets)) {
    const w = want.sets[name];
    const g = got.sets[name];
    if (!w || !g) {
      out.push(`${(w ?? g)!.kind} ${name}: ${w ? 'missing' : 'unexpected'}`);
      continue;
    }
    for (const k of ['kind', 'type', 'comment'] as const) if (w[k] !== g[k]) out.push(`${w.kind} ${name}: ${k} '${w[k] ?? '-'}' != '${g[k] ?? '-'}'`);
    if ((w.flags ?? []).join(',') !== (g.flags ?? []).join(',')) out.push(`${w.kind} ${name}: flags differ`);
    for (const e of w.elements) if (!g.elements.includes(e)) out.push(`${w.kind} ${name}: missing element ${e}`);
    for (const e of g.elements) if (!w.elements.includes(e)) out.push(`${w.kind} ${name}: unexpected element ${e}`);
  }
  return out;
}

/** Every chain a rule or a map element jumps to or goes to. */
export function summaryTargets(s: NftSummary): { from: string; target: string }[] {
  const found: { from: string; target: string }[] = [];
  const scan = (from: string, text: string) => {
    for (const m of text.replace(/comment "(?:[^"\\]|\\.)*"/g, '').matchAll(/\b(?:jump|goto) ([^\s,}]+)/g)) found.push({ from, target: m[1]! });
  };
  for (const [name, c] of Object.entries(s.chains)) for (const r of c.rules) scan(`chain ${name}`, r);
  for (const [name, set] of Object.entries(s.sets)) for (const e of set.elements) scan(`${set.kind} ${name}`, e);
  return found;
}

import {
  type Arp,
  type Dns,
  DNS_RCODES,
  type Eth,
  type Icmp,
  type Ipv4,
  type Layers,
  type Packet,
  type Quoted,
  type Sll,
  type Tcp,
  type Udp,
  type Vlan,
  type Vxlan,
} from './decode';

// Dotted field paths over decoded packets, for scenario assertions ("ip.ttl", "inner.ip.src",
// "icmp.quoted.udp.dstport") and a one-line summary of a packet for reports and failures.

type View = Layers | Quoted;

/** Keys of each layer that are fields; `satisfies` keeps the lists in step with the types. */
const LAYER_KEYS = {
  sll: ['version', 'packetType', 'arphrdType', 'address', 'protocol', 'ifindex', 'vlan'] satisfies (keyof Sll)[],
  eth: ['src', 'dst', 'type', 'vlan'] satisfies (keyof Eth)[],
  arp: ['htype', 'ptype', 'op', 'senderMac', 'senderIp', 'targetMac', 'targetIp'] satisfies (keyof Arp)[],
  ip: [
    'version',
    'ihl',
    'headerLength',
    'tos',
    'dscp',
    'ecn',
    'totalLength',
    'id',
    'flags',
    'df',
    'mf',
    'fragOffset',
    'ttl',
    'protocol',
    'checksum',
    'src',
    'dst',
  ] satisfies (keyof Ipv4)[],
  icmp: ['type', 'code', 'checksum', 'id', 'seq'] satisfies (keyof Icmp)[],
  udp: ['srcport', 'dstport', 'length', 'checksum'] satisfies (keyof Udp)[],
  tcp: ['srcport', 'dstport', 'seq', 'ack', 'dataOffset', 'headerLength', 'window', 'checksum'] satisfies (keyof Tcp)[],
  vxlan: ['flags', 'vni'] satisfies (keyof Vxlan)[],
  dns: ['id', 'response', 'opcode', 'rcode', 'qdcount', 'ancount', 'qname', 'qtype'] satisfies (keyof Dns)[],
};

const outerVlan = (l: View): Vlan | undefined => (l.eth?.vlan ?? l.sll?.vlan)?.[0];

/** Fields that are not a plain layer key: aliases, tshark spellings, derived values. */
const SPECIAL: Record<string, (l: View) => unknown> = {
  'ip.proto': (l) => l.ip?.protocol,
  'ip.flags.df': (l) => l.ip?.df,
  'ip.flags.mf': (l) => l.ip?.mf,
  // Names read better in scenarios than bits; the number stays reachable.
  'tcp.flags': (l) => l.tcp?.flagNames,
  'tcp.flags.value': (l) => l.tcp?.flags,
  ...Object.fromEntries(
    ['fin', 'syn', 'rst', 'psh', 'ack', 'urg', 'ece', 'cwr', 'ae'].map((f) => [
      `tcp.flags.${f}`,
      (l: View) => (l.tcp?.flagNames === undefined ? undefined : l.tcp.flagNames.some((n) => n === f.toUpperCase())),
    ]),
  ),
  // DNS: the rcode by name, and the answers' data (A addresses, SRV "prio weight port target", ...)
  'dns.rcode.name': (l) => l.dns && (DNS_RCODES[l.dns.rcode] ?? String(l.dns.rcode)),
  'dns.answers': (l) => l.dns?.answers.map((a) => a.data),
  'dns.a': (l) => l.dns?.answers.filter((a) => a.type === 'A').map((a) => a.data),
  'vlan.id': (l) => outerVlan(l)?.id,
  'vlan.pcp': (l) => outerVlan(l)?.pcp,
  'vlan.dei': (l) => outerVlan(l)?.dei,
  ipip: (l) => l.ipip,
  payloadLength: (l) => l.payloadLength,
  truncated: (l) => l.truncated,
  error: (l) => l.error,
  'frame.number': (l) => frameOf(l)?.index,
  'frame.time': (l) => frameOf(l)?.time,
  'frame.time_relative': (l) => frameOf(l)?.relativeTime,
  'frame.len': (l) => frameOf(l)?.originalLength,
  'frame.cap_len': (l) => frameOf(l)?.capturedLength,
  'frame.interface': (l) => frameOf(l)?.interfaceName,
};

/** Frame fields exist only on the top level (a Packet), not on inner or quoted layers. */
function frameOf(l: View): Packet | undefined {
  return 'index' in l && 'linkType' in l ? (l as Packet) : undefined;
}

const RESOLVERS: Record<string, (l: View) => unknown> = { ...SPECIAL };
for (const [layer, keys] of Object.entries(LAYER_KEYS)) {
  const name = layer as keyof typeof LAYER_KEYS;
  // A bare layer name is a field too: "is there a tcp header".
  RESOLVERS[layer] = (l) => l[name];
  for (const key of keys) {
    const path = `${layer}.${key}`;
    RESOLVERS[path] ??= (l) => {
      const obj: object | undefined = l[name];
      return obj === undefined ? undefined : (Object.getOwnPropertyDescriptor(obj, key)?.value as unknown);
    };
  }
}

/** Every valid path of one level; `inner.` and `icmp.quoted.` may prefix any of them. */
export const FIELD_NAMES: readonly string[] = Object.keys(RESOLVERS).sort();

const PREFIXES: [string, (l: View) => View | undefined][] = [
  ['inner.', (l) => l.inner],
  ['icmp.quoted.', (l) => l.icmp?.quoted],
];

function resolve(l: View | undefined, path: string): { layers: View | undefined; leaf: string } {
  for (;;) {
    const hit = PREFIXES.find(([p]) => path.startsWith(p));
    if (!hit) return { layers: l, leaf: path };
    path = path.slice(hit[0].length);
    l = l && hit[1](l);
  }
}

export function isFieldPath(path: string): boolean {
  return RESOLVERS[resolve(undefined, path).leaf] !== undefined;
}

/**
 * The value at a dotted path, or undefined when that layer is absent.
 * Throws on a path that names no field, so a typo cannot pass as "absent".
 */
export function field(p: View, path: string): unknown {
  const { layers, leaf } = resolve(p, path);
  const get = RESOLVERS[leaf];
  if (!get) throw new Error(`unknown packet field '${path}'`);
  return layers && get(layers);
}

// ---- summary ------------------------------------------------------------------------------

const ICMP_NAMES: Record<number, string> = {
  0: 'echo-reply',
  3: 'dest-unreachable',
  4: 'source-quench',
  5: 'redirect',
  8: 'echo-request',
  11: 'time-exceeded',
  12: 'param-problem',
  13: 'timestamp',
  14: 'timestamp-reply',
};
const UNREACHABLE: Record<number, string> = {
  0: 'net',
  1: 'host',
  2: 'protocol',
  3: 'port',
  4: 'frag-needed',
  9: 'net-prohibited',
  10: 'host-prohibited',
  13: 'admin-prohibited',
};
const SLL_DIRECTION: Record<number, string> = { 0: 'in', 1: 'in bcast', 2: 'in mcast', 3: 'in other', 4: 'out' };
const ARP_OPS: Record<number, string> = { 1: 'request', 2: 'reply' };

function icmpText(i: Icmp): string {
  let s = `ICMP ${ICMP_NAMES[i.type] ?? `type=${i.type}`}`;
  if (i.type === 3) s += ` ${UNREACHABLE[i.code] ?? `code=${i.code}`}`;
  else if (i.code !== 0) s += ` code=${i.code}`;
  if (i.id !== undefined) s += ` id=${i.id} seq=${i.seq}`;
  if (i.quoted) s += ` {${l3Text(i.quoted) || 'quote cut'}}`;
  return s;
}

/** Network layer and up, without MACs: "10.0.0.1 → 10.0.0.2 UDP 4000→53 ttl=64". */
function l3Text(l: View): string {
  const parts: string[] = [];
  if (l.arp) {
    const a = l.arp;
    parts.push(
      a.op === 1
        ? `ARP who-has ${a.targetIp} tell ${a.senderIp}`
        : a.op === 2
          ? `ARP ${a.senderIp} is-at ${a.senderMac}`
          : `ARP ${ARP_OPS[a.op] ?? `op=${a.op}`}`,
    );
  }
  const ip = l.ip;
  if (ip) {
    parts.push(`${ip.src} → ${ip.dst}`);
    if (ip.fragOffset !== 0 || ip.mf) parts.push(`frag id=${ip.id} off=${ip.fragOffset}${ip.mf ? ' MF' : ''}`);
  }
  if (l.icmp) parts.push(icmpText(l.icmp));
  if (l.udp) parts.push(`UDP ${l.udp.srcport}→${l.udp.dstport}`);
  if (l.tcp) {
    const t = l.tcp;
    parts.push(
      `TCP ${t.srcport}→${t.dstport}${t.flagNames ? ` [${t.flagNames.join(',')}]` : ''} seq=${t.seq}${t.flagNames?.includes('ACK') ? ` ack=${t.ack}` : ''}`,
    );
  }
  if (l.vxlan) parts.push(`VXLAN vni=${l.vxlan.vni}`);
  if (l.ipip) parts.push('IPIP');
  if (l.dns) parts.push(dnsText(l.dns));
  if (l.inner) parts.push(`[${l3Text(l.inner) || linkText(l.inner) || '…'}]`);
  else if (ip && !l.icmp && ip.fragOffset === 0 && ![1, 6, 17].includes(ip.protocol)) parts.push(`proto=${ip.protocol}`);
  if (ip) parts.push(`ttl=${ip.ttl}`);
  if (l.payloadLength && !l.vxlan && !l.ipip && !l.icmp?.quoted) parts.push(`len=${l.payloadLength}`);
  return parts.join(' ');
}

/** "DNS id=7 A web.default.svc.cluster.local?" or "DNS id=7 NOERROR A web.default.svc.cluster.local → 10.43.0.20" */
function dnsText(d: Dns): string {
  const q = `${d.qtype ?? ''} ${d.qname ?? ''}`.trim();
  if (!d.response) return `DNS id=${d.id} ${q}?`;
  const rcode = DNS_RCODES[d.rcode] ?? `rcode=${d.rcode}`;
  return `DNS id=${d.id} ${rcode} ${q}${d.answers.length ? ` → ${d.answers.map((a) => a.data).join(', ')}` : ''}`;
}

function linkText(l: Layers): string {
  const type = l.eth?.type ?? l.sll?.protocol;
  return type === undefined ? '' : `ethertype 0x${type.toString(16).padStart(4, '0')}`;
}

/** UTC time of day with microseconds, as tcpdump prints it. */
function clockTime(t: number): string {
  const us = Math.round((t % 86400) * 1e6);
  const two = (n: number) => String(Math.floor(n)).padStart(2, '0');
  return `${two(us / 3.6e9)}:${two((us / 6e7) % 60)}:${two((us / 1e6) % 60)}.${String(us % 1e6).padStart(6, '0')}`;
}

/**
 * One line per packet, tshark-like:
 * `#3 0.000123 192.168.205.4 → 192.168.205.3 UDP 51234→8472 VXLAN vni=1 [10.42.0.65 → 10.42.1.9 ICMP echo-request id=5 seq=1 ttl=63] ttl=64 aa:..→bb:..`
 * The time is relative to the capture's first frame when known, else the UTC time of day.
 */
export function summarize(p: Packet): string {
  const time = p.relativeTime !== undefined ? p.relativeTime.toFixed(6) : clockTime(p.time);
  const parts = [`#${p.index}`, time];
  if (p.sll) {
    const dir = SLL_DIRECTION[p.sll.packetType] ?? `pkttype=${p.sll.packetType}`;
    parts.push(`${dir}${p.interfaceName ? ` ${p.interfaceName}` : ''}${p.sll.ifindex !== undefined ? ` if=${p.sll.ifindex}` : ''}`);
  } else if (p.interfaceName) parts.push(`on ${p.interfaceName}`);
  const l3 = l3Text(p);
  parts.push(l3 || linkText(p));
  const vlans = p.eth?.vlan ?? p.sll?.vlan;
  if (vlans) parts.push(`vlan=${vlans.map((v) => v.id).join('.')}`);
  if (p.eth) parts.push(`${p.eth.src}→${p.eth.dst}`);
  else if (p.sll) parts.push(`from ${p.sll.address}`);
  if (p.truncated) parts.push(`[cut in ${p.truncated}]`);
  if (p.error) parts.push(`[${p.error}]`);
  return parts.filter(Boolean).join(' ');
}

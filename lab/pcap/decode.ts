import type { Frame } from './reader';

// Header decoders for what this lab's dataplanes put on the wire: Ethernet (+802.1Q/ad),
// Linux cooked captures, ARP, IPv4, ICMP (with the quoted header of errors), UDP, TCP and
// VXLAN with its inner frame. Decoding never throws: a header cut short by the snaplen
// stops decoding and is named in `truncated`; anything else unexpected goes in `error`.

export const LINKTYPE_ETHERNET = 1;
export const LINKTYPE_RAW = 101;
export const LINKTYPE_LINUX_SLL = 113;
export const LINKTYPE_IPV4 = 228;
export const LINKTYPE_LINUX_SLL2 = 276;

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
const VLAN_TPIDS = new Set([0x8100, 0x88a8, 0x9100]);

export const DEFAULT_VXLAN_PORTS: readonly number[] = [8472, 4789];
/** The ports to decode VXLAN on for a lab: its own, and the two well-known ones. */
export const vxlanPortsWith = (port: number): number[] => [...new Set([port, ...DEFAULT_VXLAN_PORTS])];

export interface Vlan {
  tpid: number;
  id: number;
  pcp: number;
  dei: number;
}

export interface Sll {
  version: 1 | 2;
  /** 0 to us, 1 broadcast, 2 multicast, 3 to someone else, 4 sent by us */
  packetType: number;
  arphrdType: number;
  /** link-layer address of the sender, aa:bb:.. (as many bytes as the header says, at most 8) */
  address: string;
  /** EtherType of the payload (after VLAN tags, like Eth.type); below 0x0600 a Linux ETH_P_* pseudo type */
  protocol: number;
  /** SLL2 only */
  ifindex?: number;
  vlan?: Vlan[];
}

export interface Eth {
  src: string;
  dst: string;
  /** the EtherType of the payload, after any VLAN tags (tshark's eth.type is the first TPID) */
  type: number;
  vlan?: Vlan[];
}

export interface Arp {
  htype: number;
  ptype: number;
  op: number;
  senderMac: string;
  senderIp: string;
  targetMac: string;
  targetIp: string;
}

export interface Ipv4 {
  version: number;
  /** header length in 32-bit words, as on the wire */
  ihl: number;
  headerLength: number;
  tos: number;
  dscp: number;
  ecn: number;
  totalLength: number;
  id: number;
  /** the 3 flag bits: 0x2 DF, 0x1 MF */
  flags: number;
  df: boolean;
  mf: boolean;
  /** in bytes (the wire field times 8) */
  fragOffset: number;
  ttl: number;
  protocol: number;
  checksum: number;
  src: string;
  dst: string;
}

export interface Icmp {
  type: number;
  code: number;
  checksum: number;
  /** echo and timestamp messages */
  id?: number;
  seq?: number;
  /** errors (3, 4, 5, 11, 12): the header of the datagram that caused them */
  quoted?: Quoted;
}

export interface Udp {
  srcport: number;
  dstport: number;
  length: number;
  checksum: number;
}

export const TCP_FLAG_NAMES = ['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR', 'AE'] as const;
export type TcpFlagName = (typeof TCP_FLAG_NAMES)[number];

export interface Tcp {
  srcport: number;
  dstport: number;
  seq: number;
  ack: number;
  /** header length in 32-bit words, as on the wire */
  dataOffset: number;
  headerLength: number;
  /** the 12 bits after the data offset (tshark's tcp.flags) */
  flags: number;
  flagNames: TcpFlagName[];
  /** unscaled, as on the wire */
  window: number;
  checksum: number;
}

/** An ICMP error may quote only 8 bytes past the IP header: of TCP, the ports and sequence. */
export type QuotedTcp = Pick<Tcp, 'srcport' | 'dstport' | 'seq'> & Partial<Tcp>;

export interface Vxlan {
  /** first 16 bits, as tshark shows them: 0x0800 is the I (valid VNI) flag */
  flags: number;
  vni: number;
}

/** DNS_PORT: UDP or TCP (length-prefixed) to or from it is decoded as DNS. */
export const DNS_PORT = 53;

export interface DnsAnswer {
  name: string;
  /** 'A', 'AAAA', 'SRV', 'CNAME', 'PTR', ... or TYPE<n> */
  type: string;
  ttl: number;
  /** A/AAAA: the address; CNAME/PTR/NS: the name; SRV: "priority weight port target"; else hex */
  data: string;
}

export interface Dns {
  id: number;
  /** the QR bit */
  response: boolean;
  opcode: number;
  /** 0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, 5 REFUSED, ... */
  rcode: number;
  qdcount: number;
  ancount: number;
  /** the first question's name, without the trailing dot */
  qname?: string;
  qtype?: string;
  answers: DnsAnswer[];
}

export interface Layers {
  sll?: Sll;
  eth?: Eth;
  arp?: Arp;
  ip?: Ipv4;
  icmp?: Icmp;
  udp?: Udp;
  tcp?: Tcp;
  vxlan?: Vxlan;
  /** IP protocol 4 (IP-in-IP, Calico's tunl0): `inner` is the IPv4 packet carried, no Ethernet header */
  ipip?: boolean;
  dns?: Dns;
  /** the frame VXLAN carries, or the packet IP-in-IP carries, decoded the same way */
  inner?: Layers;
  /**
   * Bytes after the last decoded header as the packet carried them (by the IP and UDP lengths,
   * so link padding is not counted), even where the snaplen cut the capture short.
   */
  payloadLength?: number;
  /** the header the capture cut, e.g. 'tcp' or 'inner.ip': absent, or present without its options */
  truncated?: string;
  error?: string;
}

export type Quoted = Omit<Layers, 'tcp'> & { tcp?: QuotedTcp };

/** A decoded frame: its headers, and the frame facts that locate it in the capture. */
export interface Packet
  extends Layers, Pick<Frame, 'index' | 'time' | 'capturedLength' | 'originalLength' | 'linkType' | 'interfaceId' | 'interfaceName'> {
  /** seconds since the first frame of the capture, when decoded as part of one (decodeCapture) */
  relativeTime?: number;
}

export interface DecodeOptions {
  /** UDP ports decoded as VXLAN (destination, else source); default 8472 (Linux, flannel) and 4789 (IANA) */
  vxlanPorts?: readonly number[];
}

interface Ctx {
  b: Buffer;
  vxlanPorts: ReadonlySet<number>;
}

/**
 * Where a layer's bytes end: `end` in the capture (the snaplen may cut), `wire` in the packet as
 * sent. Bounds checks use `end`; payload lengths use `wire`, so a short snaplen does not change them.
 */
interface Span {
  end: number;
  wire: number;
}

/** The part of `s` up to a length a header declares (never past what encloses it). */
const within = (s: Span, declaredEnd: number): Span => ({ end: Math.min(s.end, declaredEnd), wire: Math.min(s.wire, declaredEnd) });

export function decodeFrame(frame: Frame, opts: DecodeOptions = {}): Packet {
  const p: Packet = {
    index: frame.index,
    time: frame.time,
    capturedLength: frame.capturedLength,
    originalLength: frame.originalLength,
    linkType: frame.linkType,
    interfaceId: frame.interfaceId,
  };
  if (frame.interfaceName !== undefined) p.interfaceName = frame.interfaceName;
  const ctx: Ctx = { b: frame.data, vxlanPorts: new Set(opts.vxlanPorts ?? DEFAULT_VXLAN_PORTS) };
  const s: Span = { end: frame.data.length, wire: Math.max(frame.originalLength, frame.data.length) };
  switch (frame.linkType) {
    case LINKTYPE_ETHERNET:
      ethernet(ctx, 0, s, p);
      break;
    case LINKTYPE_LINUX_SLL:
    case LINKTYPE_LINUX_SLL2:
      sll(ctx, frame.linkType === LINKTYPE_LINUX_SLL ? 1 : 2, s, p);
      break;
    case LINKTYPE_RAW:
    case LINKTYPE_IPV4:
      // Raw IP: the version nibble is the only type field there is.
      if (s.end < 1) p.truncated = 'ip';
      else if (ctx.b[0]! >> 4 === 4) ipv4(ctx, 0, s, p);
      else p.error = `IP version ${ctx.b[0]! >> 4} is not decoded`;
      break;
    default:
      p.error = `link type ${frame.linkType} is not decoded`;
  }
  return p;
}

const hex2 = (n: number) => n.toString(16).padStart(2, '0');
export const macString = (b: Buffer, off: number, len = 6) => Array.from(b.subarray(off, off + len), hex2).join(':');
export const ipString = (b: Buffer, off: number) => `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;

function ethernet(ctx: Ctx, off: number, s: Span, out: Layers): void {
  if (s.end - off < 14) {
    out.truncated = 'eth';
    return;
  }
  const { b } = ctx;
  const eth: Eth = { src: macString(b, off + 6), dst: macString(b, off), type: b.readUInt16BE(off + 12) };
  out.eth = eth;
  const next = vlanTags(ctx, off + 14, s, eth, out);
  if (next !== undefined) etherType(ctx, eth.type, next, s, out);
}

/** Consumes 802.1Q/802.1ad tags after a TPID in `hdr.type`; leaves the payload type there. */
function vlanTags(ctx: Ctx, off: number, s: Span, hdr: { type: number; vlan?: Vlan[] }, out: Layers): number | undefined {
  const { b } = ctx;
  while (VLAN_TPIDS.has(hdr.type)) {
    if (s.end - off < 4) {
      out.truncated = 'vlan';
      return undefined;
    }
    const tci = b.readUInt16BE(off);
    (hdr.vlan ??= []).push({ tpid: hdr.type, id: tci & 0xfff, pcp: tci >> 13, dei: (tci >> 12) & 1 });
    hdr.type = b.readUInt16BE(off + 2);
    off += 4;
  }
  return off;
}

function etherType(ctx: Ctx, type: number, off: number, s: Span, out: Layers): void {
  if (type === ETHERTYPE_IPV4) ipv4(ctx, off, s, out);
  else if (type === ETHERTYPE_ARP) arp(ctx, off, s, out);
  else out.payloadLength = s.wire - off;
}

function sll(ctx: Ctx, version: 1 | 2, s: Span, out: Layers): void {
  const { b } = ctx;
  const size = version === 1 ? 16 : 20;
  if (s.end < size) {
    out.truncated = 'sll';
    return;
  }
  // v1: pkttype, hatype, halen, addr[8], protocol; v2: protocol, reserved, ifindex, hatype, pkttype, halen, addr[8]
  const halen = version === 1 ? b.readUInt16BE(4) : b[11]!;
  const h: Sll =
    version === 1
      ? {
          version,
          packetType: b.readUInt16BE(0),
          arphrdType: b.readUInt16BE(2),
          address: macString(b, 6, Math.min(halen, 8)),
          protocol: b.readUInt16BE(14),
        }
      : {
          version,
          packetType: b[10]!,
          arphrdType: b.readUInt16BE(8),
          address: macString(b, 12, Math.min(halen, 8)),
          protocol: b.readUInt16BE(0),
          ifindex: b.readUInt32BE(4),
        };
  out.sll = h;
  const hdr: { type: number; vlan?: Vlan[] } = { type: h.protocol };
  const next = vlanTags(ctx, size, s, hdr, out);
  if (hdr.vlan) {
    h.vlan = hdr.vlan;
    h.protocol = hdr.type;
  }
  if (next === undefined) return;
  // Below 0x0600 the protocol is a Linux ETH_P_* pseudo type (802.3, LLC, CAN...), not an EtherType.
  if (hdr.type >= 0x0600) etherType(ctx, hdr.type, next, s, out);
  else out.payloadLength = s.wire - next;
}

function arp(ctx: Ctx, off: number, s: Span, out: Layers): void {
  const { b } = ctx;
  if (s.end - off < 8) {
    out.truncated = 'arp';
    return;
  }
  const hlen = b[off + 4]!;
  const plen = b[off + 5]!;
  if (s.end - off < 8 + 2 * (hlen + plen)) {
    out.truncated = 'arp';
    return;
  }
  const addr = (o: number, len: number) => (len === 4 ? ipString(b, o) : macString(b, o, len));
  const sender = off + 8;
  const target = sender + hlen + plen;
  out.arp = {
    htype: b.readUInt16BE(off),
    ptype: b.readUInt16BE(off + 2),
    op: b.readUInt16BE(off + 6),
    senderMac: macString(b, sender, hlen),
    senderIp: addr(sender + hlen, plen),
    targetMac: macString(b, target, hlen),
    targetIp: addr(target + hlen, plen),
  };
  // What follows is Ethernet padding, not payload.
  out.payloadLength = 0;
}

/** The IPv4 header at `off`, if its fixed 20 bytes are there. */
function ipv4Header(b: Buffer, off: number, end: number): Ipv4 | undefined {
  if (end - off < 20) return undefined;
  const vihl = b[off]!;
  const tos = b[off + 1]!;
  const ff = b.readUInt16BE(off + 6);
  const flags = ff >> 13;
  return {
    version: vihl >> 4,
    ihl: vihl & 0xf,
    headerLength: (vihl & 0xf) * 4,
    tos,
    dscp: tos >> 2,
    ecn: tos & 3,
    totalLength: b.readUInt16BE(off + 2),
    id: b.readUInt16BE(off + 4),
    flags,
    df: (flags & 2) !== 0,
    mf: (flags & 1) !== 0,
    fragOffset: (ff & 0x1fff) * 8,
    ttl: b[off + 8]!,
    protocol: b[off + 9]!,
    checksum: b.readUInt16BE(off + 10),
    src: ipString(b, off + 12),
    dst: ipString(b, off + 16),
  };
}

const badIp = (ip: Ipv4) =>
  ip.version !== 4 || ip.headerLength < 20 ? `bad IPv4 header: version ${ip.version}, header length ${ip.headerLength}` : undefined;

function ipv4(ctx: Ctx, off: number, s: Span, out: Layers): void {
  const ip = ipv4Header(ctx.b, off, s.end);
  if (!ip) {
    out.truncated = 'ip';
    return;
  }
  // A garbled header yields no fields: a scenario must not match on its "addresses".
  const bad = badIp(ip);
  if (bad) {
    out.error = bad;
    return;
  }
  out.ip = ip;
  if (s.end - off < ip.headerLength) {
    out.truncated = 'ip';
    return;
  }
  // The total length leaves out Ethernet padding. It is 0 in packets captured before TSO split
  // them; then the frame's own length is all there is to go by.
  const inIp = ip.totalLength >= ip.headerLength ? within(s, off + ip.totalLength) : s;
  const p = off + ip.headerLength;
  // Only the first fragment has the transport header.
  if (ip.fragOffset !== 0) out.payloadLength = inIp.wire - p;
  else if (ip.protocol === 1) icmp(ctx, p, inIp, out);
  else if (ip.protocol === 17) udp(ctx, p, inIp, out);
  else if (ip.protocol === 6) tcp(ctx, p, inIp, out);
  else if (ip.protocol === 4) ipInIp(ctx, p, inIp, out);
  else out.payloadLength = inIp.wire - p;
}

/** IP-in-IP (RFC 2003): the inner IPv4 header follows the outer one directly. */
function ipInIp(ctx: Ctx, off: number, s: Span, out: Layers): void {
  out.ipip = true;
  out.payloadLength = s.wire - off;
  const inner: Layers = {};
  out.inner = inner;
  ipv4(ctx, off, s, inner);
  if (inner.truncated) out.truncated = `inner.${inner.truncated}`;
}

const ICMP_WITH_ID = new Set([0, 8, 13, 14]);
const ICMP_ERRORS = new Set([3, 4, 5, 11, 12]);

function icmpHeader(b: Buffer, off: number): Icmp {
  const h: Icmp = { type: b[off]!, code: b[off + 1]!, checksum: b.readUInt16BE(off + 2) };
  if (ICMP_WITH_ID.has(h.type)) {
    h.id = b.readUInt16BE(off + 4);
    h.seq = b.readUInt16BE(off + 6);
  }
  return h;
}

function icmp(ctx: Ctx, off: number, s: Span, out: Layers): void {
  if (s.end - off < 8) {
    out.truncated = 'icmp';
    return;
  }
  const h = icmpHeader(ctx.b, off);
  out.icmp = h;
  out.payloadLength = s.wire - off - 8;
  if (!ICMP_ERRORS.has(h.type)) return;
  h.quoted = quoted(ctx.b, off + 8, s);
  if (h.quoted.truncated) out.truncated = `icmp.quoted.${h.quoted.truncated}`;
}

/**
 * The datagram an ICMP error quotes: its IP header and at least 8 more bytes (Linux sends as
 * much as fits in 576). Its total length describes the original, not the quote, so the quote
 * ends where the ICMP message does. No VXLAN and no further quotes inside.
 */
function quoted(b: Buffer, off: number, s: Span): Quoted {
  const q: Quoted = {};
  const ip = ipv4Header(b, off, s.end);
  if (!ip) {
    q.truncated = 'ip';
    return q;
  }
  const bad = badIp(ip);
  if (bad) {
    q.error = bad;
    return q;
  }
  q.ip = ip;
  if (s.end - off < ip.headerLength) {
    q.truncated = 'ip';
    return q;
  }
  const p = off + ip.headerLength;
  const left = s.end - p;
  const cut = (layer: string) => {
    q.truncated = layer;
    return q;
  };
  if (ip.fragOffset !== 0) q.payloadLength = s.wire - p;
  else if (ip.protocol === 1) {
    if (left < 8) return cut('icmp');
    q.icmp = icmpHeader(b, p);
    q.payloadLength = s.wire - p - 8;
  } else if (ip.protocol === 17) {
    if (left < 8) return cut('udp');
    q.udp = udpHeader(b, p);
    q.payloadLength = s.wire - p - 8;
  } else if (ip.protocol === 6) {
    if (left >= 20) {
      q.tcp = tcpHeader(b, p);
      q.payloadLength = Math.max(0, s.wire - p - q.tcp.headerLength!);
    } else if (left >= 8) {
      q.tcp = { srcport: b.readUInt16BE(p), dstport: b.readUInt16BE(p + 2), seq: b.readUInt32BE(p + 4) };
    } else return cut('tcp');
  } else q.payloadLength = s.wire - p;
  return q;
}

function udpHeader(b: Buffer, off: number): Udp {
  return {
    srcport: b.readUInt16BE(off),
    dstport: b.readUInt16BE(off + 2),
    length: b.readUInt16BE(off + 4),
    checksum: b.readUInt16BE(off + 6),
  };
}

function udp(ctx: Ctx, off: number, s: Span, out: Layers): void {
  if (s.end - off < 8) {
    out.truncated = 'udp';
    return;
  }
  const u = udpHeader(ctx.b, off);
  out.udp = u;
  const inUdp = u.length >= 8 ? within(s, off + u.length) : s;
  const p = off + 8;
  if (ctx.vxlanPorts.has(u.dstport) || ctx.vxlanPorts.has(u.srcport)) vxlan(ctx, p, inUdp, out);
  else {
    out.payloadLength = inUdp.wire - p;
    // DNS only whole: a message the snaplen cut is marked, not half-decoded
    if (u.dstport === DNS_PORT || u.srcport === DNS_PORT) {
      if (inUdp.end < inUdp.wire) out.truncated = 'dns';
      else dnsMessage(ctx.b.subarray(p, inUdp.end), out);
    }
  }
}

function vxlan(ctx: Ctx, off: number, s: Span, out: Layers): void {
  if (s.end - off < 8) {
    out.truncated = 'vxlan';
    return;
  }
  const { b } = ctx;
  out.vxlan = { flags: b.readUInt16BE(off), vni: b.readUIntBE(off + 4, 3) };
  out.payloadLength = s.wire - off - 8;
  const inner: Layers = {};
  out.inner = inner;
  ethernet(ctx, off + 8, s, inner);
  if (inner.truncated) out.truncated = `inner.${inner.truncated}`;
}

function tcpHeader(b: Buffer, off: number): Tcp {
  const word = b.readUInt16BE(off + 12);
  const flags = word & 0x0fff;
  return {
    srcport: b.readUInt16BE(off),
    dstport: b.readUInt16BE(off + 2),
    seq: b.readUInt32BE(off + 4),
    ack: b.readUInt32BE(off + 8),
    dataOffset: word >> 12,
    headerLength: (word >> 12) * 4,
    flags,
    flagNames: TCP_FLAG_NAMES.filter((_, i) => flags & (1 << i)),
    window: b.readUInt16BE(off + 14),
    checksum: b.readUInt16BE(off + 16),
  };
}

function tcp(ctx: Ctx, off: number, s: Span, out: Layers): void {
  if (s.end - off < 20) {
    out.truncated = 'tcp';
    return;
  }
  const t = tcpHeader(ctx.b, off);
  out.tcp = t;
  if (t.headerLength < 20) out.error = `bad TCP data offset ${t.dataOffset}`;
  else if (s.end - off < t.headerLength) out.truncated = 'tcp';
  else {
    out.payloadLength = Math.max(0, s.wire - off - t.headerLength);
    // DNS over TCP: a two-byte length, then the message; decoded when this segment holds it whole
    const p = off + t.headerLength;
    if ((t.dstport === DNS_PORT || t.srcport === DNS_PORT) && s.wire - p >= 14) {
      if (s.end < s.wire) out.truncated = 'dns';
      else {
        const len = ctx.b.readUInt16BE(p);
        if (s.end - p - 2 >= len) dnsMessage(ctx.b.subarray(p + 2, p + 2 + len), out);
      }
    }
  }
}

const DNS_TYPES: Record<number, string> = {
  1: 'A',
  2: 'NS',
  5: 'CNAME',
  6: 'SOA',
  12: 'PTR',
  15: 'MX',
  16: 'TXT',
  28: 'AAAA',
  33: 'SRV',
  41: 'OPT',
  255: 'ANY',
};
export const dnsTypeName = (n: number) => DNS_TYPES[n] ?? `TYPE${n}`;
export const DNS_RCODES: Record<number, string> = { 0: 'NOERROR', 1: 'FORMERR', 2: 'SERVFAIL', 3: 'NXDOMAIN', 4: 'NOTIMP', 5: 'REFUSED' };

/** A (possibly compressed) name at `off`; returns it and where the record goes on. Throws on a bad one. */
function dnsName(m: Buffer, off: number): [string, number] {
  const labels: string[] = [];
  let next = -1;
  for (let hops = 0; ; hops++) {
    if (off >= m.length || hops > 64) throw new Error('bad DNS name');
    const len = m[off]!;
    if (len === 0) {
      off++;
      break;
    }
    if ((len & 0xc0) === 0xc0) {
      if (off + 1 >= m.length) throw new Error('bad DNS name');
      if (next < 0) next = off + 2;
      off = ((len & 0x3f) << 8) | m[off + 1]!;
      continue;
    }
    if (off + 1 + len > m.length) throw new Error('bad DNS name');
    labels.push(m.toString('latin1', off + 1, off + 1 + len));
    off += 1 + len;
  }
  return [labels.join('.'), next < 0 ? off : next];
}

function dnsData(m: Buffer, type: number, off: number, len: number): string {
  if (type === 1 && len === 4) return ipString(m, off);
  if (type === 28 && len === 16) return Array.from({ length: 8 }, (_, i) => m.readUInt16BE(off + 2 * i).toString(16)).join(':');
  if (type === 5 || type === 12 || type === 2) return dnsName(m, off)[0];
  if (type === 33 && len >= 7)
    return `${m.readUInt16BE(off)} ${m.readUInt16BE(off + 2)} ${m.readUInt16BE(off + 4)} ${dnsName(m, off + 6)[0]}`;
  return m.toString('hex', off, off + len);
}

/** The DNS header, first question and answer section; a message that does not parse gets no dns layer (and no error). */
function dnsMessage(m: Buffer, out: Layers): void {
  if (m.length < 12) return;
  const flags = m.readUInt16BE(2);
  const d: Dns = {
    id: m.readUInt16BE(0),
    response: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    rcode: flags & 0xf,
    qdcount: m.readUInt16BE(4),
    ancount: m.readUInt16BE(6),
    answers: [],
  };
  try {
    let off = 12;
    for (let i = 0; i < d.qdcount; i++) {
      const [name, after] = dnsName(m, off);
      if (after + 4 > m.length) throw new Error('cut');
      if (i === 0) {
        d.qname = name;
        d.qtype = dnsTypeName(m.readUInt16BE(after));
      }
      off = after + 4;
    }
    for (let i = 0; i < d.ancount; i++) {
      const [name, after] = dnsName(m, off);
      if (after + 10 > m.length) throw new Error('cut');
      const type = m.readUInt16BE(after);
      const len = m.readUInt16BE(after + 8);
      if (after + 10 + len > m.length) throw new Error('cut');
      d.answers.push({ name, type: dnsTypeName(type), ttl: m.readUInt32BE(after + 4), data: dnsData(m, type, after + 10, len) });
      off = after + 10 + len;
    }
  } catch {
    /* a cut or malformed message: the header and what parsed */
  }
  out.dns = d;
}

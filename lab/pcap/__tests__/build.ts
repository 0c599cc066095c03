// Builders for hand-made captures and frames, byte by byte from the format specs, so the reader
// and decoders are tested against independently written bytes rather than against themselves.

export interface RawFrame {
  data: Buffer;
  sec?: number;
  nsec?: number;
  /** original length on the wire; defaults to data.length */
  origLen?: number;
  /** pcapng: index of the interface in its section */
  interfaceId?: number;
}

export interface PcapOptions {
  be?: boolean;
  ns?: boolean;
  linkType?: number;
  snaplen?: number;
}

function u16(n: number, be: boolean): Buffer {
  const b = Buffer.alloc(2);
  if (be) b.writeUInt16BE(n);
  else b.writeUInt16LE(n);
  return b;
}

function u32(n: number, be: boolean): Buffer {
  const b = Buffer.alloc(4);
  if (be) b.writeUInt32BE(n >>> 0);
  else b.writeUInt32LE(n >>> 0);
  return b;
}

/** Classic pcap: 24-byte header, then 16-byte record headers. */
export function pcap(frames: RawFrame[], o: PcapOptions = {}): Buffer {
  const be = o.be ?? false;
  const parts = [
    u32(o.ns ? 0xa1b23c4d : 0xa1b2c3d4, be),
    u16(2, be),
    u16(4, be),
    u32(0, be),
    u32(0, be),
    u32(o.snaplen ?? 262144, be),
    u32(o.linkType ?? 1, be),
  ];
  for (const f of frames) {
    const nsec = f.nsec ?? 0;
    const frac = o.ns ? nsec : Math.floor(nsec / 1000);
    parts.push(u32(f.sec ?? 0, be), u32(frac, be), u32(f.data.length, be), u32(f.origLen ?? f.data.length, be), f.data);
  }
  return Buffer.concat(parts);
}

export interface NgInterface {
  linkType: number;
  snaplen?: number;
  name?: string;
  /** if_tsresol byte: 6 = microseconds (the default), 9 = ns, 0x80|n = 2^-n */
  tsresol?: number;
}

export type NgBlock =
  | { kind: 'shb'; be?: boolean }
  | ({ kind: 'idb' } & NgInterface)
  | { kind: 'epb'; frame: RawFrame }
  | { kind: 'pb'; frame: RawFrame }
  | { kind: 'spb'; data: Buffer; origLen?: number }
  | { kind: 'raw'; type: number; body: Buffer };

const pad4 = (b: Buffer) => Buffer.concat([b, Buffer.alloc((4 - (b.length % 4)) % 4)]);

function option(code: number, value: Buffer, be: boolean): Buffer {
  return Buffer.concat([u16(code, be), u16(value.length, be), pad4(value)]);
}

function block(type: number, body: Buffer, be: boolean): Buffer {
  const len = 12 + body.length;
  return Buffer.concat([u32(type, be), u32(len, be), body, u32(len, be)]);
}

function units(sec: number, nsec: number, tsresol: number): [number, number] {
  const perSec = tsresol & 0x80 ? 2n ** BigInt(tsresol & 0x7f) : 10n ** BigInt(tsresol);
  const v = BigInt(sec) * perSec + (BigInt(nsec) * perSec) / 1_000_000_000n;
  return [Number(v >> 32n), Number(v & 0xffffffffn)];
}

/** pcapng from a list of blocks; each SHB sets the byte order of the blocks after it. */
export function pcapng(blocks: NgBlock[]): Buffer {
  let be = false;
  let ifaces: NgInterface[] = [];
  const out: Buffer[] = [];
  for (const b of blocks) {
    switch (b.kind) {
      case 'shb': {
        be = b.be ?? false;
        ifaces = [];
        const sectionLength = Buffer.alloc(8, 0xff); // -1: not given
        const opts = Buffer.concat([option(4, Buffer.from('build.ts'), be), u32(0, be)]);
        out.push(block(0x0a0d0d0a, Buffer.concat([u32(0x1a2b3c4d, be), u16(1, be), u16(0, be), sectionLength, opts]), be));
        break;
      }
      case 'idb': {
        ifaces.push(b);
        const opts: Buffer[] = [];
        if (b.name !== undefined) opts.push(option(2, Buffer.from(b.name), be));
        if (b.tsresol !== undefined) opts.push(option(9, Buffer.from([b.tsresol]), be));
        if (opts.length) opts.push(u32(0, be));
        out.push(block(1, Buffer.concat([u16(b.linkType, be), u16(0, be), u32(b.snaplen ?? 0, be), ...opts]), be));
        break;
      }
      case 'epb':
      case 'pb': {
        const f = b.frame;
        const id = f.interfaceId ?? 0;
        const [hi, lo] = units(f.sec ?? 0, f.nsec ?? 0, ifaces[id]?.tsresol ?? 6);
        const head = b.kind === 'epb' ? u32(id, be) : Buffer.concat([u16(id, be), u16(0, be)]);
        const rest = [u32(hi, be), u32(lo, be), u32(f.data.length, be), u32(f.origLen ?? f.data.length, be), pad4(f.data)];
        out.push(block(b.kind === 'epb' ? 6 : 2, Buffer.concat([head, ...rest]), be));
        break;
      }
      case 'spb':
        out.push(block(3, Buffer.concat([u32(b.origLen ?? b.data.length, be), pad4(b.data)]), be));
        break;
      case 'raw':
        out.push(block(b.type, pad4(b.body), be));
        break;
    }
  }
  return Buffer.concat(out);
}

// ---- frames -------------------------------------------------------------------------------

export const mac = (s: string) => Buffer.from(s.split(':').map((h) => parseInt(h, 16)));
export const ip4 = (s: string) => Buffer.from(s.split('.').map(Number));

function be16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

function be32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

/** RFC 1071 Internet checksum. */
export function checksum(b: Buffer): number {
  let sum = 0;
  for (let i = 0; i < b.length; i += 2) sum += (b[i]! << 8) | (b[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

export interface VlanTag {
  id: number;
  pcp?: number;
  dei?: number;
  tpid?: number;
}

export function ether(src: string, dst: string, type: number, payload: Buffer, vlans: VlanTag[] = []): Buffer {
  const tags = vlans.map((v, i) =>
    Buffer.concat([
      be16(v.tpid ?? (i === 0 && vlans.length > 1 ? 0x88a8 : 0x8100)),
      be16(((v.pcp ?? 0) << 13) | ((v.dei ?? 0) << 12) | v.id),
    ]),
  );
  return Buffer.concat([mac(dst), mac(src), ...tags, be16(type), payload]);
}

export interface ArpSpec {
  op: number;
  senderMac: string;
  senderIp: string;
  targetMac: string;
  targetIp: string;
}

export function arp(a: ArpSpec): Buffer {
  return Buffer.concat([
    be16(1),
    be16(0x0800),
    Buffer.from([6, 4]),
    be16(a.op),
    mac(a.senderMac),
    ip4(a.senderIp),
    mac(a.targetMac),
    ip4(a.targetIp),
  ]);
}

export interface Ipv4Spec {
  src: string;
  dst: string;
  protocol: number;
  ttl?: number;
  id?: number;
  tos?: number;
  df?: boolean;
  mf?: boolean;
  /** bytes, a multiple of 8 */
  fragOffset?: number;
  /** raw option bytes, padded to 4 */
  options?: Buffer;
}

export function ipv4(s: Ipv4Spec, payload: Buffer): Buffer {
  const opts = pad4(s.options ?? Buffer.alloc(0));
  const hl = 20 + opts.length;
  const h = Buffer.alloc(20);
  h[0] = 0x40 | (hl / 4);
  h[1] = s.tos ?? 0;
  h.writeUInt16BE(hl + payload.length, 2);
  h.writeUInt16BE(s.id ?? 0, 4);
  h.writeUInt16BE((s.df ? 0x4000 : 0) | (s.mf ? 0x2000 : 0) | ((s.fragOffset ?? 0) / 8), 6);
  h[8] = s.ttl ?? 64;
  h[9] = s.protocol;
  ip4(s.src).copy(h, 12);
  ip4(s.dst).copy(h, 16);
  const header = Buffer.concat([h, opts]);
  header.writeUInt16BE(checksum(header), 10);
  return Buffer.concat([header, payload]);
}

function withChecksum(b: Buffer, at: number): Buffer {
  b.writeUInt16BE(checksum(b), at);
  return b;
}

export function icmpEcho(type: 0 | 8, id: number, seq: number, data = Buffer.alloc(8, 0x61)): Buffer {
  return withChecksum(Buffer.concat([Buffer.from([type, 0, 0, 0]), be16(id), be16(seq), data]), 2);
}

/** An ICMP error (3, 11, ...) quoting `datagram` (its IP header and what follows). */
export function icmpError(type: number, code: number, datagram: Buffer): Buffer {
  return withChecksum(Buffer.concat([Buffer.from([type, code, 0, 0]), Buffer.alloc(4), datagram]), 2);
}

export function udp(srcport: number, dstport: number, payload: Buffer, checksumValue = 0): Buffer {
  return Buffer.concat([be16(srcport), be16(dstport), be16(8 + payload.length), be16(checksumValue), payload]);
}

export const TCP = { FIN: 1, SYN: 2, RST: 4, PSH: 8, ACK: 16, URG: 32, ECE: 64, CWR: 128 } as const;

export interface TcpSpec {
  srcport: number;
  dstport: number;
  seq: number;
  ack?: number;
  flags: number;
  window?: number;
  options?: Buffer;
}

export function tcp(t: TcpSpec, payload = Buffer.alloc(0)): Buffer {
  const opts = pad4(t.options ?? Buffer.alloc(0));
  const h = Buffer.alloc(20);
  h.writeUInt16BE(t.srcport, 0);
  h.writeUInt16BE(t.dstport, 2);
  h.writeUInt32BE(t.seq >>> 0, 4);
  h.writeUInt32BE((t.ack ?? 0) >>> 0, 8);
  h.writeUInt16BE((((20 + opts.length) / 4) << 12) | t.flags, 12);
  h.writeUInt16BE(t.window ?? 64240, 14);
  h.writeUInt16BE(0xbeef, 16);
  return Buffer.concat([h, opts, payload]);
}

/** VXLAN header (I flag, `vni`) and the inner Ethernet frame. */
export function vxlan(vni: number, inner: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0x08, 0, 0, 0]), be32(vni << 8), inner]);
}

export interface SllSpec {
  packetType: number;
  arphrdType?: number;
  address: string;
  protocol: number;
  ifindex?: number;
}

export function sll1(s: SllSpec, payload: Buffer): Buffer {
  const a = mac(s.address);
  const addr = Buffer.alloc(8);
  a.copy(addr);
  return Buffer.concat([be16(s.packetType), be16(s.arphrdType ?? 1), be16(a.length), addr, be16(s.protocol), payload]);
}

export function sll2(s: SllSpec, payload: Buffer): Buffer {
  const a = mac(s.address);
  const addr = Buffer.alloc(8);
  a.copy(addr);
  return Buffer.concat([
    be16(s.protocol),
    be16(0),
    be32(s.ifindex ?? 0),
    be16(s.arphrdType ?? 1),
    Buffer.from([s.packetType, a.length]),
    addr,
    payload,
  ]);
}

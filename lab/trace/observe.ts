import type { Layers, Packet } from '../pcap';
import type { Probe } from './path';
import { encapName, type WalkChange, type WalkHeaders } from './types';

// From captured packets to a walk: which packet at a point is the probe's (its IP id, which
// forwarding, NAT, VXLAN and IP-in-IP all keep), its headers, what changed since the previous point and
// where it differs from what the lab expected.

const PROTO: Record<number, 'icmp' | 'tcp' | 'udp'> = { 1: 'icmp', 6: 'tcp', 17: 'udp' };
const ICMP_TYPES: Record<number, string> = { 0: 'echo-reply', 3: 'destination-unreachable', 8: 'echo-request', 11: 'time-exceeded' };

/** The packet the probe cares about: the inner one when the frame is VXLAN or IP-in-IP. */
const payloadOf = (p: Layers): Layers => ((p.vxlan || p.ipip) && p.inner ? p.inner : p);

export function headersOf(p: Packet): WalkHeaders | undefined {
  const l = payloadOf(p);
  if (!l.ip) return undefined;
  const h: WalkHeaders = {
    ...(l.eth ? { eth: { src: l.eth.src, dst: l.eth.dst } } : {}),
    ip: { src: l.ip.src, dst: l.ip.dst, ttl: l.ip.ttl, protocol: PROTO[l.ip.protocol] ?? String(l.ip.protocol), id: l.ip.id },
  };
  if (l.tcp) h.l4 = { srcport: l.tcp.srcport, dstport: l.tcp.dstport, flags: [...l.tcp.flagNames] };
  else if (l.udp) h.l4 = { srcport: l.udp.srcport, dstport: l.udp.dstport };
  else if (l.icmp)
    h.l4 = {
      icmpType: ICMP_TYPES[l.icmp.type] ?? String(l.icmp.type),
      ...(l.icmp.id !== undefined ? { icmpId: l.icmp.id, icmpSeq: l.icmp.seq! } : {}),
    };
  if (l !== p && p.ip) {
    const eth = p.eth ? { eth: { src: p.eth.src, dst: p.eth.dst } } : {};
    const ip = { src: p.ip.src, dst: p.ip.dst, ttl: p.ip.ttl };
    if (p.udp && p.vxlan) h.outer = { ...eth, ip, udp: { srcport: p.udp.srcport, dstport: p.udp.dstport }, vni: p.vxlan.vni };
    else if (p.ipip) h.outer = { ...eth, ip, ipip: true };
  }
  return h;
}

/** Is this the probe's first packet as it left the source (before any NAT)? */
export function isProbePacket(h: WalkHeaders, probe: Probe): boolean {
  if (h.ip.protocol !== probe.protocol) return false;
  if (probe.protocol === 'icmp') return h.l4?.icmpType === 'echo-request' && h.l4.icmpId === probe.icmpId && h.l4.icmpSeq === 1;
  if (probe.protocol === 'tcp' && !(h.l4?.flags?.includes('SYN') && !h.l4.flags.includes('ACK'))) return false;
  return h.l4?.srcport === probe.srcport;
}

/** The packets of a capture that carry the probe's packet (same protocol and IP id), in order. */
export function probeCopies(packets: Packet[], protocol: string, ipId: number): { headers: WalkHeaders; frame: number }[] {
  const out: { headers: WalkHeaders; frame: number }[] = [];
  for (const p of packets) {
    const h = headersOf(p);
    if (h && h.ip.protocol === protocol && h.ip.id === ipId && (protocol !== 'tcp' || !h.l4?.flags?.includes('ACK')))
      out.push({ headers: h, frame: p.index });
  }
  return out;
}

const hostPort = (ip: string, port?: number) => (port === undefined ? ip : `${ip}:${port}`);

/** What changed from one point to the next, as a reader of the articles would say it. */
export function changesBetween(prev: WalkHeaders | undefined, cur: WalkHeaders): WalkChange[] {
  if (!prev) return [];
  const out: WalkChange[] = [];
  if (!prev.outer && cur.outer)
    out.push({
      kind: 'encap',
      text: cur.outer.ipip
        ? `IPIP encap ${cur.outer.ip.src} → ${cur.outer.ip.dst} (IP protocol 4)`
        : `VXLAN encap ${cur.outer.ip.src} → ${cur.outer.ip.dst} udp ${cur.outer.udp.dstport} vni ${cur.outer.vni}`,
    });
  if (prev.outer && !cur.outer) out.push({ kind: 'decap', text: prev.outer.ipip ? 'IPIP decap' : `VXLAN decap (vni ${prev.outer.vni})` });
  if (prev.outer && cur.outer && prev.outer.ip.ttl !== cur.outer.ip.ttl)
    out.push({ kind: 'ttl', text: `outer ttl ${prev.outer.ip.ttl} → ${cur.outer.ip.ttl}` });
  if (prev.ip.dst !== cur.ip.dst || prev.l4?.dstport !== cur.l4?.dstport)
    out.push({ kind: 'dnat', text: `DNAT ${hostPort(prev.ip.dst, prev.l4?.dstport)} → ${hostPort(cur.ip.dst, cur.l4?.dstport)}` });
  if (prev.ip.src !== cur.ip.src)
    out.push({ kind: 'snat', text: `SNAT ${hostPort(prev.ip.src, prev.l4?.srcport)} → ${hostPort(cur.ip.src, cur.l4?.srcport)}` });
  else if (prev.l4?.srcport !== cur.l4?.srcport) out.push({ kind: 'port', text: `source port ${prev.l4?.srcport} → ${cur.l4?.srcport}` });
  if (prev.ip.ttl !== cur.ip.ttl) out.push({ kind: 'ttl', text: `ttl ${prev.ip.ttl} → ${cur.ip.ttl}` });
  if (prev.eth && cur.eth && (prev.eth.src !== cur.eth.src || prev.eth.dst !== cur.eth.dst))
    out.push({ kind: 'mac', text: `MAC ${prev.eth.src} → ${prev.eth.dst} became ${cur.eth.src} → ${cur.eth.dst}` });
  return out;
}

/** A header value as text: scalars as String() gives them, anything else as JSON. */
const scalarText = (v: unknown): string => (typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v));

/** Field by field, what the lab expected and what the capture shows ("ip.ttl expected 63, saw 64"). */
export function differences(expected: WalkHeaders, observed: WalkHeaders, names: (v: string) => string = (v) => v): string[] {
  const out: string[] = [];
  const cmp = (path: string, want: unknown, got: unknown) => {
    if (want === undefined || scalarText(want) === scalarText(got)) return;
    const show = (v: unknown) => (typeof v === 'string' ? names(v) : Array.isArray(v) ? v.join(',') : String(v));
    out.push(`${path} expected ${show(want)}, saw ${got === undefined ? 'none' : show(got)}`);
  };
  cmp('eth.src', expected.eth?.src, observed.eth?.src);
  cmp('eth.dst', expected.eth?.dst, observed.eth?.dst);
  cmp('ip.src', expected.ip.src, observed.ip.src);
  cmp('ip.dst', expected.ip.dst, observed.ip.dst);
  cmp('ip.ttl', expected.ip.ttl, observed.ip.ttl);
  cmp('ip.protocol', expected.ip.protocol, observed.ip.protocol);
  for (const k of ['srcport', 'dstport', 'icmpType', 'icmpId', 'icmpSeq'] as const) cmp(`l4.${k}`, expected.l4?.[k], observed.l4?.[k]);
  if (expected.outer && !observed.outer)
    out.push(`expected ${expected.outer.ipip ? 'IP-in-IP' : 'VXLAN'} encapsulation, saw the bare packet`);
  else if (!expected.outer && observed.outer)
    out.push(`expected the bare packet, saw it in ${observed.outer.ipip ? 'IP-in-IP' : `VXLAN (vni ${observed.outer.vni})`}`);
  else if (expected.outer && observed.outer && !expected.outer.ipip !== !observed.outer.ipip)
    out.push(`expected ${encapName(expected.outer)}, saw ${encapName(observed.outer)}`);
  else if (expected.outer && observed.outer) {
    cmp('outer.eth.src', expected.outer.eth?.src, observed.outer.eth?.src);
    cmp('outer.eth.dst', expected.outer.eth?.dst, observed.outer.eth?.dst);
    cmp('outer.ip.src', expected.outer.ip.src, observed.outer.ip.src);
    cmp('outer.ip.dst', expected.outer.ip.dst, observed.outer.ip.dst);
    cmp('outer.ip.ttl', expected.outer.ip.ttl, observed.outer.ip.ttl);
    if (!expected.outer.ipip && !observed.outer.ipip) {
      cmp('outer.udp.dstport', expected.outer.udp.dstport, observed.outer.udp.dstport);
      cmp('vxlan.vni', expected.outer.vni, observed.outer.vni);
    }
  }
  return out;
}

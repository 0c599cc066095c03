import { LINKTYPE_RAW, decodeFrame } from '../../pcap/decode';
import { ether, icmpEcho, ipv4, udp, vxlan } from '../../pcap/__tests__/build';
import { frame } from '../../pcap/__tests__/frames';
import { changesBetween, differences, headersOf, probeCopies } from '../observe';
import type { WalkHeaders } from '../types';

// From captured bytes to a walk's headers: hand-built frames (lab/pcap/__tests__/build.ts, written
// from the format specs) decoded by the lab's decoder, as `lab trace` reads its captures —
// Calico's IP-in-IP (tunl0: IP protocol 4, no inner Ethernet) beside VXLAN.

const NODE1 = '02:00:00:00:01:01';
const NODE3 = '02:00:00:00:03:01';
const VTEP1 = '02:00:00:00:01:aa';
const VTEP3 = '02:00:00:00:03:aa';
// client 10.42.0.1 (node1) → web-3 10.42.0.129 (node3, another segment), after node1 forwarded it
const ping = ipv4({ src: '10.42.0.1', dst: '10.42.0.129', protocol: 1, ttl: 63, id: 0x4321, df: true }, icmpEcho(8, 3, 1));
/** node1's eth0: tunl0's IP-in-IP, the outer TTL inherited from the inner packet */
const ipipFrame = (outerTtl: number) =>
  ether(NODE1, NODE3, 0x0800, ipv4({ src: '192.168.205.4', dst: '192.168.206.5', protocol: 4, ttl: outerTtl, id: 9 }, ping));
const vxlanFrame = ether(
  NODE1,
  NODE3,
  0x0800,
  ipv4(
    { src: '192.168.205.4', dst: '192.168.206.5', protocol: 17, ttl: 64, id: 9 },
    udp(40001, 4789, vxlan(4096, ether(VTEP1, VTEP3, 0x0800, ping))),
  ),
);
const decode = (data: Buffer, linkType = 1) => decodeFrame(frame(data, linkType), { vxlanPorts: [8472, 4789] });

describe('walk headers of IP-in-IP', () => {
  it('eth0: the inner packet is the probe, the outer header IP protocol 4 from node IP to node IP, no UDP or VNI', () => {
    const h = headersOf(decode(ipipFrame(63)))!;
    expect(h).toEqual({
      ip: { src: '10.42.0.1', dst: '10.42.0.129', ttl: 63, protocol: 'icmp', id: 0x4321 },
      l4: { icmpType: 'echo-request', icmpId: 3, icmpSeq: 1 },
      outer: { eth: { src: NODE1, dst: NODE3 }, ip: { src: '192.168.205.4', dst: '192.168.206.5', ttl: 63 }, ipip: true },
    });
    // found by the inner IP id, as a VXLAN copy is
    expect(probeCopies([decode(ipipFrame(63)), decode(vxlanFrame)], 'icmp', 0x4321).map((c) => c.headers.outer)).toEqual([
      expect.objectContaining({ ipip: true }),
      expect.objectContaining({ udp: { srcport: 40001, dstport: 4789 }, vni: 4096 }),
    ]);
  });

  it('tunl0 (raw IP, no link header): the bare inner packet', () => {
    const h = headersOf(decode(ping, LINKTYPE_RAW))!;
    expect(h.outer).toBeUndefined();
    expect(h.eth).toBeUndefined();
    expect(h.ip).toMatchObject({ src: '10.42.0.1', ttl: 63 });
  });

  it('changes: IPIP encap at eth0, the outer TTL lowered by the router, IPIP decap at the far tunl0', () => {
    const atTunl0 = headersOf(decode(ping, LINKTYPE_RAW))!;
    const out = headersOf(decode(ipipFrame(63)))!;
    const arrived = headersOf(decode(ipipFrame(62)))!;
    expect(changesBetween(atTunl0, out)).toEqual([{ kind: 'encap', text: 'IPIP encap 192.168.205.4 → 192.168.206.5 (IP protocol 4)' }]);
    expect(changesBetween(out, arrived)).toEqual([{ kind: 'ttl', text: 'outer ttl 63 → 62' }]);
    expect(changesBetween(arrived, atTunl0)).toEqual([{ kind: 'decap', text: 'IPIP decap' }]);
  });

  it('differences: the outer TTL, and IP-in-IP where VXLAN or the bare packet was expected', () => {
    const seen = headersOf(decode(ipipFrame(63)))!;
    const want: WalkHeaders = { ...seen, outer: { ip: { src: '192.168.205.4', dst: '192.168.206.5', ttl: 64 }, ipip: true } };
    expect(differences(want, seen)).toEqual(['outer.ip.ttl expected 64, saw 63']);
    const vx = headersOf(decode(vxlanFrame))!;
    // VXLAN's inner frame has the tunnel MACs, IP-in-IP's packet no Ethernet header at all
    expect(differences(vx, seen)).toEqual([
      `eth.src expected ${VTEP1}, saw none`,
      `eth.dst expected ${VTEP3}, saw none`,
      'expected VXLAN udp 4789 vni 4096, saw IPIP (IP protocol 4)',
    ]);
    const { outer: _, ...bare } = seen;
    expect(differences(bare, seen)).toEqual(['expected the bare packet, saw it in IP-in-IP']);
    expect(differences(seen, bare)).toEqual(['expected IP-in-IP encapsulation, saw the bare packet']);
  });
});

import type { Frame } from '../reader';
import { arp, ether, icmpEcho, icmpError, ipv4, sll1, sll2, TCP, tcp, udp, vxlan } from './build';

// The frames decode.test.ts and fields.test.ts share: what a flannel VXLAN lab puts on the wire.

export const NODE1 = '02:00:00:00:01:01';
export const NODE2 = '02:00:00:00:02:01';
export const FLANNEL1 = '02:00:00:00:01:aa';
export const FLANNEL2 = '02:00:00:00:02:aa';

export function frame(data: Buffer, linkType = 1, extra: Partial<Frame> = {}): Frame {
  return {
    index: 1,
    tsSec: 100,
    tsNsec: 250_000_000,
    time: 100.25,
    capturedLength: data.length,
    originalLength: data.length,
    linkType,
    interfaceId: 0,
    data,
    ...extra,
  };
}

export const echoRequest = ipv4(
  { src: '10.42.0.65', dst: '10.42.1.9', protocol: 1, ttl: 63, id: 0x1234, df: true },
  icmpEcho(8, 5, 1, Buffer.alloc(56, 0x61)),
);

/** node1 → node2 over flannel's VXLAN: outer UDP to 8472, VNI 1, the pod's ping inside. */
export function vxlanFrame(port = 8472, inner = ether(FLANNEL1, FLANNEL2, 0x0800, echoRequest)): Buffer {
  const outer = ipv4({ src: '192.168.205.4', dst: '192.168.205.3', protocol: 17, ttl: 64, id: 7 }, udp(40001, port, vxlan(1, inner)));
  return ether(NODE1, NODE2, 0x0800, outer);
}

export const synPacket = ipv4(
  { src: '10.42.0.65', dst: '10.43.0.10', protocol: 6, ttl: 64, df: true, id: 99 },
  // MSS and two NOPs + SACK-permitted: a 28-byte header, as Linux sends (trimmed)
  tcp({ srcport: 51000, dstport: 80, seq: 0xfffffff0, flags: TCP.SYN, window: 64240, options: Buffer.from([2, 4, 5, 0xb4, 1, 1, 4, 2]) }),
);

/** A router's time-exceeded for a traceroute UDP probe, quoting the probe's IP header + UDP header. */
export function timeExceeded(quoteBytes?: number): Buffer {
  const probe = ipv4({ src: '10.42.0.65', dst: '10.42.1.9', protocol: 17, ttl: 1, id: 0x4242 }, udp(54559, 33434, Buffer.alloc(32, 0x40)));
  const quote = quoteBytes === undefined ? probe : probe.subarray(0, quoteBytes);
  return ipv4({ src: '10.42.0.1', dst: '10.42.0.65', protocol: 1, ttl: 64, tos: 0xc0 }, icmpError(11, 0, quote));
}

export const arpRequest = ether(
  NODE1,
  'ff:ff:ff:ff:ff:ff',
  0x0806,
  arp({ op: 1, senderMac: NODE1, senderIp: '192.168.205.4', targetMac: '00:00:00:00:00:00', targetIp: '192.168.205.3' }),
);

export const sllV1 = sll1({ packetType: 4, address: NODE1, protocol: 0x0800 }, echoRequest);
export const sllV2 = sll2(
  { packetType: 0, address: NODE2, protocol: 0x0800, ifindex: 3 },
  ipv4({ src: '10.42.1.9', dst: '10.42.0.65', protocol: 1, ttl: 64 }, icmpEcho(0, 5, 1)),
);

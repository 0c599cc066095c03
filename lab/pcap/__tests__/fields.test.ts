import { decodeFrame, type Packet } from '../decode';
import { field, FIELD_NAMES, isFieldPath, summarize } from '../fields';
import { ether, ipv4, TCP, tcp } from './build';
import { arpRequest, FLANNEL2, frame, NODE1, NODE2, sllV2, synPacket, timeExceeded, vxlanFrame } from './frames';

const vx = decodeFrame(frame(vxlanFrame(), 1, { index: 3 }));
const te = decodeFrame(frame(vxlanFrame(8472, ether(FLANNEL2, NODE1, 0x0800, timeExceeded()))));
const syn = decodeFrame(frame(ether(NODE1, NODE2, 0x0800, synPacket)));

describe('field', () => {
  test.each([
    [vx, 'eth.src', NODE1],
    [vx, 'eth.dst', NODE2],
    [vx, 'eth.type', 0x0800],
    [vx, 'ip.ttl', 64],
    [vx, 'ip.src', '192.168.205.4'],
    [vx, 'ip.proto', 17],
    [vx, 'ip.protocol', 17],
    [vx, 'udp.dstport', 8472],
    [vx, 'vxlan.vni', 1],
    [vx, 'inner.ip.src', '10.42.0.65'],
    [vx, 'inner.ip.ttl', 63],
    [vx, 'inner.ip.flags.df', true],
    [vx, 'inner.icmp.type', 8],
    [vx, 'inner.icmp.seq', 1],
    [vx, 'inner.eth.dst', FLANNEL2],
    [vx, 'frame.number', 3],
    [vx, 'frame.time', 100.25],
    [te, 'inner.icmp.type', 11],
    [te, 'inner.icmp.quoted.ip.ttl', 1],
    [te, 'inner.icmp.quoted.udp.dstport', 33434],
    [syn, 'tcp.flags', ['SYN']],
    [syn, 'tcp.flags.value', 2],
    [syn, 'tcp.flags.syn', true],
    [syn, 'tcp.flags.ack', false],
    [syn, 'tcp.headerLength', 28],
    [decodeFrame(frame(arpRequest)), 'arp.targetIp', '192.168.205.3'],
    [decodeFrame(frame(sllV2, 276)), 'sll.ifindex', 3],
    [decodeFrame(frame(ether(NODE1, NODE2, 0x0800, synPacket, [{ id: 42 }]))), 'vlan.id', 42],
  ] as [Packet, string, unknown][])('%#: %s', (p, path, want) => {
    expect(field(p, path)).toEqual(want);
  });

  test('absent layers and absent quotes are undefined', () => {
    for (const path of ['tcp.flags', 'tcp.flags.syn', 'arp.op', 'icmp.quoted.ip.ttl', 'inner.inner.ip.src', 'vlan.id', 'sll.address'])
      expect(field(vx, path)).toBeUndefined();
    expect(field(syn, 'inner.ip.src')).toBeUndefined();
    expect(field(syn, 'icmp.type')).toBeUndefined();
    expect(field(syn.inner ?? {}, 'frame.number')).toBeUndefined();
  });

  test('a whole layer is a field too', () => {
    expect(field(vx, 'vxlan')).toEqual({ flags: 0x0800, vni: 1 });
    expect(field(syn, 'vxlan')).toBeUndefined();
  });

  test('a typo throws instead of reading as absent', () => {
    expect(() => field(vx, 'ip.tll')).toThrow("unknown packet field 'ip.tll'");
    expect(() => field(vx, 'inner.icmp.quoted.ip.tll')).toThrow(/ip\.tll/);
  });
});

describe('FIELD_NAMES and isFieldPath', () => {
  test('list the leaf paths of one level', () => {
    for (const f of [
      'eth.src',
      'ip.ttl',
      'ip.proto',
      'udp.dstport',
      'vxlan.vni',
      'tcp.flags',
      'icmp.type',
      'arp.senderIp',
      'sll.protocol',
      'payloadLength',
    ])
      expect(FIELD_NAMES).toContain(f);
    expect(FIELD_NAMES.some((f) => f.startsWith('inner.') || f.startsWith('icmp.quoted.'))).toBe(false);
  });

  test('accept the inner. and icmp.quoted. prefixes, reject typos', () => {
    for (const ok of ['inner.ip.src', 'inner.icmp.type', 'icmp.quoted.ip.ttl', 'inner.icmp.quoted.udp.dstport', 'tcp.flags.syn'])
      expect(isFieldPath(ok)).toBe(true);
    for (const bad of ['ip.tll', 'inner.', 'inner.ip', 'quoted.ip.ttl', 'icmp.quoted', 'eth.src.x', ''])
      expect(isFieldPath(bad)).toBe(bad === 'inner.ip');
  });
});

describe('summarize', () => {
  test('VXLAN: outer addresses and ports, the inner packet in brackets, TTLs, MACs', () => {
    expect(summarize({ ...vx, relativeTime: 0.000123 })).toBe(
      `#3 0.000123 192.168.205.4 → 192.168.205.3 UDP 40001→8472 VXLAN vni=1 [10.42.0.65 → 10.42.1.9 ICMP echo-request id=5 seq=1 ttl=63 len=56] ttl=64 ${NODE1}→${NODE2}`,
    );
  });

  test('without a capture-relative time, the UTC time of day', () => {
    expect(summarize(syn)).toMatch(/^#1 00:01:40\.250000 10\.42\.0\.65 → 10\.43\.0\.10 TCP 51000→80 \[SYN\] seq=4294967280 ttl=64 /);
  });

  test('ICMP errors show what they quote; ARP, SLL, TCP flags, cuts and errors', () => {
    expect(summarize(te)).toContain(
      '[10.42.0.1 → 10.42.0.65 ICMP time-exceeded {10.42.0.65 → 10.42.1.9 UDP 54559→33434 ttl=1 len=32} ttl=64]',
    );
    expect(summarize(decodeFrame(frame(arpRequest)))).toBe(
      `#1 00:01:40.250000 ARP who-has 192.168.205.3 tell 192.168.205.4 ${NODE1}→ff:ff:ff:ff:ff:ff`,
    );
    expect(summarize(decodeFrame(frame(sllV2, 276, { interfaceName: 'any' })))).toBe(
      `#1 00:01:40.250000 in any if=3 10.42.1.9 → 10.42.0.65 ICMP echo-reply id=5 seq=1 ttl=64 len=8 from ${NODE2}`,
    );
    const synAck = ipv4(
      { src: '10.43.0.10', dst: '10.42.0.65', protocol: 6 },
      tcp({ srcport: 80, dstport: 51000, seq: 7, ack: 0xfffffff1, flags: TCP.SYN | TCP.ACK }),
    );
    expect(summarize(decodeFrame(frame(synAck, 101)))).toContain('TCP 80→51000 [SYN,ACK] seq=7 ack=4294967281');
    expect(summarize(decodeFrame(frame(vxlanFrame().subarray(0, 60))))).toMatch(/VXLAN vni=1 \[…\] ttl=64 .* \[cut in inner\.eth\]$/);
    expect(summarize(decodeFrame(frame(vxlanFrame().subarray(0, 70))))).toMatch(
      /VXLAN vni=1 \[ethertype 0x0800\] ttl=64 .* \[cut in inner\.ip\]$/,
    );
    expect(summarize(decodeFrame(frame(Buffer.alloc(4), 147)))).toBe('#1 00:01:40.250000 [link type 147 is not decoded]');
  });
});

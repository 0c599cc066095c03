import { decodeFrame } from '../decode';
import { field, summarize } from '../fields';
import { arp, ether, icmpError, ipv4, sll1, sll2, TCP, tcp, udp, vxlan } from './build';
import {
  arpRequest,
  echoRequest,
  FLANNEL1,
  FLANNEL2,
  frame,
  NODE1,
  NODE2,
  sllV1,
  sllV2,
  synPacket,
  timeExceeded,
  vxlanFrame,
} from './frames';

describe('Ethernet, IPv4, ICMP', () => {
  test('echo request: every header field', () => {
    const data = ether(NODE1, NODE2, 0x0800, echoRequest);
    const p = decodeFrame(frame(data, 1, { index: 3, interfaceName: 'eth0' }));
    expect(p).toEqual({
      index: 3,
      time: 100.25,
      capturedLength: data.length,
      originalLength: data.length,
      linkType: 1,
      interfaceId: 0,
      interfaceName: 'eth0',
      eth: { src: NODE1, dst: NODE2, type: 0x0800 },
      ip: {
        version: 4,
        ihl: 5,
        headerLength: 20,
        tos: 0,
        dscp: 0,
        ecn: 0,
        totalLength: 84,
        id: 0x1234,
        flags: 2,
        df: true,
        mf: false,
        fragOffset: 0,
        ttl: 63,
        protocol: 1,
        checksum: echoRequest.readUInt16BE(10),
        src: '10.42.0.65',
        dst: '10.42.1.9',
      },
      icmp: { type: 8, code: 0, checksum: echoRequest.readUInt16BE(22), id: 5, seq: 1 },
      payloadLength: 56,
    });
  });

  test('Ethernet padding is not payload: IP total length bounds it', () => {
    const small = ipv4({ src: '1.1.1.1', dst: '2.2.2.2', protocol: 17 }, udp(1, 2, Buffer.from('x')));
    const padded = Buffer.concat([ether(NODE1, NODE2, 0x0800, small), Buffer.alloc(60 - 14 - small.length)]);
    expect(decodeFrame(frame(padded))).toMatchObject({ udp: { length: 9 }, payloadLength: 1 });
  });

  test('IP options are skipped by IHL; DSCP/ECN split the TOS byte', () => {
    const p = decodeFrame(
      frame(
        ether(
          NODE1,
          NODE2,
          0x0800,
          ipv4(
            { src: '1.1.1.1', dst: '2.2.2.2', protocol: 17, tos: 0xb9, options: Buffer.from([0x94, 4, 0, 0]) },
            udp(53, 5353, Buffer.alloc(4)),
          ),
        ),
      ),
    );
    expect(p.ip).toMatchObject({ ihl: 6, headerLength: 24, tos: 0xb9, dscp: 46, ecn: 1 });
    expect(p.udp).toEqual({ srcport: 53, dstport: 5353, length: 12, checksum: 0 });
    expect(p.payloadLength).toBe(4);
  });

  test('only the first fragment has a transport header', () => {
    const first = decodeFrame(
      frame(
        ether(NODE1, NODE2, 0x0800, ipv4({ src: '1.1.1.1', dst: '2.2.2.2', protocol: 17, mf: true, id: 9 }, udp(1, 2, Buffer.alloc(16)))),
      ),
    );
    expect(first).toMatchObject({ ip: { flags: 1, mf: true, fragOffset: 0 }, udp: { srcport: 1, dstport: 2 } });
    const later = decodeFrame(
      frame(ether(NODE1, NODE2, 0x0800, ipv4({ src: '1.1.1.1', dst: '2.2.2.2', protocol: 17, fragOffset: 1480, id: 9 }, Buffer.alloc(24)))),
    );
    expect(later).toMatchObject({ ip: { flags: 0, fragOffset: 1480 }, payloadLength: 24 });
    expect(later.udp).toBeUndefined();
  });

  test('time-exceeded quotes the probe: IP header and UDP header, decoded under icmp.quoted', () => {
    const p = decodeFrame(frame(ether(NODE2, NODE1, 0x0800, timeExceeded())));
    expect(p.ip).toMatchObject({ src: '10.42.0.1', dst: '10.42.0.65', tos: 0xc0, dscp: 48 });
    expect(p.icmp).toMatchObject({ type: 11, code: 0 });
    expect(p.icmp!.id).toBeUndefined();
    expect(p.icmp!.quoted).toMatchObject({
      ip: { src: '10.42.0.65', dst: '10.42.1.9', ttl: 1, id: 0x4242, protocol: 17, totalLength: 60 },
      udp: { srcport: 54559, dstport: 33434, length: 40 },
      payloadLength: 32,
    });
    expect(p.truncated).toBeUndefined();
  });

  test('an RFC 792 quote (IP header + 8 bytes) is complete for UDP and gives ports and sequence for TCP', () => {
    expect(decodeFrame(frame(ether(NODE2, NODE1, 0x0800, timeExceeded(28)))).icmp!.quoted).toEqual({
      ip: expect.objectContaining({ totalLength: 60 }),
      udp: { srcport: 54559, dstport: 33434, length: 40, checksum: 0 },
      payloadLength: 0,
    });
    const unreachable = ipv4({ src: '10.43.0.10', dst: '10.42.0.65', protocol: 1 }, icmpError(3, 3, synPacket.subarray(0, 28)));
    const p = decodeFrame(frame(ether(NODE2, NODE1, 0x0800, unreachable)));
    expect(p.icmp).toMatchObject({
      type: 3,
      code: 3,
      quoted: { ip: { protocol: 6, dst: '10.43.0.10' }, tcp: { srcport: 51000, dstport: 80, seq: 0xfffffff0 } },
    });
    expect(p.icmp!.quoted!.tcp!.flags).toBeUndefined();
    expect(p.truncated).toBeUndefined();
  });

  test('an ICMP error quoting an echo request decodes the quoted ICMP header', () => {
    const err = ipv4({ src: '10.42.0.1', dst: '10.42.0.65', protocol: 1 }, icmpError(11, 0, echoRequest));
    expect(decodeFrame(frame(ether(NODE2, NODE1, 0x0800, err))).icmp!.quoted).toMatchObject({
      ip: { protocol: 1, ttl: 63 },
      icmp: { type: 8, id: 5, seq: 1 },
      payloadLength: 56,
    });
  });
});

describe('VLAN, ARP, TCP', () => {
  test('802.1ad + 802.1Q tags: listed outermost first, eth.type is the payload type', () => {
    const p = decodeFrame(
      frame(
        ether(NODE1, NODE2, 0x0800, echoRequest, [
          { id: 100, pcp: 5 },
          { id: 4094, dei: 1 },
        ]),
      ),
    );
    expect(p.eth).toEqual({
      src: NODE1,
      dst: NODE2,
      type: 0x0800,
      vlan: [
        { tpid: 0x88a8, id: 100, pcp: 5, dei: 0 },
        { tpid: 0x8100, id: 4094, pcp: 0, dei: 1 },
      ],
    });
    expect(p.icmp).toMatchObject({ type: 8, id: 5 });
  });

  test('ARP request', () => {
    expect(decodeFrame(frame(arpRequest))).toMatchObject({
      eth: { src: NODE1, dst: 'ff:ff:ff:ff:ff:ff', type: 0x0806 },
      arp: {
        htype: 1,
        ptype: 0x0800,
        op: 1,
        senderMac: NODE1,
        senderIp: '192.168.205.4',
        targetMac: '00:00:00:00:00:00',
        targetIp: '192.168.205.3',
      },
      payloadLength: 0,
    });
  });

  test('TCP SYN with options: header length from the data offset, flag names', () => {
    const p = decodeFrame(frame(ether(NODE1, NODE2, 0x0800, synPacket)));
    expect(p.tcp).toEqual({
      srcport: 51000,
      dstport: 80,
      seq: 0xfffffff0,
      ack: 0,
      dataOffset: 7,
      headerLength: 28,
      flags: 2,
      flagNames: ['SYN'],
      window: 64240,
      checksum: 0xbeef,
    });
    expect(p.payloadLength).toBe(0);
  });

  test('flag names come in a fixed order whatever the bits', () => {
    const names = (flags: number) =>
      decodeFrame(
        frame(
          ether(
            NODE1,
            NODE2,
            0x0800,
            ipv4({ src: '1.1.1.1', dst: '2.2.2.2', protocol: 6 }, tcp({ srcport: 1, dstport: 2, seq: 1, flags })),
          ),
        ),
      ).tcp!.flagNames;
    expect(names(TCP.SYN | TCP.ACK)).toEqual(['SYN', 'ACK']);
    expect(names(TCP.RST | TCP.ACK)).toEqual(['RST', 'ACK']);
    expect(names(0x1ff)).toEqual(['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR', 'AE']);
    expect(names(0)).toEqual([]);
  });
});

describe('IP-in-IP (IP protocol 4, Calico tunl0)', () => {
  test('the outer IPv4 header, then the inner packet decoded as inner.ip and below', () => {
    const outer = ipv4({ src: '192.168.205.4', dst: '192.168.205.3', protocol: 4, ttl: 64 }, echoRequest);
    const p = decodeFrame(frame(ether(NODE1, NODE2, 0x0800, outer)));
    expect(p).toMatchObject({
      ip: { src: '192.168.205.4', dst: '192.168.205.3', protocol: 4 },
      ipip: true,
      payloadLength: echoRequest.length,
      inner: { ip: { src: '10.42.0.65', dst: '10.42.1.9', protocol: 1 }, icmp: { type: 8, id: 5 } },
    });
    expect(p.inner?.eth).toBeUndefined();
    expect(field(p, 'ipip')).toBe(true);
    expect(field(p, 'inner.ip.dst')).toBe('10.42.1.9');
    expect(summarize(p)).toMatch(/IPIP \[.*10\.42\.0\.65.*10\.42\.1\.9/);
    // cut inside the inner header: said so, the outer kept
    const cut = decodeFrame(frame(ether(NODE1, NODE2, 0x0800, outer).subarray(0, 14 + 20 + 10)));
    expect(cut).toMatchObject({ ipip: true, truncated: 'inner.ip' });
  });
});

describe('VXLAN', () => {
  test('UDP 8472: VNI and the inner frame decoded all the way down', () => {
    const p = decodeFrame(frame(vxlanFrame()));
    expect(p).toMatchObject({
      eth: { src: NODE1, dst: NODE2 },
      ip: { src: '192.168.205.4', dst: '192.168.205.3', protocol: 17, ttl: 64 },
      udp: { srcport: 40001, dstport: 8472 },
      vxlan: { flags: 0x0800, vni: 1 },
      payloadLength: 14 + echoRequest.length,
      inner: {
        eth: { src: FLANNEL1, dst: FLANNEL2, type: 0x0800 },
        ip: { src: '10.42.0.65', dst: '10.42.1.9', ttl: 63, protocol: 1 },
        icmp: { type: 8, code: 0, id: 5, seq: 1 },
        payloadLength: 56,
      },
    });
  });

  test('UDP 4789 too; a source port match counts; vxlanPorts overrides the defaults', () => {
    expect(decodeFrame(frame(vxlanFrame(4789))).inner?.icmp?.type).toBe(8);
    const reply = ether(
      NODE2,
      NODE1,
      0x0800,
      ipv4({ src: '192.168.205.3', dst: '192.168.205.4', protocol: 17 }, udp(8472, 40001, vxlan(7, arpRequest))),
    );
    expect(decodeFrame(frame(reply))).toMatchObject({ vxlan: { vni: 7 }, inner: { arp: { op: 1 } } });
    const plain = decodeFrame(frame(vxlanFrame()), { vxlanPorts: [] });
    expect(plain.vxlan).toBeUndefined();
    expect(plain.inner).toBeUndefined();
    expect(plain.payloadLength).toBe(8 + 14 + echoRequest.length);
    expect(decodeFrame(frame(vxlanFrame(9999)), { vxlanPorts: [9999] }).inner?.ip?.dst).toBe('10.42.1.9');
  });

  test('time-exceeded inside VXLAN: inner.icmp.quoted', () => {
    const p = decodeFrame(frame(vxlanFrame(8472, ether(FLANNEL2, FLANNEL1, 0x0800, timeExceeded()))));
    expect(p.inner?.icmp?.quoted?.udp?.dstport).toBe(33434);
  });
});

describe('Linux cooked captures', () => {
  test('SLL v1 (113): header, then IPv4 directly, no eth layer', () => {
    const p = decodeFrame(frame(sllV1, 113));
    expect(p.sll).toEqual({ version: 1, packetType: 4, arphrdType: 1, address: NODE1, protocol: 0x0800 });
    expect(p.eth).toBeUndefined();
    expect(p.icmp).toMatchObject({ type: 8, id: 5 });
  });

  test('SLL v2 (276, tcpdump -i any): ifindex too', () => {
    const p = decodeFrame(frame(sllV2, 276));
    expect(p.sll).toEqual({ version: 2, packetType: 0, arphrdType: 1, address: NODE2, protocol: 0x0800, ifindex: 3 });
    expect(p.icmp).toMatchObject({ type: 0, id: 5, seq: 1 });
  });

  test('ARP and VLAN-tagged payloads; a short link-layer address', () => {
    expect(
      decodeFrame(
        frame(
          sll2(
            { packetType: 1, address: NODE1, protocol: 0x0806 },
            arp({ op: 2, senderMac: NODE1, senderIp: '1.1.1.1', targetMac: NODE2, targetIp: '2.2.2.2' }),
          ),
          276,
        ),
      ).arp,
    ).toMatchObject({
      op: 2,
      targetMac: NODE2,
    });
    const tagged = sll1(
      { packetType: 0, address: NODE2, protocol: 0x8100 },
      Buffer.concat([Buffer.from([0x00, 0x0a, 0x08, 0x00]), echoRequest]),
    );
    expect(decodeFrame(frame(tagged, 113))).toMatchObject({ sll: { protocol: 0x0800, vlan: [{ tpid: 0x8100, id: 10 }] }, ip: { ttl: 63 } });
    const lo = sll1({ packetType: 0, arphrdType: 772, address: '00:00', protocol: 0x0800 }, echoRequest);
    expect(decodeFrame(frame(lo, 113)).sll).toMatchObject({ arphrdType: 772, address: '00:00' });
  });
});

describe('damage is reported, never thrown', () => {
  test('unknown link type', () => {
    const p = decodeFrame(frame(Buffer.alloc(40), 147));
    expect(p).toMatchObject({ index: 1, linkType: 147, error: 'link type 147 is not decoded' });
  });

  test('raw IPv4 link type (101)', () => {
    expect(decodeFrame(frame(echoRequest, 101))).toMatchObject({ ip: { src: '10.42.0.65' }, icmp: { type: 8 } });
  });

  test('snaplen cuts: decoded as deep as the bytes go, the cut layer named', () => {
    const syn = ether(NODE1, NODE2, 0x0800, synPacket);
    const at = (len: number, data = syn) =>
      decodeFrame(frame(data.subarray(0, len), 1, { capturedLength: len, originalLength: data.length }));
    expect(at(10)).toMatchObject({ truncated: 'eth' });
    expect(at(30)).toMatchObject({ eth: { type: 0x0800 }, truncated: 'ip' });
    const tcpCut = at(14 + 20 + 12);
    expect(tcpCut).toMatchObject({ ip: { protocol: 6 }, truncated: 'tcp' });
    expect(tcpCut.tcp).toBeUndefined();
    // fixed TCP header there, options cut: the header is decoded, and still marked cut
    expect(at(14 + 20 + 24)).toMatchObject({ tcp: { flagNames: ['SYN'] }, truncated: 'tcp' });
    expect(at(syn.length).truncated).toBeUndefined();
    // a cut in the payload is no cut in a header; the payload length is still what was sent
    const echo = ether(NODE1, NODE2, 0x0800, echoRequest);
    expect(at(14 + 20 + 8 + 10, echo)).toMatchObject({ icmp: { type: 8 }, payloadLength: 56 });
    expect(at(14 + 20 + 8 + 10, echo).truncated).toBeUndefined();
    expect(at(14 + 20 + 8 + 8 + 14 + 20 + 8 + 4, vxlanFrame())).toMatchObject({
      payloadLength: 14 + 84,
      inner: { icmp: { seq: 1 }, payloadLength: 56 },
    });
    const vx = vxlanFrame();
    expect(at(14 + 20 + 8 + 8 + 14 + 10, vx)).toMatchObject({
      vxlan: { vni: 1 },
      inner: { eth: { src: FLANNEL1 }, truncated: 'ip' },
      truncated: 'inner.ip',
    });
    expect(at(14 + 20 + 8 + 4, vx)).toMatchObject({ udp: { dstport: 8472 }, truncated: 'vxlan' });
    const te = ether(NODE2, NODE1, 0x0800, timeExceeded());
    expect(at(14 + 20 + 8 + 12, te)).toMatchObject({ icmp: { type: 11, quoted: { truncated: 'ip' } }, truncated: 'icmp.quoted.ip' });
    expect(decodeFrame(frame(sllV2.subarray(0, 19), 276))).toMatchObject({ truncated: 'sll' });
  });

  test('every cut of every sample frame decodes without throwing', () => {
    const samples: [Buffer, number][] = [
      [ether(NODE1, NODE2, 0x0800, synPacket), 1],
      [vxlanFrame(), 1],
      [vxlanFrame(8472, ether(FLANNEL2, FLANNEL1, 0x0800, timeExceeded())), 1],
      [ether(NODE1, NODE2, 0x0800, echoRequest, [{ id: 1 }, { id: 2 }]), 1],
      [arpRequest, 1],
      [sllV1, 113],
      [sllV2, 276],
      [echoRequest, 101],
    ];
    for (const [data, link] of samples)
      for (let len = 0; len <= data.length; len++) {
        const p = decodeFrame(frame(data.subarray(0, len), link));
        expect(p.error).toBeUndefined();
        if (len === data.length) expect(p.truncated).toBeUndefined();
      }
  });

  test('nonsense header lengths are errors, not crashes', () => {
    const badIhl = Buffer.from(echoRequest);
    badIhl[0] = 0x43;
    expect(decodeFrame(frame(badIhl, 101))).toMatchObject({ error: 'bad IPv4 header: version 4, header length 12' });
    expect(decodeFrame(frame(badIhl, 101)).ip).toBeUndefined();
    const badVersion = ether(NODE1, NODE2, 0x0800, echoRequest);
    badVersion[14] = 0x15;
    expect(decodeFrame(frame(badVersion))).toMatchObject({ eth: { type: 0x0800 }, error: 'bad IPv4 header: version 1, header length 20' });
    expect(decodeFrame(frame(badVersion)).ip).toBeUndefined();
    const badOff = Buffer.from(synPacket);
    badOff[20 + 12] = 0x20;
    expect(decodeFrame(frame(badOff, 101))).toMatchObject({ tcp: { dataOffset: 2 }, error: 'bad TCP data offset 2' });
    expect(decodeFrame(frame(Buffer.from([0x60, 0, 0, 0]), 101)).error).toBe('IP version 6 is not decoded');
  });

  test('non-IP EtherTypes: the rest of the frame is payload', () => {
    expect(decodeFrame(frame(ether(NODE1, NODE2, 0x86dd, Buffer.alloc(40))))).toMatchObject({ eth: { type: 0x86dd }, payloadLength: 40 });
    expect(
      decodeFrame(frame(ether(NODE1, NODE2, 0x0800, ipv4({ src: '1.1.1.1', dst: '2.2.2.2', protocol: 47 }, Buffer.alloc(12))))),
    ).toMatchObject({ ip: { protocol: 47 }, payloadLength: 12 });
  });
});

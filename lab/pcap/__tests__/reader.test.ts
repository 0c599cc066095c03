import { PcapError, readCapture } from '../reader';
import { arp, ether, icmpEcho, ipv4, type NgBlock, pcap, pcapng, type RawFrame, sll2 } from './build';

const A = '02:00:00:00:00:0a';
const B = '02:00:00:00:00:0b';
const ping = ether(A, B, 0x0800, ipv4({ src: '10.0.0.1', dst: '10.0.0.2', protocol: 1 }, icmpEcho(8, 7, 1)));
const who = ether(
  A,
  'ff:ff:ff:ff:ff:ff',
  0x0806,
  arp({ op: 1, senderMac: A, senderIp: '10.0.0.1', targetMac: '00:00:00:00:00:00', targetIp: '10.0.0.2' }),
);
const frames: RawFrame[] = [
  { data: ping, sec: 1_700_000_000, nsec: 123_456_000 },
  { data: who, sec: 1_700_000_001, nsec: 999_999_000, origLen: 60 },
];

describe('classic pcap', () => {
  test.each([
    ['LE', 'us'],
    ['BE', 'us'],
    ['LE', 'ns'],
    ['BE', 'ns'],
  ] as const)('%s %s: header, records, times', (order, res) => {
    const cap = readCapture(pcap(frames, { be: order === 'BE', ns: res === 'ns' }), 'x.pcap');
    expect(cap).toMatchObject({ format: 'pcap', byteOrder: order, resolution: res, warnings: [] });
    expect(cap.frames.map(({ data, ...rest }) => ({ ...rest, bytes: data.toString('hex') }))).toEqual([
      {
        index: 1,
        tsSec: 1_700_000_000,
        tsNsec: 123_456_000,
        time: 1_700_000_000.123456,
        capturedLength: ping.length,
        originalLength: ping.length,
        linkType: 1,
        interfaceId: 0,
        bytes: ping.toString('hex'),
      },
      {
        index: 2,
        tsSec: 1_700_000_001,
        tsNsec: 999_999_000,
        time: 1_700_000_001.999999,
        capturedLength: who.length,
        originalLength: 60,
        linkType: 1,
        interfaceId: 0,
        bytes: who.toString('hex'),
      },
    ]);
  });

  test('microsecond and nanosecond files give the same times', () => {
    const us = readCapture(pcap(frames));
    const ns = readCapture(pcap(frames, { ns: true, be: true }));
    expect(ns.frames.map((f) => f.time)).toEqual(us.frames.map((f) => f.time));
    const fine = readCapture(pcap([{ data: ping, sec: 5, nsec: 1 }], { ns: true })).frames[0]!;
    expect([fine.tsSec, fine.tsNsec]).toEqual([5, 1]);
  });

  test('link type comes from the header (low 16 bits; FCS bits above are ignored)', () => {
    const buf = pcap([{ data: sll2({ packetType: 4, address: A, protocol: 0x0800 }, Buffer.alloc(0)) }], { linkType: 276 });
    expect(readCapture(buf).frames[0]!.linkType).toBe(276);
    buf.writeUInt32LE(0x14000001, 20);
    expect(readCapture(buf).frames[0]!.linkType).toBe(1);
  });

  test('bad magic names the file and byte 0', () => {
    const buf = pcap(frames);
    buf.writeUInt32LE(0xdeadbeef, 0);
    expect(() => readCapture(buf, 'bad.pcap')).toThrow(PcapError);
    expect(() => readCapture(buf, 'bad.pcap')).toThrow(/^bad\.pcap: byte 0: bad magic 0xefbeadde/);
  });

  test('truncated file header and too-short file are errors', () => {
    expect(() => readCapture(pcap([]).subarray(0, 20), 'short.pcap')).toThrow(
      /^short\.pcap: byte 0: pcap file header is 20 bytes, 24 needed/,
    );
    expect(() => readCapture(Buffer.from([0xd4, 0xc3]), 'tiny.pcap')).toThrow(/^tiny\.pcap: byte 0: file is 2 bytes/);
  });

  test('an empty capture (header only) has no frames and no warnings', () => {
    expect(readCapture(pcap([]))).toMatchObject({ frames: [], warnings: [] });
  });

  test('a record cut off at the end (tcpdump killed mid-write) keeps the frames before it, with a warning', () => {
    const buf = pcap(frames);
    const cut = readCapture(buf.subarray(0, buf.length - 5), 'cut.pcap');
    expect(cut.frames).toHaveLength(1);
    expect(cut.warnings).toEqual([
      `cut.pcap: byte ${24 + 16 + ping.length}: frame 2 cut off (${who.length - 5} of ${who.length} bytes) at end of file; 1 frames kept`,
    ]);
    const headerCut = readCapture(buf.subarray(0, 24 + 16 + ping.length + 10), 'cut.pcap');
    expect(headerCut.frames).toHaveLength(1);
    expect(headerCut.warnings[0]).toMatch(/record header cut off \(10 of 16 bytes\)/);
  });

  test('a record length beyond any snaplen is corruption, not truncation', () => {
    const buf = pcap(frames);
    buf.writeUInt32LE(0x7fffffff, 24 + 8);
    expect(() => readCapture(buf, 'x.pcap')).toThrow(/^x\.pcap: byte 32: record claims 2147483647 captured bytes/);
  });
});

/** Lengths of the blocks of a little-endian pcapng buffer, in order. */
function blockLengths(buf: Buffer): [number, number, number, ...number[]] {
  const out: number[] = [];
  for (let off = 0; off < buf.length; off += out.at(-1)!) out.push(buf.readUInt32LE(off + 4));
  return out as [number, number, number, ...number[]];
}

describe('pcapng', () => {
  const sll = sll2(
    { packetType: 0, address: B, protocol: 0x0800, ifindex: 7 },
    ipv4({ src: '10.0.0.2', dst: '10.0.0.1', protocol: 1 }, icmpEcho(0, 7, 1)),
  );
  const blocks: NgBlock[] = [
    { kind: 'shb' },
    { kind: 'idb', linkType: 1, snaplen: 262144, name: 'eth0' },
    { kind: 'idb', linkType: 276, snaplen: 262144, name: 'any', tsresol: 9 },
    { kind: 'epb', frame: { data: ping, sec: 1_700_000_000, nsec: 123_456_000 } },
    { kind: 'raw', type: 0x0badcafe, body: Buffer.from('ignore me') },
    { kind: 'epb', frame: { data: sll, sec: 1_700_000_000, nsec: 123_456_789, interfaceId: 1 } },
    { kind: 'raw', type: 5, body: Buffer.alloc(12) }, // interface statistics: skipped quietly
    { kind: 'spb', data: who },
  ];

  test.each([false, true])('multi-interface section (big-endian %s): link types, names, resolutions, SPB', (be) => {
    const cap = readCapture(pcapng([{ kind: 'shb', be }, ...blocks.slice(1)]), 'x.pcapng');
    expect(cap).toMatchObject({ format: 'pcapng', byteOrder: be ? 'BE' : 'LE', resolution: 'us,ns' });
    expect(cap.frames.map(({ data, ...f }) => ({ ...f, len: data.length }))).toEqual([
      {
        index: 1,
        tsSec: 1_700_000_000,
        tsNsec: 123_456_000,
        time: 1_700_000_000.123456,
        capturedLength: ping.length,
        originalLength: ping.length,
        linkType: 1,
        interfaceId: 0,
        interfaceName: 'eth0',
        len: ping.length,
      },
      {
        index: 2,
        tsSec: 1_700_000_000,
        tsNsec: 123_456_789,
        // eslint-disable-next-line no-loss-of-precision -- the nanosecond time as the file holds it; compared with its nearest double
        time: 1_700_000_000.123456789,
        capturedLength: sll.length,
        originalLength: sll.length,
        linkType: 276,
        interfaceId: 1,
        interfaceName: 'any',
        len: sll.length,
      },
      // SPB: no timestamp; captured length is origLen, not the padded block data.
      {
        index: 3,
        tsSec: 0,
        tsNsec: 0,
        time: 0,
        capturedLength: who.length,
        originalLength: who.length,
        linkType: 1,
        interfaceId: 0,
        interfaceName: 'eth0',
        len: who.length,
      },
    ]);
    expect(cap.frames[1]!.data.equals(sll)).toBe(true);
    expect(cap.warnings).toEqual([
      expect.stringMatching(/^x\.pcapng: block at byte \d+: skipped unknown block type 0xbadcafe \(24 bytes\)$/),
    ]);
  });

  test('SPB captured length is cut to the snaplen; padding is not data', () => {
    const cap = readCapture(
      pcapng([
        { kind: 'shb' },
        { kind: 'idb', linkType: 1, snaplen: 20 },
        { kind: 'spb', data: ping.subarray(0, 20), origLen: ping.length },
        { kind: 'spb', data: who.subarray(0, 13) },
      ]),
    );
    expect(cap.frames.map((f) => [f.capturedLength, f.originalLength])).toEqual([
      [20, ping.length],
      [13, 13],
    ]);
  });

  test('power-of-2 resolution and the obsolete packet block', () => {
    const cap = readCapture(
      pcapng([
        { kind: 'shb' },
        { kind: 'idb', linkType: 1, tsresol: 0x80 | 20 },
        { kind: 'pb', frame: { data: ping, sec: 12, nsec: 500_000_000 } },
      ]),
    );
    expect(cap.resolution).toBe('2^-20');
    expect(cap.frames[0]).toMatchObject({ tsSec: 12, tsNsec: 500_000_000, time: 12.5, linkType: 1 });
  });

  test('several sections, each with its own byte order and interfaces; interface ids run across sections', () => {
    const cap = readCapture(
      pcapng([
        { kind: 'shb', be: false },
        { kind: 'idb', linkType: 1, name: 'a' },
        { kind: 'epb', frame: { data: ping, sec: 1 } },
        { kind: 'shb', be: true },
        { kind: 'idb', linkType: 276, name: 'b', tsresol: 9 },
        { kind: 'epb', frame: { data: sll, sec: 2, nsec: 3 } },
      ]),
    );
    expect(cap.byteOrder).toBe('LE');
    expect(cap.frames.map((f) => [f.index, f.interfaceId, f.interfaceName, f.linkType, f.tsSec, f.tsNsec])).toEqual([
      [1, 0, 'a', 1, 1, 0],
      [2, 1, 'b', 276, 2, 3],
    ]);
  });

  test('a block cut off at the end keeps the frames before it, with a warning', () => {
    const buf = pcapng(blocks);
    const cap = readCapture(buf.subarray(0, buf.length - 6), 'cut.pcapng');
    expect(cap.frames).toHaveLength(2);
    expect(cap.warnings.at(-1)).toMatch(
      /^cut\.pcapng: byte \d+: block type 0x3 of \d+ bytes cut off \(\d+ present\) at end of file; 2 frames kept$/,
    );
    const lastBlock = buf.readUInt32LE(buf.length - 4);
    expect(readCapture(buf.subarray(0, buf.length - lastBlock + 7)).warnings.at(-1)).toMatch(/block header cut off \(7 bytes\)/);
  });

  test('inconsistent block lengths are errors with the byte offset', () => {
    const good = pcapng(blocks.slice(0, 4));
    const [shbLen, idbLen, idb2Len] = blockLengths(good);
    const trailer = Buffer.from(good);
    trailer.writeUInt32LE(idbLen + 4, shbLen + idbLen - 4);
    expect(() => readCapture(trailer, 'x.pcapng')).toThrow(
      new PcapError(
        'x.pcapng',
        shbLen + idbLen - 4,
        `block type 0x1 at byte ${shbLen}: trailing length ${idbLen + 4} != leading length ${idbLen}`,
      ),
    );
    const odd = Buffer.from(good);
    odd.writeUInt32LE(13, shbLen + 4);
    expect(() => readCapture(odd, 'x.pcapng')).toThrow(`x.pcapng: byte ${shbLen + 4}: block type 0x1 has length 13`);
    const epb = shbLen + idbLen + idb2Len;
    const capLen = Buffer.from(good);
    capLen.writeUInt32LE(4000, epb + 8 + 12);
    expect(() => readCapture(capLen, 'x.pcapng')).toThrow(`x.pcapng: byte ${epb + 20}: captured length 4000 does not fit`);
  });

  test('bad byte-order magic, a truncated section header, and a packet for an undescribed interface', () => {
    const buf = pcapng(blocks.slice(0, 4));
    const bom = Buffer.from(buf);
    bom.writeUInt32LE(0x12345678, 8);
    expect(() => readCapture(bom, 'x.pcapng')).toThrow(/^x\.pcapng: byte 8: section header byte-order magic/);
    expect(() => readCapture(buf.subarray(0, 10), 'x.pcapng')).toThrow(/^x\.pcapng: byte 0: .*section header truncated/);
    expect(() => readCapture(buf.subarray(0, 20), 'x.pcapng')).toThrow(/^x\.pcapng: byte 0: .*section header truncated/);
    const noIdb = pcapng([{ kind: 'shb' }, { kind: 'idb', linkType: 1 }, { kind: 'epb', frame: { data: ping, interfaceId: 3 } }]);
    expect(() => readCapture(noIdb, 'x.pcapng')).toThrow(/packet names interface 3, but this section describes 1/);
  });
});

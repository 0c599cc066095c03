import { decodeFrame } from '../decode';
import { field, summarize } from '../fields';
import { ether, ipv4, TCP, tcp, udp } from './build';
import { frame, NODE1, NODE2 } from './frames';

// DNS messages written byte by byte from RFC 1035 (header, question, answers with compressed
// names), decoded over UDP and TCP; the live cross-check is tshark.kernel.test.ts.

const be16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
const be32 = (n: number) => Buffer.from([n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]);
const qname = (name: string) =>
  Buffer.concat([...name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])), Buffer.from([0])]);
/** a pointer to offset 12: the question's name */
const PTR_Q = Buffer.from([0xc0, 12]);

function message(o: { id: number; flags: number; q: string; qtype: number; answers?: Buffer[] }): Buffer {
  const answers = o.answers ?? [];
  return Buffer.concat([
    be16(o.id),
    be16(o.flags),
    be16(1),
    be16(answers.length),
    be16(0),
    be16(0),
    qname(o.q),
    be16(o.qtype),
    be16(1),
    ...answers,
  ]);
}
const rr = (name: Buffer, type: number, ttl: number, data: Buffer) =>
  Buffer.concat([name, be16(type), be16(1), be32(ttl), be16(data.length), data]);
const NAME = 'web.default.svc.cluster.local';
const overUdp = (m: Buffer, sport: number, dport: number) =>
  decodeFrame(frame(ether(NODE1, NODE2, 0x0800, ipv4({ src: '10.42.0.65', dst: '10.43.0.10', protocol: 17 }, udp(sport, dport, m)))));

describe('DNS', () => {
  test('a query over UDP: id, flags, the question', () => {
    const p = overUdp(message({ id: 0x1234, flags: 0x0100, q: NAME, qtype: 1 }), 40000, 53);
    expect(p.dns).toEqual({
      id: 0x1234,
      response: false,
      opcode: 0,
      rcode: 0,
      qdcount: 1,
      ancount: 0,
      qname: NAME,
      qtype: 'A',
      answers: [],
    });
    expect(field(p, 'dns.qname')).toBe(NAME);
    expect(summarize(p)).toContain(`DNS id=4660 A ${NAME}?`);
  });

  test('an answer with compressed names: A records, SRV, rcode names and dns.* fields', () => {
    const a = (ip: number[]) => rr(PTR_Q, 1, 5, Buffer.from(ip));
    const p = overUdp(message({ id: 7, flags: 0x8580, q: NAME, qtype: 1, answers: [a([10, 43, 0, 20]), a([10, 43, 0, 21])] }), 53, 40000);
    expect(p.dns!.answers).toEqual([
      { name: NAME, type: 'A', ttl: 5, data: '10.43.0.20' },
      { name: NAME, type: 'A', ttl: 5, data: '10.43.0.21' },
    ]);
    expect([field(p, 'dns.response'), field(p, 'dns.rcode.name'), field(p, 'dns.a')]).toEqual([
      true,
      'NOERROR',
      ['10.43.0.20', '10.43.0.21'],
    ]);
    const srvName = `_http._tcp.${NAME}`;
    const srv = rr(PTR_Q, 33, 30, Buffer.concat([be16(0), be16(0), be16(80), PTR_Q.subarray(0, 1), Buffer.from([12 + 11])]));
    const s = overUdp(message({ id: 8, flags: 0x8400, q: srvName, qtype: 33, answers: [srv] }), 53, 40001);
    // the target points into the question: "web.default..." after "_http._tcp." (11 bytes in)
    expect(s.dns!.answers[0]).toEqual({ name: srvName, type: 'SRV', ttl: 30, data: `0 0 80 ${NAME}` });
    const nx = overUdp(message({ id: 9, flags: 0x8183, q: `x.${NAME}`, qtype: 1 }), 53, 40002);
    expect([nx.dns!.rcode, field(nx, 'dns.rcode.name')]).toEqual([3, 'NXDOMAIN']);
    expect(summarize(nx)).toContain('NXDOMAIN');
  });

  test('over TCP: the two-byte length, then the message', () => {
    const m = message({ id: 11, flags: 0x0100, q: NAME, qtype: 33 });
    const seg = tcp({ srcport: 40000, dstport: 53, seq: 1, ack: 1, flags: TCP.PSH | TCP.ACK }, Buffer.concat([be16(m.length), m]));
    const p = decodeFrame(frame(ether(NODE1, NODE2, 0x0800, ipv4({ src: '10.42.0.65', dst: '10.43.0.10', protocol: 6 }, seg))));
    expect(p.dns).toMatchObject({ id: 11, qname: NAME, qtype: 'SRV' });
  });

  test('a message the snaplen cut is marked, not half-decoded; a pointer loop leaves the header only', () => {
    const data = ether(
      NODE1,
      NODE2,
      0x0800,
      ipv4({ src: '10.42.0.65', dst: '10.43.0.10', protocol: 17 }, udp(40000, 53, message({ id: 1, flags: 0x100, q: NAME, qtype: 1 }))),
    );
    const cut = decodeFrame({ ...frame(data.subarray(0, 60)), originalLength: data.length });
    expect([cut.dns, cut.truncated]).toEqual([undefined, 'dns']);
    const loop = Buffer.concat([be16(2), be16(0x100), be16(1), be16(0), be16(0), be16(0), Buffer.from([0xc0, 12])]);
    const p = overUdp(loop, 40000, 53);
    expect(p.dns).toMatchObject({ id: 2, qdcount: 1, answers: [] });
    expect(p.dns!.qname).toBeUndefined();
  });
});

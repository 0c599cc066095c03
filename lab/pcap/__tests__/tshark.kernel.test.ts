import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeKernel } from '../../testing/kernel';
import { waitFor } from '../../testing/wait';
import type { Layers, Packet, Quoted } from '../decode';
import { readPcapFile } from '../index';
import type { Capture, Frame } from '../reader';
import { ether, icmpEcho, ipv4, pcap, udp, vxlan } from './build';
import { echoRequest, NODE1, NODE2, synPacket } from './frames';

// Real traffic through real namespaces, captured by the real tcpdump and dumpcap, read by our
// reader and decoders and compared field by field, frame by frame, with tshark's dissection.
//
//   A (10.99.0.1) ==veth== B (10.99.0.2, router) ==veth== C (10.96.0.2)
//   A vx0 10.98.0.1 <== VXLAN id 1, UDP 8472 ==> B vx0 10.98.0.2; A routes 10.96.0.0/24 via the overlay
// VLAN-tagged frames are written onto A's veth0 through a packet socket (socat INTERFACE:):
// the kernel here may lack 8021q, and only the capture path matters for them.

const PREFIX = 'kdl.pcaptest';
const A = `${PREFIX}.a`;
const B = `${PREFIX}.b`;
const C = `${PREFIX}.c`;

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(argv: string[], opts: { input?: string | Buffer; check?: boolean } = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = execFile(argv[0]!, argv.slice(1), { timeout: 20000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      if (err && opts.check !== false) reject(new Error(`${argv.join(' ')} exited ${code}: ${stderr.trim()}`));
      else resolve({ code, stdout, stderr });
    });
    // A command that reads no stdin may exit before we write to it: that is not an error.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(opts.input ?? '');
  });
}

const inNs = (ns: string, argv: string[], opts?: { input?: string | Buffer; check?: boolean }) =>
  run(['ip', 'netns', 'exec', ns, ...argv], opts);

async function removeNamespaces(): Promise<void> {
  let names: string[] = [];
  try {
    names = readdirSync('/run/netns').filter((n) => n.startsWith(`${PREFIX}.`));
  } catch {
    /* no namespaces at all */
  }
  for (const n of names) {
    // Leftovers of an interrupted run of this test (tcpdump, socat) hold the namespace.
    const pids = (await run(['ip', 'netns', 'pids', n], { check: false })).stdout.split(/\s+/).filter(Boolean).map(Number);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone already */
      }
    }
    await run(['ip', 'netns', 'del', n]);
  }
}

async function buildTopology(): Promise<void> {
  for (const n of [A, B, C]) {
    await run(['ip', 'netns', 'add', n]);
    // No IPv6: its router solicitations and MLD reports would make the captures vary run to run.
    await inNs(n, [
      'sysctl',
      '-qw',
      'net.ipv6.conf.all.disable_ipv6=1',
      'net.ipv6.conf.default.disable_ipv6=1',
      'net.ipv4.icmp_ratelimit=0',
    ]);
  }
  const ip = (n: string, ...args: string[]) => run(['ip', '-n', n, ...args]);
  await ip(
    A,
    'link',
    'add',
    'veth0',
    'address',
    '02:00:0a:63:00:01',
    'type',
    'veth',
    'peer',
    'name',
    'veth0',
    'address',
    '02:00:0a:63:00:02',
    'netns',
    B,
  );
  await ip(
    B,
    'link',
    'add',
    'veth1',
    'address',
    '02:00:0a:60:00:01',
    'type',
    'veth',
    'peer',
    'name',
    'veth0',
    'address',
    '02:00:0a:60:00:02',
    'netns',
    C,
  );
  for (const [n, addr, peer, mac] of [
    [A, '10.99.0.1', '10.99.0.2', '02:00:0a:62:00:01'],
    [B, '10.99.0.2', '10.99.0.1', '02:00:0a:62:00:02'],
  ] as const) {
    await ip(n, 'addr', 'add', `${addr}/24`, 'dev', 'veth0');
    await ip(
      n,
      'link',
      'add',
      'vx0',
      'address',
      mac,
      'type',
      'vxlan',
      'id',
      '1',
      'dstport',
      '8472',
      'remote',
      peer,
      'local',
      addr,
      'dev',
      'veth0',
    );
    await ip(n, 'addr', 'add', `${addr.replace('10.99.', '10.98.')}/24`, 'dev', 'vx0');
  }
  await ip(B, 'addr', 'add', '10.96.0.1/24', 'dev', 'veth1');
  await ip(C, 'addr', 'add', '10.96.0.2/24', 'dev', 'veth0');
  for (const [n, devs] of [
    [A, ['lo', 'veth0', 'vx0']],
    [B, ['lo', 'veth0', 'veth1', 'vx0']],
    [C, ['lo', 'veth0']],
  ] as const)
    for (const d of devs) await ip(n, 'link', 'set', d, 'up');
  await ip(A, 'route', 'add', '10.96.0.0/24', 'via', '10.98.0.2');
  await ip(C, 'route', 'add', 'default', 'via', '10.96.0.1');
  await inNs(B, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
}

interface Proc {
  child: ChildProcess;
  stdout: string;
  stderr: string;
  exited: Promise<number | null>;
}

/** Starts argv in a namespace and waits until its stderr says it is ready. */
function start(ns: string, argv: string[], ready: RegExp): Promise<Proc> {
  const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  const p: Proc = { child, stdout: '', stderr: '', exited: new Promise((r) => child.on('close', r)) };
  child.stdout.on('data', (b: Buffer) => (p.stdout += b.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${argv.join(' ')} in ${ns} not ready after 5 s: ${p.stderr}`));
    }, 5000);
    child.stderr.on('data', (b: Buffer) => {
      p.stderr += b.toString();
      if (ready.test(p.stderr)) {
        clearTimeout(timer);
        resolve(p);
      }
    });
    void p.exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${argv.join(' ')} in ${ns} exited ${code} before it was ready: ${p.stderr}`));
    });
  });
}

/** SIGINT, as a person stops tcpdump, and wait: it writes what it holds and reports its counts. */
async function stop(p: Proc): Promise<void> {
  p.child.kill('SIGINT');
  const killer = setTimeout(() => p.child.kill('SIGKILL'), 5000);
  await p.exited;
  clearTimeout(killer);
}

interface CaptureRun {
  name: string;
  ns: string;
  argv: (file: string) => string[];
  /** what the file must contain, so the comparison cannot pass on an empty or one-sided file */
  must: string[];
}

// -Z root: tcpdump would otherwise drop to its own user, who cannot write in our 0700 temp dir.
const tcpdump =
  (...args: string[]) =>
  (file: string) => ['tcpdump', '-n', '-U', '--immediate-mode', '-Z', 'root', ...args, '-w', file];

const CAPTURES: CaptureRun[] = [
  {
    name: 'a-veth0.pcap',
    ns: A,
    argv: tcpdump('-i', 'veth0'),
    must: [
      'eth',
      'vlan',
      'arp',
      'inner arp',
      'vxlan',
      'echo',
      'inner echo',
      'inner syn',
      'syn',
      'tcp data',
      'inner time-exceeded',
      'inner quoted udp',
      'inner quoted tcp',
      'inner quoted icmp',
      'unreachable',
      'fragment',
      'dns udp answer',
      'dns tcp srv',
      'dns nxdomain',
    ],
  },
  {
    name: 'a-any.pcap',
    ns: A,
    argv: tcpdump('-i', 'any'),
    must: ['sll2', 'arp', 'vxlan', 'echo', 'syn', 'time-exceeded', 'inner time-exceeded'],
  },
  {
    name: 'b-any-sll1.pcap',
    ns: B,
    argv: tcpdump('-y', 'LINUX_SLL', '-i', 'any'),
    must: ['sll1', 'arp', 'vxlan', 'echo', 'syn', 'time-exceeded', 'fragment'],
  },
  {
    name: 'b-veth0-snap70.pcap',
    ns: B,
    argv: tcpdump('-s', '70', '-i', 'veth0'),
    must: ['eth', 'vxlan', 'cut inner.ip', 'cut tcp', 'unreachable'],
  },
  // dumpcap writes pcapng: two interfaces with different link types, names, ns timestamps.
  {
    name: 'b-dumpcap.pcapng',
    ns: B,
    argv: (file) => ['dumpcap', '-q', '-i', 'veth1', '-i', 'any', '-w', file],
    must: ['eth', 'sll1', 'interface names', 'echo', 'time-exceeded', 'syn'],
  },
];

/** Whether a capture file (as far as it is written) holds the last packet traffic() sends: B's ping reply's last fragment. */
function holdsLastPacket(file: string): boolean {
  try {
    return readPcapFile(file).packets.some((p) => p.ip?.src === '10.99.0.2' && p.ip.protocol === 1 && p.ip.fragOffset > 0 && !p.ip.mf);
  } catch {
    return false; // not written yet, or a record cut short mid-write
  }
}

/** Every kind of packet the lab's scenarios look at, once. */
async function traffic(): Promise<string> {
  // 802.1Q and 802.1ad + 802.1Q tagged pings, raw onto the underlay.
  const echo = ipv4({ src: '10.95.0.1', dst: '10.95.0.2', protocol: 1, id: 1 }, icmpEcho(8, 1, 1));
  for (const tags of [
    [{ id: 100, pcp: 3 }],
    [
      { id: 200, tpid: 0x88a8 },
      { id: 100, dei: 1 },
    ],
  ])
    await inNs(A, ['socat', '-u', 'STDIN', 'INTERFACE:veth0'], {
      input: ether('02:00:0a:63:00:01', '02:00:0a:63:00:02', 0x0800, echo, tags),
    });
  // The overlay; its first packets also ARP, outer and inner.
  await inNs(A, ['ping', '-c', '2', '-i', '0.01', '-W', '2', '10.98.0.2']);
  // TTL 1 through B: time-exceeded quoting ICMP, then UDP and TCP traceroutes (quoting UDP, TCP).
  await inNs(A, ['ping', '-c', '1', '-t', '1', '-W', '1', '10.96.0.2'], { check: false });
  await inNs(A, ['traceroute', '-n', '-m', '3', '-q', '1', '-w', '1', '10.96.0.2']);
  await inNs(A, ['traceroute', '-T', '-p', '40001', '-n', '-m', '3', '-q', '1', '-w', '1', '10.96.0.2']);
  // Connection refused over the overlay: SYN, RST/ACK inside VXLAN.
  await inNs(A, ['socat', '-u', 'STDIN', 'TCP:10.98.0.2:40001'], { check: false });
  // A real TCP exchange with data on the underlay.
  const listener = await start(B, ['socat', '-d', '-d', '-u', 'TCP-LISTEN:40002,reuseaddr', 'STDOUT'], /listening on/);
  await inNs(A, ['socat', '-u', 'STDIN', 'TCP:10.99.0.2:40002'], { input: 'hello over tcp\n' });
  await listener.exited;
  // DNS to a dnsmasq in B: an A answer over UDP, NXDOMAIN and REFUSED, SRV over TCP (its target
  // unknown to the server, so no additional A records: tshark's dns.a lists every section's).
  const dns = await start(
    B,
    [
      'dnsmasq',
      '-k',
      '--conf-file=/dev/null',
      '--no-resolv',
      '--no-hosts',
      '--bind-interfaces',
      '--listen-address=10.99.0.2',
      '--local=/test/',
      '--address=/a.test/10.1.2.3',
      '--srv-host=_x._tcp.a.test,b.test,80',
      '--log-facility=-',
      '--user=root',
      '--pid-file=',
    ],
    /started, version/,
  );
  try {
    await inNs(A, ['dig', '@10.99.0.2', '+tries=1', '+time=2', 'a.test', 'A']);
    await inNs(A, ['dig', '@10.99.0.2', '+tries=1', '+time=2', 'nothere.test', 'A']);
    await inNs(A, ['dig', '@10.99.0.2', '+tries=1', '+time=2', 'example.org', 'A']);
    await inNs(A, ['dig', '@10.99.0.2', '+tcp', '+tries=1', '+time=2', '_x._tcp.a.test', 'SRV']);
  } finally {
    dns.child.kill('SIGTERM');
    await dns.exited;
  }
  // UDP to a closed port (ICMP port unreachable quoting it), and a fragmented ping.
  await inNs(A, ['socat', '-u', 'STDIN', 'UDP:10.99.0.2:40000'], { input: 'hi\n' });
  await inNs(A, ['ping', '-c', '1', '-s', '3000', '-W', '2', '10.99.0.2']);
  return listener.stdout;
}

// ---- comparison with tshark ------------------------------------------------------------------

type View = Layers | Quoted;
/** `quoted`: the view is the header an ICMP error quotes */
type Get = (v: View, quoted: boolean) => unknown;

const vlans = (v: View) => v.eth?.vlan ?? v.sll?.vlan ?? [];
const q = (v: View) => vlans(v).filter((t) => t.tpid !== 0x88a8);
const ad = (v: View) => vlans(v).filter((t) => t.tpid === 0x88a8);
/** The EtherType after each 802.1Q tag: the next tag's TPID or the payload's type (802.1ad tags have none in tshark). */
const vlanEtype = (v: View) =>
  vlans(v).flatMap((t, i, all) => (t.tpid === 0x88a8 ? [] : [all[i + 1]?.tpid ?? v.eth?.type ?? v.sll?.protocol]));

/**
 * tshark field → the same value from our decode. A field may occur several times in a frame
 * (outer, quoted in ICMP, inner in VXLAN): tshark lists them in dissection order, which is the
 * order of `views` below. Where tshark counts differently the getter converts (noted).
 */
const LAYER_FIELDS: [string, Get][] = [
  ['sll.pkttype', (v) => v.sll?.packetType],
  ['sll.hatype', (v) => v.sll?.arphrdType],
  ['sll.src.eth', (v) => (v.sll?.arphrdType === 1 ? v.sll.address : undefined)],
  // tshark: the protocol field as on the wire (a TPID when tagged); ours is the payload's type.
  ['sll.etype', (v) => v.sll && (v.sll.vlan?.[0]?.tpid ?? v.sll.protocol)],
  ['sll.ifindex', (v) => v.sll?.ifindex],
  ['eth.src', (v) => v.eth?.src],
  ['eth.dst', (v) => v.eth?.dst],
  ['eth.type', (v) => v.eth && (v.eth.vlan?.[0]?.tpid ?? v.eth.type)],
  // tshark names 802.1Q tags vlan.*, 802.1ad (0x88a8) tags ieee8021ad.*
  ['vlan.id', (v) => q(v).map((t) => t.id)],
  ['vlan.priority', (v) => q(v).map((t) => t.pcp)],
  ['vlan.dei', (v) => q(v).map((t) => t.dei)],
  ['vlan.etype', vlanEtype],
  ['ieee8021ad.id', (v) => ad(v).map((t) => t.id)],
  ['ieee8021ad.priority', (v) => ad(v).map((t) => t.pcp)],
  ['ieee8021ad.dei', (v) => ad(v).map((t) => t.dei)],
  ['arp.opcode', (v) => v.arp?.op],
  ['arp.src.hw_mac', (v) => v.arp?.senderMac],
  ['arp.src.proto_ipv4', (v) => v.arp?.senderIp],
  ['arp.dst.hw_mac', (v) => v.arp?.targetMac],
  ['arp.dst.proto_ipv4', (v) => v.arp?.targetIp],
  ['ip.version', (v) => v.ip?.version],
  ['ip.hdr_len', (v) => v.ip?.headerLength],
  ['ip.dsfield', (v) => v.ip?.tos],
  ['ip.len', (v) => v.ip?.totalLength],
  ['ip.id', (v) => v.ip?.id],
  ['ip.flags', (v) => v.ip?.flags],
  ['ip.flags.df', (v) => v.ip?.df],
  ['ip.flags.mf', (v) => v.ip?.mf],
  // tshark 4.0: the wire value, in units of 8 bytes; ours is in bytes
  ['ip.frag_offset', (v) => v.ip && v.ip.fragOffset / 8],
  ['ip.ttl', (v) => v.ip?.ttl],
  ['ip.proto', (v) => v.ip?.protocol],
  ['ip.checksum', (v) => v.ip?.checksum],
  ['ip.src', (v) => v.ip?.src],
  ['ip.dst', (v) => v.ip?.dst],
  ['icmp.type', (v) => v.icmp?.type],
  ['icmp.code', (v) => v.icmp?.code],
  ['icmp.checksum', (v) => v.icmp?.checksum],
  ['icmp.ident', (v) => v.icmp?.id],
  ['icmp.seq', (v) => v.icmp?.seq],
  ['udp.srcport', (v) => v.udp?.srcport],
  ['udp.dstport', (v) => v.udp?.dstport],
  ['udp.length', (v) => v.udp?.length],
  ['udp.checksum', (v) => v.udp?.checksum],
  ['tcp.srcport', (v) => v.tcp?.srcport],
  ['tcp.dstport', (v) => v.tcp?.dstport],
  // With relative sequence numbers off, tcp.seq/ack are the wire values. For a TCP header
  // quoted in an ICMP error tshark gives tcp.seq but no tcp.seq_raw and no tcp.len.
  ['tcp.seq', (v) => v.tcp?.seq],
  ['tcp.seq_raw', (v, quoted) => (quoted ? undefined : v.tcp?.seq)],
  ['tcp.ack', (v) => v.tcp?.ack],
  ['tcp.ack_raw', (v) => v.tcp?.ack],
  ['tcp.hdr_len', (v) => v.tcp?.headerLength],
  ['tcp.flags', (v) => v.tcp?.flags],
  ['tcp.len', (v, quoted) => (quoted ? undefined : v.tcp && v.payloadLength)],
  ['tcp.window_size_value', (v) => v.tcp?.window],
  ['tcp.checksum', (v) => v.tcp?.checksum],
  ['vxlan.flags', (v) => v.vxlan?.flags],
  ['vxlan.vni', (v) => v.vxlan?.vni],
  // DNS: the header, the first question, the answer section (tshark's dns.qry.type is the number;
  // it shows no rcode in a query's flags)
  ['dns.id', (v) => v.dns?.id],
  ['dns.flags.response', (v) => v.dns?.response],
  ['dns.flags.opcode', (v) => v.dns?.opcode],
  ['dns.flags.rcode', (v) => (v.dns?.response ? v.dns.rcode : undefined)],
  ['dns.count.queries', (v) => v.dns?.qdcount],
  ['dns.count.answers', (v) => v.dns?.ancount],
  ['dns.qry.name', (v) => v.dns?.qname],
  ['dns.qry.type', (v) => v.dns?.qtype && DNS_TYPE_CODES[v.dns.qtype]],
  ['dns.a', (v) => v.dns?.answers.filter((a) => a.type === 'A').map((a) => a.data)],
  ['dns.srv.port', (v) => v.dns?.answers.filter((a) => a.type === 'SRV').map((a) => Number(a.data.split(' ')[2]))],
  ['dns.srv.target', (v) => v.dns?.answers.filter((a) => a.type === 'SRV').map((a) => a.data.split(' ')[3])],
  // tshark's "data" is the undissected rest: our payload length, except that the payload of a
  // VXLAN packet is the inner frame, that of IP-in-IP the inner packet, that of an ICMP error its
  // quote and DNS its message (all dissected).
  ['data.len', (v) => (v.vxlan || v.ipip || v.icmp?.quoted || v.dns || !v.payloadLength ? undefined : v.payloadLength)],
];

const DNS_TYPE_CODES: Record<string, number> = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33 };

const FRAME_FIELDS = ['frame.number', 'frame.len', 'frame.cap_len', 'frame.time_epoch', 'frame.interface_id', 'frame.interface_name'];
const TSHARK_FIELDS = [...FRAME_FIELDS, ...LAYER_FIELDS.map(([f]) => f), '_ws.malformed'];

/** Outer, its ICMP quote, inner, the inner's ICMP quote: tshark's dissection order. */
function views(p: Packet): [View, boolean][] {
  const out: [View, boolean][] = [[p, false]];
  if (p.icmp?.quoted) out.push([p.icmp.quoted, true]);
  if (p.inner) out.push([p.inner, false], ...(p.inner.icmp?.quoted ? [[p.inner.icmp.quoted, true] as [View, boolean]] : []));
  return out;
}

/** Both sides as tshark prints them, normalised: hex and decimal to numbers, booleans to 0/1. */
function norm(v: unknown): string | number {
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number') return v;
  const s = String(v);
  if (/^0x[0-9a-f]+$/i.test(s)) return parseInt(s, 16);
  if (/^\d+$/.test(s)) return Number(s);
  if (s === 'True' || s === 'False') return s === 'True' ? 1 : 0;
  return s.toLowerCase();
}

function ours(p: Packet, f: Frame, cap: Capture): Record<string, (string | number)[]> {
  const out: Record<string, (string | number)[]> = {
    'frame.number': [p.index],
    'frame.len': [p.originalLength],
    'frame.cap_len': [p.capturedLength],
    'frame.time_epoch': [`${f.tsSec}.${String(f.tsNsec).padStart(9, '0')}`],
    // pcap has no interfaces for tshark; a pcapng interface without a name is 'unknown' to it
    'frame.interface_id': cap.format === 'pcapng' ? [f.interfaceId] : [],
    'frame.interface_name': cap.format === 'pcapng' ? [f.interfaceName ?? 'unknown'] : [],
  };
  for (const [name, get] of LAYER_FIELDS)
    out[name] = views(p)
      .flatMap(([v, quoted]) => [get(v, quoted)].flat().filter((x) => x !== undefined))
      .map(norm);
  return out;
}

/** Runs tshark and returns, per frame, every field's occurrences. */
async function tshark(file: string): Promise<Record<string, (string | number)[]>[]> {
  const argv = [
    'tshark',
    '-r',
    file,
    '-n',
    '-o',
    'ip.defragment:FALSE',
    '-o',
    'tcp.relative_sequence_numbers:FALSE',
    '-d',
    'udp.port==8472,vxlan',
    '-T',
    'fields',
    '-E',
    'separator=/t',
    '-E',
    'occurrence=a',
    '-E',
    'aggregator=|',
  ];
  const { stdout } = await run([...argv, ...TSHARK_FIELDS.flatMap((f) => ['-e', f])]);
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const cols = line.split('\t');
      return Object.fromEntries(TSHARK_FIELDS.map((f, i) => [f, (cols[i] ?? '').split('|').filter(Boolean).map(norm)]));
    });
}

/** What a capture holds, for the coverage assertions. */
function kinds(p: Packet, cap: Capture): string[] {
  const k: string[] = [];
  const add = (cond: unknown, name: string) => cond && k.push(name);
  const levels: [string, Layers | undefined][] = [
    ['', p],
    ['inner ', p.inner],
  ];
  for (const [pre, l] of levels) {
    if (!l) continue;
    add(l.arp, `${pre}arp`);
    add(l.icmp?.type === 8, `${pre}echo`);
    add(l.tcp?.flagNames.join() === 'SYN', `${pre}syn`);
    add(l.tcp && l.payloadLength, `${pre}tcp data`);
    add(l.icmp?.type === 11 && l.icmp.quoted?.ip, `${pre}time-exceeded`);
    add(l.icmp?.type === 3 && l.icmp.quoted?.udp, `${pre}unreachable`);
    for (const q of ['udp', 'tcp', 'icmp'] as const) add(l.icmp?.quoted?.[q], `${pre}quoted ${q}`);
    add(l.ip && (l.ip.fragOffset || l.ip.mf), `${pre}fragment`);
    add(l.udp && l.dns?.answers.some((a) => a.type === 'A'), `${pre}dns udp answer`);
    add(l.tcp && l.dns?.answers.some((a) => a.type === 'SRV'), `${pre}dns tcp srv`);
    add(l.dns?.rcode === 3, `${pre}dns nxdomain`);
  }
  add(p.eth, 'eth');
  add(p.eth?.vlan, 'vlan');
  add(p.vxlan, 'vxlan');
  add(p.vxlan?.vni === 4096 && p.udp?.dstport === 4789, 'calico vxlan');
  add(p.ipip, 'ipip');
  add(p.sll?.version === 1, 'sll1');
  add(p.sll?.version === 2, 'sll2');
  add(p.truncated, `cut ${p.truncated}`);
  add(cap.format === 'pcapng' && p.interfaceName, 'interface names');
  return k;
}

const CALICO_ENCAP = 'calico-encap.pcap';

/** node1 → node2 as Calico's tunnels carry a pod's packets: IP-in-IP (protocol 4) and VXLAN on 4789. */
function calicoEncapCapture(): Buffer {
  const outer = (protocol: number, id: number, payload: Buffer) =>
    ether(NODE1, NODE2, 0x0800, ipv4({ src: '192.168.205.4', dst: '192.168.205.3', protocol, ttl: 64, id, df: true }, payload));
  const vxlanMac = (n: number) => `66:00:00:00:00:0${n}`;
  return pcap([
    { data: outer(4, 1, echoRequest), sec: 1, nsec: 1000 },
    { data: outer(4, 2, synPacket), sec: 1, nsec: 2000 },
    { data: outer(17, 3, udp(51234, 4789, vxlan(4096, ether(vxlanMac(1), vxlanMac(2), 0x0800, echoRequest)))), sec: 1, nsec: 3000 },
  ]);
}

describeKernel('pcap reader and decoders against tcpdump, dumpcap, editcap and tshark', () => {
  let dir = '';
  const counts = new Map<string, number>();
  let received = '';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kdl-pcaptest-'));
    await removeNamespaces();
    await buildTopology();
    const procs = await Promise.all(
      CAPTURES.map((c) => start(c.ns, c.argv(join(dir, c.name)), c.name.endsWith('.pcapng') ? /^File: /m : /listening on/)),
    );
    try {
      received = await traffic();
      // The last replies may still be on their way to the capture sockets, and dumpcap (no
      // immediate mode) gets packets when libpcap's 250 ms ring-block timer hands them over:
      // wait until every file holds the last packet sent, the fragmented ping reply's tail.
      await waitFor(() => CAPTURES.every((c) => holdsLastPacket(join(dir, c.name))), {
        timeoutMs: 10000,
        what: "every capture to hold the fragmented ping reply's last fragment",
      });
    } finally {
      await Promise.all(procs.map(stop));
    }
    CAPTURES.forEach((c, i) => {
      const m = /(\d+) packets captured|Packets captured: (\d+)/.exec(procs[i]!.stderr);
      if (m) counts.set(c.name, Number(m[1] ?? m[2]));
    });
    await run(['editcap', '-F', 'pcapng', join(dir, 'a-veth0.pcap'), join(dir, 'a-veth0.editcap.pcapng')]);
    await run(['editcap', '-F', 'nsecpcap', join(dir, 'a-veth0.pcap'), join(dir, 'a-veth0.editcap-ns.pcap')]);
    // Calico's encapsulations, written byte by byte (this kernel has no ipip module to make them):
    // IP-in-IP as tunl0 sends it (an ICMP echo, a TCP SYN), and vxlan.calico's UDP 4789 VNI 4096
    writeFileSync(join(dir, CALICO_ENCAP), calicoEncapCapture());
  });

  afterAll(async () => {
    await removeNamespaces();
    // KEEP_PCAPTEST=1 keeps the captures to look at
    if (process.env.KEEP_PCAPTEST) console.log(`captures kept in ${dir}`);
    else if (dir) rmSync(dir, { recursive: true, force: true });
    expect(readdirSync('/run/netns').filter((n) => n.startsWith(PREFIX))).toEqual([]);
  });

  test('the traffic went through (TCP data arrived)', () => {
    expect(received).toBe('hello over tcp\n');
  });

  test('every frame the capture tools say they wrote is read, without warnings', () => {
    for (const c of CAPTURES) {
      const { capture } = readPcapFile(join(dir, c.name));
      expect({ file: c.name, frames: capture.frames.length, warnings: capture.warnings }).toEqual({
        file: c.name,
        frames: counts.get(c.name),
        warnings: [],
      });
      expect(capture.frames.length).toBeGreaterThan(0);
    }
    const ng = readPcapFile(join(dir, 'b-dumpcap.pcapng')).capture;
    expect(ng).toMatchObject({ format: 'pcapng', resolution: 'ns' });
    expect(new Set(ng.frames.map((f) => `${f.interfaceName}:${f.linkType}`))).toEqual(new Set(['veth1:1', 'any:113']));
  });

  test('editcap to pcapng and to nanosecond pcap: the same packets', () => {
    const strip = (ps: Packet[]) => ps.map(({ interfaceName: _n, interfaceId: _i, ...p }) => p);
    const base = readPcapFile(join(dir, 'a-veth0.pcap'));
    const ng = readPcapFile(join(dir, 'a-veth0.editcap.pcapng'));
    const ns = readPcapFile(join(dir, 'a-veth0.editcap-ns.pcap'));
    expect([ng.capture.format, ng.capture.resolution, ns.capture.format, ns.capture.resolution]).toEqual(['pcapng', 'us', 'pcap', 'ns']);
    expect(strip(ng.packets)).toEqual(strip(base.packets));
    expect(strip(ns.packets)).toEqual(strip(base.packets));
    expect(base.packets.length).toBeGreaterThan(20);
  });

  const FILES = [
    ...CAPTURES.map((c) => [c.name, c.must] as const),
    ['a-veth0.editcap.pcapng', ['vxlan', 'inner time-exceeded']] as const,
    ['a-veth0.editcap-ns.pcap', ['vxlan', 'syn']] as const,
    [CALICO_ENCAP, ['ipip', 'inner echo', 'inner syn', 'vxlan', 'calico vxlan']] as const,
  ];

  test.each(FILES)('%s: every field of every frame agrees with tshark', async (name, must) => {
    const file = join(dir, name);
    const { capture, packets } = readPcapFile(file);
    const theirs = await tshark(file);
    expect(theirs.length).toBe(packets.length);
    const mismatches: string[] = [];
    let compared = 0;
    let cut = 0;
    packets.forEach((p, i) => {
      const mine = ours(p, capture.frames[i]!, capture);
      const t = theirs[i]!;
      expect(t['_ws.malformed']).toEqual([]);
      // tshark takes a timestamp out of ping's data first, and shows no data cut by the snaplen;
      // our payload length counts both.
      const skip =
        views(p).some(([v]) => v.icmp?.type === 0 || v.icmp?.type === 8) || p.capturedLength < p.originalLength ? ['data.len'] : [];
      // Where a header is cut (or garbled), tshark still shows the fields that fit before the
      // cut; we give none of that header. So there ours must be a prefix of tshark's.
      const partial = p.truncated !== undefined || p.error !== undefined;
      if (partial) cut++;
      for (const f of TSHARK_FIELDS) {
        if (f === '_ws.malformed' || skip.includes(f)) continue;
        const a = JSON.stringify(mine[f]);
        const b = JSON.stringify(partial ? t[f]!.slice(0, mine[f]!.length) : t[f]);
        compared += mine[f]!.length;
        if (a !== b) mismatches.push(`#${p.index} ${f}: tshark ${JSON.stringify(t[f])}, ours ${a}`);
      }
    });
    expect(mismatches).toEqual([]);
    expect(compared).toBeGreaterThan(packets.length * 10);
    // the prefix rule is for the odd frame, except in the snaplen capture
    if (!name.includes('snap')) expect(cut).toBeLessThanOrEqual(2);
    const seen = new Set(packets.flatMap((p) => kinds(p, capture)));
    expect(must.filter((k) => !seen.has(k))).toEqual([]);
  });
});

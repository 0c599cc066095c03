import { existsSync, mkdtempSync, readdirSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { birdDir, startBird, stopBird, waitConverged } from '../../ops/bgp';
import { bgpNode, birdRoutes } from '../../status/bgp';
import { down } from '../../ops/down';
import { up } from '../../ops/up';
import { readPcapFile } from '../../pcap';
import { startCapture } from '../../probe/capture';
import { connect } from '../../probe/connect';
import { parsePing } from '../../probe/ping';
import { parseTraceroute } from '../../probe/traceroute';
import { describeKernel, nsRun, rt, topologyFile } from '../../testing/kernel';
import { uniqueLabName } from '../../testing/names';
import { loadTopology } from '../../topology/resolve';
import { meshProtocolName } from '../cni/bird';

// Calico's bgp mode on the real kernel (scenarios/topologies/calico.yaml): what ping, traceroute,
// tcpdump, `ip route` and birdc report. client 10.42.0.0 and web-1 10.42.0.1 on node1
// (192.168.205.4), web-2 10.42.0.64 on node2 (.3), web-3 10.42.0.128 on node3 (.5).

const LAB = uniqueLabName('t-calico');
const topo = loadTopology(topologyFile('calico.yaml'), { name: LAB });
const ns = (...parts: string[]) => ['kdl', LAB, ...parts].join('.');
const CLIENT = ns('node1', 'client');

const ping = async (from: string, dst: string, check = true) =>
  parsePing(await nsRun(from, ['ping', '-c', '3', '-i', '0.2', '-W', '1', dst], check));
const hops = async (from: string, dst: string) =>
  parseTraceroute(await nsRun(from, ['traceroute', '-n', '-q', '1', '-w', '2', '-m', '6', dst])).map((h) => h.address ?? '*');
const routes = async (node: string): Promise<{ dst: string; gateway?: string; dev?: string; protocol?: string; type?: string }[]> =>
  JSON.parse(await nsRun(ns(node), ['ip', '-j', 'route', 'show'])) as { dst: string }[];

/** pids of the `bird` processes whose network namespace is `netns` (read from /proc, as down finds them) */
const birdPids = (netns: string): Promise<number[]> => {
  const want = `net:[${statSync(`/run/netns/${netns}`).ino}]`;
  const pids: number[] = [];
  for (const e of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      if (readlinkSync(`/proc/${e}/exe`).endsWith('/bird') && readlinkSync(`/proc/${e}/ns/net`) === want) pids.push(Number(e));
    } catch {
      /* exited meanwhile, or not ours to read */
    }
  }
  return Promise.resolve(pids);
};
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describeKernel('Calico bgp mode: pure L3, routes learned by BIRD', () => {
  beforeAll(async () => {
    await up(topo, rt);
  }, 60_000);
  afterAll(async () => {
    await down(rt, LAB);
  });

  test('same node: 2 hops (the node, the pod), no bridge in between', async () => {
    expect(await hops(CLIENT, '10.42.0.1')).toEqual(['192.168.205.4', '10.42.0.1']);
    const links = JSON.parse(await nsRun(ns('node1'), ['ip', '-j', '-d', 'link', 'show'])) as {
      ifname: string;
      linkinfo?: { info_kind?: string };
    }[];
    expect(links.filter((l) => l.linkinfo?.info_kind === 'bridge')).toEqual([]);
    expect(links.map((l) => l.ifname)).toEqual(expect.arrayContaining(['calia7a3e029a7b', 'cali0761ccbeace']));
  });

  test("ARP for 169.254.1.1, captured on the pod's eth0, is answered with the cali veth's MAC (proxy ARP)", async () => {
    await nsRun(CLIENT, ['ip', 'neigh', 'flush', 'dev', 'eth0']);
    const dir = mkdtempSync(join(tmpdir(), 'kdl-calico-arp-'));
    try {
      const cap = await startCapture(rt, { ns: CLIENT, iface: 'eth0', filter: 'arp', file: join(dir, 'arp.pcap'), count: 2 });
      expect((await ping(CLIENT, '10.42.0.1')).received).toBe(3);
      await cap.stop();
      const arps = readPcapFile(join(dir, 'arp.pcap')).packets.map((p) => p.arp!);
      const [cali] = JSON.parse(await nsRun(ns('node1'), ['ip', '-j', 'link', 'show', 'calia7a3e029a7b'])) as { address: string }[];
      expect(cali!.address).toBe('ee:ee:ee:ee:ee:ee');
      expect(arps).toContainEqual(expect.objectContaining({ op: 1, senderIp: '10.42.0.0', targetIp: '169.254.1.1' }));
      expect(arps).toContainEqual(
        expect.objectContaining({ op: 2, senderIp: '169.254.1.1', senderMac: cali!.address, targetIp: '10.42.0.0' }),
      );
      const sysctl = await nsRun(ns('node1'), ['sysctl', '-n', 'net.ipv4.conf.calia7a3e029a7b.proxy_arp']);
      expect(sysctl.trim()).toBe('1');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('across nodes: TTL 62, hops [source node, destination node, pod]', async () => {
    const p = await ping(CLIENT, '10.42.0.64');
    expect(p.replies.map((r) => r.ttl)).toEqual([62, 62, 62]);
    expect(await hops(CLIENT, '10.42.0.64')).toEqual(['192.168.205.4', '192.168.205.3', '10.42.0.64']);
    expect(await hops(CLIENT, '10.42.0.128')).toEqual(['192.168.205.4', '192.168.205.5', '10.42.0.128']);
  });

  test("the remote blocks' routes carry proto bird, the own block is a proto bird blackhole, sessions are Established", async () => {
    const r = await routes('node1');
    expect(r).toContainEqual(expect.objectContaining({ dst: '10.42.0.64/26', gateway: '192.168.205.3', dev: 'eth0', protocol: 'bird' }));
    expect(r).toContainEqual(expect.objectContaining({ dst: '10.42.0.128/26', gateway: '192.168.205.5', protocol: 'bird' }));
    expect(r).toContainEqual(expect.objectContaining({ type: 'blackhole', dst: '10.42.0.0/26', protocol: 'bird' }));
    // as `lab status` shows them: every session Established, one block received from each peer
    const { running, sessions } = await bgpNode(rt, topo, 'node1');
    expect(running).toBe(true);
    expect(sessions).toEqual([
      {
        peer: 'node2',
        address: '192.168.205.3',
        protocol: meshProtocolName('192.168.205.3'),
        state: 'up',
        info: 'Established',
        received: 1,
      },
      {
        peer: 'node3',
        address: '192.168.205.5',
        protocol: meshProtocolName('192.168.205.5'),
        state: 'up',
        info: 'Established',
        received: 1,
      },
    ]);
  });

  test("stopping node2's BIRD withdraws its block on the others and its pods become unreachable; restarting restores both", async () => {
    await stopBird(rt, topo, 'node2');
    // the others' BIRDs see the session close and take node2's block out of their kernels
    await waitConverged(rt, topo, ['node2']);
    for (const node of ['node1', 'node3']) expect((await birdRoutes(rt, topo, node)).has('10.42.0.64/26')).toBe(false);
    expect((await routes('node1')).some((x) => x.dst === '10.42.0.64/26')).toBe(false);
    // no route: node1 sends it to its default gateway, the lab's namespace, which drops it
    expect((await ping(CLIENT, '10.42.0.64', false)).received).toBe(0);
    expect((await ping(CLIENT, '10.42.0.128')).received).toBe(3);

    await startBird(rt, topo, ['node2']);
    expect((await routes('node1')).some((x) => x.dst === '10.42.0.64/26' && x.protocol === 'bird')).toBe(true);
    expect((await ping(CLIENT, '10.42.0.64')).received).toBe(3);
  }, 60_000);

  test('a BIRD that crashes (SIGKILL, no Cease) has its routes withdrawn too: no graceful restart keeps them stale', async () => {
    const [pid] = await birdPids(ns('node3'));
    expect(pid).toBeDefined();
    process.kill(pid!, 'SIGKILL');
    await waitConverged(rt, topo, ['node3']);
    expect((await routes('node1')).some((x) => x.dst === '10.42.0.128/26')).toBe(false);
    await startBird(rt, topo, ['node3']);
    expect((await ping(CLIENT, '10.42.0.128')).received).toBe(3);
  }, 60_000);

  test("down stops every node's BIRD (found by namespace) and removes its files", async () => {
    const pids = (await Promise.all(['node1', 'node2', 'node3'].map((n) => birdPids(ns(n))))).flat();
    expect(pids).toHaveLength(3);
    expect(existsSync(birdDir(LAB))).toBe(true);
    await down(rt, LAB);
    expect(pids.filter(alive)).toEqual([]);
    expect(existsSync(birdDir(LAB))).toBe(false);
  });
});

// kube-proxy unchanged on top of Calico, in both rule modes the project runs on this kernel.
describe.each(['iptables', 'nftables'])('services on a Calico bgp lab, kube-proxy %s mode', (mode) => {
  const SVC_LAB = uniqueLabName(`t-calsv-${mode.slice(0, 3)}`);
  const svcTopo = loadTopology(topologyFile('calico.yaml'), { name: SVC_LAB, proxyMode: mode });
  const at = (...parts: string[]) => ['kdl', SVC_LAB, ...parts].join('.');

  describeKernel(`${mode}`, () => {
    beforeAll(async () => {
      await up(svcTopo, rt);
    }, 60_000);
    afterAll(async () => {
      await down(rt, SVC_LAB);
    });

    test('pod → ClusterIP reaches the endpoints on all three nodes, the source kept', async () => {
      const r = await connect(rt, at('node1', 'client'), '10.43.0.20', 80, { count: 30 });
      expect(r.failed).toBe(0);
      expect(Object.keys(r.byPod).sort()).toEqual(['web-1', 'web-2', 'web-3']);
      expect(new Set(r.attempts.map((x) => x.peer?.split(':')[0]))).toEqual(new Set(['10.42.0.0']));
    });

    test('an endpoint reaches its own service and lands on itself too: routed back out of its cali veth, no hairpin', async () => {
      const r = await connect(rt, at('node1', 'web-1'), '10.43.0.20', 80, { count: 30 });
      expect(r.failed).toBe(0);
      expect(r.byPod['web-1']).toBeGreaterThan(0);
    });

    test('NodePort: a pod on node2 connects to node1:30080 and is served', async () => {
      const r = await connect(rt, at('node2', 'web-2'), '192.168.205.4', 30080, { count: 15 });
      expect(r.failed).toBe(0);
      expect(Object.keys(r.byPod).length).toBeGreaterThan(0);
    });
  });
});

// Calico's vxlan mode over two routed segments (fixtures/calico-vxlan.yaml): node1 192.168.205.2
// with blocks 10.42.0.20/30 and 10.42.0.4/30 (a1 10.42.0.22, a3 10.42.0.4), node2 192.168.206.2
// with 10.42.0.0/30 (b1 10.42.0.1).
const VX_LAB = uniqueLabName('t-calvx');
const vxTopo = loadTopology(join(__dirname, 'fixtures', 'calico-vxlan.yaml'), { name: VX_LAB });
const vxNs = (...parts: string[]) => ['kdl', VX_LAB, ...parts].join('.');

describeKernel('Calico vxlan mode: vxlan.calico between routed segments', () => {
  beforeAll(async () => {
    await up(vxTopo, rt);
  }, 60_000);
  afterAll(async () => {
    await down(rt, VX_LAB);
  });

  test("the underlay carries UDP 4789 with VNI 4096 and the pods' own addresses inside; TTL 62 to both of node1's blocks", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kdl-calico-vx-'));
    try {
      const cap = await startCapture(rt, { ns: vxNs('node2'), iface: 'eth0', filter: 'udp port 4789', file: join(dir, 'vx.pcap') });
      const toA1 = await ping(vxNs('node2', 'b1'), '10.42.0.22');
      const toA3 = await ping(vxNs('node2', 'b1'), '10.42.0.4');
      await cap.stop();
      expect(toA1.replies.map((r) => r.ttl)).toEqual([62, 62, 62]);
      expect(toA3.replies.map((r) => r.ttl)).toEqual([62, 62, 62]);
      const packets = readPcapFile(join(dir, 'vx.pcap')).packets;
      expect(packets.length).toBeGreaterThanOrEqual(12);
      for (const p of packets) {
        expect(p.udp?.dstport).toBe(4789);
        expect(p.vxlan?.vni).toBe(4096);
      }
      expect(packets.map((p) => `${p.ip!.src}>${p.ip!.dst} ${p.inner?.ip?.src}>${p.inner?.ip?.dst}`)).toEqual(
        expect.arrayContaining(['192.168.206.2>192.168.205.2 10.42.0.1>10.42.0.22', '192.168.205.2>192.168.206.2 10.42.0.4>10.42.0.1']),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('routes via the remote tunnel address dev vxlan.calico onlink, a blackhole for each own block, no BIRD', async () => {
    const r = await JSON.parse(await nsRun(vxNs('node2'), ['ip', '-j', 'route', 'show']));
    for (const block of ['10.42.0.20/30', '10.42.0.4/30'])
      expect(r).toContainEqual(expect.objectContaining({ dst: block, gateway: '10.42.0.21', dev: 'vxlan.calico', flags: ['onlink'] }));
    expect(r).toContainEqual(expect.objectContaining({ type: 'blackhole', dst: '10.42.0.0/30' }));
    const [link] = JSON.parse(await nsRun(vxNs('node2'), ['ip', '-j', '-d', 'link', 'show', 'vxlan.calico']));
    expect(link.linkinfo.info_data).toMatchObject({ id: 4096, port: 4789, local: '192.168.206.2', learning: false });
    expect(await nsRun(vxNs('node2'), ['sh', '-c', 'ss -ltn | grep -c ":179 " || true'])).toBe('0\n');
  });
});

// CrossSubnet (fixtures/calico-cross-subnet.yaml): a on node1 (10.42.0.1) and b on node2
// (10.42.0.65) share 192.168.205.0/24; c on node3 (10.42.0.129) is on 192.168.206.0/24.
const CX_LAB = uniqueLabName('t-calcx');
const cxTopo = loadTopology(join(__dirname, 'fixtures', 'calico-cross-subnet.yaml'), { name: CX_LAB });
const cxNs = (...parts: string[]) => ['kdl', CX_LAB, ...parts].join('.');

describeKernel('Calico vxlan CrossSubnet: direct on one segment, encapsulated across', () => {
  beforeAll(async () => {
    await up(cxTopo, rt);
  }, 60_000);
  afterAll(async () => {
    await down(rt, CX_LAB);
  });

  test("one capture on node1's eth0 shows the pods' own ICMP to node2 and UDP 4789 (VNI 4096) to node3", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kdl-calico-cx-'));
    try {
      const file = join(dir, 'cx.pcap');
      const cap = await startCapture(rt, { ns: cxNs('node1'), iface: 'eth0', filter: 'icmp or udp port 4789', file });
      expect((await ping(cxNs('node1', 'a'), '10.42.0.65')).received).toBe(3);
      expect((await ping(cxNs('node1', 'a'), '10.42.0.129')).received).toBe(3);
      await cap.stop();
      const seen = readPcapFile(file).packets.map((p) =>
        p.vxlan ? `vxlan ${p.vxlan.vni} ${p.inner?.ip?.src}>${p.inner?.ip?.dst}` : `direct ${p.ip?.src}>${p.ip?.dst}`,
      );
      expect(new Set(seen)).toEqual(
        new Set([
          'direct 10.42.0.1>10.42.0.65',
          'direct 10.42.0.65>10.42.0.1',
          'vxlan 4096 10.42.0.1>10.42.0.129',
          'vxlan 4096 10.42.0.129>10.42.0.1',
        ]),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

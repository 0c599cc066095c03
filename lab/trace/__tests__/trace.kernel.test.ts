import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readPcapFile } from '../../pcap';
import { cli, describeKernel, labNamespaces, nsRun, withLab } from '../../testing/kernel';
import { uniqueLabName } from '../../testing/names';
import type { Walk } from '../types';

// `lab trace` for real: one probe, tcpdump at every point on the way, nft monitor trace in every
// node, the observed walk against the computed one. A DROP put in the way must make it fail.

const LAB = uniqueLabName('trk');
const walkOf = (stdout: string) => JSON.parse(stdout) as Walk;

describeKernel('lab trace', () => {
  withLab(LAB);
  let results: string;
  beforeAll(() => (results = mkdtempSync(join(tmpdir(), 'kdl-trace-'))));
  afterAll(() => rmSync(results, { recursive: true, force: true }));
  const trace = (...args: string[]) => cli(['trace', '--name', LAB, '--results', results, ...args]);

  it('pod to pod over VXLAN: every point, TTL 64 → 63 → 62, encapsulation on the underlay, as expected', async () => {
    const r = await trace('client', 'web-2', '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const w = walkOf(r.stdout);
    expect(w).toMatchObject({ ok: true, reached: 'web-2', protocol: 'icmp', differences: [] });
    expect(w.hops.map((h) => `${h.point} ${h.observed?.ip.ttl}`)).toEqual([
      'client:eth0 64',
      'node1:cni0 64',
      'node1:flannel.1 63',
      'node1:eth0 63',
      'node2:eth0 63',
      'node2:flannel.1 63',
      'node2:cni0 62',
      'web-2:eth0 62',
    ]);
    const wire = w.hops.find((h) => h.point === 'node1:eth0')!;
    expect(wire.observed!.outer).toMatchObject({
      ip: { src: '192.168.205.4', dst: '192.168.205.3', ttl: 64 },
      udp: { dstport: 8472 },
      vni: 1,
    });
    expect(wire.changes.map((c) => c.kind)).toEqual(['encap']);
    expect(w.hops.find((h) => h.point === 'node2:flannel.1')!.changes.map((c) => c.kind)).toEqual(['decap']);
    // the same IP id at every point, and each pcap really holds that frame
    const ids = new Set(w.hops.map((h) => h.observed!.ip.id));
    expect(ids.size).toBe(1);
    const runDir = join(results, readdirSync(results).sort().at(-1)!);
    expect((JSON.parse(readFileSync(join(runDir, 'walk.json'), 'utf8')) as Walk).hops).toEqual(w.hops);
    for (const h of w.hops) {
      const frame = readPcapFile(join(runDir, h.pcap!)).packets.find((p) => p.index === h.frame);
      expect((frame?.vxlan ? frame.inner : frame)?.ip?.id).toBe(h.observed!.ip.id);
    }
    // ICMP is not NATed and meets no kube-proxy chain, but the nodes' hooks are traced
    expect(w.rules.map((n) => `${n.node}: ${n.hooks.join(' ')}`)).toEqual([
      'node1: prerouting forward postrouting',
      'node2: prerouting forward postrouting',
    ]);
  }, 30000);

  it("pod to a service: DNAT by kube-proxy's chains on node1, seen at node1's cni0 (br_netfilter), the endpoint sees the client", async () => {
    const r = await trace('client', 'service:nginx-test', '--json');
    expect(r.code).toBe(0);
    const w = walkOf(r.stdout);
    expect(['nginx-test-1', 'nginx-test-2']).toContain(w.reached);
    expect(w.hops[1]!.changes.map((c) => c.text)).toEqual([expect.stringMatching(/^DNAT 10\.43\.6\.58:80 → 10\.42\.[12]\.6:80$/)]);
    const node1 = w.rules.find((n) => n.node === 'node1')!;
    expect(node1.hooks).toEqual(['prerouting', 'forward', 'postrouting']);
    expect(node1.chains.slice(0, 4)).toEqual([
      'nat PREROUTING',
      'KUBE-SERVICES',
      'KUBE-SVC-7CWUT4JBGBRVUN2L',
      expect.stringMatching(/^KUBE-SEP-/),
    ]);
    expect(node1.expectedChains).toEqual(expect.arrayContaining(['KUBE-SVC-7CWUT4JBGBRVUN2L']));
    expect(node1.events.find((e) => e.rule?.includes('dnat to'))?.verdict).toBe('accept');
    expect(w.hops.at(-1)!.observed!.ip.src).toBe('10.42.0.65');
    expect(w.hops.at(-1)!.observed!.l4).toMatchObject({ dstport: 80, flags: ['SYN'] });
  }, 30000);

  it('node to a service: DNAT and SNAT (masquerade, mark 0x4000) in the node, shown from its output hook on', async () => {
    const r = await trace('node1', 'service:nginx-test');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/DNAT 10\.43\.6\.58:80 → 10\.42\.[12]\.6:80/);
    expect(r.stdout).toMatch(/SNAT 192\.168\.205\.4:\d+ → 10\.42\.0\.0:\d+/);
    expect(r.stdout).toMatch(/node1: output → postrouting/);
    expect(r.stdout).toContain('masquerade fully-random');
    expect(r.stdout).toContain('observed walk = expected walk');
  }, 30000);

  it('a client outside the cluster (@lab) to a node port: KUBE-NODEPORTS → KUBE-EXT → mark → SVC, masqueraded by the node', async () => {
    const r = await trace('@lab', 'nodeport:nginx-test@node2', '--json');
    expect(r.code).toBe(0);
    const w = walkOf(r.stdout);
    expect(w.hops.slice(0, 2).map((h) => `${h.point} ${h.observed!.ip.src} > ${h.observed!.ip.dst}:${h.observed!.l4!.dstport}`)).toEqual([
      '@lab:underlay0 192.168.205.1 > 192.168.205.3:32506',
      'node2:eth0 192.168.205.1 > 192.168.205.3:32506',
    ]);
    const node2 = w.rules.find((n) => n.node === 'node2')!;
    expect(node2.chains).toEqual(
      expect.arrayContaining(['KUBE-NODEPORTS', 'KUBE-EXT-7CWUT4JBGBRVUN2L', 'KUBE-MARK-MASQ', 'KUBE-SVC-7CWUT4JBGBRVUN2L']),
    );
    expect(node2.events.some((e) => e.rule?.includes('masquerade'))).toBe(true);
    // the endpoint sees node2, not the outside client
    expect(['10.42.1.0', '10.42.1.1']).toContain(w.hops.at(-1)!.observed!.ip.src);
    const bad = await trace('@lab', 'web-2');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('from @lab (outside the cluster) pods are not reachable');
  }, 30000);

  it('a DROP in the way: the walk stops where the kernel dropped it, the differences say so, exit 1', async () => {
    const ns = labNamespaces(LAB).find((n) => n.endsWith('.node1'))!;
    await nsRun(ns, ['iptables', '-I', 'FORWARD', '-d', '10.42.1.9', '-j', 'DROP']);
    try {
      const r = await trace('client', 'web-2', '--json');
      expect(r.code).toBe(1);
      const w = walkOf(r.stdout);
      expect(w.ok).toBe(false);
      expect(w.hops.filter((h) => h.observed).map((h) => h.point)).toEqual(['client:eth0', 'node1:cni0']);
      expect(w.differences).toContain('node1:flannel.1: not seen here');
      expect(w.differences).toContain('web-2:eth0: not seen here');
      expect(w.rules.find((n) => n.node === 'node1')!.events.some((e) => e.chain === 'FORWARD' && e.verdict === 'drop')).toBe(true);
    } finally {
      await nsRun(ns, ['iptables', '-D', 'FORWARD', '-d', '10.42.1.9', '-j', 'DROP']);
    }
  }, 30000);

  it('bad input is exit 2 with the reason, and no trace table is left in any node', async () => {
    const r = await trace('client', 'nosuch');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`'nosuch' is not a pod of lab ${LAB}`);
    const r2 = await trace('ghost', 'web-2');
    expect(r2.code).toBe(2);
    expect(r2.stderr).toContain("no pod or node 'ghost'");
    for (const ns of labNamespaces(LAB).filter((n) => /\.node\d$/.test(n)))
      expect(await nsRun(ns, ['nft', 'list', 'tables'])).not.toContain('kdl_trace');
  }, 30000);
});

import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectLocal } from '../../docker/engine';
import { nodeNamespace, podNamespace } from '../../model/kernel-names';
import { apply } from '../../ops/apply';
import { connectFrom } from '../../ops/connect';
import { down } from '../../ops/down';
import { up } from '../../ops/up';
import type { Packet } from '../../pcap/decode';
import { readPcapFile } from '../../pcap';
import { startCapture } from '../../probe/capture';
import { CONTAINER_NETNS_ETC, NETNS_ETC } from '../../state/dns';
import { describeKernel, labNamespaces, topologyFile } from '../../testing/kernel';
import { uniqueLabName } from '../../testing/names';
import { describeIf, dockerEngine, requireInCi } from '../../testing/skip';
import { loadTopologyText } from '../../topology/resolve';
import type { Topology } from '../../topology/types';
import { LABEL_LAB } from '../docker';
import type { Runtime } from '../runtime';
import { runtimeFor } from '../select';

// The cluster DNS on the docker runtime (scenarios/topologies/dns.yaml with runtime: docker):
// every node a container of the node image, dnsmasq started inside node1's and node2's
// containers in the kube-dns pods' namespaces, each pod's resolv.conf in its node container's
// own /etc/netns/<pod namespace>/ (which `ip netns exec` there bind-mounts), this host's /etc
// untouched. The queries are captured on the client's eth0 and both servers' eth0 inside the
// containers (pcaps copied out), as on netns (lab/ops/__tests__/dns.kernel.test.ts).

const DNS_YAML = readFileSync(topologyFile('dns.yaml'), 'utf8');
const DNS_IP = '10.43.0.10';
const WEB_IP = '10.43.0.20';
const CLIENT = '10.42.0.65';
const KUBELET_RESOLV = `nameserver ${DNS_IP}\nsearch default.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n`;

const topoFor = (lab: string, edit: (y: string) => string = (y) => y): Topology =>
  loadTopologyText(edit(DNS_YAML.replace(/^name: dns$/m, `name: ${lab}`).replace(/^runtime: netns$/m, 'runtime: docker')), 'dns.yaml');

/** pids (this host's view) of processes whose command line names this lab's DNS folder: its dnsmasqs, wherever they run */
const dnsmasqsOf = (lab: string) =>
  readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(`/dns/${lab}/`);
      } catch {
        return false;
      }
    });
const hostNetnsEtcOf = (lab: string) => (existsSync(NETNS_ETC) ? readdirSync(NETNS_ETC).filter((e) => e.startsWith(`kdl.${lab}.`)) : []);

const { ok: engine, reason: noEngine } = dockerEngine();
requireInCi(engine, 'no Docker engine answers: .ci/run should have started one (scripts/ensure-docker)');
const describeDocker = describeIf(engine, noEngine, describeKernel);

describeDocker('cluster DNS on the docker runtime', () => {
  const lab = uniqueLabName('dnsdk');
  const docker = connectLocal();
  let topo: Topology;
  let rt: Runtime;
  let dir: string;
  const client = () => podNamespace(lab, 'node1', 'client');
  const servers = () => [
    { pod: 'kube-dns-1', node: 'node1', ns: podNamespace(lab, 'node1', 'kube-system/kube-dns-1'), ip: '10.42.0.2' },
    { pod: 'kube-dns-2', node: 'node2', ns: podNamespace(lab, 'node2', 'kube-system/kube-dns-2'), ip: '10.42.1.2' },
  ];
  const inClient = (argv: string[], check = true) => rt.run(client(), argv, { check, timeoutMs: 20000 });
  const inNode = async (node: string, argv: string[]) => (await rt.run(nodeNamespace(lab, node), argv, { timeoutMs: 20000 })).stdout;

  /** Runs `what` with tcpdump on the client's and both servers' eth0 (port 53) inside their containers; returns their DNS packets. */
  async function captured(what: () => Promise<unknown>): Promise<{ client: Packet[]; servers: Record<string, Packet[]> }> {
    const targets = [{ pod: 'client', ns: client() }, ...servers()];
    const caps = await Promise.all(
      targets.map((t) => startCapture(rt, { ns: t.ns, iface: 'eth0', filter: 'port 53', file: join(dir, `${t.pod}-${Date.now()}.pcap`) })),
    );
    try {
      await what();
    } finally {
      for (const c of caps) await c.stop();
    }
    const read = (i: number) => readPcapFile(caps[i]!.spec.file).packets.filter((p) => p.dns);
    return { client: read(0), servers: { 'kube-dns-1': read(1), 'kube-dns-2': read(2) } };
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kdl-dnsdk-'));
    topo = topoFor(lab);
    rt = runtimeFor(topo);
    await down(rt, lab);
    await up(topo, rt);
  }, 600_000); // the first run builds the node image
  afterAll(async () => {
    await down(rt, lab);
    await rt.close();
    rmSync(dir, { recursive: true, force: true });
    // the containers took the dnsmasqs and every resolver file along; none was on this host
    const left = await docker.listContainers({ all: true, filters: JSON.stringify({ label: [`${LABEL_LAB}=${lab}`] }) });
    expect([left, dnsmasqsOf(lab), hostNetnsEtcOf(lab), labNamespaces(lab)]).toEqual([[], [], [], []]);
  }, 120_000);

  it('is on by default on docker as on netns (proxy mode iptables): kube-dns at .10 with two server pods', () => {
    const dflt = topoFor(lab, (y) => y.replace(/^ {2}dns: true\n/m, ''));
    expect(dflt.runtime).toBe('docker');
    expect(dflt.cluster.dns).toEqual(topo.cluster.dns);
    expect(topo.cluster.dns).toEqual({
      domain: 'cluster.local',
      clusterIP: DNS_IP,
      pods: ['kube-system/kube-dns-1', 'kube-system/kube-dns-2'],
    });
  });

  it("runs dnsmasq inside node1's and node2's containers, in the kube-dns pods' namespaces, not in this host's", async () => {
    const hostMnt = readlinkSync('/proc/self/ns/mnt');
    const pids = dnsmasqsOf(lab);
    expect(pids).toHaveLength(2);
    // in a mount namespace of their own (the container's), not this host's
    for (const p of pids) expect(readlinkSync(`/proc/${p}/ns/mnt`)).not.toBe(hostMnt);
    for (const s of servers()) {
      // the container's own view: the pod namespace holds exactly one process, dnsmasq
      const inPod = (await inNode(s.node, ['ip', 'netns', 'pids', s.ns])).split('\n').filter(Boolean);
      expect(inPod).toHaveLength(1);
      expect((await inNode(s.node, ['ps', '-o', 'comm=', '-p', inPod[0]!])).trim()).toBe('dnsmasq');
      expect(await inNode(s.node, ['ip', 'netns', 'exec', s.ns, 'cat', '/proc/net/udp'])).toMatch(
        new RegExp(
          `^\\s*\\d+: ${s.ip
            .split('.')
            .reverse()
            .map((o) => Number(o).toString(16).padStart(2, '0').toUpperCase())
            .join('')}:0035 `,
          'm',
        ),
      );
    }
  });

  it("gives each pod kubelet's resolv.conf from its node container's /etc/netns; this host's /etc is untouched", async () => {
    const host = readFileSync('/etc/resolv.conf', 'utf8');
    expect((await inClient(['cat', '/etc/resolv.conf'])).stdout).toBe(KUBELET_RESOLV);
    expect(await inNode('node1', ['cat', join(CONTAINER_NETNS_ETC, client(), 'resolv.conf')])).toBe(KUBELET_RESOLV);
    expect((await rt.run(podNamespace(lab, 'node3', 'db-1'), ['cat', '/etc/resolv.conf'])).stdout).toBe(KUBELET_RESOLV);
    // the server pods keep the node's resolver (dnsPolicy Default): no folder of theirs
    expect(await inNode('node1', ['ls', CONTAINER_NETNS_ETC])).not.toMatch(/kube-dns/);
    expect(readFileSync('/etc/resolv.conf', 'utf8')).toBe(host);
    expect(hostNetnsEtcOf(lab)).toEqual([]);
  });

  it.each([['udp'], ['tcp']])(
    'resolves web.default.svc.cluster.local over %s: to 10.43.0.10:53, DNATed to a DNS pod, answered from 10.43.0.10',
    async (proto) => {
      let out = '';
      const pk = await captured(async () => {
        out = (await inClient(['dig', ...(proto === 'tcp' ? ['+tcp'] : []), '+short', '+tries=1', 'web.default.svc.cluster.local'])).stdout;
      });
      expect(out.trim()).toBe(WEB_IP);
      const l4 = (p: Packet) => (proto === 'tcp' ? p.tcp : p.udp);
      const q = pk.client.filter((p) => !p.dns!.response);
      const r = pk.client.filter((p) => p.dns!.response);
      expect(q.map((p) => `${p.ip!.src} → ${p.ip!.dst}:${l4(p)?.dstport} ${p.dns!.qname}`)).toEqual([
        `${CLIENT} → ${DNS_IP}:53 web.default.svc.cluster.local`,
      ]);
      expect(r.map((p) => `${p.ip!.src}:${l4(p)?.srcport} → ${p.ip!.dst} ${p.dns!.answers.map((a) => a.data).join(',')}`)).toEqual([
        `${DNS_IP}:53 → ${CLIENT} ${WEB_IP}`,
      ]);
      // exactly one server saw it, addressed to its own pod IP (kube-proxy's DNAT), from the client (no SNAT)
      const seen = servers().filter((s) => pk.servers[s.pod]!.some((p) => p.dns!.id === q[0]!.dns!.id));
      expect(seen).toHaveLength(1);
      const at = pk.servers[seen[0]!.pod]!.filter((p) => p.dns!.id === q[0]!.dns!.id);
      expect(at.map((p) => `${p.ip!.src} → ${p.ip!.dst} ${p.dns!.response ? 'R' : 'Q'}`)).toEqual([
        `${CLIENT} → ${seen[0]!.ip} Q`,
        `${seen[0]!.ip} → ${CLIENT} R`,
      ]);
    },
    60000,
  );

  it('walks the ndots:5 search list: web is found as web.default.svc.cluster.local first; example.com tries every suffix before the bare name', async () => {
    let web = '';
    const first = await captured(async () => {
      web = (await inClient(['getent', 'hosts', 'web'])).stdout;
    });
    expect(web).toMatch(new RegExp(`^${WEB_IP.replace(/\./g, '\\.')}\\s+web\\.default\\.svc\\.cluster\\.local`));
    const aQueries = (ps: Packet[]) => ps.filter((p) => !p.dns!.response && p.dns!.qtype === 'A').map((p) => p.dns!.qname);
    expect(aQueries(first.client)[0]).toBe('web.default.svc.cluster.local');
    let code: number | null = 0;
    const second = await captured(async () => {
      code = (await inClient(['getent', 'hosts', 'example.com'], false)).code;
    });
    expect(code).not.toBe(0);
    expect([...new Set(aQueries(second.client))]).toEqual([
      'example.com.default.svc.cluster.local',
      'example.com.svc.cluster.local',
      'example.com.cluster.local',
      'example.com',
    ]);
    const rcodes = second.client.filter((p) => p.dns!.response && p.dns!.qtype === 'A').map((p) => `${p.dns!.qname} ${p.dns!.rcode}`);
    expect(rcodes.slice(0, 3)).toEqual([
      'example.com.default.svc.cluster.local 3',
      'example.com.svc.cluster.local 3',
      'example.com.cluster.local 3',
    ]);
  }, 60000);

  it('over TCP (dns-tcp) too: the ndots:5 search list tries web.default.svc.cluster.local first, through the DNAT', async () => {
    let out = '';
    const pk = await captured(async () => {
      out = (await inClient(['dig', '+tcp', '+search', '+short', 'web'])).stdout;
    });
    expect(out.trim()).toBe(WEB_IP);
    const q = pk.client.filter((p) => p.tcp && !p.dns!.response);
    expect(q.map((p) => `${p.ip!.dst}:${p.tcp!.dstport} ${p.dns!.qname}`)[0]).toBe(`${DNS_IP}:53 web.default.svc.cluster.local`);
    const seen = servers().filter((s) => pk.servers[s.pod]!.some((p) => p.tcp && p.dns!.id === q[0]!.dns!.id && p.ip!.dst === s.ip));
    expect(seen).toHaveLength(1);
  }, 60000);

  it.each([['udp'], ['tcp']])(
    'answers a headless service with its pods, a StatefulSet pod by name, SRV for a named port, pod names (%s)',
    async (proto) => {
      const dig = async (...args: string[]) =>
        (await inClient(['dig', ...(proto === 'tcp' ? ['+tcp'] : []), '+short', ...args])).stdout.trim().split('\n').sort();
      expect(await dig('db.default.svc.cluster.local')).toEqual(['10.42.1.20', '10.42.2.20']);
      expect(await dig('db-0.db.default.svc.cluster.local')).toEqual(['10.42.1.20']);
      expect(await dig('SRV', '_pg._tcp.db.default.svc.cluster.local')).toEqual([
        '0 0 5432 db-0.db.default.svc.cluster.local.',
        '0 0 5432 db-1.db.default.svc.cluster.local.',
      ]);
      expect(await dig('10-42-1-9.default.pod.cluster.local')).toEqual(['10.42.1.9']);
      expect((await inClient(['dig', 'nothere.default.svc.cluster.local'])).stdout).toMatch(/status: NXDOMAIN/);
    },
    60000,
  );

  it('connect by name: web.default:80 resolved in the pod (getent, its resolv.conf), then served by the endpoints', async () => {
    const r = await connectFrom({ name: lab, from: 'client', address: 'web.default:80', count: 6 });
    expect(r.resolved).toEqual({ name: 'web.default', address: WEB_IP, canonical: 'web.default.svc.cluster.local' });
    expect(r.failed).toBe(0);
    for (const pod of Object.keys(r.byPod)) expect(['web-1', 'web-2', 'web-3']).toContain(pod);
  }, 60000);

  it('forgets a pod that apply removed, within the re-sync; its resolv.conf folder leaves node3', async () => {
    const next = topoFor(lab, (y) => y.replace(/^ {2}- \{ name: db-1,.*\n/m, ''));
    expect(next.pods.map((p) => p.name)).not.toContain('db-1');
    const before = dnsmasqsOf(lab);
    await apply(next, rt);
    topo = next;
    const dig = async (name: string) => (await inClient(['dig', '+tries=3', name])).stdout;
    expect(await dig('db.default.svc.cluster.local')).toMatch(/^db\.default\.svc\.cluster\.local\.\s+0\s+IN\s+A\s+10\.42\.1\.20$/m);
    expect(await dig('db.default.svc.cluster.local')).not.toMatch(/10\.42\.2\.20/);
    expect(await dig('db-1.db.default.svc.cluster.local')).toMatch(/status: NXDOMAIN/);
    expect(await inNode('node3', ['ls', CONTAINER_NETNS_ETC])).not.toContain(podNamespace(lab, 'node3', 'db-1'));
    // restarted (SRV lines are configuration): two new dnsmasqs, the old ones gone
    const after = dnsmasqsOf(lab);
    expect(after).toHaveLength(2);
    expect(after.filter((p) => before.includes(p))).toEqual([]);
  }, 120_000);
});

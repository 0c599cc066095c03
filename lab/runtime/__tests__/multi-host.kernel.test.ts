import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readPcapFile } from '../../pcap';
import { startCapture } from '../../probe/capture';
import { parsePing } from '../../probe/ping';
import { parseTraceroute } from '../../probe/traceroute';
import { SshHost } from '../../remote/ssh';
import { cli, describeKernel, rt as hostRt } from '../../testing/kernel';
import { uniqueLabName } from '../../testing/names';
import { describeIf, dockerEngine, requireInCi } from '../../testing/skip';
import { startTestHosts, type TestHost } from '../../testing/ssh-host';
import { loadTopology } from '../../topology/resolve';
import { closeRuntime, runtimeFor } from '../select';

// A lab over two hosts for real: two "machines" on this one (lab/testing/ssh-host.ts: sshd in a
// namespace of the test's own, reaching the same Docker engine), the lab reaching both over ssh
// (ssh2: host key checked, the Docker API and host commands through the connection), nodes
// placed on both, and the underlay segment stretched between them by the lab's VXLAN tunnel —
// so flannel's VXLAN rides inside it on the wire between the hosts.

const LAB = uniqueLabName('mh');

// Decided while the tests are registered, so that without an engine they are reported as skipped.
const { ok: engine, reason: noEngine } = dockerEngine();
requireInCi(engine, 'no Docker engine answers: .ci/run should have started one (scripts/ensure-docker)');
const describeDocker = describeIf(engine, noEngine, describeKernel);

describeDocker('docker runtime over two hosts (ssh)', () => {
  let hosts: TestHost[] = [];
  let file = '';
  beforeAll(async () => {
    hosts = await startTestHosts(['a', 'b']);
    const dir = mkdtempSync(join(tmpdir(), 'kdl-mh-'));
    file = join(dir, 'two-hosts.yaml');
    const host = (h: TestHost) =>
      `  - { name: ${h.name}, engine: "ssh://root@${h.address}", identityFile: ${h.target.identityFile}, knownHosts: ${h.knownHosts}, proxyCommand: ${JSON.stringify(h.target.proxyCommand)} }`;
    writeFileSync(
      file,
      [
        `name: ${LAB}`,
        'runtime: docker',
        'hosts:',
        ...hosts.map(host),
        'nodes:',
        '  - { name: node1, ip: 192.168.205.4, podSubnet: 10.42.0.0/24, host: a }',
        '  - { name: node2, ip: 192.168.205.3, podSubnet: 10.42.1.0/24, host: b }',
        '  - { name: node3, ip: 192.168.205.5, podSubnet: 10.42.2.0/24 }',
        'pods:',
        '  - { name: client, node: node1, ip: 10.42.0.65 }',
        '  - { name: web-1, node: node1, ip: 10.42.0.66, labels: { app: web } }',
        '  - { name: web-2, node: node2, ip: 10.42.1.9, labels: { app: web } }',
        '  - { name: web-3, node: node3, ip: 10.42.2.9, labels: { app: web } }',
        'services:',
        '  - { name: web, clusterIP: 10.43.0.20, selector: { app: web }, ports: [{ port: 80 }] }',
      ].join('\n') + '\n',
    );
    await cli(['down', '-f', file]);
  }, 60_000);
  afterAll(async () => {
    await cli(['down', '-f', file]);
    await hosts[0]?.stop();
  }, 60_000);

  it('places nodes on their hosts (node3 spread to the first) and builds each host its underlay', async () => {
    const topo = loadTopology(file);
    expect(topo.nodes.map((n) => [n.name, n.host])).toEqual([
      ['node1', 'a'],
      ['node2', 'b'],
      ['node3', 'a'],
    ]);
    const up = await cli(['up', '-f', file]);
    if (up.code !== 0) throw new Error(`up exited ${up.code}:\n${up.stdout}\n${up.stderr}`);
    expect(up.stdout).toMatch(/hosts: underlay tunnel \(VXLAN, UDP 4790\) on 2 hosts: a 10\.99\.9\.1, b 10\.99\.9\.2/);
    const st = JSON.parse((await cli(['status', '--name', LAB, '--json'])).stdout).labs[0];
    expect(st).toMatchObject({ runtime: 'docker', state: 'up', missing: [], underlay: { namespace: `kdl.${LAB}@a` } });
    expect(st.nodes.map((n: { name: string }) => n.name)).toEqual(['node1', 'node2', 'node3']);
    // on host b (through its own ssh): the lab's underlay namespace and node2's, nothing of a's
    const b = await SshHost.connect(hosts[1]!.target);
    try {
      expect(
        (await b.run(['ip', 'netns', 'list'])).stdout
          .split('\n')
          .map((l) => l.split(' ')[0])
          .filter(Boolean)
          .sort(),
      ).toEqual([`kdl.${LAB}`, `kdl.${LAB}.node2`]);
      const tun = JSON.parse((await b.run(['ip', '-n', `kdl.${LAB}`, '-d', '-j', 'link', 'show', 'type', 'vxlan'])).stdout)[0];
      expect(tun.linkinfo.info_data).toMatchObject({ port: 4790, local: '10.99.9.2' });
      expect(tun.master).toBe('underlay0');
      // the gateway lives once on the stretched segment: on the first host
      expect((await b.run(['ip', '-n', `kdl.${LAB}`, '-4', '-j', 'addr', 'show', 'underlay0'])).stdout).not.toMatch(/192\.168\.205\.1/);
    } finally {
      b.close();
    }
  }, 300_000);

  it('pods on two hosts talk over flannel VXLAN inside the lab tunnel: ttl 62, the same hops, 8472 inside 4790 on the wire', async () => {
    const rt = runtimeFor(loadTopology(file));
    try {
      const cap = await startCapture(hostRt, {
        ns: 'kdlhost-sw',
        iface: 'sw',
        file: join(mkdtempSync(join(tmpdir(), 'kdl-mh-')), 'wire.pcap'),
        filter: 'udp port 4790',
      });
      const ping = parsePing((await rt.run(`kdl.${LAB}.node1.client`, ['ping', '-c', '2', '-i', '0.2', '10.42.1.9'])).stdout);
      const stats = await cap.stop();
      expect(ping.replies.map((r) => r.ttl)).toEqual([62, 62]);
      const hops = parseTraceroute(
        (await rt.run(`kdl.${LAB}.node1.client`, ['traceroute', '-n', '-q', '1', '-w', '1', '10.42.1.9'])).stdout,
      );
      expect(hops.map((h) => h.address)).toEqual(['10.42.0.1', '10.42.1.0', '10.42.1.9']);

      const { packets } = readPcapFile(stats.file, { vxlanPorts: [4790, 8472] });
      const requests = packets.filter((p) => p.inner?.inner?.icmp?.type === 8);
      expect(requests).toHaveLength(2);
      for (const p of requests) {
        expect(p.ip).toMatchObject({ src: '10.99.9.1', dst: '10.99.9.2' }); // host a → host b
        expect(p.udp?.dstport).toBe(4790);
        expect(p.inner?.ip).toMatchObject({ src: '192.168.205.4', dst: '192.168.205.3' }); // node1 → node2
        expect(p.inner?.udp?.dstport).toBe(8472);
        expect(p.inner?.vxlan?.vni).toBe(1);
        expect(p.inner?.inner?.ip).toMatchObject({ src: '10.42.0.65', dst: '10.42.1.9', ttl: 63 }); // the pods
      }
    } finally {
      await closeRuntime(rt);
    }
  }, 60_000);

  it('a service spreads over endpoints on both hosts; exec reaches a node on the other machine', async () => {
    const e = await cli(['exec', '--name', LAB, 'web-2', '--', 'sh', '-c', 'hostname; ip -br -4 addr show eth0; exit 7']);
    expect(e.code).toBe(7);
    expect(e.stdout).toMatch(/^node2\neth0@if\d+\s+UP\s+10\.42\.1\.9\/24/);
    const r = await cli(['connect', '--name', LAB, 'client', '10.43.0.20:80', '-c', '30', '--json']);
    const res = JSON.parse(r.stdout) as { byPod: Record<string, number>; failed: number };
    expect(res.failed).toBe(0);
    expect(Object.keys(res.byPod).sort()).toEqual(['web-1', 'web-2', 'web-3']);
  }, 60_000);

  it('down removes containers and namespaces on both hosts, and the tunnel with them', async () => {
    const d = await cli(['down', '--name', LAB]);
    expect(d.code).toBe(0);
    for (const h of hosts) {
      const ssh = await SshHost.connect(h.target);
      try {
        expect((await ssh.run(['ip', 'netns', 'list'])).stdout).toBe('');
        expect((await ssh.run(['ip', '-j', 'link', 'show', 'type', 'vxlan'])).stdout.trim()).toBe('[]');
        expect((await ssh.run(['docker', 'ps', '-aq', '--filter', `label=io.k8s-dataplane-lab.lab=${LAB}`])).stdout).toBe('');
      } finally {
        ssh.close();
      }
    }
  }, 60_000);
});

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { calicoVethName } from '../../model/kernel-names';
import { cli, describeKernel, topologyFile, withLab } from '../../testing/kernel';
import { uniqueLabName } from '../../testing/names';
import type { Walk } from '../types';

// `lab trace` on Calico labs (docs/calico.md): the walk the topology predicts — no cni0, in and
// out of the pods' cali veths, BIRD's routes on eth0 (bgp) or vxlan.calico (vxlan) — against
// what tcpdump at every point and nft monitor trace saw. No differences allowed.

const walkOf = (stdout: string) => JSON.parse(stdout) as Walk;
const ttls = (w: Walk) => w.hops.map((h) => `${h.point} ${h.observed?.ip.ttl}`);
const client = calicoVethName('client');
const web1 = calicoVethName('web-1');
const web2 = calicoVethName('web-2');

for (const mode of ['bgp', 'vxlan'] as const) {
  const LAB = uniqueLabName(mode === 'bgp' ? 'trc-b' : 'trc-v');
  describeKernel(`lab trace on Calico, ${mode} mode`, () => {
    withLab(LAB, ['-f', topologyFile(mode === 'bgp' ? 'calico.yaml' : 'calico-vxlan.yaml')]);
    let results: string;
    beforeAll(() => (results = mkdtempSync(join(tmpdir(), 'kdl-trace-calico-'))));
    afterAll(() => rmSync(results, { recursive: true, force: true }));
    const trace = async (...args: string[]) => {
      const r = await cli(['trace', '--name', LAB, '--results', results, '--json', ...args]);
      expect(r.stderr).toBe('');
      const w = walkOf(r.stdout);
      expect(w.differences).toEqual([]);
      expect(r.code).toBe(0);
      return w;
    };

    it("pod to pod across nodes: cali veth, the underlay, the endpoint's cali veth; TTL 64 → 63 → 62", async () => {
      const w = await trace('client', 'web-2');
      expect(w).toMatchObject({ ok: true, reached: 'web-2' });
      expect(ttls(w)).toEqual(
        mode === 'bgp'
          ? ['client:eth0 64', `node1:${client} 64`, 'node1:eth0 63', 'node2:eth0 63', `node2:${web2} 62`, 'web-2:eth0 62']
          : [
              'client:eth0 64',
              `node1:${client} 64`,
              'node1:vxlan.calico 63',
              'node1:eth0 63',
              'node2:eth0 63',
              'node2:vxlan.calico 63',
              `node2:${web2} 62`,
              'web-2:eth0 62',
            ],
      );
      expect(w.hops[0]!.observed!.eth!.dst).toBe('ee:ee:ee:ee:ee:ee');
      const wire = w.hops.find((h) => h.point === 'node1:eth0')!;
      if (mode === 'vxlan') expect(wire.observed!.outer).toMatchObject({ udp: { dstport: 4789 }, vni: 4096 });
      else expect(wire.observed!.outer).toBeUndefined();
    }, 30_000);

    it('same node: routed between two cali veths, TTL 63, no bridge', async () => {
      const w = await trace('client', 'web-1');
      expect(ttls(w)).toEqual(['client:eth0 64', `node1:${client} 64`, `node1:${web1} 63`, 'web-1:eth0 63']);
    }, 30_000);

    it("pod to a cluster IP: DNAT by kube-proxy's chains on node1, the endpoint sees the client", async () => {
      const w = await trace('client', 'service:web');
      expect(['web-1', 'web-2', 'web-3']).toContain(w.reached);
      expect(w.rules.find((n) => n.node === 'node1')!.chains).toEqual(expect.arrayContaining(['KUBE-SERVICES']));
      expect(w.hops.at(-1)!.observed!.ip.src).toBe(w.hops[0]!.observed!.ip.src);
    }, 30_000);

    it('node to a pod on another node, and @lab to a node port: masqueraded by the node', async () => {
      const n = await trace('node1', 'web-2');
      expect(n.reached).toBe('web-2');
      const np = await trace('@lab', 'nodeport:web-np@node2');
      expect(['web-1', 'web-2', 'web-3']).toContain(np.reached);
    }, 60_000);

    it('pod to a node port on another node: masqueraded on its way out by cali-nat-outgoing, then by kube-proxy', async () => {
      const w = await trace('client', 'nodeport:web-np@node2');
      expect(['web-1', 'web-2', 'web-3']).toContain(w.reached);
      expect(w.hops.find((h) => h.point === 'node1:eth0')!.observed!.ip.src).toBe('192.168.205.4');
    }, 30_000);
  });
}

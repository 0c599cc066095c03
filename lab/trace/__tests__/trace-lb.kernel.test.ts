import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, describeKernel } from '../../testing/kernel';
import { uniqueLabName } from '../../testing/names';
import type { ProxyMode } from '../../topology/types';
import type { Walk } from '../types';

// `lab trace` from @lab to a LoadBalancer IP and an external IP: @lab's route sends the packet to
// a node (lab/proxy/lb-routes.ts), whose kube-proxy rules DNAT it; the walk expects the chains
// of its layout (iptables KUBE-FW → KUBE-EXT, nft firewall-… then external-…), and the kernel
// must agree.

const topology = (mode: ProxyMode) => `
name: lb
cluster: { podCIDR: 10.42.0.0/16, serviceCIDR: 10.43.0.0/16, underlay: 192.168.205.0/24 }
proxy: { mode: ${mode} }
nodes:
  - { name: node1, ip: 192.168.205.4, podSubnet: 10.42.0.0/24 }
  - { name: node2, ip: 192.168.205.3, podSubnet: 10.42.1.0/24 }
pods:
  - { name: web-1, node: node2, ip: 10.42.1.10, labels: { app: web }, ports: [80] }
services:
  - name: lb
    type: LoadBalancer
    clusterIP: 10.43.0.30
    selector: { app: web }
    ports: [{ port: 80 }]
    loadBalancerIP: 198.51.100.1
    loadBalancerSourceRanges: [192.168.205.1/32]
  - name: lb-local
    type: LoadBalancer
    externalTrafficPolicy: Local
    clusterIP: 10.43.0.31
    selector: { app: web }
    ports: [{ port: 80 }]
    loadBalancerIP: 198.51.100.2
  - { name: ext, clusterIP: 10.43.0.32, externalIPs: [203.0.113.10], selector: { app: web }, ports: [{ port: 80 }] }
`;

describe.each<[ProxyMode]>([['iptables'], ['nftables']])('lab trace to LoadBalancer and external IPs, %s mode', (mode) => {
  const lab = uniqueLabName(`trlb-${mode.slice(0, 3)}`);
  const dir = mkdtempSync(join(tmpdir(), 'kdl-trace-lb-'));
  const file = join(dir, 'lb.yaml');
  writeFileSync(file, topology(mode));
  const trace = async (to: string) => {
    const r = await cli(['trace', '--name', lab, '--results', dir, '@lab', to, '--json']);
    expect(r.stderr).toBe('');
    return JSON.parse(r.stdout) as Walk;
  };

  describeKernel(`${mode} mode on the real kernel`, () => {
    beforeAll(async () => {
      await cli(['down', '--name', lab]);
      const r = await cli(['up', '-f', file, '--name', lab]);
      if (r.code !== 0) throw new Error(`lab up exited ${r.code}: ${r.stderr}`);
    }, 60_000);
    afterAll(async () => {
      await cli(['down', '--name', lab]);
      rmSync(dir, { recursive: true, force: true });
    });

    it('@lab to the LoadBalancer IP with source ranges: via node1, its firewall chain, DNAT to web-1, as the kernel did', async () => {
      const w = await trace('198.51.100.1:80');
      expect(w.differences).toEqual([]);
      const node1 = w.rules.find((n) => n.node === 'node1')!;
      const want = mode === 'iptables' ? [/^KUBE-FW-/, /^KUBE-EXT-/] : [/^firewall-/, /^external-/];
      for (const re of want) {
        expect(node1.expectedChains?.some((c) => re.test(c))).toBe(true);
        expect(node1.chains.some((c) => re.test(c))).toBe(true);
      }
    }, 30_000);

    it('@lab to the ETP Local LoadBalancer IP: via node2 (its endpoint), no SNAT', async () => {
      const w = await trace('198.51.100.2:80');
      expect(w.differences).toEqual([]);
      expect(w.rules.find((n) => n.node === 'node2')?.chains.some((c) => (mode === 'iptables' ? /^KUBE-SVL-/ : /^local-/).test(c))).toBe(
        true,
      );
      // DNATed, never SNATed: web-1 sees @lab's own address
      const changes = w.hops.flatMap((h) => h.changes);
      expect(changes.some((c) => c.kind === 'dnat')).toBe(true);
      expect(changes.some((c) => c.kind === 'snat')).toBe(false);
      expect(w.reached).toBe('web-1');
    }, 30_000);

    it('@lab to the external IP: via node1, KUBE-EXT / external-, DNAT to web-1', async () => {
      const w = await trace('203.0.113.10:80');
      expect(w.differences).toEqual([]);
    }, 30_000);
  });
});

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, describeKernel } from '../../testing/kernel';
import { uniqueLabName } from '../../testing/names';
import type { ProxyMode } from '../../topology/types';
import type { Walk } from '../types';

// `lab trace` through externalTrafficPolicy: Local: from @lab to the node port of the node
// that has the endpoint, the walk expects no SNAT (the client's address kept) and the chains
// kube-proxy's Local layout sends it through (iptables KUBE-EXT → KUBE-SVL, nft external- →
// local-); what the kernel did must agree.

const topology = (mode: ProxyMode) => `
name: local
cluster: { podCIDR: 10.42.0.0/16, serviceCIDR: 10.43.0.0/16, underlay: 192.168.205.0/24 }
proxy: { mode: ${mode} }
nodes:
  - { name: node1, ip: 192.168.205.4, podSubnet: 10.42.0.0/24 }
  - { name: node2, ip: 192.168.205.3, podSubnet: 10.42.1.0/24 }
pods:
  - { name: client, node: node2, ip: 10.42.1.65 }
  - { name: loc-1, node: node1, ip: 10.42.0.80, labels: { app: loc }, ports: [80] }
services:
  - { name: local, type: NodePort, externalTrafficPolicy: Local, clusterIP: 10.43.0.24, selector: { app: loc }, ports: [{ port: 80, nodePort: 30024 }] }
`;

describe.each<[ProxyMode]>([['iptables'], ['nftables']])('lab trace, externalTrafficPolicy Local, %s mode', (mode) => {
  const lab = uniqueLabName(`trloc-${mode.slice(0, 3)}`);
  const dir = mkdtempSync(join(tmpdir(), 'kdl-trace-local-'));
  const file = join(dir, 'local.yaml');
  writeFileSync(file, topology(mode));
  const trace = (...args: string[]) => cli(['trace', '--name', lab, '--results', dir, ...args]);

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

    it('@lab to node1:30024: DNAT on node1 to loc-1, no SNAT, the Local chains, as the kernel did', async () => {
      const r = await trace('@lab', 'nodeport:local@node1', '--json');
      expect(r.stderr).toBe('');
      const w = JSON.parse(r.stdout) as Walk;
      expect(w.differences).toEqual([]);
      const node1 = w.rules.find((n) => n.node === 'node1')!;
      const want = mode === 'iptables' ? /^KUBE-SVL-/ : /^local-/;
      expect(node1.expectedChains?.some((c) => want.test(c))).toBe(true);
      expect(node1.chains.some((c) => want.test(c))).toBe(true);
    }, 30_000);

    it('@lab to node2:30024 (no local endpoint): refused by the walk, as kube-proxy drops it there', async () => {
      const r = await trace('@lab', 'nodeport:local@node2', '--json');
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/no endpoint on node2 and a Local traffic policy/);
    }, 30_000);
  });
});

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '../../probe/connect';
import { describeKernel, nsRun, rt, topologyFile } from '../../testing/kernel';
import { uniqueLabName } from '../../testing/names';
import { loadTopology } from '../../topology/resolve';
import { apply } from '../apply';
import { down } from '../down';
import { up } from '../up';

// What kube-proxy's nftables scaffolding means for packets, on the real kernel (the rules
// themselves are checked against kube-proxy's test dumps in lab/proxy/__tests__/conformance/):
// - cluster-ips-check: an allocated cluster IP on a port no service has is rejected; an address
//   of the service CIDR that no service has is dropped ("Drop traffic to unallocated ClusterIPs");
// - nodeport-ips: node ports answer only on the addresses --nodeport-addresses selects (nftables
//   mode's default `primary`: the node's eth0 IP, not its cni0 address).
// The default lab (scenarios/topologies/default.yaml) in nftables mode.

const WEB = '10.43.0.20'; // default/web:http, port 80
const NODE1 = '192.168.205.4'; // node1's eth0
const NODE1_CNI0 = '10.42.0.1';
const NODE_PORT = 32506; // default/nginx-test, endpoints on node2 and node3

describeKernel('kube-proxy nftables mode: cluster-ips-check and nodeport-ips on the kernel', () => {
  const lab = uniqueLabName('t-nftkp');
  const ns = (node: string, pod?: string) => `kdl.${lab}.${node}${pod ? `.${pod}` : ''}`;
  const CLIENT = ns('node1', 'client');
  const dir = mkdtempSync(join(tmpdir(), 'kdl-nftkp-'));
  const yaml = readFileSync(topologyFile('default.yaml'), 'utf8').replace(/^(\s+mode:) iptables\b/m, '$1 nftables');
  const file = join(dir, 'lab.yaml');
  writeFileSync(file, yaml);
  const topo = loadTopology(file, { name: lab });
  // the same lab with node ports on the pod network's addresses only (cni0 and flannel.1)
  const podNetFile = join(dir, 'podnet.yaml');
  writeFileSync(podNetFile, yaml.replace(/^proxy:\n/m, 'proxy:\n  nodePortAddresses: [10.42.0.0/16]\n'));

  beforeAll(async () => {
    await up(topo, rt);
  }, 60_000);
  afterAll(async () => {
    await down(rt, lab);
    rmSync(dir, { recursive: true, force: true });
  });

  test('an allocated cluster IP on a port no service has is refused at once (reject)', async () => {
    const t0 = performance.now();
    const r = await connect(rt, CLIENT, WEB, 81, { count: 2, timeoutS: 3 });
    expect(r.failed).toBe(2);
    expect(r.attempts.every((a) => /Connection refused/.test(a.error ?? ''))).toBe(true);
    expect(performance.now() - t0).toBeLessThan(2500);
  });

  test('an unallocated address of the service CIDR is dropped, by the "Drop traffic to unallocated ClusterIPs" rule', async () => {
    // count what the drop rule takes: the same rule with a counter, in place (by handle)
    const chain = ['ip', 'kube-proxy', 'cluster-ips-check'];
    type Listing = { nftables: { rule?: { handle: number; comment?: string } }[] };
    const listing = JSON.parse(await nsRun(ns('node1'), ['nft', '-a', '-j', 'list', 'chain', ...chain])) as Listing;
    const drop = listing.nftables.find((o) => o.rule?.comment === 'Drop traffic to unallocated ClusterIPs')?.rule;
    expect(drop).toBeDefined();
    const serviceCIDR = topo.cluster.serviceCIDR;
    await nsRun(ns('node1'), [
      'nft',
      'replace',
      'rule',
      ...chain,
      'handle',
      String(drop!.handle),
      'ip',
      'daddr',
      serviceCIDR,
      'counter',
      'drop',
      'comment',
      '"Drop traffic to unallocated ClusterIPs"',
    ]);
    try {
      const r = await connect(rt, CLIENT, '10.43.0.99', 80, { count: 2, timeoutS: 1 });
      expect(r.failed).toBe(2);
      // dropped, not refused: the client hears nothing and times out
      expect(r.attempts.some((a) => /Connection refused/.test(a.error ?? ''))).toBe(false);
      const counted = await nsRun(ns('node1'), ['nft', 'list', 'chain', ...chain]);
      const packets = Number(/counter packets (\d+)/.exec(counted)?.[1] ?? 0);
      expect(packets).toBeGreaterThanOrEqual(2); // each SYN (and its retries) ended here
      // and a cluster IP that is allocated still works
      expect((await connect(rt, CLIENT, WEB, 80, { count: 3 })).failed).toBe(0);
    } finally {
      await apply(topo, rt, undefined, { full: true }); // the generated rule back (a rule changed by hand: only a full re-sync sees it)
    }
  });

  test("default nodePortAddresses (primary): node1's eth0 IP answers a node port, its cni0 address does not", async () => {
    const set = await nsRun(ns('node1'), ['nft', 'list', 'set', 'ip', 'kube-proxy', 'nodeport-ips']);
    expect(set).toMatch(new RegExp(`elements = \\{ ${NODE1.replaceAll('.', '\\.')} \\}`));
    expect((await connect(rt, CLIENT, NODE1, NODE_PORT, { count: 6 })).failed).toBe(0);
    // not a node port there: the packet is for node1 itself, where nothing listens on 32506
    const cni0 = await connect(rt, CLIENT, NODE1_CNI0, NODE_PORT, { count: 2, timeoutS: 2 });
    expect(cni0.failed).toBe(2);
    expect(cni0.attempts.every((a) => /Connection refused/.test(a.error ?? ''))).toBe(true);
  });

  test('nodePortAddresses [10.42.0.0/16]: the cni0 address answers, the eth0 IP does not; back to the default after', async () => {
    try {
      await apply(loadTopology(podNetFile, { name: lab }), rt);
      const set = await nsRun(ns('node1'), ['nft', '-j', 'list', 'set', 'ip', 'kube-proxy', 'nodeport-ips']);
      const elems = (JSON.parse(set) as { nftables: { set?: { elem?: string[] } }[] }).nftables.find((o) => o.set)?.set?.elem ?? [];
      expect([...elems].sort()).toEqual(['10.42.0.0', '10.42.0.1']); // flannel.1 and cni0
      const cni0 = await connect(rt, CLIENT, NODE1_CNI0, NODE_PORT, { count: 6 });
      expect(cni0.failed).toBe(0);
      expect(Object.keys(cni0.byPod).length).toBeGreaterThan(0);
      const eth0 = await connect(rt, CLIENT, NODE1, NODE_PORT, { count: 2, timeoutS: 2 });
      expect(eth0.failed).toBe(2);
      expect(eth0.attempts.every((a) => /Connection refused/.test(a.error ?? ''))).toBe(true);
    } finally {
      await apply(topo, rt);
    }
    expect((await connect(rt, CLIENT, NODE1, NODE_PORT, { count: 3 })).failed).toBe(0);
  }, 60_000);
});

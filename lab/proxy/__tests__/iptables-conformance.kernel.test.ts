import { type ConnectResult, connect } from '../../probe/connect';
import { describeKernel, nsRun, rt } from '../../testing/kernel';
import { uniqueLabName } from '../../testing/names';
import { loadTopologyText } from '../../topology/resolve';
import type { Topology } from '../../topology/types';
import { apply } from '../../ops/apply';
import { down } from '../../ops/down';
import { up } from '../../ops/up';

// What kube-proxy's iptables scaffolding means on the real kernel (issue 17): node ports on
// 127.0.0.1 (localhostNodePorts, route_localnet, masqueraded) and not when it is off; a chain of
// the user's own in the nat table survives a re-sync (--noflush), chains of a service that went
// away are deleted, jumps that were flushed come back; node ports answer only on the addresses
// nodePortAddresses allows.

const LAB = uniqueLabName('t-kp-ipt');
const ns = (node: string, pod?: string) => `kdl.${LAB}.${node}${pod ? `.${pod}` : ''}`;
const NODE1 = '192.168.205.4';
const CNI1 = '10.42.0.1'; // node1's cni0
const FLANNEL1 = '10.42.0.0'; // node1's flannel.1: the way out to node2's pods
const NODE_PORT = 30080;
const GONE = '10.43.0.20';

const yaml = (proxy: string, withGone = true) => `
name: ${LAB}
cluster: { podCIDR: 10.42.0.0/16, serviceCIDR: 10.43.0.0/16, underlay: 192.168.205.0/24 }
nodes:
  - { name: node1, ip: ${NODE1}, podSubnet: 10.42.0.0/24 }
  - { name: node2, ip: 192.168.205.3, podSubnet: 10.42.1.0/24 }
pods:
  - { name: client, node: node2, ip: 10.42.1.5 }
  - { name: web-1, node: node2, ip: 10.42.1.9, labels: { app: web }, ports: [80] }
services:
  - { name: web, type: NodePort, clusterIP: 10.43.0.30, selector: { app: web }, ports: [{ port: 80, nodePort: ${NODE_PORT} }] }
${withGone ? `  - { name: gone, clusterIP: ${GONE}, selector: { app: web }, ports: [{ port: 80 }] }` : ''}
proxy:
  mode: iptables
${proxy}
`;
const topo = (proxy = '', withGone = true): Topology => loadTopologyText(yaml(proxy, withGone), `${LAB}.yaml`);
const peers = (r: ConnectResult) => new Set(r.attempts.map((a) => a.peer?.split(':')[0]));
const save = (table: string) => nsRun(ns('node1'), ['iptables-save', '-t', table]);

describeKernel('kube-proxy iptables scaffolding on the real kernel', () => {
  beforeAll(async () => {
    await up(topo(), rt);
  }, 60_000);
  afterAll(async () => {
    await down(rt, LAB);
  });

  test('localhostNodePorts (default on): 127.0.0.1:<nodePort> on a node answers, masqueraded; route_localnet is 1; KUBE-FIREWALL guards 127/8', async () => {
    expect((await nsRun(ns('node1'), ['sysctl', '-n', 'net.ipv4.conf.all.route_localnet'])).trim()).toBe('1');
    const r = await connect(rt, ns('node1'), '127.0.0.1', NODE_PORT, { count: 5 });
    expect(r.failed).toBe(0);
    expect(Object.keys(r.byPod)).toEqual(['web-1']);
    // the endpoint on node2 sees node1's address of the way out, not 127.0.0.1
    expect(peers(r)).toEqual(new Set([FLANNEL1]));
    expect(await save('filter')).toContain(
      '-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP',
    );
    // every local address is a node port address by default: cni0's too (the control for below)
    expect((await connect(rt, ns('node2', 'client'), CNI1, NODE_PORT, { count: 2 })).failed).toBe(0);
  });

  test("a chain of the user's own in nat survives a re-sync; the chains of a service that went away are deleted", async () => {
    for (const args of [
      ['-N', 'MYCHAIN'],
      ['-A', 'MYCHAIN', '-s', '203.0.113.0/24', '-j', 'RETURN'],
      ['-A', 'PREROUTING', '-j', 'MYCHAIN'],
    ])
      await nsRun(ns('node1'), ['iptables', '-t', 'nat', ...args]);
    const before = await save('nat');
    const goneChain = /-A KUBE-SERVICES .*-d 10\.43\.0\.20\/32 .*-j (KUBE-SVC-\w+)/.exec(before)![1]!;
    await apply(topo('', false), rt); // the service "gone" removed
    const after = await save('nat');
    expect(after).toContain(':MYCHAIN - [0:0]');
    expect(after).toContain('-A MYCHAIN -s 203.0.113.0/24 -j RETURN');
    expect(after).toContain('-A PREROUTING -j MYCHAIN');
    expect(after).not.toContain(goneChain);
    expect(after).not.toContain(GONE);
    // kube-proxy's jumps are there once, not once per sync
    expect(after.split('\n').filter((l) => l.startsWith('-A PREROUTING') && l.includes('-j KUBE-SERVICES'))).toHaveLength(1);
    expect((await connect(rt, ns('node2', 'client'), NODE1, NODE_PORT, { count: 3 })).failed).toBe(0);
  });

  test('a jump from a built-in chain that was flushed is inserted again by the next full sync, as kube-proxy does', async () => {
    await nsRun(ns('node1'), ['iptables', '-t', 'nat', '-F', 'PREROUTING']);
    expect((await connect(rt, ns('node2', 'client'), NODE1, NODE_PORT, { count: 2, timeoutS: 1 })).failed).toBe(2);
    await apply(topo('', false), rt, undefined, { full: true });
    expect((await connect(rt, ns('node2', 'client'), NODE1, NODE_PORT, { count: 3 })).failed).toBe(0);
  });

  test('localhostNodePorts off: 127.0.0.1:<nodePort> does not answer; the node IP still does', async () => {
    await apply(topo('  localhostNodePorts: false', false), rt);
    const r = await connect(rt, ns('node1'), '127.0.0.1', NODE_PORT, { count: 2, timeoutS: 1 });
    expect(r.failed).toBe(2);
    expect(await save('filter')).not.toMatch(/^-A KUBE-FIREWALL/m);
    expect((await connect(rt, ns('node2', 'client'), NODE1, NODE_PORT, { count: 3 })).failed).toBe(0);
  });

  test('nodePortAddresses [192.168.205.0/24]: the node port answers on eth0, not on the cni0 address', async () => {
    await apply(topo('  nodePortAddresses: [192.168.205.0/24]', false), rt);
    expect((await connect(rt, ns('node2', 'client'), NODE1, NODE_PORT, { count: 3 })).failed).toBe(0);
    expect((await connect(rt, ns('node2', 'client'), CNI1, NODE_PORT, { count: 2, timeoutS: 1 })).failed).toBe(2);
    expect(await save('nat')).toContain(
      `-A KUBE-SERVICES -d ${NODE1}/32 -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -j KUBE-NODEPORTS`,
    );
  });
});

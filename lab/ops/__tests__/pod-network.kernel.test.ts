import { readFileSync } from 'node:fs';
import { apply } from '../apply';
import { down } from '../down';
import { up } from '../up';
import { parsePing } from '../../probe/ping';
import { parseTraceroute } from '../../probe/traceroute';
import { loadTopology, loadTopologyText } from '../../topology/resolve';
import { describeKernel, nsRun, rt, topologyFile } from '../../testing/kernel';
import { uniqueLabName } from '../../testing/names';

// The pod network on the real kernel: what ping, traceroute and `ip -d` report, never what the
// lab planned. Addresses follow article 003 (client 10.42.0.65 on node1, web-2 10.42.1.9 on node2).

const VXLAN_LAB = uniqueLabName('t-vxlan');
const HOSTGW_LAB = uniqueLabName('t-hostgw');
const CLIENT = `kdl.${VXLAN_LAB}.node1.client`;

const ping = async (ns: string, dst: string) => parsePing(await nsRun(ns, ['ping', '-c', '3', '-i', '0.2', '-W', '2', dst]));
const hops = async (ns: string, dst: string) =>
  parseTraceroute(await nsRun(ns, ['traceroute', '-n', '-q', '1', '-w', '2', '-m', '6', dst])).map((h) => h.address ?? '*');

describeKernel('vxlan pod network (flannel-style)', () => {
  beforeAll(async () => {
    await up(loadTopology(topologyFile('default.yaml'), { name: VXLAN_LAB }), rt);
  });
  afterAll(async () => {
    await down(rt, VXLAN_LAB);
  });

  test('same-node pod to pod: TTL 64, one hop over cni0', async () => {
    const p = await ping(CLIENT, '10.42.0.66');
    expect(p.received).toBe(3);
    expect(p.replies.map((r) => r.ttl)).toEqual([64, 64, 64]);
    expect(await hops(CLIENT, '10.42.0.66')).toEqual(['10.42.0.66']);
  });

  test('cross-node pod to pod over VXLAN: reply TTL 62', async () => {
    const p = await ping(CLIENT, '10.42.1.9');
    expect(p.received).toBe(3);
    expect(p.replies.map((r) => r.ttl)).toEqual([62, 62, 62]);
  });

  test('cross-node traceroute: source cni0, destination flannel.1 (<subnet>.0), pod', async () => {
    expect(await hops(CLIENT, '10.42.1.9')).toEqual(['10.42.0.1', '10.42.1.0', '10.42.1.9']);
    expect(await hops(CLIENT, '10.42.2.6')).toEqual(['10.42.0.1', '10.42.2.0', '10.42.2.6']);
  });

  test('flannel.1 as the kernel reports it: VNI 1, port 8472, MTU 1450, local node IP, nolearning', async () => {
    const [link] = JSON.parse(await nsRun(`kdl.${VXLAN_LAB}.node1`, ['ip', '-j', '-d', 'link', 'show', 'flannel.1']));
    expect(link.mtu).toBe(1450);
    expect(link.linkinfo.info_kind).toBe('vxlan');
    expect(link.linkinfo.info_data).toMatchObject({ id: 1, port: 8472, local: '192.168.205.4', learning: false });
  });

  test('routes, permanent neighbours and fdb entries point at the other nodes', async () => {
    const routes = JSON.parse(await nsRun(`kdl.${VXLAN_LAB}.node1`, ['ip', '-j', 'route', 'show']));
    const r = routes.find((x: { dst: string }) => x.dst === '10.42.1.0/24');
    expect(r).toMatchObject({ gateway: '10.42.1.0', dev: 'flannel.1', flags: ['onlink'] });
    // node2's flannel.1 MAC, read from node2 itself
    const [peer] = JSON.parse(await nsRun(`kdl.${VXLAN_LAB}.node2`, ['ip', '-j', 'link', 'show', 'flannel.1']));
    const neigh = JSON.parse(await nsRun(`kdl.${VXLAN_LAB}.node1`, ['ip', '-j', 'neigh', 'show', 'dev', 'flannel.1']));
    expect(neigh).toContainEqual(expect.objectContaining({ dst: '10.42.1.0', lladdr: peer.address, state: ['PERMANENT'] }));
    const fdb = JSON.parse(await nsRun(`kdl.${VXLAN_LAB}.node1`, ['bridge', '-j', 'fdb', 'show', 'dev', 'flannel.1']));
    expect(fdb).toContainEqual(expect.objectContaining({ mac: peer.address, dst: '192.168.205.3', state: 'permanent' }));
  });

  test("a pod's eth0 iflink names a veth on its node that is a port of cni0 (article 000)", async () => {
    const iflink = Number((await nsRun(CLIENT, ['cat', '/sys/class/net/eth0/iflink'])).trim());
    const links = JSON.parse(await nsRun(`kdl.${VXLAN_LAB}.node1`, ['ip', '-j', 'link', 'show']));
    const veth = links.find((l: { ifindex: number }) => l.ifindex === iflink);
    expect(veth.ifname).toMatch(/^veth[0-9a-f]{8}$/);
    expect(veth.master).toBe('cni0');
  });

  test('pod route table: default and the pod CIDR via cni0 .1', async () => {
    const routes = JSON.parse(await nsRun(CLIENT, ['ip', '-j', 'route', 'show']));
    expect(routes).toContainEqual(expect.objectContaining({ dst: 'default', gateway: '10.42.0.1', dev: 'eth0' }));
    expect(routes).toContainEqual(expect.objectContaining({ dst: '10.42.0.0/16', gateway: '10.42.0.1', dev: 'eth0' }));
  });

  // apply re-creates a readdressed pod's namespace and veth under the same names: the old veth
  // must be gone by then, not left to the kernel's namespace cleanup ("File exists").
  test('apply readdressing web-2 five times over: each time the new address answers (TTL 62), the old one not', async () => {
    const yaml = readFileSync(topologyFile('default.yaml'), 'utf8');
    const at = (ip: string) => loadTopologyText(yaml.replace('ip: 10.42.1.9,', `ip: ${ip},`), 'readdressed.yaml', { name: VXLAN_LAB });
    for (const [ip, old] of [
      ['10.42.1.99', '10.42.1.9'],
      ['10.42.1.9', '10.42.1.99'],
      ['10.42.1.99', '10.42.1.9'],
      ['10.42.1.9', '10.42.1.99'],
      ['10.42.1.99', '10.42.1.9'],
    ]) {
      await apply(at(ip!), rt);
      expect((await ping(CLIENT, ip!)).replies.map((r) => r.ttl)).toEqual([62, 62, 62]);
      expect(parsePing(await nsRun(CLIENT, ['ping', '-c', '1', '-W', '1', old!], false)).received).toBe(0);
    }
    await apply(at('10.42.1.9'), rt);
  });
});

describeKernel('host-gw pod network', () => {
  beforeAll(async () => {
    await up(loadTopology(topologyFile('host-gw.yaml'), { name: HOSTGW_LAB }), rt);
  });
  afterAll(async () => {
    await down(rt, HOSTGW_LAB);
  });

  test('cross-node traceroute: source cni0, destination node IP, pod; TTL 62', async () => {
    const client = `kdl.${HOSTGW_LAB}.node1.client`;
    expect(await hops(client, '10.42.1.9')).toEqual(['10.42.0.1', '192.168.205.3', '10.42.1.9']);
    expect((await ping(client, '10.42.1.9')).replies.map((r) => r.ttl)).toEqual([62, 62, 62]);
  });

  test('no VXLAN device; routes via node IPs on eth0', async () => {
    const links = JSON.parse(await nsRun(`kdl.${HOSTGW_LAB}.node1`, ['ip', '-j', 'link', 'show']));
    expect(links.map((l: { ifname: string }) => l.ifname)).not.toContain('flannel.1');
    const routes = JSON.parse(await nsRun(`kdl.${HOSTGW_LAB}.node1`, ['ip', '-j', 'route', 'show']));
    expect(routes).toContainEqual(expect.objectContaining({ dst: '10.42.2.0/24', gateway: '192.168.205.5', dev: 'eth0' }));
  });
});

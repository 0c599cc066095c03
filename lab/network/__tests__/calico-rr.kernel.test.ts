import { join } from 'node:path';
import { startBird, stopBird, waitConverged } from '../../ops/bgp';
import { down } from '../../ops/down';
import { up } from '../../ops/up';
import { parsePing } from '../../probe/ping';
import { birdcArgv } from '../../state/bird';
import { bgpNode, birdRoutes } from '../../status/bgp';
import { cli, describeKernel, nsRun, rt } from '../../testing/kernel';
import { uniqueLabName } from '../../testing/names';
import { loadTopology } from '../../topology/resolve';

// Calico's bgp mode with route reflectors (fixtures/calico-rr.yaml): node1 and node2 reflect,
// node3 and node4 are their clients. The clients never peer with each other, yet each learns
// the other's block — reflected, its next hop still the originating node — and the pods reach
// each other directly across the segment. What birdc says is read through `lab exec`.

const LAB = uniqueLabName('calico-rr');
const topo = loadTopology(join(__dirname, 'fixtures', 'calico-rr.yaml'), { name: LAB });
const ns = (...parts: string[]) => ['kdl', LAB, ...parts].join('.');
const [n1, n2, n3, n4] = topo.nodes;
const podIp = (name: string) => topo.pods.find((p) => p.name === name)!.ip;
const A = ns('node3', 'a');

const ping = async (from: string, dst: string, check = true) =>
  parsePing(await nsRun(from, ['ping', '-c', '3', '-i', '0.2', '-W', '1', dst], check));
/** the BGP protocols `birdc show protocols` lists on a node, read through `lab exec <node>` */
const protocols = async (node: string): Promise<string[]> => {
  const r = await cli(['exec', '-n', LAB, node, '--', ...birdcArgv(LAB, node, 'show', 'protocols')]);
  expect(r.code).toBe(0);
  return r.stdout
    .split('\n')
    .filter((l) => /^\S+\s+BGP\s/.test(l))
    .map((l) => `${l.split(/\s+/)[0]} ${/Established/.test(l) ? 'Established' : 'not established'}`);
};
const viaOf = async (node: string, dst: string) =>
  (JSON.parse(await nsRun(ns(node), ['ip', '-j', 'route', 'show', dst])) as { gateway?: string; protocol?: string }[])[0];

describeKernel('Calico bgp mode with route reflectors instead of the full mesh', () => {
  beforeAll(async () => {
    await up(topo, rt);
  }, 60_000);
  afterAll(async () => {
    await down(rt, LAB);
  });

  test('sessions: a reflector has one per other node, a client one per reflector (5 in all, not the mesh 6)', async () => {
    const name = (ip: string) => `Node_${ip.replaceAll('.', '_')}`;
    expect(await protocols('node1')).toEqual([`${name(n2!.ip)} Established`, `${name(n3!.ip)} Established`, `${name(n4!.ip)} Established`]);
    expect(await protocols('node3')).toEqual([`${name(n1!.ip)} Established`, `${name(n2!.ip)} Established`]);
    expect(await protocols('node4')).toEqual([`${name(n1!.ip)} Established`, `${name(n2!.ip)} Established`]);
    // as `lab status` reads them: node3 receives node4's block from both reflectors, and node1's and node2's
    const { sessions } = await bgpNode(rt, topo, 'node3');
    expect(sessions.map((s) => [s.peer, s.info, s.received])).toEqual([
      ['node1', 'Established', 3],
      ['node2', 'Established', 3],
    ]);
  });

  test("a client learns the other client's block reflected, next hop the originating node: pods reach each other, TTL 62", async () => {
    const b = podIp('b');
    expect(await viaOf('node3', n4!.blocks![0]!)).toMatchObject({ gateway: n4!.ip, protocol: 'bird' });
    expect(await viaOf('node4', n3!.blocks![0]!)).toMatchObject({ gateway: n3!.ip, protocol: 'bird' });
    const r = await ping(A, b);
    expect(r.received).toBe(3);
    expect(r.replies.map((x) => x.ttl)).toEqual([62, 62, 62]);
  });

  test("stopping one reflector's BIRD: the clients keep every route through the other; stopping both: client routes go", async () => {
    await stopBird(rt, topo, 'node1');
    await waitConverged(rt, topo, ['node1']);
    expect((await birdRoutes(rt, topo, 'node3')).has(n4!.blocks![0]!)).toBe(true);
    expect((await ping(A, podIp('b'))).received).toBe(3);

    await stopBird(rt, topo, 'node2');
    // no reflector left: the clients have no session, so no route to each other
    const deadline = Date.now() + 10_000;
    while ((await birdRoutes(rt, topo, 'node3')).has(n4!.blocks![0]!) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    expect((await birdRoutes(rt, topo, 'node3')).has(n4!.blocks![0]!)).toBe(false);
    expect((await ping(A, podIp('b'), false)).received).toBe(0);

    await startBird(rt, topo, ['node1', 'node2']);
    expect((await ping(A, podIp('b'))).received).toBe(3);
  }, 90_000);
});

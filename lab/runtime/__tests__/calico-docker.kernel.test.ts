import { startBird, stopBird, waitConverged } from '../../ops/bgp';
import { parsePing } from '../../probe/ping';
import { birdcArgv } from '../../state/bird';
import { birdRoutes } from '../../status/bgp';
import { cli, describeKernel, topologyFile } from '../../testing/kernel';
import { uniqueLabName } from '../../testing/names';
import { describeIf, dockerEngine, requireInCi } from '../../testing/skip';
import { loadTopology } from '../../topology/resolve';
import { runtimeFor } from '../select';

// Calico's bgp mode on the docker runtime: every node a privileged container of the node image
// (bird2 in it), its BIRD started inside the container, its configuration and control socket
// there too. What birdc, ip route and ping report, read through `lab exec` and the runtime.

const LAB = uniqueLabName('calico-dk');
const FILE = topologyFile('calico.yaml');
const topo = loadTopology(FILE, { name: LAB, runtime: 'docker' });
const rt = runtimeFor(topo);

const { ok: engine, reason: noEngine } = dockerEngine();
requireInCi(engine, 'no Docker engine answers: .ci/run should have started one (scripts/ensure-docker)');
const describeDocker = describeIf(engine, noEngine, describeKernel);

const exec = async (target: string, argv: string[], check = true): Promise<string> => {
  const r = await cli(['exec', '--name', LAB, target, '--', ...argv]);
  if (check && r.code !== 0) throw new Error(`${argv.join(' ')} in ${target}: ${r.stderr}`);
  return r.stdout;
};
const ping = async (dst: string, check = true) => parsePing(await exec('client', ['ping', '-c', '3', '-i', '0.2', '-W', '1', dst], check));

describeDocker('Calico bgp mode on the docker runtime', () => {
  beforeAll(async () => {
    await cli(['down', '--name', LAB]);
    const r = await cli(['up', '-f', FILE, '--runtime', 'docker', '--name', LAB]);
    if (r.code !== 0) throw new Error(r.stdout + r.stderr);
  }, 600_000); // the first run builds the node image
  afterAll(async () => {
    await cli(['down', '--name', LAB]);
    await rt.close();
  });

  test('BIRD runs inside each node container: birdc there lists both mesh sessions Established; routes are proto bird', async () => {
    const protocols = await exec('node1', birdcArgv(LAB, 'node1', 'show', 'protocols'));
    expect(protocols).toMatch(/^Mesh_192_168_205_3\s+BGP\s.*Established/m);
    expect(protocols).toMatch(/^Mesh_192_168_205_5\s+BGP\s.*Established/m);
    expect(await exec('node1', ['pgrep', '-x', 'bird'])).toMatch(/^\d+\n$/);
    const routes = await exec('node1', ['ip', 'route', 'show', 'proto', 'bird']);
    expect(routes).toContain('10.42.0.64/26 via 192.168.205.3 dev eth0');
    expect(routes).toContain('blackhole 10.42.0.0/26');
    const s = JSON.parse((await cli(['status', '--name', LAB, '--json'])).stdout) as {
      labs: { bgp?: { node: string; sessions: { info: string }[] }[] }[];
    };
    expect(s.labs[0]!.bgp!.flatMap((n) => n.sessions.map((x) => x.info))).toEqual(Array(6).fill('Established'));
    const r = await ping('10.42.0.64');
    expect(r.replies.map((x) => x.ttl)).toEqual([62, 62, 62]);
  });

  test("stopping node2's BIRD withdraws its block and its pods become unreachable; restarting restores both", async () => {
    await stopBird(rt, topo, 'node2');
    await waitConverged(rt, topo, ['node2']);
    expect((await birdRoutes(rt, topo, 'node1')).has('10.42.0.64/26')).toBe(false);
    expect((await ping('10.42.0.64', false)).received).toBe(0);
    await startBird(rt, topo, ['node2']);
    expect((await ping('10.42.0.64')).received).toBe(3);
  }, 90_000);
});

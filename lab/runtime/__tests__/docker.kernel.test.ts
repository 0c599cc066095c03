import { join } from 'node:path';
import { connectLocal } from '../../docker/engine';
import { LABEL_LAB } from '../docker';
import { parsePing } from '../../probe/ping';
import { parseTraceroute } from '../../probe/traceroute';
import { killUpHalfWay } from '../../testing/detached';
import { cli, describeKernel, labNamespaces, REPO, rt } from '../../testing/kernel';
import { uniqueLabName } from '../../testing/names';
import { describeIf, dockerEngine, requireInCi } from '../../testing/skip';

// The docker runtime for real: node containers on the local engine (NetworkMode none), pods as
// namespaces inside them, the same plan and rules applied through the engine's exec. CI starts
// an engine (scripts/ensure-docker); without one, outside CI, the tests are skipped with a reason.

const LAB = uniqueLabName('dkt');
const docker = connectLocal();
const containers = async (lab: string) => docker.listContainers({ all: true, filters: JSON.stringify({ label: [`${LABEL_LAB}=${lab}`] }) });
const inContainer = async (name: string, argv: string[]): Promise<string> => {
  const r = await cli(['exec', '--name', LAB, name, '--', ...argv]);
  if (r.code !== 0) throw new Error(`${argv.join(' ')} in ${name}: ${r.stderr}`);
  return r.stdout;
};

// Decided while the tests are registered, so that without an engine they are reported as skipped.
const { ok: engine, reason: noEngine } = dockerEngine();
requireInCi(engine, 'no Docker engine answers: .ci/run should have started one (scripts/ensure-docker)');
const describeDocker = describeIf(engine, noEngine, describeKernel);

describeDocker('docker runtime', () => {
  beforeAll(async () => {
    await cli(['down', '--name', LAB]);
    const r = await cli(['up', '--runtime', 'docker', '--name', LAB]);
    if (r.code !== 0) throw new Error(r.stdout + r.stderr);
  }, 600_000); // the first run builds the node image (debootstrap + apt, once)
  afterAll(async () => {
    await cli(['down', '--name', LAB]);
  });

  it('runs one container per node: NetworkMode none, hostname = node, labelled with lab and node', async () => {
    const list = await containers(LAB);
    expect(list.map((c) => c.Names[0]).sort()).toEqual([`/kdl.${LAB}.node1`, `/kdl.${LAB}.node2`, `/kdl.${LAB}.node3`]);
    for (const c of list) {
      const info = await docker.getContainer(c.Id).inspect();
      expect(info.HostConfig.NetworkMode).toBe('none');
      expect(info.Config.Hostname).toBe(c.Labels['io.k8s-dataplane-lab.node']);
      expect(info.Config.Image).toMatch(/^kdl-node:[0-9a-f]{12}$/);
    }
    expect((await inContainer('node1', ['hostname'])).trim()).toBe('node1');
    // pods are namespaces inside their node's container, not on this host
    expect(
      (await inContainer('node1', ['ip', 'netns', 'list']))
        .split('\n')
        .map((l) => l.split(' ')[0])
        .filter(Boolean)
        .sort(),
    ).toEqual([`kdl.${LAB}.node1.client`, `kdl.${LAB}.node1.kube-system.kube-dns-1`, `kdl.${LAB}.node1.web-1`]);
    expect(labNamespaces(LAB).filter((n) => n.split('.').length === 4)).toEqual([]);
    const s = JSON.parse((await cli(['status', '--name', LAB, '--json'])).stdout);
    expect(s.labs[0]).toMatchObject({ name: LAB, runtime: 'docker', state: 'up' });
    expect(s.labs[0].pods).toHaveLength(8); // the default lab's 6 and the cluster DNS's kube-dns-1 and -2
  });

  it('cross-node pod traffic rides flannel VXLAN as on netns: ttl 62, hops cni0 → flannel.1 → pod', async () => {
    const ping = parsePing(await inContainer('client', ['ping', '-c', '2', '-i', '0.2', '10.42.1.9']));
    expect(ping.replies.map((r) => r.ttl)).toEqual([62, 62]);
    const hops = parseTraceroute(await inContainer('client', ['traceroute', '-n', '-q', '1', '-w', '1', '10.42.1.9']));
    expect(hops.map((h) => h.address)).toEqual(['10.42.0.1', '10.42.1.0', '10.42.1.9']);
    const vx = JSON.parse(await inContainer('node2', ['ip', '-d', '-j', 'link', 'show', 'flannel.1']))[0];
    expect(vx.linkinfo.info_data).toMatchObject({ id: 1, port: 8472 });
  });

  it('kube-proxy iptables rules live in the node containers and serve the cluster IP', async () => {
    expect(await inContainer('node1', ['iptables-save', '-t', 'nat'])).toMatch(
      /-A KUBE-SERVICES -d 10\.43\.0\.20\/32 -p tcp .* -j KUBE-SVC-/,
    );
    const r = await cli(['connect', '--name', LAB, 'client', '10.43.0.20:80', '-c', '30', '--json']);
    const res = JSON.parse(r.stdout) as { byPod: Record<string, number>; failed: number; attempts: { peer: string }[] };
    expect(res.failed).toBe(0);
    expect(Object.keys(res.byPod).sort()).toEqual(['web-1', 'web-2', 'web-3']);
    expect(new Set(res.attempts.map((a) => a.peer.split(':')[0]))).toEqual(new Set(['10.42.0.65']));
  });

  it('runs the shipped scenario suites unchanged', async () => {
    for (const f of ['pod-network.yaml', 'services-iptables.yaml']) {
      const r = await cli(['run', join(REPO, 'scenarios', f), '--runtime', 'docker', '--reuse', '--name', LAB]);
      expect({ f, code: r.code, out: r.stdout + r.stderr }).toEqual({ f, code: 0, out: expect.stringMatching(/0 failed, 0 skipped/) });
    }
  }, 120_000);
});

describeDocker('docker runtime: down after a crash', () => {
  it('leaves no container, link or namespace after SIGKILL of up half-way', async () => {
    const lab = uniqueLabName('dkkill');
    await cli(['down', '--name', lab]);
    // Held after the links stage, killed once the containers run and node3's eth0 is in its namespace.
    await killUpHalfWay(
      ['--runtime', 'docker', '--name', lab],
      'links',
      async () => {
        if ((await containers(lab)).length < 3 || labNamespaces(lab).length < 4) return false;
        return (await rt.run(`kdl.${lab}.node3`, ['ip', '-j', 'link', 'show', 'eth0'], { check: false })).code === 0;
      },
      120_000,
    );
    expect((await containers(lab)).length).toBe(3); // really left half-built

    const d = await cli(['down', '--name', lab]);
    expect(d.code).toBe(0);
    expect(await containers(lab)).toEqual([]);
    expect(labNamespaces(lab)).toEqual([]);
  }, 180_000);
});

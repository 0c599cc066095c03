import { writeFileSync } from 'node:fs';
import Dockerode from 'dockerode';
import { DockerExecutor } from '../../docker/exec';
import { describeKernel } from '../../testing/kernel';
import { dockerEngine, itIf, nodeImagePresent, requireInCi } from '../../testing/skip';
import { startTestHosts, type TestHost } from '../../testing/ssh-host';
import { SshHost } from '../ssh';

// A real sshd in a namespace of the test's own (lab/testing/ssh-host.ts) and the lab's ssh2
// client: commands on the host, the Docker API carried over the connection, host keys checked.

describeKernel('ssh hosts', () => {
  let hosts: TestHost[];
  let b: TestHost;
  let ssh: SshHost;
  beforeAll(async () => {
    hosts = await startTestHosts(['b']);
    b = hosts[0]!;
    ssh = await SshHost.connect(b.target);
  }, 30_000);
  afterAll(async () => {
    ssh?.close();
    await hosts?.[0]?.stop();
  });

  it('runs argv on the host with stdin, exit codes and its own view (namespace, /run/netns)', async () => {
    const r = await ssh.run(['ip', '-j', 'addr', 'show', 'eth0']);
    expect(JSON.parse(r.stdout)[0].addr_info.map((a: { local: string }) => a.local)).toContain('10.99.9.1');
    expect((await ssh.run(['ip', 'netns', 'list'])).stdout).toBe(''); // its own /run/netns
    expect((await ssh.run(['cat'], { input: "a 'quoted' $(word)\n" })).stdout).toBe("a 'quoted' $(word)\n");
    const r3 = await ssh.run(['sh', '-c', 'echo out; echo err >&2; exit 3'], { check: false });
    expect(r3).toMatchObject({ code: 3, stdout: 'out\n', stderr: 'err\n' });
    await expect(ssh.run(['false'])).rejects.toThrow(/false exited 1/);
  });

  it('signals a process it started and reports its exit', async () => {
    const p = ssh.start(['sh', '-c', 'echo started >&2; exec sleep 30']);
    await new Promise<void>((resolve) => p.onStderr((t) => t.includes('started') && resolve()));
    p.signal('SIGTERM');
    const r = await p.exited;
    expect(r.stderr).toBe('started\n');
    expect({ code: r.code, signal: r.signal }).toEqual({ code: null, signal: 'SIGTERM' });
  });

  // Decided while the tests are registered: without an engine or a node image they are reported
  // as skipped with the reason; .ci/run starts the engine and builds the image first, so with
  // CI=true a missing one fails.
  const engine = dockerEngine();
  const image = nodeImagePresent();
  requireInCi(engine.ok && image.ok, `${engine.reason || image.reason}: .ci/run should have made it (scripts/ensure-docker, lab image)`);
  itIf(engine.ok, engine.reason)('carries the Docker API over the connection (docker system dial-stdio)', async () => {
    const docker = new Dockerode({ protocol: 'http', host: 'docker', port: 80, agent: ssh.dockerAgent() } as Dockerode.DockerOptions);
    expect(String(await docker.ping())).toBe('OK');
  });

  itIf(image.ok, image.reason)(
    'runs exec in a node container over it',
    async () => {
      const docker = new Dockerode({ protocol: 'http', host: 'docker', port: 80, agent: ssh.dockerAgent() } as Dockerode.DockerOptions);
      const image = (await docker.listImages()).find((i) => i.RepoTags?.some((t) => t.startsWith('kdl-node:')))?.RepoTags?.[0];
      if (!image) throw new Error('the node image was there when the tests were registered and is gone now');
      const c = await docker.createContainer({
        Image: image,
        Cmd: ['sleep', 'infinity'],
        HostConfig: { NetworkMode: 'none' },
        Labels: { 'io.k8s-dataplane-lab.test': 'ssh' },
      });
      try {
        await c.start();
        const exec = new DockerExecutor(docker, c.id);
        expect(await exec.run(['sh', '-c', 'cat; hostname >&2; exit 4'], { input: 'via ssh\n', check: false })).toMatchObject({
          code: 4,
          stdout: 'via ssh\n',
          stderr: `${c.id.slice(0, 12)}\n`,
        });
      } finally {
        await c.remove({ force: true });
      }
    },
    30_000,
  );

  it('refuses a host whose key is not the one known_hosts holds, and an unknown host', async () => {
    const wrong = `${b.knownHosts}.wrong`;
    writeFileSync(wrong, `${b.address} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n`);
    await expect(SshHost.connect({ ...b.target, knownHosts: wrong })).rejects.toThrow(
      /ssh to root@10\.99\.9\.1: HOST KEY MISMATCH for 10\.99\.9\.1/,
    );
    const empty = `${b.knownHosts}.empty`;
    writeFileSync(empty, '');
    await expect(SshHost.connect({ ...b.target, knownHosts: empty })).rejects.toThrow(/10\.99\.9\.1 is not in .*known_hosts\.empty/);
  });
});

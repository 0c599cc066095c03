import type Dockerode from 'dockerode';
import { HOST_SHELL, LABEL_ROLE, startPrivileged } from './container';
import { DockerExecutor } from './exec';

// A shell on an engine's machine reached through the engine alone (tcp:// engines, where the lab
// has no ssh): a helper container in the machine's network and PID namespaces with the machine's
// /run/netns shared in, so `ip netns add/attach` there make and name namespaces of the machine.
// It belongs to the lab (labelled with it) and `down` removes it last.

export const hostShellName = (lab: string, host: string) => `kdl.${lab}.${host}.host-shell`;

export async function hostShell(
  docker: Dockerode,
  image: string,
  lab: string,
  host: string,
  labelLab: string,
  onNotice?: (t: string) => void,
): Promise<DockerExecutor> {
  const name = hostShellName(lab, host);
  const existing = (await docker.listContainers({ all: true, filters: JSON.stringify({ name: [`^/${name}$`] }) }))[0];
  if (existing?.State === 'running') return new DockerExecutor(docker, existing.Id);
  if (existing) await docker.getContainer(existing.Id).remove({ force: true });
  const c = await startPrivileged(
    docker,
    {
      name,
      Image: image,
      Cmd: ['sleep', 'infinity'],
      Labels: { [labelLab]: lab, [LABEL_ROLE]: HOST_SHELL },
      HostConfig: { NetworkMode: 'host', PidMode: 'host', Binds: ['/run/netns:/run/netns:rshared'] },
    },
    onNotice,
  );
  return new DockerExecutor(docker, c.id);
}

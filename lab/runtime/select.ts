import Dockerode from 'dockerode';
import { connectLocal, engineAvailable, LOCAL_SOCKET, type ProgressFn, requireEngine } from '../docker/engine';
import { ensureNodeImage } from '../docker/node-image';
import { readFileSync } from 'node:fs';
import { Agent as HttpsAgent } from 'node:https';
import { hostShell } from '../docker/host-shell';
import { LabError } from '../errors';
import { SshHost } from '../remote/ssh';
import { readRecord } from '../state/store';
import type { Topology, TopologyHost } from '../topology/types';
import { type DockerHost, DockerRuntime, LABEL_LAB } from './docker';
import { LocalExecutor } from './executor';
import { dockerLabs } from './labs';
import { NetnsRuntime } from './netns';
import type { Runtime } from './runtime';

// Which runtime a lab is built or found with: the topology says for `up`; for a lab that is up
// its state record says (with the hosts it uses), and without one the local engine's labels do
// (a container labelled with the lab means docker), so `down` works after a crash either way.

export interface RuntimeHooks {
  /** progress lines while the node image is built (once per engine; cached by content hash) */
  onImageProgress?: ProgressFn;
  onNotice?: (text: string) => void;
}

type Placement = Pick<Topology, 'name' | 'runtime' | 'hosts' | 'nodes'>;

export function runtimeFor(topo: Placement | 'netns' | 'docker', hooks: RuntimeHooks = {}): Runtime {
  const t: Placement = typeof topo === 'string' ? { name: '', runtime: topo, hosts: [], nodes: [] } : topo;
  if (t.runtime === 'netns') return new NetnsRuntime();
  const hosts = t.hosts.length ? t.hosts : [{ name: 'local', engine: { kind: 'local', socket: LOCAL_SOCKET } } satisfies TopologyHost];
  const images = new Map<string, Promise<string>>();
  const placement = new Map(t.nodes.map((n) => [n.name, n.host]));
  // the node image on a host's engine: built on this machine's, shipped from it to the others
  const image = (name: string, docker: Dockerode, remote: boolean): Promise<string> => {
    let p = images.get(name);
    if (!p) {
      const onProgress = hooks.onImageProgress ? (l: string) => hooks.onImageProgress!(`${name}: ${l}`) : undefined;
      p = (async () => {
        const here = remote && (await engineAvailable()) ? connectLocal() : undefined;
        return ensureNodeImage(docker, { ...(onProgress ? { onProgress } : {}), ...(here ? { copyFrom: here } : {}) });
      })();
      images.set(name, p);
    }
    return p;
  };
  return new DockerRuntime({
    hosts: () => Promise.all(hosts.map((h) => connectHost(h, t.name, image, hooks))),
    placement: (node) => placement.get(node),
    multiHost: t.hosts.length > 1,
    remote: (name) => (hosts.find((h) => h.name === name) ?? hosts[0]!).engine.kind !== 'local',
    image: (h: DockerHost) => image(h.name, h.docker, !h.local),
    ...(hooks.onNotice ? { onNotice: hooks.onNotice } : {}),
  });
}

async function connectHost(
  h: TopologyHost,
  lab: string,
  image: (name: string, docker: Dockerode, remote: boolean) => Promise<string>,
  hooks: RuntimeHooks,
): Promise<DockerHost> {
  const e = h.engine;
  switch (e.kind) {
    case 'local': {
      const docker = e.socket === LOCAL_SOCKET ? connectLocal() : new Dockerode({ socketPath: e.socket });
      await requireEngine(docker);
      return { name: h.name, docker, shell: new LocalExecutor(), local: true };
    }
    case 'ssh': {
      const ssh = await SshHost.connect({
        user: e.user,
        host: e.host,
        port: e.port,
        ...(e.identityFile ? { identityFile: e.identityFile } : {}),
        ...(e.knownHosts ? { knownHosts: e.knownHosts } : {}),
        ...(e.proxyCommand ? { proxyCommand: e.proxyCommand } : {}),
      });
      const docker = new Dockerode({ protocol: 'http', host: 'docker', port: 80, agent: ssh.dockerAgent() } as Dockerode.DockerOptions);
      try {
        await docker.ping();
      } catch (err) {
        ssh.close();
        throw new LabError(
          `host ${h.name} (${ssh.name}): no Docker engine answers there through 'docker system dial-stdio' (${err instanceof Error ? err.message : String(err)})`,
          2,
        );
      }
      return { name: h.name, docker, shell: ssh, local: false };
    }
    case 'tcp': {
      const tls = { ca: readFileSync(e.tls.ca), cert: readFileSync(e.tls.cert), key: readFileSync(e.tls.key) };
      // no TLS session reuse: a TLS front that forks per connection (socat, in the tests)
      // answered every resumed session with "internal error" (tried: without
      // maxCachedSessions 0 the second request failed, with it none did); no keep-alive either,
      // so each request gets a connection of its own, as the unix-socket engine does
      const agent = new HttpsAgent({ keepAlive: false, maxCachedSessions: 0, ...tls });
      const docker = new Dockerode({ protocol: 'https', host: e.host, port: e.port, ...tls, agent } as Dockerode.DockerOptions);
      try {
        await docker.ping();
      } catch (err) {
        throw new LabError(
          `host ${h.name}: the engine at tcp://${e.host}:${e.port} does not answer over TLS (${err instanceof Error ? err.message : String(err)})`,
          2,
        );
      }
      // no ssh here: the lab's commands on that machine run in a helper container of the lab's
      const shell = await hostShell(docker, await image(h.name, docker, true), lab, h.name, LABEL_LAB, hooks.onNotice);
      return { name: h.name, docker, shell, local: false };
    }
  }
}

export async function runtimeOfLab(lab: string, hooks: RuntimeHooks = {}): Promise<Runtime> {
  const rec = readRecord(lab);
  if (rec) return runtimeFor(rec.topology, hooks);
  return runtimeFor((await dockerLabs()).includes(lab) ? 'docker' : 'netns', hooks);
}

/** Closes what a runtime holds open (ssh connections), so the process can exit. */
export async function closeRuntime(rt: Runtime): Promise<void> {
  await rt.close();
}

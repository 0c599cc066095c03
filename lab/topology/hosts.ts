import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseSshUrl } from './ssh-url';
import { parseIp } from './ipv4';
import type { TopologyInput } from './schema';
import type { EngineSpec, TopologyHost } from './types';

// `hosts:` — the machines whose Docker engines run a lab's nodes. Checked here: engine URLs,
// files named, that only the docker runtime uses them, that every host of a multi-host lab has
// an address the others can send the underlay tunnel to; nodes not placed are spread in turn.

type Path = (string | number)[];
export const LOCAL_SOCKET = '/var/run/docker.sock';

export function parseEngine(text: string): EngineSpec | string {
  if (text === 'local') return { kind: 'local', socket: LOCAL_SOCKET };
  const unix = /^unix:\/\/(\/.+)$/.exec(text);
  if (unix) return { kind: 'local', socket: unix[1]! };
  if (text.startsWith('ssh://')) {
    const t = parseSshUrl(text);
    return typeof t === 'string' ? t : { kind: 'ssh', ...t };
  }
  const tcp = /^tcp:\/\/([^:/]+):(\d+)\/?$/.exec(text);
  if (tcp) return { kind: 'tcp', host: tcp[1]!, port: Number(tcp[2]), tls: { ca: '', cert: '', key: '' } };
  return `'${text}': expected local, unix:///path, ssh://[user@]host[:port] or tcp://host:port`;
}

export function resolveHosts(
  input: TopologyInput,
  file: string,
  fail: (path: Path, message: string) => void,
): { hosts: TopologyHost[]; nodeHost: (string | undefined)[] } {
  const given = input.hosts ?? [];
  const nodeHost: (string | undefined)[] = input.nodes.map((n) => n.host);
  if (!given.length) {
    input.nodes.forEach(
      (n, i) =>
        n.host !== undefined && fail(['nodes', i, 'host'], `there are no hosts: list them under hosts: (docker runtime) or leave host out`),
    );
    return { hosts: [], nodeHost: nodeHost.map(() => undefined) };
  }
  if (input.runtime !== 'docker')
    fail(['hosts'], `hosts need runtime: docker (the ${input.runtime} runtime runs every node on this machine)`);
  const near = (f: string) => resolve(dirname(file), f);
  const seen = new Set<string>();
  const hosts: TopologyHost[] = [];
  given.forEach((h, i) => {
    const path: Path = ['hosts', i];
    if (seen.has(h.name)) fail([...path, 'name'], `duplicate host name '${h.name}'`);
    seen.add(h.name);
    let engine = parseEngine(h.engine);
    if (typeof engine === 'string') return fail([...path, 'engine'], engine);
    for (const k of ['identityFile', 'knownHosts'] as const) {
      const f = h[k];
      if (f !== undefined && !existsSync(near(f))) fail([...path, k], `${near(f)} does not exist`);
    }
    if (engine.kind === 'ssh')
      engine = {
        ...engine,
        ...(h.identityFile ? { identityFile: near(h.identityFile) } : {}),
        ...(h.knownHosts ? { knownHosts: near(h.knownHosts) } : {}),
        ...(h.proxyCommand ? { proxyCommand: h.proxyCommand } : {}),
      };
    else if (h.identityFile || h.knownHosts || h.proxyCommand)
      fail(path, 'identityFile, knownHosts and proxyCommand are for ssh:// engines');
    if (engine.kind === 'tcp') {
      if (!h.tls)
        return fail(
          [...path, 'tls'],
          'a tcp:// engine needs tls: { ca, cert, key } (an engine without TLS on the network would take orders from anyone)',
        );
      for (const k of ['ca', 'cert', 'key'] as const)
        if (!existsSync(near(h.tls[k]))) fail([...path, 'tls', k], `${near(h.tls[k])} does not exist`);
      engine = { ...engine, tls: { ca: near(h.tls.ca), cert: near(h.tls.cert), key: near(h.tls.key) } };
    }
    const implied = engine.kind === 'local' ? undefined : parseIp(engine.host) !== undefined ? engine.host : undefined;
    const address = h.address ?? implied;
    if (given.length > 1 && address === undefined)
      fail([...path], `host '${h.name}' needs address: (the other hosts send the lab's underlay tunnel there)`);
    hosts.push({ name: h.name, engine, ...(address ? { address } : {}) });
  });
  if (given.length > 1) {
    const u = input.cluster.underlay;
    if (Array.isArray(u) && u.length > 1)
      fail(['cluster', 'underlay'], 'a lab over several hosts has one underlay segment (it is stretched between the hosts)');
  }
  let next = 0;
  input.nodes.forEach((n, i) => {
    if (n.host === undefined) nodeHost[i] = given[next++ % given.length]!.name;
    else if (!seen.has(n.host)) fail(['nodes', i, 'host'], `no host named '${n.host}' (hosts: ${given.map((h) => h.name).join(', ')})`);
  });
  return { hosts, nodeHost };
}

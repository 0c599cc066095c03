import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SshTarget } from '../remote/ssh';
import type { Started } from '../runtime/executor';
import { host } from './kernel';
import { waitFor } from './wait';

// "Other hosts" for tests, on this machine: each is a network namespace of the test's own with
// its own mount namespace (a private /run/netns, so `ip netns` there does not see this host's),
// running a real sshd with a fresh host key. Hosts are joined by a veth pair, as two machines on
// one switch. The lab reaches them over ssh through a ProxyCommand (socat inside the namespace),
// so this host's own network namespace gains nothing. They reach the same Docker engine (the
// socket is a file), which stands in for each machine's own engine.

export interface TestHost {
  name: string;
  ns: string;
  address: string;
  target: SshTarget;
  /** known_hosts holding this host's key */
  knownHosts: string;
  stop: () => Promise<void>;
}

const PREFIX = 'kdlhost-';

export async function removeTestHosts(): Promise<void> {
  const list = (await host.run(['ip', 'netns', 'list'], { check: false })).stdout.split('\n').map((l) => l.split(' ')[0]!);
  for (const ns of list.filter((n) => n.startsWith(PREFIX))) {
    const pids = (await host.run(['ip', 'netns', 'pids', ns], { check: false })).stdout.split(/\s+/).filter(Boolean);
    if (pids.length) await host.run(['kill', '-9', ...pids], { check: false });
    await host.run(['ip', 'netns', 'del', ns], { check: false });
  }
}

/** Hosts on one segment (10.99.9.0/24, MTU 1600 so a VXLAN underlay fits a 1500-byte frame). */
export async function startTestHosts(names: string[]): Promise<TestHost[]> {
  await removeTestHosts();
  const dir = mkdtempSync(join(tmpdir(), 'kdl-hosts-'));
  await host.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'client_key')]);
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'client_key.pub')));
  const hosts: TestHost[] = [];
  const bridge = `${PREFIX}sw`;
  await host.run(['ip', 'netns', 'add', bridge]);
  await host.run(['ip', '-n', bridge, 'link', 'add', 'sw', 'type', 'bridge']);
  await host.run(['ip', '-n', bridge, 'link', 'set', 'sw', 'up']);
  for (const [i, name] of names.entries()) {
    const ns = `${PREFIX}${name}`;
    const address = `10.99.9.${i + 1}`;
    await host.run(['ip', 'netns', 'add', ns]);
    await host.run(['ip', '-n', bridge, 'link', 'add', `p${i}`, 'mtu', '1600', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    await host.run(['ip', '-n', bridge, 'link', 'set', `p${i}`, 'master', 'sw', 'up']);
    await host.run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    await host.run(['ip', '-n', ns, 'link', 'set', 'eth0', 'mtu', '1600', 'up']);
    await host.run(['ip', '-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
    const key = join(dir, `${name}_host_key`);
    await host.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', key]);
    const cfg = join(dir, `${name}_sshd_config`);
    writeFileSync(
      cfg,
      [
        `ListenAddress ${address}:22`,
        `HostKey ${key}`,
        `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
        'PermitRootLogin prohibit-password',
        'StrictModes no',
        'UsePAM no',
        `PidFile ${join(dir, `${name}.pid`)}`,
        'LogLevel ERROR',
      ].join('\n') + '\n',
    );
    const knownHosts = join(dir, `${name}_known_hosts`);
    writeFileSync(knownHosts, `${address} ${readFileSync(`${key}.pub`, 'utf8').split(' ').slice(0, 2).join(' ')}\n`);
    // sshd in the namespace, in a mount namespace of its own with an empty /run/netns
    const sshd = host.start([
      'ip',
      'netns',
      'exec',
      ns,
      'unshare',
      '--mount',
      '--propagation',
      'private',
      'sh',
      '-c',
      'mkdir -p /run/sshd && mount -t tmpfs kdl-host-netns /run/netns && exec /usr/sbin/sshd -D -e -f "$1"',
      'sh',
      cfg,
    ]);
    await waitListening(ns, sshd);
    hosts.push({
      name,
      ns,
      address,
      knownHosts,
      target: {
        user: 'root',
        host: address,
        port: 22,
        identityFile: join(dir, 'client_key'),
        knownHosts,
        proxyCommand: ['nsenter', `--net=/run/netns/${ns}`, 'socat', 'STDIO', 'TCP:%h:%p'],
      },
      stop: async () => {
        sshd.signal('SIGTERM');
        await sshd.exited;
      },
    });
  }
  const stopAll = hosts.map((h) => h.stop);
  hosts.forEach((h) => {
    h.stop = async () => {
      await Promise.all(stopAll.map((s) => s()));
      await removeTestHosts();
      rmSync(dir, { recursive: true, force: true });
    };
  });
  return hosts;
}

async function waitListening(ns: string, sshd: Started): Promise<void> {
  let exited = false;
  void sshd.exited.then(() => (exited = true));
  const listening = async () => {
    const r = await host.run(['ip', 'netns', 'exec', ns, 'ss', '-Hltn', 'sport', '=', ':22'], { check: false });
    if (r.stdout.trim()) return true;
    if (exited) throw new Error(`sshd in ${ns} exited: ${(await sshd.exited).stderr}`);
    return false;
  };
  await waitFor(listening, { timeoutMs: 10_000, what: `sshd in ${ns} to listen on port 22` });
}

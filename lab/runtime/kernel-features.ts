import { type Executor, LocalExecutor } from './executor';

// Quick probes of what the kernel can do, each in a throw-away network namespace named
// kdl.probe-<pid>-<n> that is removed again whatever happens (CI fails on any kdl.* left over).
// Every command and file read goes through an Executor (this host's by default), so a probe
// asks the kernel wherever that executor's commands run. Results are cached per executor for
// the life of the process. Commands are argv arrays, never a shell.

export type IpvsProbe = { ok: true } | { ok: false; missing: 'CONFIG_IP_VS'; detail: string; hint: string };

const NETNS_DIR = '/run/netns';
const PROBE_PREFIX = 'kdl.probe-';
let counter = 0;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

const LOCAL = new LocalExecutor();

/** argv through the executor, never throwing: a command that could not start or was killed is code -1. */
async function run(exec: Executor, argv: readonly string[]): Promise<Run> {
  try {
    const r = await exec.run(argv, { check: false, timeoutMs: 10_000 });
    return { code: r.code ?? -1, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    return { code: -1, stdout: '', stderr: e instanceof Error ? e.message : String(e) };
  }
}

/** Does path exist where the executor runs? */
async function exists(exec: Executor, path: string): Promise<boolean> {
  return (await run(exec, ['test', '-e', path])).code === 0;
}

/** A file's text where the executor runs, or undefined when it cannot be read. */
async function readText(exec: Executor, argv: readonly string[]): Promise<string | undefined> {
  const r = await run(exec, argv);
  return r.code === 0 ? r.stdout : undefined;
}

class NoNamespace extends Error {}

/** Removes probe namespaces left by processes that died mid-probe (only ever kdl.probe-<dead pid>-*). */
async function sweepStale(exec: Executor): Promise<void> {
  const list = await run(exec, ['ip', 'netns', 'list']);
  if (list.code !== 0) return;
  const names = list.stdout
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((n) => n.startsWith(PROBE_PREFIX));
  for (const n of names) {
    const pid = Number(/^kdl\.probe-(\d+)-\d+$/.exec(n)?.[1]);
    if (!pid || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ESRCH') void run(exec, ['ip', 'netns', 'del', n]);
    }
  }
}

/** Runs fn in a fresh namespace and always deletes it afterwards, also when fn or the creation fails. */
async function withProbeNamespace<T>(exec: Executor, fn: (ns: string) => Promise<T>): Promise<T> {
  await sweepStale(exec);
  const ns = `${PROBE_PREFIX}${process.pid}-${++counter}`;
  try {
    const add = await run(exec, ['ip', 'netns', 'add', ns]);
    if (add.code !== 0) throw new NoNamespace(`ip netns add ${ns}: ${add.stderr.trim() || `exit ${add.code}`}`);
    return await fn(ns);
  } finally {
    // The name is ours alone (pid + counter), so deleting it can never remove someone else's.
    // Removed when `ip netns del` succeeds, or when the name is not there (any more, or ever).
    let removed = false;
    for (let i = 0; i < 3 && !removed; i++)
      removed = (await run(exec, ['ip', 'netns', 'del', ns])).code === 0 || !(await exists(exec, `${NETNS_DIR}/${ns}`));
    // eslint-disable-next-line no-unsafe-finally -- a namespace left behind outweighs the probe's own failure
    if (!removed) throw new Error(`could not remove the probe namespace ${ns}: run 'ip netns del ${ns}'`);
  }
}

// --- IPVS -------------------------------------------------------------------------------------

/** What the kernel says about IPVS support, for the detail and the hint. */
async function ipvsKernelFacts(exec: Executor) {
  const rel = (await readText(exec, ['uname', '-r']))?.trim() ?? '';
  let config: { source: string; value: 'y' | 'm' | 'unset' } | undefined;
  for (const [source, argv] of [
    ['/proc/config.gz', ['gzip', '-dc', '/proc/config.gz']],
    [`/boot/config-${rel}`, ['cat', `/boot/config-${rel}`]],
  ] as const) {
    const text = await readText(exec, argv);
    if (text === undefined) continue; // not there
    const v = /^CONFIG_IP_VS=([ym])$/m.exec(text)?.[1];
    config = { source, value: v === 'y' || v === 'm' ? v : 'unset' };
    break;
  }
  const canLoadModules = await exists(exec, '/proc/modules');
  const moduleDir = `/lib/modules/${rel}/kernel/net/netfilter/ipvs`;
  let moduleFile: string | undefined;
  for (const f of ['ip_vs.ko', 'ip_vs.ko.xz', 'ip_vs.ko.zst', 'ip_vs.ko.gz'].map((f) => `${moduleDir}/${f}`)) {
    if (await exists(exec, f)) {
      moduleFile = f;
      break;
    }
  }
  return { rel, config, canLoadModules, moduleFile };
}

async function ipvsMissing(exec: Executor, where: string): Promise<IpvsProbe> {
  const k = await ipvsKernelFacts(exec);
  const facts = [
    k.config
      ? k.config.value === 'unset'
        ? `CONFIG_IP_VS is not set (${k.config.source})`
        : `CONFIG_IP_VS=${k.config.value} (${k.config.source})`
      : 'kernel config not readable',
    k.canLoadModules
      ? k.moduleFile
        ? `${k.moduleFile} exists but is not loaded`
        : `no ip_vs module under /lib/modules/${k.rel}`
      : 'the kernel cannot load modules (no /proc/modules)',
  ];
  const loadable = k.canLoadModules && (k.moduleFile !== undefined || k.config?.value === 'm');
  const instead = 'or set proxy.mode: iptables or nftables in the topology';
  return {
    ok: false,
    missing: 'CONFIG_IP_VS',
    detail: `kernel ${k.rel} has no IPVS: /proc/net/ip_vs is missing ${where}; ${facts.join('; ')}`,
    hint: loadable
      ? `load IPVS with 'modprobe ip_vs ip_vs_rr' (and ip_vs_<scheduler> for another scheduler), ${instead}`
      : `IPVS mode needs a kernel built with CONFIG_IP_VS=y, or =m followed by 'modprobe ip_vs ip_vs_rr'; ${instead}`,
  };
}

const ipvsProbes = new Map<Executor, Promise<IpvsProbe>>();

/**
 * Whether kube-proxy's IPVS mode can work here. IPVS is there when /proc/net/ip_vs exists in a
 * fresh network namespace (the ip_vs module sets it up in every namespace once it is loaded).
 * Without the right to create a namespace it looks at the current one instead.
 */
export function probeIpvs(exec: Executor = LOCAL): Promise<IpvsProbe> {
  let p = ipvsProbes.get(exec);
  if (p) return p;
  p = (async (): Promise<IpvsProbe> => {
    try {
      return await withProbeNamespace(exec, async (ns) => {
        const r = await run(exec, ['nsenter', `--net=${NETNS_DIR}/${ns}`, 'test', '-e', '/proc/net/ip_vs']);
        if (r.code === 0) return { ok: true };
        if (r.code === 1) return ipvsMissing(exec, 'in a fresh network namespace');
        throw new Error(`nsenter into ${ns}: ${r.stderr.trim() || `exit ${r.code}`}`);
      });
    } catch (e) {
      if (!(e instanceof NoNamespace)) throw e;
      return (await exists(exec, '/proc/net/ip_vs')) ? { ok: true } : ipvsMissing(exec, `in this process's namespace (${e.message})`);
    }
  })().catch((e: unknown) => {
    ipvsProbes.delete(exec); // an unexpected failure is not cached: the next call tries again
    throw e;
  });
  ipvsProbes.set(exec, p);
  return p;
}

// --- link types -------------------------------------------------------------------------------

const linkProbes = new Map<Executor, Map<string, Promise<boolean>>>();

/**
 * Whether `ip link add <name> type <type> [args]` works on this kernel (e.g. 'dummy', 'ifb',
 * 'vrf' with ['table', '100']). Needs the right to create a namespace; throws without it.
 */
export function probeLinkType(type: string, args: readonly string[] = [], exec: Executor = LOCAL): Promise<boolean> {
  if (!/^[a-z0-9_]+$/.test(type)) return Promise.reject(new Error(`not a link type: '${type}'`));
  const key = [type, ...args].join(' ');
  let cache = linkProbes.get(exec);
  if (!cache) linkProbes.set(exec, (cache = new Map<string, Promise<boolean>>()));
  let p = cache.get(key);
  if (!p) {
    p = withProbeNamespace(
      exec,
      async (ns) => (await run(exec, ['ip', '-n', ns, 'link', 'add', 'kdlprobe0', 'type', type, ...args])).code === 0,
    );
    const own = cache;
    p.catch(() => own.delete(key));
    cache.set(key, p);
  }
  return p;
}

/** Forgets the cached results (tests). */
export function clearProbeCache(): void {
  ipvsProbes.clear();
  linkProbes.clear();
}

// --- IP-in-IP (Calico's ipip mode: tunl0) ----------------------------------------------------

export type IpipProbe = { ok: true } | { ok: false; missing: 'CONFIG_NET_IPIP'; detail: string; hint: string };

/** CONFIG_<name> from the running kernel's config (/proc/config.gz or /boot/config-<release>), if readable. */
async function kernelConfig(exec: Executor, option: string): Promise<{ source: string; value: string } | undefined> {
  const rel = (await readText(exec, ['uname', '-r']))?.trim() ?? '';
  for (const [source, argv] of [
    ['/proc/config.gz', ['gzip', '-dc', '/proc/config.gz']],
    [`/boot/config-${rel}`, ['cat', `/boot/config-${rel}`]],
  ] as const) {
    const text = await readText(exec, argv);
    if (text === undefined) continue;
    return { source, value: new RegExp(`^${option}=([ym])$`, 'm').exec(text)?.[1] ?? 'unset' };
  }
  return undefined;
}

/** Whether an `ipip` link (tunl0's kind) can be made here: the probe makes one in a throw-away namespace. */
export async function probeIpip(exec: Executor = LOCAL): Promise<IpipProbe> {
  // not a bare `type ipip`: with the module loaded it would clash with the namespace's own tunl0
  // (the fallback device has the same all-zero endpoints: EEXIST)
  if (await probeLinkType('ipip', ['remote', '192.0.2.1', 'local', '192.0.2.2'], exec)) return { ok: true };
  const rel = (await readText(exec, ['uname', '-r']))?.trim() ?? '';
  const config = await kernelConfig(exec, 'CONFIG_NET_IPIP');
  const facts = config
    ? `CONFIG_NET_IPIP ${config.value === 'unset' ? 'is not set' : `=${config.value}`} (${config.source})`
    : 'kernel config not readable';
  return {
    ok: false,
    missing: 'CONFIG_NET_IPIP',
    detail: `kernel ${rel}: 'ip link add … type ipip' fails in a fresh network namespace; ${facts}`,
    hint:
      config?.value === 'm'
        ? "load it with 'modprobe ipip', use calico.mode vxlan or bgp, or run with --kernel vm (its kernel has IPIP)"
        : 'use calico.mode vxlan or bgp, or run with --kernel vm (its kernel has IPIP)',
  };
}

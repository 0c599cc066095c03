import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { gunzipSync } from 'node:zlib';

// Quick probes of what the kernel can do, each in a throw-away network namespace named
// kdl.probe-<pid>-<n> that is removed again whatever happens (CI fails on any kdl.* left over).
// Results are cached for the life of the process. Commands are argv arrays, never a shell.

export type IpvsProbe = { ok: true } | { ok: false; missing: 'CONFIG_IP_VS'; detail: string; hint: string };

const NETNS_DIR = '/run/netns';
const PROBE_PREFIX = 'kdl.probe-';
let counter = 0;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(argv: readonly string[]): Promise<Run> {
  const [cmd, ...args] = argv;
  return new Promise((resolve) => {
    execFile(cmd!, args, { timeout: 10_000 }, (err, stdout, stderr) => {
      // err.code is the exit status, or a string such as ENOENT when the command could not start
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr: stderr || (err && typeof err.code !== 'number' ? err.message : '') });
    });
  });
}

class NoNamespace extends Error {}

/** Removes probe namespaces left by processes that died mid-probe (only ever kdl.probe-<dead pid>-*). */
function sweepStale(): void {
  let names: string[] = [];
  try {
    names = readdirSync(NETNS_DIR).filter((n) => n.startsWith(PROBE_PREFIX));
  } catch {
    return;
  }
  for (const n of names) {
    const pid = Number(/^kdl\.probe-(\d+)-\d+$/.exec(n)?.[1]);
    if (!pid || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ESRCH') void run(['ip', 'netns', 'del', n]);
    }
  }
}

/** Runs fn in a fresh namespace and always deletes it afterwards, also when fn or the creation fails. */
async function withProbeNamespace<T>(fn: (ns: string) => Promise<T>): Promise<T> {
  sweepStale();
  const ns = `${PROBE_PREFIX}${process.pid}-${++counter}`;
  try {
    const add = await run(['ip', 'netns', 'add', ns]);
    if (add.code !== 0) throw new NoNamespace(`ip netns add ${ns}: ${add.stderr.trim() || `exit ${add.code}`}`);
    return await fn(ns);
  } finally {
    // The name is ours alone (pid + counter), so deleting it can never remove someone else's.
    for (let i = 0; i < 3 && existsSync(`${NETNS_DIR}/${ns}`); i++) await run(['ip', 'netns', 'del', ns]);
    if (existsSync(`${NETNS_DIR}/${ns}`)) throw new Error(`could not remove the probe namespace ${ns}: run 'ip netns del ${ns}'`);
  }
}

// --- IPVS -------------------------------------------------------------------------------------

/** What the kernel says about IPVS support, for the detail and the hint. */
function ipvsKernelFacts() {
  const rel = release();
  let config: { source: string; value: 'y' | 'm' | 'unset' } | undefined;
  for (const [source, read] of [
    ['/proc/config.gz', () => gunzipSync(readFileSync('/proc/config.gz')).toString()],
    [`/boot/config-${rel}`, () => readFileSync(`/boot/config-${rel}`, 'utf8')],
  ] as const) {
    try {
      const text = read();
      const v = /^CONFIG_IP_VS=([ym])$/m.exec(text)?.[1];
      config = { source, value: v === 'y' || v === 'm' ? v : 'unset' };
      break;
    } catch {
      /* not there */
    }
  }
  const canLoadModules = existsSync('/proc/modules');
  const moduleDir = `/lib/modules/${rel}/kernel/net/netfilter/ipvs`;
  const moduleFile = ['ip_vs.ko', 'ip_vs.ko.xz', 'ip_vs.ko.zst', 'ip_vs.ko.gz'].map((f) => `${moduleDir}/${f}`).find((f) => existsSync(f));
  return { rel, config, canLoadModules, moduleFile };
}

function ipvsMissing(where: string): IpvsProbe {
  const k = ipvsKernelFacts();
  const facts = [
    k.config ? (k.config.value === 'unset' ? `CONFIG_IP_VS is not set (${k.config.source})` : `CONFIG_IP_VS=${k.config.value} (${k.config.source})`) : 'kernel config not readable',
    k.canLoadModules ? (k.moduleFile ? `${k.moduleFile} exists but is not loaded` : `no ip_vs module under /lib/modules/${k.rel}`) : 'the kernel cannot load modules (no /proc/modules)',
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

let ipvsProbe: Promise<IpvsProbe> | undefined;

/**
 * Whether kube-proxy's IPVS mode can work here. IPVS is there when /proc/net/ip_vs exists in a
 * fresh network namespace (the ip_vs module sets it up in every namespace once it is loaded).
 * Without the right to create a namespace it looks at the current one instead.
 */
export function probeIpvs(): Promise<IpvsProbe> {
  ipvsProbe ??= (async (): Promise<IpvsProbe> => {
    try {
      return await withProbeNamespace(async (ns) => {
        const r = await run(['nsenter', `--net=${NETNS_DIR}/${ns}`, 'test', '-e', '/proc/net/ip_vs']);
        if (r.code === 0) return { ok: true };
        if (r.code === 1) return ipvsMissing('in a fresh network namespace');
        throw new Error(`nsenter into ${ns}: ${r.stderr.trim() || `exit ${r.code}`}`);
      });
    } catch (e) {
      if (!(e instanceof NoNamespace)) throw e;
      return existsSync('/proc/net/ip_vs') ? { ok: true } : ipvsMissing(`in this process's namespace (${e.message})`);
    }
  })().catch((e: unknown) => {
    ipvsProbe = undefined; // an unexpected failure is not cached: the next call tries again
    throw e;
  });
  return ipvsProbe;
}

// --- link types -------------------------------------------------------------------------------

const linkProbes = new Map<string, Promise<boolean>>();

/**
 * Whether `ip link add <name> type <type> [args]` works on this kernel (e.g. 'dummy', 'ifb',
 * 'vrf' with ['table', '100']). Needs the right to create a namespace; throws without it.
 */
export function probeLinkType(type: string, args: readonly string[] = []): Promise<boolean> {
  if (!/^[a-z0-9_]+$/.test(type)) return Promise.reject(new Error(`not a link type: '${type}'`));
  const key = [type, ...args].join(' ');
  let p = linkProbes.get(key);
  if (!p) {
    p = withProbeNamespace(async (ns) => (await run(['ip', '-n', ns, 'link', 'add', 'kdlprobe0', 'type', type, ...args])).code === 0);
    p.catch(() => linkProbes.delete(key));
    linkProbes.set(key, p);
  }
  return p;
}

/** Forgets the cached results (tests). */
export function clearProbeCache(): void {
  ipvsProbe = undefined;
  linkProbes.clear();
}

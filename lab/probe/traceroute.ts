import { InputError } from '../errors';
import type { Runtime } from '../runtime/runtime';
import { parseIp } from '../topology/ipv4';

// The real traceroute (Debian's "modern traceroute") inside a namespace: UDP (default), ICMP
// (-I) or TCP SYN (-T) probes; hops parsed, a hop that did not answer kept as unknown.

/** One hop; `address` is undefined where traceroute printed '*' (no answer: unknown, kept). */
export interface Hop {
  ttl: number;
  address?: string;
  rttMs: number[];
}

/** Parses `traceroute -n` output; a hop that answered from several addresses keeps the first. */
export function parseTraceroute(out: string): Hop[] {
  const hops: Hop[] = [];
  for (const line of out.split('\n')) {
    const m = /^\s*(\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const rest = m[2]!;
    const addr = /(\d+\.\d+\.\d+\.\d+)/.exec(rest)?.[1];
    const rttMs = [...rest.matchAll(/([\d.]+) ms/g)].map((x) => Number(x[1]));
    hops.push({ ttl: Number(m[1]), ...(addr ? { address: addr } : {}), rttMs });
  }
  return hops;
}

export type TracerouteMethod = 'udp' | 'icmp' | 'tcp';

export interface TracerouteOptions {
  method?: TracerouteMethod;
  /** destination port for udp (first probe's port) and tcp */
  port?: number;
  maxHops?: number;
  /** probes per hop */
  queries?: number;
  /** seconds to wait for each probe's answer */
  waitS?: number;
  /** stops it (a run interrupted) */
  signal?: AbortSignal;
}

export function tracerouteArgv(to: string, opts: TracerouteOptions = {}): string[] {
  if (parseIp(to) === undefined) throw InputError.of('to', '', `not an IPv4 address: '${to}'`);
  const method = opts.method ?? 'udp';
  const argv = ['traceroute', '-n', '-m', String(opts.maxHops ?? 10), '-q', String(opts.queries ?? 1), '-w', String(opts.waitS ?? 1)];
  if (method === 'icmp') argv.push('-I');
  if (method === 'tcp') argv.push('-T');
  if (opts.port !== undefined) argv.push('-p', String(opts.port));
  return [...argv, to];
}

export async function traceroute(
  rt: Runtime,
  ns: string,
  to: string,
  opts: TracerouteOptions = {},
): Promise<{ hops: Hop[]; output: string; argv: string[] }> {
  const argv = tracerouteArgv(to, opts);
  const budgetMs = ((opts.maxHops ?? 10) * (opts.queries ?? 1) * (opts.waitS ?? 1) + 10) * 1000;
  const r = await rt.run(ns, argv, {
    check: false,
    timeoutMs: budgetMs,
    where: `traceroute ${to} from ${ns}`,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  if (r.code !== 0) throw new Error(`traceroute ${to} from ${ns} failed (exit ${r.code ?? r.signal}): ${r.stderr.trim()}`);
  return { hops: parseTraceroute(r.stdout), output: r.stdout + r.stderr, argv };
}

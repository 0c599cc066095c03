import { InputError } from '../errors';
import type { Runtime } from '../runtime/runtime';
import { parseIp } from '../topology/ipv4';

// The real iputils ping inside a namespace, and a parser for what it prints.

export interface PingReply {
  seq: number;
  ttl: number;
  timeMs: number;
  from: string;
}

export interface PingResult {
  transmitted: number;
  received: number;
  replies: PingReply[];
  /** ICMP errors ping printed instead of replies (e.g. "Time to live exceeded") */
  errors: string[];
}

export function parsePing(out: string): PingResult {
  const replies: PingReply[] = [];
  for (const m of out.matchAll(/bytes from ([\d.]+): icmp_seq=(\d+) ttl=(\d+) time=([\d.]+) ms/g))
    replies.push({ from: m[1]!, seq: Number(m[2]), ttl: Number(m[3]), timeMs: Number(m[4]) });
  const errors = [...out.matchAll(/^From ([\d.]+) icmp_seq=\d+ (.+)$/gm)].map((m) => `${m[1]}: ${m[2]}`);
  const stats = /(\d+) packets transmitted, (\d+) received/.exec(out);
  return { transmitted: Number(stats?.[1] ?? 0), received: Number(stats?.[2] ?? replies.length), replies, errors };
}

export interface PingOptions {
  count?: number;
  /** seconds between echo requests (ping allows < 0.2 as root) */
  interval?: number;
  /** seconds to wait for the last reply */
  timeoutS?: number;
  /** stops the ping (a run interrupted) */
  signal?: AbortSignal;
}

export function pingArgv(to: string, opts: PingOptions = {}): string[] {
  if (parseIp(to) === undefined) throw InputError.of('to', '', `not an IPv4 address: '${to}'`);
  const count = opts.count ?? 3;
  return ['ping', '-n', '-c', String(count), '-i', String(opts.interval ?? 0.2), '-W', String(opts.timeoutS ?? 2), to];
}

/** Pings from inside ns; a ping that got no reply is a result (received 0), not an error. */
export async function ping(
  rt: Runtime,
  ns: string,
  to: string,
  opts: PingOptions = {},
): Promise<PingResult & { output: string; argv: string[] }> {
  const argv = pingArgv(to, opts);
  const count = opts.count ?? 3;
  const budgetMs = (count * (opts.interval ?? 0.2) + (opts.timeoutS ?? 2) + 5) * 1000;
  const r = await rt.run(ns, argv, {
    check: false,
    timeoutMs: budgetMs,
    where: `ping ${to} from ${ns}`,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  if (r.code !== 0 && r.code !== 1) throw new Error(`ping ${to} from ${ns} failed (exit ${r.code ?? r.signal}): ${r.stderr.trim()}`);
  return { ...parsePing(r.stdout), output: r.stdout + r.stderr, argv };
}

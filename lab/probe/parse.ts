// Parsers for what the real ping and traceroute binaries print (iputils ping, Debian traceroute).

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
}

export function parsePing(out: string): PingResult {
  const replies: PingReply[] = [];
  for (const m of out.matchAll(/bytes from ([\d.]+): icmp_seq=(\d+) ttl=(\d+) time=([\d.]+) ms/g))
    replies.push({ from: m[1]!, seq: Number(m[2]), ttl: Number(m[3]), timeMs: Number(m[4]) });
  const stats = /(\d+) packets transmitted, (\d+) received/.exec(out);
  return { transmitted: Number(stats?.[1] ?? 0), received: Number(stats?.[2] ?? replies.length), replies };
}

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

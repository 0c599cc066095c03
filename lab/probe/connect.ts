import { InputError } from '../errors';
import { CONNECT_LOOP_SCRIPT } from '../pods/servers';
import type { Runtime } from '../runtime/runtime';
import { parseIp } from '../topology/ipv4';

// TCP/UDP connects from inside a namespace to host:port, as many as asked, in one process
// (connect-loop.sh runs socat once per attempt): each attempt reports which pod answered and
// the peer address that pod saw, i.e. the client's address after any SNAT on the way.

export interface ConnectAttempt {
  ok: boolean;
  /** the serving pod's name, from its reply */
  pod?: string;
  node?: string;
  /** the client as the server saw it (ip:port) */
  peer?: string;
  /** the address the server was reached on, after DNAT (ip:port) */
  local?: string;
  /** what went wrong, or the raw reply when it was not a pod's */
  error?: string;
}

export interface ConnectResult {
  attempts: ConnectAttempt[];
  /** pod → how many attempts it served */
  byPod: Record<string, number>;
  failed: number;
}

export interface ConnectOptions {
  count?: number;
  protocol?: 'TCP' | 'UDP';
  /** per attempt, seconds */
  timeoutS?: number;
  /** stops the loop and its socat (a run interrupted) */
  signal?: AbortSignal;
}

/** Parses one `code TAB reply` line of connect-loop.sh. */
export function parseAttempt(line: string): ConnectAttempt {
  const tab = line.indexOf('\t');
  const code = Number(line.slice(0, tab));
  const reply = line.slice(tab + 1).trim();
  const field = (k: string) => new RegExp(`(?:^|\\s)${k}=(\\S*)`).exec(reply)?.[1];
  const pod = field('pod');
  if (code !== 0 || !pod) return { ok: false, error: reply || `exit code ${code}, no reply` };
  return { ok: true, pod, node: field('node'), peer: field('peer'), local: field('local') };
}

export function summarise(attempts: ConnectAttempt[]): ConnectResult {
  const byPod: Record<string, number> = {};
  for (const a of attempts) if (a.ok && a.pod) byPod[a.pod] = (byPod[a.pod] ?? 0) + 1;
  return { attempts, byPod, failed: attempts.filter((a) => !a.ok).length };
}

export async function connect(rt: Runtime, ns: string, host: string, port: number, opts: ConnectOptions = {}): Promise<ConnectResult> {
  const count = opts.count ?? 1;
  const timeoutS = opts.timeoutS ?? 2;
  // The script puts these into socat's address text: only plain values may reach it.
  if (parseIp(host) === undefined) throw InputError.of('host', '', `not an IPv4 address: '${host}'`);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw InputError.of('port', '', `not a port number: ${port}`);
  if (!Number.isInteger(count) || count < 1 || count > 100_000) throw InputError.of('count', '', `must be 1..100000: ${count}`);
  if (!Number.isInteger(timeoutS) || timeoutS < 1 || timeoutS > 60) throw InputError.of('timeout', '', `must be 1..60 s: ${timeoutS}`);
  const proto = (opts.protocol ?? 'TCP').toLowerCase();
  const r = await rt.run(ns, [CONNECT_LOOP_SCRIPT, proto, host, String(port), String(count), String(timeoutS)], {
    timeoutMs: count * (timeoutS + 1) * 1000 + 5000,
    where: `connecting to ${host}:${port} from ${ns}`,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  return summarise(
    r.stdout
      .split('\n')
      .filter((l) => l.includes('\t'))
      .map(parseAttempt),
  );
}

/**
 * Pearson's chi-square statistic of observed counts against a uniform spread, and whether it
 * stays under the critical value at significance `alpha` (df = k-1; table for the small k a
 * service has). Used to ask "is this spread plausibly uniform?", not "did each get one hit".
 */
export function chiSquareUniform(
  counts: number[],
  alpha: 0.01 | 0.05 | 0.001 = 0.01,
): { statistic: number; critical: number; df: number; uniform: boolean } {
  const k = counts.length;
  const n = counts.reduce((a, b) => a + b, 0);
  const expected = n / k;
  const statistic = counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
  const df = k - 1;
  const critical = CHI2_CRITICAL[alpha]?.[df];
  if (critical === undefined) throw new Error(`no chi-square critical value for ${df} degrees of freedom`);
  return { statistic, critical, df, uniform: statistic <= critical };
}

// upper critical values of the chi-square distribution, df 1..10
const CHI2_CRITICAL: Record<number, (number | undefined)[]> = {
  0.05: [undefined, 3.841, 5.991, 7.815, 9.488, 11.07, 12.592, 14.067, 15.507, 16.919, 18.307],
  0.01: [undefined, 6.635, 9.21, 11.345, 13.277, 15.086, 16.812, 18.475, 20.09, 21.666, 23.209],
  0.001: [undefined, 10.828, 13.816, 16.266, 18.467, 20.515, 22.458, 24.322, 26.124, 27.877, 29.588],
};

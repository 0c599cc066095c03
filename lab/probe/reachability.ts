import { setTimeout as sleep } from 'node:timers/promises';
import { InputError } from '../errors';
import { REACH_SCRIPT } from '../pods/servers';
import type { Runtime } from '../runtime/runtime';
import { parseIp } from '../topology/ipv4';
import { parseAttempt } from './connect';
import type { TruthTable } from './truth-table';

// Every (from, to, port, protocol) pair tried once, all at once under a concurrency limit, each
// the connect probe's attempt (socat, or bash's UDP socket) with a short timeout, as the e2e
// suite's probe does (agnhost connect, 1 s, several workers): a pair is allowed when the pod
// aimed at answered. One reach.sh per source runs that source's attempts in parallel: a
// process per pair (node → ip netns exec → bash) would cost more than the attempts themselves.

export interface ReachSource {
  name: string;
  ns: string;
}

export interface ReachTarget {
  name: string;
  ip: string;
}

export interface ReachRequest {
  sources: readonly ReachSource[];
  targets: readonly ReachTarget[];
  ports: readonly number[];
  protocols: readonly ('TCP' | 'UDP')[];
  /** per attempt, seconds */
  timeoutS: number;
  /** attempts running at once, over all sources */
  concurrency: number;
  /** rounds of trying the denied pairs again (default 1) */
  retries?: number;
  signal?: AbortSignal;
}

/** One pair's attempt: who answered, or what went wrong. */
export interface ReachCell {
  ok: boolean;
  /** `pod=… peer=…` when it answered, else the error (timed out, refused) */
  detail: string;
}

export interface ReachTable {
  port: number;
  protocol: 'TCP' | 'UDP';
  table: TruthTable;
  /** details[i][j] for table.cells[i][j] */
  details: ReachCell[][];
}

export interface ReachResult {
  tables: ReachTable[];
  pairs: number;
  seconds: number;
  pairsPerSecond: number;
}

/** socat's -T 3 on the UDP listeners, and a margin */
const UDP_CHILD_IDLE_MS = 3500;

export async function probeReachability(rt: Runtime, req: ReachRequest): Promise<ReachResult> {
  // reach.sh puts these into socat's address text: only plain values may reach it
  for (const t of req.targets) if (parseIp(t.ip) === undefined) throw InputError.of('to', '', `not an IPv4 address: '${t.ip}'`);
  for (const p of req.ports) if (!Number.isInteger(p) || p < 1 || p > 65535) throw InputError.of('ports', '', `not a port number: ${p}`);
  if (!Number.isInteger(req.timeoutS) || req.timeoutS < 1 || req.timeoutS > 60)
    throw InputError.of('timeout', '', `must be 1..60 s: ${req.timeoutS}`);
  const t0 = performance.now();
  const combos = req.ports.flatMap((port) => req.protocols.map((protocol) => ({ port, protocol })));
  const tables: ReachTable[] = combos.map(({ port, protocol }) => ({
    port,
    protocol,
    table: {
      from: req.sources.map((s) => s.name),
      to: req.targets.map((t) => t.name),
      cells: req.sources.map(() => req.targets.map(() => false)),
    },
    details: req.sources.map(() => req.targets.map(() => ({ ok: false, detail: 'no answer line from reach.sh' }))),
  }));
  // job k: combo k / targets, target k % targets; each source starts at another target, so that
  // the servers are not all hit by every client at the same moment
  const combo = (k: number) => tables[Math.floor(k / req.targets.length)]!;
  const target = (k: number) => k % req.targets.length;
  const all = combos.flatMap((_, c) => req.targets.map((__, j) => c * req.targets.length + j));
  const perSource = Math.max(1, Math.floor(req.concurrency / Math.max(1, req.sources.length)));
  const runSource = async (i: number, ks: number[]) => {
    const src = req.sources[i]!;
    const order = ks.map((_, n) => ks[(n + i * perSource) % ks.length]!);
    const args = order.map((k) => `${combo(k).protocol.toLowerCase()}:${req.targets[target(k)]!.ip}:${combo(k).port}`);
    const r = await rt.run(src.ns, [REACH_SCRIPT, String(req.timeoutS), String(perSource), ...args], {
      timeoutMs: Math.ceil(args.length / perSource) * (req.timeoutS + 1) * 1000 + 10000,
      where: `probing reachability from ${src.name}`,
      ...(req.signal ? { signal: req.signal } : {}),
    });
    for (const line of r.stdout.split('\n')) {
      const tab = line.indexOf('\t');
      if (tab < 0) continue;
      const k = order[Number(line.slice(0, tab))];
      if (k === undefined) continue;
      const t = combo(k);
      const j = target(k);
      const dst = req.targets[j]!;
      const a = parseAttempt(line.slice(tab + 1));
      // the pod that answered must be the one aimed at (an address reused by another pod is not it)
      const ok = a.ok && a.pod === dst.name;
      t.table.cells[i]![j] = ok;
      t.details[i]![j] = { ok, detail: a.ok ? `pod=${a.pod} peer=${a.peer ?? '?'}${ok ? '' : ` (not ${dst.name})`}` : (a.error ?? '') };
    }
  };
  await Promise.all(req.sources.map((_, i) => runSource(i, all)));
  // A denied pair is tried again (the e2e suite probes a wrong table a second time): on a loaded
  // machine a 1 s timeout can be missed; an allowed pair's answer came from its pod and stands.
  for (let n = 0; n < (req.retries ?? 1); n++) {
    const again = req.sources.map((_, i) => all.filter((k) => !combo(k).table.cells[i]![target(k)]));
    if (!again.some((ks) => ks.length)) break;
    // a UDP server's child left holding its port by simultaneous datagrams ends after 3 s idle
    // (socat -T 3, lab/pods/servers.ts): let it go before the UDP pairs are tried again
    if (again.some((ks) => ks.some((k) => combo(k).protocol === 'UDP')))
      await sleep(UDP_CHILD_IDLE_MS, undefined, req.signal ? { signal: req.signal } : {});
    await Promise.all(again.map((ks, i) => (ks.length ? runSource(i, ks) : Promise.resolve())));
  }
  const seconds = (performance.now() - t0) / 1000;
  const pairs = combos.length * req.sources.length * req.targets.length;
  return { tables, pairs, seconds, pairsPerSecond: seconds > 0 ? pairs / seconds : pairs };
}

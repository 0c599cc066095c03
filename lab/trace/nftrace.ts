import { LabError } from '../errors';
import { abortError, type Started } from '../runtime/executor';
import type { Runtime } from '../runtime/runtime';
import type { NodeRules, RuleEvent } from './types';

// Which netfilter hooks, chains and rules a packet went through inside a node, as the kernel
// reports it: a table of the lab's own sets `meta nftrace` on the probe's protocol at the first
// hook a packet meets (prerouting, output; priority -350, before conntrack and NAT), and
// `nft monitor` prints one line per chain entered, rule matched and policy taken. iptables-nft
// rules are nftables rules, so kube-proxy's iptables and IPVS modes are traced as well as its
// nftables mode; IPVS itself is not a netfilter chain, its DNAT shows as the address changing
// between two hooks.

export const TRACE_TABLE = 'kdl_trace';

export type TraceProtocol = 'icmp' | 'tcp' | 'udp';

/** The trace table: marks only the probe's kind of packet (TCP: SYN without ACK; ICMP: echo requests). */
export function traceTableScript(protocol: TraceProtocol): string {
  const match = { tcp: 'tcp flags & (syn | ack) == syn', udp: 'meta l4proto udp', icmp: 'icmp type echo-request' }[protocol];
  return [
    `table ip ${TRACE_TABLE} {`,
    ...['prerouting', 'output'].map(
      (hook) => `\tchain ${hook} { type filter hook ${hook} priority -350; policy accept; ${match} meta nftrace set 1; }`,
    ),
    '}',
    '',
  ].join('\n');
}

export interface MonitorEvent {
  traceId: string;
  family: string;
  table: string;
  chain: string;
  kind: 'packet' | 'rule' | 'verdict' | 'policy';
  /** rule text (rule), the packet's fields (packet) */
  text?: string;
  verdict?: string;
}

const EVENT_RE = /^trace id (\S+) (\S+) (\S+) (\S+) (?:packet: (.*)|rule (.*?) \(verdict (.+)\)|verdict (.+)|policy (\S+))\s*$/;

/** `nft monitor` output → the trace events, in order; other lines (table added, …) are ignored. */
export function parseMonitor(text: string): MonitorEvent[] {
  const out: MonitorEvent[] = [];
  for (const line of text.split('\n')) {
    const m = EVENT_RE.exec(line.trimEnd());
    if (!m) continue;
    const [, traceId, family, table, chain, packet, rule, ruleVerdict, verdict, policy] = m as unknown as (string | undefined)[];
    const base = { traceId: traceId!, family: family!, table: table!, chain: chain! };
    if (packet !== undefined) out.push({ ...base, kind: 'packet', text: packet.trim() });
    else if (rule !== undefined) out.push({ ...base, kind: 'rule', text: squash(rule), verdict: ruleVerdict!.trim() });
    else if (verdict !== undefined) out.push({ ...base, kind: 'verdict', verdict: verdict.trim() });
    else out.push({ ...base, kind: 'policy', verdict: `policy ${policy}` });
  }
  return out;
}

const squash = (s: string) => s.replace(/\s+/g, ' ').trim();

/** The fields of a `packet:` line that say where the packet is going and what it carries. */
export function packetFields(text: string): {
  src?: string;
  dst?: string;
  id?: number;
  ttl?: number;
  srcport?: number;
  dstport?: number;
  icmpId?: number;
  mark?: string;
  iif?: string;
  oif?: string;
} {
  const get = (re: RegExp) => re.exec(text)?.[1];
  const num = (re: RegExp) => {
    const v = get(re);
    return v === undefined ? undefined : Number(v);
  };
  return strip({
    src: get(/\bip saddr (\S+)/),
    dst: get(/\bip daddr (\S+)/),
    id: num(/\bip id (\d+)/),
    ttl: num(/\bip ttl (\d+)/),
    srcport: num(/\b(?:tcp|udp) sport (\d+)/),
    dstport: num(/\b(?:tcp|udp) dport (\d+)/),
    icmpId: num(/\bicmp id (\d+)/),
    mark: get(/\bmeta mark (0x[0-9a-f]+)/),
    iif: get(/\biif "([^"]+)"/),
    oif: get(/\boif "([^"]+)"/),
  });
}

function strip<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** `nft -j list chains` → "family table chain" → hook, for base chains. */
export function baseChainHooks(json: string): Map<string, string> {
  const hooks = new Map<string, string>();
  const doc = JSON.parse(json) as { nftables?: { chain?: { family: string; table: string; name: string; hook?: string } }[] };
  for (const item of doc.nftables ?? []) {
    const c = item.chain;
    if (c?.hook) hooks.set(`${c.family} ${c.table} ${c.name}`, c.hook);
  }
  return hooks;
}

/**
 * The events of one packet in one node: every trace id whose packet lines carry the probe's
 * IP id (NAT and IPVS keep the IP id; an skb re-made on the way gets a new trace id, not a new
 * IP id). The lab's own trace table is left out.
 */
export function nodeRules(node: string, events: MonitorEvent[], hooks: Map<string, string>, ipId: number): NodeRules {
  const ids = new Set(events.filter((e) => e.kind === 'packet' && packetFields(e.text ?? '').id === ipId).map((e) => e.traceId));
  const out: RuleEvent[] = [];
  const hookOrder: string[] = [];
  const chains: string[] = [];
  let hook = '?';
  for (const e of events) {
    if (!ids.has(e.traceId) || e.table === TRACE_TABLE) continue;
    const base = hooks.get(`${e.family} ${e.table} ${e.chain}`);
    if (e.kind === 'packet') {
      hook = base ?? hook;
      if (hookOrder.at(-1) !== hook) hookOrder.push(hook);
      chains.push(`${e.table} ${e.chain}`);
      const f = packetFields(e.text ?? '');
      out.push({
        hook,
        family: e.family,
        table: e.table,
        chain: e.chain,
        packet: strip({ src: f.src ?? '?', dst: f.dst ?? '?', srcport: f.srcport, dstport: f.dstport, mark: f.mark }),
      });
      continue;
    }
    // a jump's target is entered without a packet line of its own
    const target = /^(?:jump|goto) (\S+)$/.exec(e.verdict ?? '')?.[1];
    out.push(strip({ hook, family: e.family, table: e.table, chain: e.chain, rule: e.text, verdict: e.verdict }));
    if (target) chains.push(target);
  }
  return { node, hooks: hookOrder, chains, events: out, differences: [] };
}

/** A running `nft monitor` with the trace table installed in one node. */
export interface NodeTrace {
  node: string;
  ns: string;
  /** removes the table, stops the monitor, returns the node's events and its base chains' hooks */
  stop(): Promise<{ events: MonitorEvent[]; hooks: Map<string, string> }>;
}

// The monitor's stdout goes to stderr, where every runtime streams it: its "add table" line says
// it was listening before the table existed, so no traced packet can be missed.
const MONITOR_ARGV = ['sh', '-c', 'exec nft monitor >&2'];

export async function startNodeTrace(
  rt: Runtime,
  node: string,
  ns: string,
  protocol: TraceProtocol,
  readyTimeoutMs = 15_000,
  /** aborted while the monitor starts (a run interrupted): it is stopped, the table removed */
  signal?: AbortSignal,
): Promise<NodeTrace> {
  if (signal?.aborted) throw abortError(signal);
  // a table left by a crashed trace would mark packets nobody reads
  await rt.run(ns, ['nft', 'delete', 'table', 'ip', TRACE_TABLE], { check: false });
  const proc: Started = rt.start(ns, MONITOR_ARGV);
  let gone = false;
  void proc.exited.then(() => (gone = true));
  let text = '';
  const waiters: { re: RegExp; resolve: () => void }[] = [];
  proc.onStderr((t) => {
    text += t;
    for (const w of waiters.splice(0))
      if (w.re.test(text)) w.resolve();
      else waiters.push(w);
  });
  const seen = (re: RegExp, ms: number) =>
    new Promise<boolean>((resolve) => {
      if (re.test(text)) return resolve(true);
      const timer = setTimeout(() => resolve(false), ms);
      waiters.push({ re, resolve: () => (clearTimeout(timer), resolve(true)) });
    });
  const added = new RegExp(`^add table ip ${TRACE_TABLE}\\b`, 'm');
  const deleted = new RegExp(`^delete table ip ${TRACE_TABLE}\\b`, 'm');
  const deadline = Date.now() + readyTimeoutMs;
  // The monitor subscribes some time after it starts: add the table until it reports it.
  try {
    for (;;) {
      if (signal?.aborted) throw abortError(signal);
      await rt.run(ns, ['nft', '-f', '-'], { input: traceTableScript(protocol), where: `installing the trace table in ${ns}` });
      if (await seen(added, 200)) break;
      await rt.run(ns, ['nft', 'delete', 'table', 'ip', TRACE_TABLE], { check: false });
      if (Date.now() > deadline)
        throw new LabError(`nft monitor in ${ns} did not report the trace table within ${readyTimeoutMs} ms: ${text.trim().slice(-300)}`);
    }
  } catch (e) {
    // neither the monitor nor the table may outlive a failed start
    proc.signal('SIGKILL');
    await proc.exited;
    await rt.run(ns, ['nft', 'delete', 'table', 'ip', TRACE_TABLE], { check: false });
    throw signal?.aborted ? abortError(signal) : e;
  }
  return {
    node,
    ns,
    stop: async () => {
      await rt.run(ns, ['nft', 'delete', 'table', 'ip', TRACE_TABLE], { check: false });
      // events come in order: once the delete is printed, every trace line is in (a monitor
      // already gone, stopped by a terminal's Ctrl-C, prints nothing more)
      if (!gone) await seen(deleted, 2000);
      proc.signal('SIGTERM');
      await proc.exited;
      const chains = await rt.run(ns, ['nft', '-j', 'list', 'chains'], { where: `listing chains in ${ns}` });
      return { events: parseMonitor(text), hooks: baseChainHooks(chains.stdout) };
    },
  };
}

import type { Packet } from '../pcap/decode';
import { field, summarize } from '../pcap/fields';
import type { CaptureStats } from '../probe/capture';
import { chiSquareUniform, type ConnectResult } from '../probe/connect';
import type { PingResult } from '../probe/ping';
import type { Hop } from '../probe/traceroute';
import type { Walk } from '../trace/types';
import { firstOutOfOrder } from '../trace/walk';
import type { CapturePlan, ExpectationPlan, ProbePlan } from './load';
import type { LabNames } from '../model/names';
import { compare, comparisonText, compileMatcher, type Matcher, parseComparison, showValue } from './values';

// Checks one expectation against what the step's probes and captures observed, and says both
// sides in words: the expected value with names resolved, the observed value with the names it
// has in the lab, and for packets a one-line summary of those checked and the pcap to open.

export interface ProbeOutcome {
  plan: ProbePlan;
  argv: string[];
  /** what the probe printed, also written next to the pcaps */
  output: string;
  durationS: number;
  error?: string;
  ping?: PingResult;
  hops?: Hop[];
  connect?: ConnectResult;
  command?: { code: number | null; stdout: string; stderr: string };
  walk?: Walk;
}

/** The first lines of a command's output, for a failure message. */
const excerpt = (t: string) => t.split('\n').slice(0, 12).map((l) => `    ${l}`).join('\n');

export interface CaptureOutcome {
  plan: CapturePlan;
  /** path of the pcap, relative to the run's folder */
  pcap: string;
  stats?: CaptureStats;
  packets: Packet[];
  /** the capture could not be started, stopped or read */
  error?: string;
  warnings: string[];
}

export interface ExpectationResult {
  kind: string;
  name?: string;
  /** line of the expectation in its scenario file */
  line?: number;
  status: 'passed' | 'failed';
  expected: string;
  observed: string;
  /** one-line summaries of the packets checked (at most 5) */
  checked?: string[];
  pcap?: string;
}

export interface Observed {
  names: LabNames;
  probes: Map<string, ProbeOutcome>;
  captures: Map<string, CaptureOutcome>;
}

const MAX_SHOWN = 5;

export function evaluate(e: ExpectationPlan, obs: Observed): ExpectationResult {
  const base = { kind: e.kind, ...(e.name ? { name: e.name } : {}), ...(e.line !== undefined ? { line: e.line } : {}) };
  const probe = e.probe ? obs.probes.get(e.probe.name) : undefined;
  if (e.probe && (!probe || probe.error))
    return { ...base, status: 'failed', expected: describe(e), observed: `probe '${e.probe.name}' failed: ${probe?.error ?? 'it did not run'}` };
  const r = check(e, probe, obs);
  return { ...base, status: r.ok ? 'passed' : 'failed', expected: r.expected, observed: r.observed, ...(r.checked ? { checked: r.checked } : {}), ...(r.pcap ? { pcap: r.pcap } : {}) };
}

interface Check {
  ok: boolean;
  expected: string;
  observed: string;
  checked?: string[];
  pcap?: string;
}

function describe(e: ExpectationPlan): string {
  return `${e.kind} ${JSON.stringify(e.spec)}`;
}

function countCheck(what: string, n: number, want: number | string): { ok: boolean; expected: string; observed: string } {
  const c = parseComparison(want)!;
  return { ok: compare(n, c), expected: `${what} ${comparisonText(c)}`, observed: `${what} ${n}` };
}

function check(e: ExpectationPlan, probe: ProbeOutcome | undefined, obs: Observed): Check {
  const { names } = obs;
  switch (e.kind) {
    case 'ping': {
      const p = probe!.ping!;
      const parts: Check[] = [];
      if (e.spec.received !== undefined) parts.push(countCheck('replies', p.received, e.spec.received));
      if (e.spec.ttl !== undefined) {
        const c = parseComparison(e.spec.ttl)!;
        const ttls = p.replies.map((r) => r.ttl);
        parts.push({
          ok: ttls.length > 0 && ttls.every((t) => compare(t, c)),
          expected: `reply ttl ${comparisonText(c)}`,
          observed: ttls.length ? `reply ttl ${ttls.join(', ')}` : `no replies${p.errors.length ? ` (${p.errors.slice(0, 2).join('; ')})` : ''}`,
        });
      }
      return joinChecks(parts, `${p.received}/${p.transmitted} replies`);
    }
    case 'hops': {
      const hops = probe!.hops!;
      const seen = hops.map((h) => (h.address ? showValue(h.address, names) : '*'));
      const parts: Check[] = [];
      if (e.spec.equals) {
        const want = e.spec.equals.map((h) => (h === '*' ? undefined : names.ip(h)!));
        const ok = want.length === hops.length && want.every((w, i) => w === hops[i]!.address);
        parts.push({
          ok,
          expected: `hops ${e.spec.equals.map((h, i) => (h === '*' || want[i] === h ? h : `${want[i]} (${h})`)).join(' → ')}`,
          observed: `hops ${seen.join(' → ') || '(none)'}`,
        });
      }
      if (e.spec.count !== undefined) parts.push(countCheck('hop count', hops.length, e.spec.count));
      return joinChecks(parts);
    }
    case 'packets':
      return checkPackets(e.spec, e.capture!, obs);
    case 'nat':
      return checkNat(e.spec, probe!, names);
    case 'spread': {
      const res = probe!.connect!;
      const target = probe!.plan.kind === 'connect' ? probe!.plan.target : undefined;
      const pods = e.spec.endpoints === 'all' ? [...new Set(target?.service?.endpoints.map((ep) => ep.pod) ?? [])] : e.spec.endpoints;
      const counts = pods.map((p) => res.byPod[p] ?? 0);
      const others = Object.keys(res.byPod).filter((p) => !pods.includes(p));
      const shown = Object.entries(res.byPod).map(([p, n]) => `${p} ${n}`).join(', ') || 'no pod answered';
      const parts: Check[] = [
        {
          ok: pods.length > 0 && counts.every((c) => c > 0),
          expected: `every one of ${pods.join(', ')} serves`,
          observed: `${shown}${res.failed ? `; ${res.failed} failed` : ''}${others.length ? ` (not expected: ${others.join(', ')})` : ''}`,
        },
      ];
      if (e.spec.chiSquare !== undefined && pods.length > 1) {
        const chi = chiSquareUniform(counts, e.spec.chiSquare);
        parts.push({
          ok: chi.uniform,
          expected: `uniform spread: χ² < ${chi.critical} (df ${chi.df}, α ${e.spec.chiSquare})`,
          observed: `χ² ${chi.statistic.toFixed(2)} over ${counts.reduce((a, b) => a + b, 0)} attempts`,
        });
      }
      return joinChecks(parts);
    }
    case 'output': {
      const out = probe!.command!;
      const squash = (t: string) => t.replace(/[ \t]+/g, ' ');
      const text = squash(out.stdout + out.stderr);
      const parts: Check[] = [{ ok: out.code === e.spec.exitCode, expected: `exit code ${e.spec.exitCode}`, observed: `exit code ${out.code}` }];
      const missing = (e.spec.contains ?? []).filter((c) => !text.includes(squash(c)));
      if (e.spec.contains) parts.push({ ok: !missing.length, expected: `output containing ${e.spec.contains.map((c) => `'${c}'`).join(', ')}`, observed: missing.length ? `no '${missing.join("', no '")}' in:\n${excerpt(out.stdout)}` : 'all there' });
      const present = (e.spec.lacks ?? []).filter((c) => text.includes(squash(c)));
      if (e.spec.lacks) parts.push({ ok: !present.length, expected: `output without ${e.spec.lacks.map((c) => `'${c}'`).join(', ')}`, observed: present.length ? `'${present.join("', '")}' is there` : 'none there' });
      const unmatched = (e.spec.matches ?? []).filter((re) => !new RegExp(re, 'm').test(out.stdout + out.stderr));
      if (e.spec.matches) parts.push({ ok: !unmatched.length, expected: `output matching ${e.spec.matches.map((m) => `/${m}/`).join(', ')}`, observed: unmatched.length ? `no match for /${unmatched.join('/, /')}/ in:\n${excerpt(out.stdout)}` : 'all matched' });
      return joinChecks(parts);
    }
    case 'walk': {
      const s = e.spec;
      const w = probe!.walk!;
      const parts: Check[] = [];
      if (s.asExpected)
        parts.push({ ok: w.differences.length === 0, expected: 'the walk the lab computed', observed: w.differences.length ? w.differences.join('\n') : 'the same walk' });
      if (s.reached !== undefined) {
        const want = [s.reached].flat();
        parts.push({ ok: w.reached !== undefined && want.includes(w.reached), expected: `reaching ${want.join(' or ')}`, observed: `reached ${w.reached ?? 'nothing'}` });
      }
      for (const [node, hooks] of Object.entries(s.hooks ?? {})) {
        const got = w.rules.find((r) => r.node === node)?.hooks ?? [];
        parts.push({ ok: got.join(' ') === hooks.join(' '), expected: `${node} hooks ${hooks.join(' → ')}`, observed: `${node} hooks ${got.join(' → ') || 'none traced'}` });
      }
      for (const [node, chains] of Object.entries(s.chains ?? {})) {
        const got = w.rules.find((r) => r.node === node)?.chains ?? [];
        // a base chain may be named without its table ('PREROUTING' for 'nat PREROUTING')
        const missing = firstOutOfOrder(chains, got, (g, c) => g === c || g.endsWith(` ${c}`));
        parts.push({ ok: !missing, expected: `${node} chains in order ${chains.join(' → ')}`, observed: missing ? `no ${missing} in order in ${got.join(' → ') || 'none traced'}` : 'in order' });
      }
      const texts = w.hops.flatMap((h) => h.changes.map((c) => c.text));
      const absent = (s.changes ?? []).filter((c) => !texts.some((t) => t.includes(c)));
      if (s.changes) parts.push({ ok: !absent.length, expected: `changes ${s.changes.map((c) => `'${c}'`).join(', ')}`, observed: absent.length ? `no '${absent.join("', no '")}' among: ${texts.join('; ')}` : 'all seen' });
      return joinChecks(parts);
    }
    case 'connect': {
      const res = probe!.connect!;
      const ok = res.attempts.length - res.failed;
      const parts: Check[] = [];
      if (e.spec.succeeded !== undefined) parts.push(countCheck('succeeded', ok, e.spec.succeeded));
      if (e.spec.failed !== undefined) {
        const c = countCheck('failed', res.failed, e.spec.failed);
        const why = res.attempts.find((a) => !a.ok)?.error;
        parts.push({ ...c, observed: c.observed + (why ? ` (${why.split('\n')[0]})` : '') });
      }
      if (e.spec.servedBy) {
        const allowed = new Set(e.spec.servedBy);
        const by = Object.keys(res.byPod);
        parts.push({
          ok: ok > 0 && by.every((p) => allowed.has(p)),
          expected: `served by ${e.spec.servedBy.join(' or ')}`,
          observed: `served by ${Object.entries(res.byPod).map(([p, n]) => `${p} ×${n}`).join(', ') || 'nobody'}`,
        });
      }
      return joinChecks(parts);
    }
  }
}

function joinChecks(parts: Check[], note?: string): Check {
  const failed = parts.filter((p) => !p.ok);
  const shown = failed.length ? failed : parts;
  return {
    ok: failed.length === 0,
    expected: shown.map((p) => p.expected).join('; '),
    observed: shown.map((p) => p.observed).join('; ') + (note && failed.length ? ` (${note})` : ''),
  };
}

function checkPackets(spec: Extract<ExpectationPlan, { kind: 'packets' }>['spec'], plan: CapturePlan, obs: Observed): Check {
  const cap = obs.captures.get(plan.name);
  const where = compileAll(spec.where, obs.names);
  const fields = compileAll(spec.fields, obs.names);
  const countC = parseComparison(spec.count)!;
  const whereText = where.length ? ` where ${where.map(([f, m]) => `${f} = ${m.text}`).join(', ')}` : '';
  const expected =
    `packets at ${plan.name}${whereText}: count ${comparisonText(countC)}` + (fields.length ? `; each with ${fields.map(([f, m]) => `${f} = ${m.text}`).join(', ')}` : '');
  if (!cap || cap.error) return { ok: false, expected, observed: `capture failed: ${cap?.error ?? 'it did not run'}` };
  const matched = cap.packets.filter((p) => where.every(([f, m]) => m.test(field(p, f))));
  const shown = (matched.length ? matched : cap.packets).slice(0, MAX_SHOWN).map(summarize);
  const total = cap.packets.length;
  const countOk = compare(matched.length, countC);
  let observed = total === 0 ? `the capture saw no packets` : `${matched.length} of ${total} captured packets matched`;
  let ok = countOk;
  for (const [f, m] of fields) {
    const bad = matched.filter((p) => !m.test(field(p, f)));
    if (!bad.length) continue;
    ok = false;
    const values = [...new Set(bad.map((p) => showValue(field(p, f), obs.names)))];
    observed += `; ${f} = ${values.slice(0, 4).join(', ')} in ${bad.length} of ${matched.length}`;
  }
  if (ok && fields.length) observed += `; every one had ${fields.map(([f]) => f).join(', ')} as expected`;
  return { ok, expected, observed, checked: shown, pcap: cap.pcap };
}

function compileAll(map: Record<string, string | number | boolean | (string | number | boolean)[]>, names: LabNames): [string, Matcher][] {
  return Object.entries(map).map(([f, v]) => {
    const m = compileMatcher(f, v, names);
    // load.ts checked every name; a MAC missing now means the interface is not in the kernel
    return [f, typeof m === 'string' ? { text: `${String(v)} (${m})`, test: () => false } : m];
  });
}

function checkNat(spec: Extract<ExpectationPlan, { kind: 'nat' }>['spec'], probe: ProbeOutcome, names: LabNames): Check {
  const res = probe.connect!;
  const okAttempts = res.attempts.filter((a) => a.ok);
  const parts: Check[] = [];
  if (!okAttempts.length) return { ok: false, expected: 'connections that reach a pod', observed: `all ${res.attempts.length} attempts failed: ${res.attempts[0]?.error ?? ''}` };
  const ipOf = (hostPort: string | undefined) => hostPort?.replace(/:\d+$/, '') ?? '';
  const tally = (values: string[]) => {
    const m = new Map<string, number>();
    for (const v of values) m.set(v, (m.get(v) ?? 0) + 1);
    return [...m].map(([v, n]) => `${showValue(v, names)} ×${n}`).join(', ');
  };
  if (spec.destination !== undefined) {
    const want = spec.destination;
    const bad = okAttempts.filter((a) => {
      const local = ipOf(a.local);
      return want === 'endpoint' ? local !== names.ip(`pod:${a.pod}`) : local !== names.ip(want);
    });
    parts.push({
      ok: bad.length === 0,
      expected: want === 'endpoint' ? 'the endpoint reached on its own pod IP (DNAT)' : `the endpoint reached on ${names.ip(want)} (${want})`,
      observed: `reached on ${tally(okAttempts.map((a) => ipOf(a.local)))}`,
    });
  }
  if (spec.source !== undefined) {
    const want = spec.source;
    const client = names.ip(probe.plan.from)!;
    const nodes = new Set(names.topo.nodes.map((n) => n.name));
    const accepts = (ip: string): boolean => {
      if (want === 'client') return ip === client;
      if (want === 'snat') return ip !== client;
      if (want === 'node') return nodes.has(names.ownerOfIp(ip) ?? '');
      const bare = /^(?:node:|pod:)?([a-z0-9-]+)$/.exec(want)?.[1];
      if (bare && names.namespaceOf(bare)) return names.addressesOf(bare).includes(ip); // any of its addresses
      return ip === names.ip(want);
    };
    const words: Record<string, string> = {
      client: `the client's own address ${client} (${probe.plan.from}): not rewritten`,
      snat: `a rewritten source, not the client's ${client} (SNAT)`,
      node: 'an address of a node (SNAT to the node)',
    };
    parts.push({
      ok: okAttempts.every((a) => accepts(ipOf(a.peer))),
      expected: `source seen by the endpoint: ${words[want] ?? want}`,
      observed: `source seen ${tally(okAttempts.map((a) => ipOf(a.peer)))}`,
    });
  }
  if (res.failed) parts.push({ ok: false, expected: 'every attempt answered', observed: `${res.failed} of ${res.attempts.length} failed: ${res.attempts.find((a) => !a.ok)?.error ?? ''}` });
  return joinChecks(parts);
}

import { stripVTControlCharacters } from 'node:util';
import { z } from 'zod';
import {
  applyExceptions,
  buildTable,
  comparisonTable,
  diffTables,
  formatTable,
  matches,
  parseTable,
  reorder,
  type TruthTable,
} from '../../../probe/truth-table';
import type { TruthTableReport } from '../../../report/types';
import { walkText } from '../../../trace/text';
import { probeRef } from '../fields';
import { reachabilityProbe } from '../probes/reachability';
import type { ExpectationKind } from '../types';

/** The expected truth table: written out (`table`), or a default with exceptions, as the e2e model builds it. */
const schema = z.strictObject({
  ...probeRef,
  /** which of the probe's tables (needed when it probed several ports / protocols) */
  port: z.number().int().min(1).max(65535).optional(),
  protocol: z.enum(['TCP', 'UDP']).optional(),
  /** `- <to> …` then `<from> . X …` rows (`.` allowed, `X` denied) */
  table: z.string().optional(),
  /** without a table: every pair allowed (`all`) or denied (`none`) before the exceptions */
  allowed: z.enum(['all', 'none']).optional(),
  /** applied in order over the table or the default, later ones winning (Expect / ExpectPeer / ExpectAllIngress) */
  except: z.array(z.strictObject({ from: z.string(), to: z.string(), allowed: z.boolean() })).optional(),
  /** leave a pod's connections to itself out of the comparison, as the e2e suite does */
  ignoreLoopback: z.boolean().default(true),
});
export type ReachabilityExpectation = z.infer<typeof schema>;

const mark = (b: boolean) => (b ? '.' : 'X');
const lines = (t: string, n: number) => {
  const all = t.split('\n');
  return all.length > n ? [...all.slice(0, n), `… (${all.length - n} more lines in the probe's output)`].join('\n') : t;
};

export const reachabilityExpectation: ExpectationKind<
  'reachability',
  ReachabilityExpectation,
  typeof reachabilityProbe,
  { expected: TruthTable; port: number; protocol: 'TCP' | 'UDP' }
> = {
  kind: 'reachability',
  schema,
  probe: reachabilityProbe,
  compile(s, { probe, fail }) {
    const from = probe.sources.map((x) => x.name);
    const to = probe.targets.map((x) => x.name);
    const ports = probe.spec.ports;
    const protos = probe.spec.protocols;
    const port = s.port ?? ports[0]!;
    const protocol = s.protocol ?? protos[0]!;
    if (s.port === undefined && ports.length > 1) fail([], `the probe tried ports ${ports.join(', ')}: say which with port:`);
    else if (!ports.includes(port)) fail(['port'], `the probe did not try port ${port} (ports: ${ports.join(', ')})`);
    if (s.protocol === undefined && protos.length > 1) fail([], `the probe tried ${protos.join(' and ')}: say which with protocol:`);
    else if (!protos.includes(protocol)) fail(['protocol'], `the probe did not try ${protocol} (protocols: ${protos.join(', ')})`);
    let base = buildTable(from, to, s.allowed !== 'none');
    if (s.table !== undefined) {
      if (s.allowed !== undefined) fail(['allowed'], 'give a table or a default (allowed), not both');
      const t = parseTable(s.table);
      if (typeof t === 'string') fail(['table'], t);
      else {
        const missing = (what: string, want: string[], got: string[]) => {
          const lack = want.filter((w) => !got.includes(w));
          const extra = got.filter((g) => !want.includes(g));
          if (lack.length || extra.length)
            fail(
              ['table'],
              `the table's ${what} are not the probe's: ${[lack.length ? `missing ${lack.join(', ')}` : '', extra.length ? `not probed ${extra.join(', ')}` : ''].filter(Boolean).join('; ')}`,
            );
          return lack.length > 0;
        };
        if (!missing('rows (from)', from, t.from) && !missing('columns (to)', to, t.to)) base = reorder(t, from, to);
      }
    }
    (s.except ?? []).forEach((e, i) => {
      if (!from.some((f) => matches(e.from, f)))
        fail(['except', i, 'from'], `'${e.from}' matches none of the probe's clients (${from.join(', ')})`);
      if (!to.some((t) => matches(e.to, t))) fail(['except', i, 'to'], `'${e.to}' matches none of the probe's servers (${to.join(', ')})`);
    });
    const expected = s.except ? applyExceptions(base, s.except) : base;
    return { expected, port, protocol };
  },
  evaluate({ spec, expected, port, protocol }, { probe }) {
    const res = probe.result;
    const got = res.tables.find((t) => t.port === port && t.protocol === protocol);
    if (!got) return { ok: false, expected: `the ${protocol}/${port} table`, observed: 'the probe has no such table' };
    const observed = got.table;
    const ignore = spec.ignoreLoopback ? (f: string, t: string) => f === t : undefined;
    const diffs = diffTables(expected, observed, ignore);
    const traceOf = (from: string, to: string) => {
      const mine = res.traces.filter((t) => t.port === port && t.protocol === protocol);
      return mine.find((t) => t.from === from && t.to === to) ?? mine[0];
    };
    const differences = diffs.map((d) => {
      const i = observed.from.indexOf(d.from);
      const j = observed.to.indexOf(d.to);
      const detail = got.details[i]?.[j]?.detail ?? '';
      const tr = d.observed ? undefined : traceOf(d.from, d.to);
      return {
        ...d,
        detail,
        ...(tr ? { trace: { from: tr.from, to: tr.to, text: lines(stripVTControlCharacters(walkText(tr.walk)), 40) } } : {}),
      };
    });
    const table: TruthTableReport = {
      port,
      protocol,
      from: expected.from,
      to: expected.to,
      expected: expected.cells,
      observed: expected.from.map((f) =>
        expected.to.map((t) => observed.cells[observed.from.indexOf(f)]?.[observed.to.indexOf(t)] ?? false),
      ),
      ignoreLoopback: spec.ignoreLoopback,
      differences,
    };
    const head = `${protocol}/${port}${spec.ignoreLoopback ? ' (a pod to itself not compared)' : ''}`;
    if (!diffs.length)
      return {
        ok: true,
        expected: `${head}\n${formatTable(expected).trimEnd()}`,
        observed: `the same table (${res.pairs} pairs probed)`,
        table,
      };
    const obsText = [
      formatTable(reorder(observed, expected.from, expected.to)).trimEnd(),
      `${diffs.length} cell(s) differ:`,
      ...differences.map((d) => `  ${d.from} → ${d.to}: expected ${mark(d.expected)}, observed ${mark(d.observed)} (${d.detail})`),
      'comparison (X: differs):',
      comparisonTable(expected, diffs).trimEnd(),
      // each trace once, naming the cells it stands for
      ...[...new Set(differences.flatMap((d) => (d.trace ? [`${d.trace.from} → ${d.trace.to}`] : [])))].flatMap((pair) => {
        const ds = differences.filter((d) => d.trace && `${d.trace.from} → ${d.trace.to}` === pair);
        const cells = ds.map((d) => `${d.from} → ${d.to}`).join(', ');
        return [`trace of the denied probe ${pair} ${protocol}/${port} (for ${cells}):`, ds[0]!.trace!.text];
      }),
    ];
    return { ok: false, expected: `${head}\n${formatTable(expected).trimEnd()}`, observed: obsText.join('\n'), table };
  },
};

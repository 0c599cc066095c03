// Truth tables of reachability, as Kubernetes' network-policy e2e tests print them
// (test/e2e/network/netpol/truthtable.go): rows are the clients (from), columns the servers
// (to), `.` allowed and `X` denied; the header row starts with `-`. Pure: parse, build from a
// default and exceptions (the e2e Reachability model's Expect / ExpectPeer), format, compare.

export interface TruthTable {
  from: string[];
  to: string[];
  /** cells[i][j]: from[i] → to[j] allowed */
  cells: boolean[][];
}

/** One differing cell. */
export interface CellDiff {
  from: string;
  to: string;
  expected: boolean;
  observed: boolean;
}

/** A selector of pods (or a source): `x/a`, `x/*` (namespace x), `*` (every pod), or a node / `@lab` as itself. */
export function selectNames(selector: string, pods: readonly string[]): string[] {
  if (selector === '*') return [...pods];
  const ns = /^([a-z0-9-]+)\/\*$/.exec(selector)?.[1];
  if (ns === undefined) return pods.includes(selector) ? [selector] : [];
  // pods of namespace default carry no prefix in the lab
  return pods.filter((p) => (ns === 'default' ? !p.includes('/') : p.startsWith(`${ns}/`)));
}

/** Whether `name` is one of those a selector picks (for exceptions: `*`, `ns/*`, a name). */
export function matches(selector: string, name: string): boolean {
  if (selector === '*') return true;
  const ns = /^([a-z0-9-]+)\/\*$/.exec(selector)?.[1];
  if (ns === undefined) return selector === name;
  return ns === 'default' ? !name.includes('/') : name.startsWith(`${ns}/`);
}

/**
 * Parses a table: a header `- <to> <to> …` then one row per client `<from> <cell> …`, cells
 * `.` (allowed) or `X` (denied), separated by spaces or tabs. An error text says which line.
 */
export function parseTable(text: string): TruthTable | string {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const [head, ...rows] = lines;
  if (!head) return 'the table is empty';
  const header = head.split(/\s+/);
  if (header[0] !== '-') return `the header row starts with '-' (then the servers' names), got '${header[0]}'`;
  const to = header.slice(1);
  if (!to.length) return 'the header row names no servers';
  const dupTo = to.find((t, i) => to.indexOf(t) !== i);
  if (dupTo) return `server '${dupTo}' appears twice in the header`;
  const from: string[] = [];
  const cells: boolean[][] = [];
  for (const [i, row] of rows.entries()) {
    const [name, ...marks] = row.split(/\s+/);
    const where = `row ${i + 2} (${name})`;
    if (!name) continue;
    if (from.includes(name)) return `${where}: client '${name}' has two rows`;
    if (marks.length !== to.length) return `${where}: ${marks.length} cells for ${to.length} servers`;
    const bad = marks.find((m) => m !== '.' && m !== 'X' && m !== 'x');
    if (bad !== undefined) return `${where}: cell '${bad}' is neither '.' (allowed) nor 'X' (denied)`;
    from.push(name);
    cells.push(marks.map((m) => m === '.'));
  }
  if (!from.length) return 'the table has a header but no rows';
  return { from, to, cells };
}

/** Exceptions applied in order to a default, later ones winning (the e2e model's Expect / ExpectPeer). */
export interface Exception {
  from: string;
  to: string;
  allowed: boolean;
}

export function buildTable(
  from: readonly string[],
  to: readonly string[],
  allowed: boolean,
  exceptions: readonly Exception[] = [],
): TruthTable {
  return applyExceptions({ from: [...from], to: [...to], cells: from.map(() => to.map(() => allowed)) }, exceptions);
}

export function applyExceptions(t: TruthTable, exceptions: readonly Exception[]): TruthTable {
  const cells = t.from.map((f, i) =>
    t.to.map((c, j) => exceptions.reduce((v, e) => (matches(e.from, f) && matches(e.to, c) ? e.allowed : v), t.cells[i]?.[j] ?? false)),
  );
  return { ...t, cells };
}

/** The same table with its rows and columns in another order (names must be the same sets). */
export function reorder(t: TruthTable, from: readonly string[], to: readonly string[]): TruthTable {
  const cells = from.map((f) => {
    const i = t.from.indexOf(f);
    return to.map((c) => t.cells[i]?.[t.to.indexOf(c)] ?? false);
  });
  return { from: [...from], to: [...to], cells };
}

/** Aligned text, `-` at the corner; `mark` overrides a cell's character (the comparison table). */
export function formatTable(t: TruthTable, mark?: (i: number, j: number) => string): string {
  const w = Math.max(1, ...t.from.map((f) => f.length));
  const cw = t.to.map((c) => Math.max(1, c.length));
  const line = (first: string, cols: string[]) => [first.padEnd(w), ...cols.map((c, j) => c.padEnd(cw[j] ?? 1))].join(' ').trimEnd();
  const out = [line('-', t.to)];
  t.from.forEach((f, i) =>
    out.push(
      line(
        f,
        t.to.map((_, j) => (mark ? mark(i, j) : t.cells[i]?.[j] ? '.' : 'X')),
      ),
    ),
  );
  return out.join('\n') + '\n';
}

/** Cells that differ (the expected table's order); `ignore` leaves pairs out (a pod to itself). */
export function diffTables(expected: TruthTable, observed: TruthTable, ignore?: (from: string, to: string) => boolean): CellDiff[] {
  const out: CellDiff[] = [];
  expected.from.forEach((f, i) => {
    const oi = observed.from.indexOf(f);
    expected.to.forEach((t, j) => {
      if (ignore?.(f, t)) return;
      const e = expected.cells[i]?.[j] ?? false;
      const o = oi < 0 ? undefined : observed.cells[oi]?.[observed.to.indexOf(t)];
      if (o === undefined || o !== e) out.push({ from: f, to: t, expected: e, observed: o ?? false });
    });
  });
  return out;
}

/** The e2e suite's comparison table: `.` where both agree, `X` where they differ. */
export function comparisonTable(expected: TruthTable, diffs: readonly CellDiff[]): string {
  const bad = new Set(diffs.map((d) => `${d.from}\0${d.to}`));
  return formatTable(expected, (i, j) => (bad.has(`${expected.from[i]}\0${expected.to[j]}`) ? 'X' : '.'));
}

// iptables-restore input / iptables-save output, read line by line: one parser for the read-back
// checks (parseTables: rules as order-free option maps, to compare rule sets with the kernel's)
// and for the tracer (lab/trace/iptables-tracer.ts builds its typed, strict matches on
// restoreLines and each rule's words). Pure; no kernel.

/** Splits a rule line into words, honouring double quotes as iptables-save writes them. */
export function words(line: string): string[] {
  return [...line.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)].map((m) => (m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!));
}

/** One meaningful line of restore text (blank lines and comments are skipped); `line` counts from 1. */
export type RestoreLine = { line: number; text: string } & (
  | { kind: 'table'; table: string }
  | { kind: 'commit' }
  /** `:NAME POLICY [p:b]`; policy undefined when the declaration is not of that form */
  | { kind: 'chain'; chain: string; policy?: string }
  /** `-A CHAIN rest`: rest as written, and its words */
  | { kind: 'rule'; chain: string; rest: string; words: string[] }
  /** anything else, including `-A` without a chain */
  | { kind: 'other' }
);

const CHAIN_DECL = /^:(\S+)\s+(\S+)(?:\s+\[\d+:\d+\])?$/;
const RULE = /^-A\s+(\S+)\s*(.*)$/;

/** The text's lines, trimmed and classified; nothing is checked beyond the line's own form. */
export function restoreLines(text: string): RestoreLine[] {
  const out: RestoreLine[] = [];
  text.split('\n').forEach((raw, i) => {
    const t = raw.trim();
    const line = i + 1;
    if (!t || t.startsWith('#')) return;
    if (t.startsWith('*')) out.push({ line, text: t, kind: 'table', table: t.slice(1) });
    else if (t === 'COMMIT') out.push({ line, text: t, kind: 'commit' });
    else if (t.startsWith(':')) {
      const m = CHAIN_DECL.exec(t);
      out.push({ line, text: t, kind: 'chain', chain: m ? m[1]! : t.slice(1).split(' ')[0]!, ...(m && { policy: m[2]! }) });
    } else if (t.startsWith('-A ')) {
      const m = RULE.exec(t);
      out.push(m ? { line, text: t, kind: 'rule', chain: m[1]!, rest: m[2]!, words: words(m[2]!) } : { line, text: t, kind: 'other' });
    } else out.push({ line, text: t, kind: 'other' });
  });
  return out;
}

// --- rule sets as comparable option maps (read-back) -------------------------------------------

export interface ParsedRule {
  table: string;
  chain: string;
  /** option → value, order-free; negated options carry a leading '!' in the key */
  opts: Map<string, string>;
  target?: string;
  text: string;
}

export interface ParsedTables {
  chains: Map<string, Set<string>>; // table → chains declared
  rules: ParsedRule[];
}

/** Parses iptables-restore input or iptables-save output into a comparable form (lenient: it skips what it does not read). */
export function parseTables(text: string): ParsedTables {
  const out: ParsedTables = { chains: new Map(), rules: [] };
  let table = '';
  for (const l of restoreLines(text)) {
    if (l.kind === 'table') {
      table = l.table;
      out.chains.set(table, out.chains.get(table) ?? new Set());
    } else if (l.kind === 'chain') out.chains.get(table)!.add(l.chain);
    else if (l.kind === 'rule') out.rules.push(parseRule(table, l.chain, l.words, l.text));
  }
  return out;
}

function parseRule(table: string, chain: string, w: string[], text: string): ParsedRule {
  const rule: ParsedRule = { table, chain, opts: new Map(), text };
  let neg = false;
  for (let i = 0; i < w.length; i++) {
    const t = w[i]!;
    if (t === '!') {
      neg = true;
      continue;
    }
    if (t === '-j' || t === '-g') {
      rule.target = w[++i];
      continue;
    }
    if (t === '-m') {
      // `-m tcp` and friends are implied by the options that follow; only the options are compared
      i++;
      continue;
    }
    const values: string[] = [];
    while (i + 1 < w.length && !w[i + 1]!.startsWith('-') && w[i + 1] !== '!') values.push(w[++i]!);
    rule.opts.set((neg ? '!' : '') + t, normalise(t, values.join(' ')));
    neg = false;
  }
  return rule;
}

/** What iptables-save prints for what kube-proxy writes: addresses get /32, marks become set-xmark. */
function normalise(opt: string, v: string): string {
  if ((opt === '-s' || opt === '-d') && !v.includes('/')) return `${v}/32`;
  if (opt === '--probability') return Number(v).toFixed(8); // the kernel keeps it in steps of 1/2^31
  if (opt === '--or-mark') return `set-xmark ${v}/${v}`;
  if (opt === '--xor-mark') return `set-xmark ${v}/0x0`;
  if (opt === '--set-xmark') return `set-xmark ${v}`;
  return v;
}

/** A rule as an order-free comparable string. */
export function ruleKey(r: ParsedRule): string {
  const opts = [...r.opts].map(([k, v]) => `${k.replace(/^(!?)--(or|xor|set-x)-?mark$/, '$1mark-op')}=${v}`).sort();
  return `${r.table}/${r.chain}: ${opts.join(' ')} -> ${r.target ?? ''}`;
}

/** Every -j/-g target that is neither a built-in target nor a declared chain of its table. */
export function danglingJumps(text: string): string[] {
  const BUILTIN_TARGETS = new Set([
    'ACCEPT',
    'DROP',
    'RETURN',
    'REJECT',
    'DNAT',
    'SNAT',
    'MASQUERADE',
    'MARK',
    'LOG',
    'CONNMARK',
    'NOTRACK',
    'TRACE',
  ]);
  const t = parseTables(text);
  return t.rules
    .filter((r) => r.target && !BUILTIN_TARGETS.has(r.target) && !t.chains.get(r.table)?.has(r.target))
    .map((r) => `${r.table}: ${r.text}`);
}

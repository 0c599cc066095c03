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
  /** `-A CHAIN rest` (or `-I CHAIN rest`, insert: at the top): rest as written, and its words */
  | { kind: 'rule'; chain: string; rest: string; words: string[]; insert?: true }
  /** `-X CHAIN`: the chain is deleted */
  | { kind: 'delete'; chain: string }
  /** anything else, including `-A` without a chain */
  | { kind: 'other' }
);

const CHAIN_DECL = /^:(\S+)\s+(\S+)(?:\s+\[\d+:\d+\])?$/;
const RULE = /^-([AI])\s+(\S+)\s*(.*)$/;
const DELETE = /^-X\s+(\S+)$/;

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
    } else if (t.startsWith('-A ') || t.startsWith('-I ')) {
      const m = RULE.exec(t);
      out.push(
        m
          ? {
              line,
              text: t,
              kind: 'rule',
              chain: m[2]!,
              rest: m[3]!,
              words: words(m[3]!),
              ...(m[1] === 'I' ? { insert: true as const } : {}),
            }
          : { line, text: t, kind: 'other' },
      );
    } else if (DELETE.test(t)) out.push({ line, text: t, kind: 'delete', chain: DELETE.exec(t)![1]! });
    else out.push({ line, text: t, kind: 'other' });
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
  /** in order per chain, chains one after the other */
  rules: ParsedRule[];
  /** table → chains the text deletes (`-X`) */
  deleted: Map<string, Set<string>>;
}

/**
 * Parses iptables-restore input or iptables-save output into a comparable form: what the tables
 * hold after restoring it (with --noflush onto `onto` when given: a declared chain is flushed,
 * `-I` goes to the top, `-X` deletes). Lenient: it skips what it does not read.
 */
export function parseTables(text: string, onto?: ParsedTables): ParsedTables {
  const chains = new Map<string, Set<string>>([...(onto?.chains ?? [])].map(([t, c]) => [t, new Set(c)]));
  const held = new Map<string, ParsedRule[]>(); // "table chain" → rules
  for (const r of onto?.rules ?? [])
    (held.get(`${r.table} ${r.chain}`) ?? held.set(`${r.table} ${r.chain}`, []).get(`${r.table} ${r.chain}`)!).push(r);
  const deleted = new Map<string, Set<string>>();
  const rulesOf = (t: string, c: string) => held.get(`${t} ${c}`) ?? held.set(`${t} ${c}`, []).get(`${t} ${c}`)!;
  let table = '';
  for (const l of restoreLines(text)) {
    if (l.kind === 'table') {
      table = l.table;
      chains.set(table, chains.get(table) ?? new Set());
    } else if (l.kind === 'chain') {
      chains.get(table)!.add(l.chain);
      if (l.policy === '-') held.set(`${table} ${l.chain}`, []); // a user chain declared again is flushed
    } else if (l.kind === 'rule') {
      const r = parseRule(table, l.chain, l.words, l.text);
      if (l.insert) rulesOf(table, l.chain).unshift(r);
      else rulesOf(table, l.chain).push(r);
    } else if (l.kind === 'delete') {
      chains.get(table)?.delete(l.chain);
      held.delete(`${table} ${l.chain}`);
      (deleted.get(table) ?? deleted.set(table, new Set()).get(table)!).add(l.chain);
    }
  }
  return { chains, rules: [...held.values()].flat(), deleted };
}

/** One rule's words (after `-A CHAIN`) as a comparable option map. */
export function parseRule(table: string, chain: string, w: string[], text: string): ParsedRule {
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
  return withDefaults(rule);
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

/** Defaults iptables-save prints that kube-proxy leaves out. */
function withDefaults(rule: ParsedRule): ParsedRule {
  if (rule.target === 'REJECT' && !rule.opts.has('--reject-with')) rule.opts.set('--reject-with', 'icmp-port-unreachable');
  // -m recent (session affinity): iptables-save adds the source mask and --rsource
  if (rule.opts.has('--name') && (rule.opts.has('--set') || rule.opts.has('--rcheck'))) {
    if (!rule.opts.has('--mask')) rule.opts.set('--mask', '255.255.255.255');
    if (!rule.opts.has('--rsource')) rule.opts.set('--rsource', '');
  }
  return rule;
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

import { InputError } from '../errors';
import type { Tool } from '../plan/types';
import { parseRule, restoreLines, ruleKey } from './iptables-parse';
import { type NftSummary, nftSummaryOfDump, nftSummaryOfText } from './nftables-readback';
import { TABLE_FAMILY, TABLE_NAME } from './nftables';

// `lab diff-rules`: what the lab generates for a node against a dump taken on a real node
// (iptables-save, nft list table|ruleset, ipset save, ipvsadm -Sn), compared by meaning, not by
// text: per table and chain, rules in order, each rule's options order-free as iptables-save
// reorders them (iptables-parse.ts normalises addresses, marks, probabilities); counters and
// generated sizes (ipset's hashsize, initval) are left out; comments are compared as text.
// Pure: the texts come in, the differences go out.

export type DumpFormat = 'iptables' | 'nft' | 'ipset' | 'ipvsadm';

/** The plan tool whose batches a dump of that format is compared with. */
export const DUMP_TOOL: Record<DumpFormat, Tool> = { iptables: 'iptables-restore', nft: 'nft', ipset: 'ipset', ipvsadm: 'ipvsadm' };

export interface DiffItem {
  /** where it is: `nat KUBE-SVC-X rule 2`, `nat chain KUBE-SEP-X`, `set KUBE-CLUSTER-IP`, `TCP 10.43.0.10:80` */
  where: string;
  text: string;
  /** the dump's line, when the item came from one */
  line?: number;
  /** the content of a whole chain, set or virtual service that only one side has */
  detail?: string[];
}

export interface RulesDiff {
  format: DumpFormat;
  /** what was compared: iptables tables, the nft table, ipsets, IPVS */
  compared: string[];
  /** what was left aside, and why */
  notes: string[];
  onlyReal: DiffItem[];
  onlyLab: DiffItem[];
  /** the same place (a chain's rule, a set, a service) on both sides, different */
  different: { real: DiffItem; lab: DiffItem }[];
}

/** One batch the lab generated for the node; `append`: iptables-restore --noflush. */
export interface LabBatch {
  text: string;
  append?: boolean;
}

export const isIdentical = (d: RulesDiff) => !d.onlyReal.length && !d.onlyLab.length && !d.different.length;

const bad = (file: string, line: number | undefined, message: string) =>
  new InputError([{ file, path: '', message, ...(line !== undefined ? { line } : {}) }]);

/** The format of a dump, from its first meaningful line. */
export function detectFormat(text: string, file: string): DumpFormat {
  const lines = text.split('\n');
  const i = lines.findIndex((l) => l.trim() && !l.trim().startsWith('#'));
  if (i < 0) throw bad(file, undefined, 'the file is empty: nothing tells iptables-save, nft, ipset or ipvsadm output apart');
  const t = lines[i]!.trim().replace(/^\[\d+:\d+\]\s+/, '');
  if (/^\*\w/.test(t) || /^:\S+\s+\S+/.test(t) || /^-[AI]\s+[^-\s]/.test(t)) return 'iptables';
  if (/^(table|add table|flush ruleset|flush table|delete table|destroy table)\s/.test(t)) return 'nft';
  if (/^-[AaE]\s+-[tuf]\s/.test(t) || t === '-C') return 'ipvsadm';
  if (/^(create|add)\s+\S+\s+\S/.test(t)) return 'ipset';
  throw bad(
    file,
    i + 1,
    `unknown format: '${t.slice(0, 60)}' (expected iptables-save, nft list table ip kube-proxy | nft list ruleset, ipset save or ipvsadm -Sn output)`,
  );
}

/** Compares the lab's batches for a node with a real node's dump of the given format. */
export function diffRules(format: DumpFormat, lab: LabBatch[], real: { text: string; file: string }): RulesDiff {
  switch (format) {
    case 'iptables':
      return diffIptables(lab, real);
    case 'nft':
      return diffNft(lab, real);
    case 'ipset':
      return diffIpset(lab, real);
    case 'ipvsadm':
      return diffIpvs(lab, real);
  }
}

const empty = (format: DumpFormat): RulesDiff => ({ format, compared: [], notes: [], onlyReal: [], onlyLab: [], different: [] });

// --- ordered sequences (rules in a chain) ------------------------------------------------------

interface Elem {
  key: string;
  /** what makes two different rules "the same rule, changed": their target, their comment */
  hints: string[];
  text: string;
  line?: number;
}

/** Longest common subsequence of two key lists, as index pairs (a table up to 4M cells; beyond, the common ends only). */
function lcs(a: string[], b: string[]): [number, number][] {
  let s = 0;
  while (s < a.length && s < b.length && a[s] === b[s]) s++;
  let e = 0;
  while (e < a.length - s && e < b.length - s && a[a.length - 1 - e] === b[b.length - 1 - e]) e++;
  const pairs: [number, number][] = [];
  for (let i = 0; i < s; i++) pairs.push([i, i]);
  const x = a.slice(s, a.length - e);
  const y = b.slice(s, b.length - e);
  if (x.length && y.length && x.length * y.length <= 4_000_000) {
    const w = y.length + 1;
    const t = new Uint32Array((x.length + 1) * w);
    for (let i = x.length - 1; i >= 0; i--)
      for (let j = y.length - 1; j >= 0; j--)
        t[i * w + j] = x[i] === y[j] ? t[(i + 1) * w + j + 1]! + 1 : Math.max(t[(i + 1) * w + j]!, t[i * w + j + 1]!);
    let i = 0;
    let j = 0;
    while (i < x.length && j < y.length) {
      if (x[i] === y[j]) pairs.push([s + i++, s + j++]);
      else if (t[(i + 1) * w + j]! >= t[i * w + j + 1]!) i++;
      else j++;
    }
  }
  for (let k = 0; k < e; k++) pairs.push([a.length - e + k, b.length - e + k]);
  return pairs;
}

/**
 * Rules of one chain on both sides: equal rules are matched in order; between two matches, as
 * many rules on each side are those places changed; otherwise a real rule and a lab rule sharing
 * a target or a comment are one rule that differs, and the rest is only on its side.
 */
function diffSeq(where: string, real: Elem[], lab: Elem[], out: RulesDiff): void {
  const item = (e: Elem, i: number): DiffItem => ({ where: `${where} rule ${i + 1}`, text: e.text, ...(e.line ? { line: e.line } : {}) });
  const gap = (r0: number, r1: number, l0: number, l1: number) => {
    // as many on each side between two matches: the rules at the same places, changed
    if (r1 - r0 === l1 - l0) {
      for (let i = 0; i < r1 - r0; i++) out.different.push({ real: item(real[r0 + i]!, r0 + i), lab: item(lab[l0 + i]!, l0 + i) });
      return;
    }
    let j = l0;
    for (let i = r0; i < r1; i++) {
      const hints = new Set(real[i]!.hints);
      let k = j;
      while (k < l1 && !lab[k]!.hints.some((h) => hints.has(h))) k++;
      if (k === l1) {
        out.onlyReal.push(item(real[i]!, i));
        continue;
      }
      for (; j < k; j++) out.onlyLab.push(item(lab[j]!, j));
      out.different.push({ real: item(real[i]!, i), lab: item(lab[k]!, k) });
      j = k + 1;
    }
    for (; j < l1; j++) out.onlyLab.push(item(lab[j]!, j));
  };
  let ri = 0;
  let li = 0;
  for (const [r, l] of lcs(
    real.map((e) => e.key),
    lab.map((e) => e.key),
  )) {
    gap(ri, r, li, l);
    ri = r + 1;
    li = l + 1;
  }
  gap(ri, real.length, li, lab.length);
}

/** Members of a set on both sides (set elements, ipset members, real servers): order does not matter. */
function diffMembers(where: string, real: Map<string, Elem>, lab: Map<string, Elem>, out: RulesDiff): void {
  const item = (e: Elem): DiffItem => ({ where, text: e.text, ...(e.line ? { line: e.line } : {}) });
  for (const [k, e] of real) if (!lab.has(k)) out.onlyReal.push(item(e));
  for (const [k, e] of lab) if (!real.has(k)) out.onlyLab.push(item(e));
}

// --- iptables ------------------------------------------------------------------------------------

interface IptChain {
  policy?: string;
  rules: Elem[];
}
type IptTables = Map<string, Map<string, IptChain>>;

const BUILTIN: Record<string, string[]> = {
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  mangle: ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
  raw: ['PREROUTING', 'OUTPUT'],
  security: ['INPUT', 'FORWARD', 'OUTPUT'],
};

/**
 * What the tables hold after restoring `text` onto `tables` (iptables-restore, with --noflush
 * when `append`: without it a table the text names starts empty). Strict for a dump: a line it
 * does not read, or a table without COMMIT (a cut dump), is bad input.
 */
function readIptables(text: string, file: string, tables: IptTables, append: boolean, withLines: boolean): void {
  let table: string | undefined;
  let tableLine = 0;
  let chains: Map<string, IptChain> | undefined;
  const chainOf = (name: string) => chains!.get(name) ?? chains!.set(name, { rules: [] }).get(name)!;
  // iptables-save -c: every rule starts with its counters
  for (const l of restoreLines(text.replace(/^([ \t]*)\[\d+:\d+\][ \t]+/gm, '$1'))) {
    if (l.kind === 'table') {
      if (table !== undefined) throw bad(file, l.line, `table ${l.table} starts before table ${table} (line ${tableLine}) has its COMMIT`);
      table = l.table;
      tableLine = l.line;
      if (!append || !tables.has(table)) tables.set(table, new Map((BUILTIN[table] ?? []).map((c) => [c, { rules: [] }])));
      chains = tables.get(table)!;
      continue;
    }
    if (l.kind === 'other') throw bad(file, l.line, `not an iptables-save line: '${l.text.slice(0, 80)}'`);
    if (table === undefined || !chains) throw bad(file, l.line, `'${l.text.slice(0, 40)}' before any *table line`);
    if (l.kind === 'commit') {
      table = undefined;
      chains = undefined;
    } else if (l.kind === 'chain') {
      const c = chainOf(l.chain);
      if (l.policy === '-')
        c.rules = []; // a user chain declared again is flushed (--noflush)
      else if (l.policy !== undefined) c.policy = l.policy;
    } else if (l.kind === 'delete') chains.delete(l.chain);
    else {
      const p = parseRule(table, l.chain, l.words, l.text);
      const comment = p.opts.get('--comment');
      const e: Elem = {
        key: ruleKey(p),
        hints: [...(p.target ? [`-j ${p.target}`] : []), ...(comment !== undefined ? [`comment ${comment}`] : [])],
        text: l.text,
        ...(withLines ? { line: l.line } : {}),
      };
      if (l.insert) chainOf(l.chain).rules.unshift(e);
      else chainOf(l.chain).rules.push(e);
    }
  }
  if (table !== undefined) throw bad(file, tableLine, `table ${table} has no COMMIT (a cut dump?)`);
}

/**
 * Chains whose rules kube-proxy writes while walking its map of services (in Go's random map
 * order: two syncs of one node differ): each rule matches its own service's address and port,
 * so their order means nothing — but for the rule that must be last.
 */
const ORDER_FREE = new Set(['KUBE-SERVICES', 'KUBE-NODEPORTS', 'KUBE-EXTERNAL-SERVICES', 'KUBE-PROXY-FIREWALL']);
const MUST_BE_LAST = 'NOTE: this must be the last rule in this chain';

function diffUnordered(where: string, real: Elem[], lab: Elem[], out: RulesDiff): void {
  const item = (e: Elem, i: number): DiffItem => ({ where: `${where} rule ${i + 1}`, text: e.text, ...(e.line ? { line: e.line } : {}) });
  const left = new Map<string, number[]>();
  lab.forEach((e, i) => left.set(e.key, [...(left.get(e.key) ?? []), i]));
  const onlyReal: number[] = [];
  real.forEach((e, i) => {
    const at = left.get(e.key);
    if (at?.length) at.shift();
    else onlyReal.push(i);
  });
  const onlyLab = [...left.values()].flat().sort((a, b) => a - b);
  // a real rule and a lab rule sharing a target (a service's chain) are that rule, changed
  const paired = new Set<number>();
  for (const i of onlyReal) {
    const hints = new Set(real[i]!.hints.filter((h) => h.startsWith('-j ')));
    const j = onlyLab.find((k) => !paired.has(k) && lab[k]!.hints.some((h) => hints.has(h)));
    if (j === undefined) out.onlyReal.push(item(real[i]!, i));
    else {
      paired.add(j);
      out.different.push({ real: item(real[i]!, i), lab: item(lab[j]!, j) });
    }
  }
  for (const j of onlyLab) if (!paired.has(j)) out.onlyLab.push(item(lab[j]!, j));
  const last = real.findIndex((e) => e.text.includes(MUST_BE_LAST));
  const labLast = lab.findIndex((e) => e.text.includes(MUST_BE_LAST));
  if (last >= 0 && last !== real.length - 1 && labLast >= 0)
    out.different.push({ real: item(real[last]!, last), lab: { ...item(lab[labLast]!, labLast), text: `${lab[labLast]!.text} (last)` } });
}

function diffIptables(lab: LabBatch[], real: { text: string; file: string }): RulesDiff {
  const out = empty('iptables');
  const got: IptTables = new Map();
  readIptables(real.text, real.file, got, false, true);
  const want: IptTables = new Map();
  for (const b of lab) readIptables(b.text, '(lab)', want, b.append === true, false);
  out.compared = [...got.keys()];
  const skipped = [...want.keys()].filter((t) => !got.has(t));
  if (skipped.length) out.notes.push(`not in the dump, not compared: table ${skipped.join(', ')}`);
  for (const [table, realChains] of got) {
    const labChains = want.get(table) ?? new Map<string, IptChain>();
    const names = [...realChains.keys(), ...[...labChains.keys()].filter((c) => !realChains.has(c))];
    for (const name of names) {
      const r = realChains.get(name);
      const l = labChains.get(name);
      const builtin = BUILTIN[table]?.includes(name) === true;
      // a built-in chain always exists: compare its rules, whatever side declares it
      if (builtin || (r && l)) {
        if (r?.policy && l?.policy && r.policy !== l.policy)
          out.different.push({
            real: { where: `${table} chain ${name}`, text: `policy ${r.policy}` },
            lab: { where: `${table} chain ${name}`, text: `policy ${l.policy}` },
          });
        if (ORDER_FREE.has(name)) diffUnordered(`${table} ${name}`, r?.rules ?? [], l?.rules ?? [], out);
        else diffSeq(`${table} ${name}`, r?.rules ?? [], l?.rules ?? [], out);
        continue;
      }
      const c = (r ?? l)!;
      const it: DiffItem = {
        where: `${table} chain ${name}`,
        text: `chain ${name} (${c.rules.length} rule${c.rules.length === 1 ? '' : 's'})`,
        detail: c.rules.map((e) => e.text),
      };
      (r ? out.onlyReal : out.onlyLab).push(it);
    }
  }
  return out;
}

// --- nftables ------------------------------------------------------------------------------------

const OUR_TABLE = `${TABLE_FAMILY} ${TABLE_NAME}`;

/**
 * The lines of the kube-proxy table in `nft list ruleset` output (other tables blanked, so that
 * line numbers still point into the file), and the other tables' names.
 */
function ourTable(text: string): { text: string; others: string[] } {
  const others: string[] = [];
  let depth = 0;
  let keep = false;
  const lines = text.split('\n').map((raw) => {
    const bare = raw.replace(/"(?:[^"\\]|\\.)*"/g, '""').replace(/#.*$/, '');
    if (depth === 0) {
      const m = /^\s*table\s+(\S+)\s+(\S+)\s*\{/.exec(bare);
      if (m) {
        keep = `${m[1]} ${m[2]}` === OUR_TABLE;
        if (!keep) others.push(`${m[1]} ${m[2]}`);
      } else keep = true; // top-level commands: left to the parser (it refuses what it does not model)
    }
    for (const ch of bare) depth += ch === '{' ? 1 : ch === '}' ? -1 : 0;
    return keep ? raw : '';
  });
  return { text: lines.join('\n'), others };
}

function nftSummary(text: string, file: string): NftSummary {
  try {
    // knftables' dump (`add rule ip kube-proxy ...`, one object a line), as kube-proxy's tests print it
    if (/^\s*add (chain|rule|set|map|element) /m.test(text)) return nftSummaryOfDump(text);
    return nftSummaryOfText(text);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    const m = /^line (\d+): (.*)$/s.exec(msg);
    throw bad(file, m ? Number(m[1]) : undefined, m ? m[2]! : msg);
  }
}

const nftHints = (rule: string) => [
  ...[...rule.matchAll(/\b(?:jump|goto) (\S+)/g)].map((m) => m[0]),
  ...[...rule.matchAll(/comment ("(?:[^"\\]|\\.)*")/g)].map((m) => m[0]),
];

function diffNft(lab: LabBatch[], real: { text: string; file: string }): RulesDiff {
  const out = empty('nft');
  const { text, others } = ourTable(real.text);
  if (others.length) out.notes.push(`other tables, not compared: ${others.map((t) => `table ${t}`).join(', ')}`);
  const got = nftSummary(text, real.file);
  // each kube-proxy batch replaces the whole table: the last one is what the node holds
  const ours = lab.filter((b) => b.text.includes(OUR_TABLE));
  const want: NftSummary = ours.length ? nftSummary(ours[ours.length - 1]!.text, '(lab)') : { chains: {}, sets: {} };
  out.compared = [`table ${OUR_TABLE}`];
  const union = (a: object, b: object) => [...Object.keys(a), ...Object.keys(b).filter((k) => !(k in a))];
  for (const name of union(got.chains, want.chains)) {
    const r = got.chains[name];
    const l = want.chains[name];
    const where = `chain ${name}`;
    if (r && l) {
      if (r.base !== l.base)
        out.different.push({ real: { where, text: r.base ?? '(regular chain)' }, lab: { where, text: l.base ?? '(regular chain)' } });
      const elems = (rules: string[]) => rules.map((t) => ({ key: t, hints: nftHints(t), text: t }));
      diffSeq(name, elems(r.rules), elems(l.rules), out);
      continue;
    }
    const c = (r ?? l)!;
    (r ? out.onlyReal : out.onlyLab).push({
      where,
      text: `chain ${name} (${c.rules.length} rule${c.rules.length === 1 ? '' : 's'})`,
      detail: [...(c.base ? [c.base] : []), ...c.rules],
    });
  }
  for (const name of union(got.sets, want.sets)) {
    const r = got.sets[name];
    const l = want.sets[name];
    if (r && l) {
      const where = `${r.kind} ${name}`;
      const head = (s: typeof r) =>
        [
          `type ${s.type}`,
          ...(s.flags?.length ? [`flags ${s.flags.join(',')}`] : []),
          ...(s.timeout !== undefined ? [`timeout ${s.timeout}s`] : []),
          ...(s.comment !== undefined ? [`comment "${s.comment}"`] : []),
        ].join('; ');
      if (r.kind !== l.kind || head(r) !== head(l))
        out.different.push({
          real: { where, text: `${r.kind} ${head(r)}` },
          lab: { where: `${l.kind} ${name}`, text: `${l.kind} ${head(l)}` },
        });
      const members = (els: string[]) => new Map(els.map((e) => [e, { key: e, hints: [], text: `element ${e}` }]));
      diffMembers(`${where}`, members(r.elements), members(l.elements), out);
      continue;
    }
    const s = (r ?? l)!;
    (r ? out.onlyReal : out.onlyLab).push({
      where: `${s.kind} ${name}`,
      text: `${s.kind} ${name} (${s.elements.length} element${s.elements.length === 1 ? '' : 's'})`,
      detail: s.elements,
    });
  }
  return out;
}

// --- ipset -----------------------------------------------------------------------------------------

interface IpsetSet {
  /** type and options that say what the set is (not its sizes) */
  head: string;
  line?: number;
  members: Map<string, Elem>;
}

/** Options with a value (the rest are flags such as `comment`, `counters`). */
const IPSET_VALUED = new Set(['family', 'hashsize', 'maxelem', 'bucketsize', 'initval', 'timeout', 'range', 'netmask', 'markmask', 'size']);
/** Sizes the kernel chooses or grows, or a random seed: not what the set is. */
const IPSET_IGNORED = new Set(['hashsize', 'bucketsize', 'initval', '-exist']);

function ipsetWords(line: string): string[] {
  return [...line.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)].map((m) => (m[1] !== undefined ? `"${m[1]}"` : m[2]!));
}

function readIpset(text: string, file: string, sets: Map<string, IpsetSet>, withLines: boolean): void {
  text.split('\n').forEach((raw, i) => {
    const t = raw.trim();
    const line = i + 1;
    if (!t || t.startsWith('#')) return;
    const [cmd, name, ...rest] = ipsetWords(t);
    if (name === undefined) throw bad(file, line, `not an ipset save line: '${t.slice(0, 80)}'`);
    if (cmd === 'create' || cmd === '-N') {
      const [type, ...opts] = rest;
      if (type === undefined) throw bad(file, line, `create ${name} without a set type`);
      const kept: string[] = [];
      for (let j = 0; j < opts.length; j++) {
        const o = opts[j]!;
        const v = IPSET_VALUED.has(o) ? opts[++j] : undefined;
        if (IPSET_VALUED.has(o) && v === undefined) throw bad(file, line, `${o} without a value`);
        if (!IPSET_IGNORED.has(o)) kept.push(v === undefined ? o : `${o} ${v}`);
      }
      const prev = sets.get(name);
      sets.set(name, {
        head: [type, ...kept.sort()].join(' '),
        ...(withLines ? { line } : {}),
        members: prev?.members ?? new Map<string, Elem>(),
      });
    } else if (cmd === 'add' || cmd === '-A') {
      const s = sets.get(name);
      if (!s) throw bad(file, line, `add to set ${name}, which no earlier line creates`);
      const [member, ...opts] = rest;
      if (member === undefined) throw bad(file, line, `add ${name} without a member`);
      const o = opts.filter((w) => w !== '-exist');
      const key = [member, ...o].join(' ');
      s.members.set(key, { key, hints: [], text: `add ${name} ${key}`, ...(withLines ? { line } : {}) });
    } else if (cmd === 'flush' || cmd === '-F') sets.get(name)?.members.clear();
    else if (cmd === 'destroy' || cmd === '-X') sets.delete(name);
    else throw bad(file, line, `not an ipset save line: '${t.slice(0, 80)}'`);
  });
}

function diffIpset(lab: LabBatch[], real: { text: string; file: string }): RulesDiff {
  const out = empty('ipset');
  const got = new Map<string, IpsetSet>();
  readIpset(real.text, real.file, got, true);
  const want = new Map<string, IpsetSet>();
  for (const b of lab) readIpset(b.text, '(lab)', want, false);
  out.compared = ['ipsets'];
  for (const name of [...got.keys(), ...[...want.keys()].filter((k) => !got.has(k))]) {
    const r = got.get(name);
    const l = want.get(name);
    const where = `set ${name}`;
    if (r && l) {
      if (r.head !== l.head)
        out.different.push({
          real: { where, text: `create ${name} ${r.head}`, ...(r.line ? { line: r.line } : {}) },
          lab: { where, text: `create ${name} ${l.head}` },
        });
      diffMembers(where, r.members, l.members, out);
      continue;
    }
    const s = (r ?? l)!;
    (r ? out.onlyReal : out.onlyLab).push({
      where,
      text: `create ${name} ${s.head} (${s.members.size} member${s.members.size === 1 ? '' : 's'})`,
      ...(s.line ? { line: s.line } : {}),
      detail: [...s.members.values()].map((m) => m.text),
    });
  }
  return out;
}

// --- IPVS --------------------------------------------------------------------------------------------

interface IpvsService {
  /** scheduler, persistence and the other options, sorted */
  head: string;
  text: string;
  line?: number;
  reals: Map<string, Elem>;
}

/** Options of ipvsadm -S that take no value. */
const IPVS_FLAGS = new Set(['-m', '-g', '-i', '--masquerading', '--gatewaying', '--ipip']);
const IPVS_PROTO: Record<string, string> = { '-t': 'TCP', '-u': 'UDP', '-f': 'FWM', '--tcp-service': 'TCP', '--udp-service': 'UDP' };

function readIpvs(text: string, file: string, services: Map<string, IpvsService>, withLines: boolean): void {
  text.split('\n').forEach((raw, i) => {
    const t = raw.trim();
    const line = i + 1;
    if (!t || t.startsWith('#')) return;
    const w = t.split(/\s+/);
    if (w[0] === '-C') return void services.clear();
    const opts = new Map<string, string>();
    for (let j = 1; j < w.length; j++) {
      const o = w[j]!;
      if (!o.startsWith('-')) throw bad(file, line, `unexpected '${o}' in '${t}'`);
      // -p's timeout is optional in ipvsadm's syntax; -S always prints it
      const v = IPVS_FLAGS.has(o) || (o === '-p' && (w[j + 1] === undefined || w[j + 1]!.startsWith('-'))) ? '' : w[++j];
      if (v === undefined) throw bad(file, line, `${o} needs a value in '${t}'`);
      opts.set(o, v);
    }
    const proto = [...opts.keys()].find((k) => IPVS_PROTO[k]);
    if (!proto) throw bad(file, line, `no -t, -u or -f in '${t}'`);
    const key = `${IPVS_PROTO[proto]} ${opts.get(proto)}`;
    opts.delete(proto);
    if (w[0] === '-A' || w[0] === '-E') {
      const head = [...opts]
        .map(([k, v]) => (v ? `${k} ${v}` : k))
        .sort()
        .join(' ');
      services.set(key, { head, text: t, ...(withLines ? { line } : {}), reals: services.get(key)?.reals ?? new Map<string, Elem>() });
    } else if (w[0] === '-a' || w[0] === '-e') {
      const s = services.get(key);
      if (!s) throw bad(file, line, `real server of ${key}, which no earlier line adds`);
      const r = opts.get('-r');
      if (!r) throw bad(file, line, `-a without -r in '${t}'`);
      opts.delete('-r');
      if (!opts.has('-w')) opts.set('-w', '1');
      const attrs = [...opts]
        .map(([k, v]) => (v ? `${k} ${v}` : k))
        .sort()
        .join(' ');
      const id = `${key} -> ${r} ${attrs}`;
      s.reals.set(id, { key: id, hints: [], text: t, ...(withLines ? { line } : {}) });
    } else throw bad(file, line, `not an ipvsadm -S line: '${t.slice(0, 80)}'`);
  });
}

function diffIpvs(lab: LabBatch[], real: { text: string; file: string }): RulesDiff {
  const out = empty('ipvsadm');
  const got = new Map<string, IpvsService>();
  readIpvs(real.text, real.file, got, true);
  const want = new Map<string, IpvsService>();
  for (const b of lab) readIpvs(b.text, '(lab)', want, false);
  out.compared = ['IPVS virtual services'];
  for (const key of [...got.keys(), ...[...want.keys()].filter((k) => !got.has(k))]) {
    const r = got.get(key);
    const l = want.get(key);
    if (r && l) {
      if (r.head !== l.head)
        out.different.push({ real: { where: key, text: r.text, ...(r.line ? { line: r.line } : {}) }, lab: { where: key, text: l.text } });
      diffMembers(key, r.reals, l.reals, out);
      continue;
    }
    const s = (r ?? l)!;
    (r ? out.onlyReal : out.onlyLab).push({
      where: key,
      text: `${s.text} (${s.reals.size} real server${s.reals.size === 1 ? '' : 's'})`,
      ...(s.line ? { line: s.line } : {}),
      detail: [...s.reals.values()].map((e) => e.text),
    });
  }
  return out;
}

// --- text ----------------------------------------------------------------------------------------------

/** The three sections as lines (`real` and `lab` name the two sides). */
export function diffText(d: RulesDiff, sides: { real: string; lab: string }): string {
  const out: string[] = [];
  const at = (i: DiffItem) => (i.line !== undefined ? ` (${sides.real}:${i.line})` : '');
  const item = (i: DiffItem, withLine: boolean) => {
    out.push(`  ${i.where}: ${i.text}${withLine ? at(i) : ''}`);
    for (const x of i.detail ?? []) out.push(`      ${x}`);
  };
  out.push(`compared ${d.compared.join(', ') || 'nothing'} (${d.format})`);
  for (const n of d.notes) out.push(`note: ${n}`);
  out.push('', `only in the real node (${d.onlyReal.length}):`);
  d.onlyReal.forEach((i) => item(i, true));
  out.push('', `only in the lab (${d.onlyLab.length}):`);
  d.onlyLab.forEach((i) => item(i, false));
  out.push('', `different (${d.different.length}):`);
  for (const { real, lab } of d.different) {
    out.push(`  ${real.where}:`, `    real: ${real.text}${at(real)}`, `    lab:  ${lab.text}`);
  }
  out.push('', isIdentical(d) ? 'identical' : `${d.onlyReal.length + d.onlyLab.length + d.different.length} differences`);
  return `${out.join('\n')}\n`;
}

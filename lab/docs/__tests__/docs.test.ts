import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { buildProgram } from '../../cli';
import { EXPECTATIONS, PROBES } from '../../scenario/kinds';
import { scenarioSchema } from '../../scenario/schema';
import { topologySchema } from '../../topology/schema';

// The docs checked against the code, both ways: every CLI verb and option, every probe and
// expectation kind with its fields, every topology field is documented, and nothing documented
// is missing from the code; the docs' relative links lead to files that exist. Pure: no root,
// no lab. Every problem found is reported at once, in one message.

const REPO = resolve(__dirname, '../../..');
const doc = (p: string) => readFileSync(join(REPO, p), 'utf8');

// ---- Markdown, just enough of it -------------------------------------------------------------

/** The text without fenced code blocks (headings and tables inside them do not count). */
function unfenced(md: string): string {
  let inFence = false;
  return md
    .split('\n')
    .map((line) => {
      if (/^\s*(```|~~~)/.test(line)) {
        inFence = !inFence;
        return '';
      }
      return inFence ? '' : line;
    })
    .join('\n');
}

/** `## Title` sections of one level: title (backticks removed) → body up to the next heading of that level or above. */
function sections(md: string, level: number): Map<string, string> {
  const out = new Map<string, string>();
  let title: string | undefined;
  let body: string[] = [];
  const flush = () => {
    if (title !== undefined) out.set(title, (out.get(title) ?? '') + body.join('\n'));
  };
  for (const line of unfenced(md).split('\n')) {
    const h = /^(#{1,6})\s+(.*?)\s*$/.exec(line);
    const depth = h?.[1]?.length ?? 0;
    if (h && depth <= level) {
      flush();
      title = depth === level ? (h[2] ?? '').replace(/`/g, '').trim() : undefined;
      body = [];
    } else body.push(line);
  }
  flush();
  return out;
}

/** Every table in the text: its header cells and body rows (cells trimmed; `\|` kept as text). */
function tables(md: string): { header: string[]; rows: string[][] }[] {
  const out: { header: string[]; rows: string[][] }[] = [];
  let cur: string[][] | undefined;
  const cells = (line: string) =>
    line
      .trim()
      .replace(/^\|/, '')
      .replace(/\|$/, '')
      .split(/(?<!\\)\|/)
      .map((c) => c.trim().replace(/\\\|/g, '|'));
  for (const line of unfenced(md).split('\n')) {
    if (/^\s*\|/.test(line)) {
      if (/^\s*\|?(\s*:?-+:?\s*\|)+\s*(:?-+:?\s*)?$/.test(line)) continue; // the separator row
      (cur ??= []).push(cells(line));
    } else if (cur) {
      out.push({ header: cur[0] ?? [], rows: cur.slice(1) });
      cur = undefined;
    }
  }
  if (cur) out.push({ header: cur[0] ?? [], rows: cur.slice(1) });
  return out;
}

const codeSpans = (cell: string) => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1] ?? '');

/** Rows of every table in `md` keyed by the first code span of their first cell. */
function rowsByKey(md: string): Map<string, { header: string[]; row: string[] }> {
  const out = new Map<string, { header: string[]; row: string[] }>();
  for (const t of tables(md))
    for (const row of t.rows) {
      const key = codeSpans(row[0] ?? '')[0];
      if (key !== undefined) out.set(key, { header: t.header, row });
    }
  return out;
}

// ---- zod 4 schemas, walked through their definitions -----------------------------------------

interface Def {
  type: string;
  innerType?: Schema;
  element?: Schema;
  options?: Schema[];
  shape?: Record<string, Schema>;
  in?: Schema;
  defaultValue?: unknown;
}
interface Schema {
  _zod: { def: Def };
}
const defOf = (s: unknown): Def => (s as Schema)._zod.def;

/** Every field path of a schema (`cluster.vxlan.vni`, `nodes[].ip`) → its default when it is a scalar. */
function fieldPaths(schema: unknown, prefix = '', out = new Map<string, { default?: string | number | boolean }>()) {
  const def = defOf(schema);
  switch (def.type) {
    case 'optional':
    case 'nullable':
    case 'readonly':
    case 'nonoptional':
      return fieldPaths(def.innerType, prefix, out);
    case 'default':
    case 'prefault': {
      const v = typeof def.defaultValue === 'function' ? (def.defaultValue as () => unknown)() : def.defaultValue;
      if (prefix && (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')) out.set(prefix, { default: v });
      return fieldPaths(def.innerType, prefix, out);
    }
    case 'pipe':
      return fieldPaths(def.in, prefix, out);
    case 'array':
      return fieldPaths(def.element, `${prefix}[]`, out);
    case 'union':
      for (const o of def.options ?? []) fieldPaths(o, prefix, out);
      return out;
    case 'object':
      for (const [k, v] of Object.entries(def.shape ?? {})) {
        const path = prefix ? `${prefix}.${k}` : k;
        if (!out.has(path)) out.set(path, {});
        fieldPaths(v, path, out);
      }
      return out;
    default:
      return out;
  }
}

/** The column of a table whose header names defaults, if any. */
const defaultColumn = (header: string[]) => header.findIndex((h) => /^default/i.test(h));

/** Checks one documented field table against schema paths: both ways, and the defaults. */
function checkFields(
  problems: string[],
  where: string,
  fields: Map<string, { default?: string | number | boolean }>,
  documented: Map<string, { header: string[]; row: string[] }>,
) {
  for (const [path, info] of fields) {
    const d = documented.get(path);
    if (!d) {
      problems.push(`${where}: field \`${path}\` is not documented`);
      continue;
    }
    const col = defaultColumn(d.header);
    if (info.default !== undefined && col >= 0 && !(d.row[col] ?? '').includes(String(info.default)))
      problems.push(`${where}: \`${path}\` defaults to ${JSON.stringify(info.default)}, the docs say '${d.row[col] ?? ''}'`);
  }
  for (const path of documented.keys()) if (!fields.has(path)) problems.push(`${where}: documents \`${path}\`, which is not a field`);
}

// ---- the CLI ---------------------------------------------------------------------------------

/** The verbs `lab --help` lists, from the real entry point. */
function helpVerbs(): string[] {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'lab/cli.ts', '--help'], { cwd: REPO, encoding: 'utf8', timeout: 30000 });
  if (r.status !== 0) throw new Error(`lab --help exited ${String(r.status)}: ${r.stderr.trim().split('\n')[0] ?? ''}`);
  const lines = r.stdout.split('\n');
  const at = lines.findIndex((l) => /^Commands:/.test(l));
  return lines
    .slice(at + 1)
    .map((l) => /^ {2}([a-z][\w-]*)/.exec(l)?.[1])
    .filter((v): v is string => v !== undefined);
}

const flagsIn = (text: string) => new Set([...text.matchAll(/(?<![\w-])(--?[A-Za-z][\w-]*)/g)].map((m) => m[1] ?? ''));

function checkCli(problems: string[]) {
  const program = buildProgram();
  let verbs: string[];
  try {
    verbs = helpVerbs();
    if (verbs.length === 0) problems.push('lab --help: no commands found in its output');
  } catch (e) {
    // the entry point is broken: say so, and check the docs against the program itself
    problems.push(e instanceof Error ? e.message : String(e));
    verbs = [...program.commands.map((c) => c.name()), 'help'];
  }

  // README: a commands table, one row per verb (`npm run lab <verb> ...` in the first cell)
  const readmeVerbs = new Set<string>();
  for (const t of tables(doc('README.md')))
    for (const row of t.rows) {
      const m = /^`npm run lab ([a-z][\w-]*)/.exec(row[0] ?? '');
      if (m?.[1]) readmeVerbs.add(m[1]);
    }
  for (const v of verbs) if (!readmeVerbs.has(v)) problems.push(`README.md: verb '${v}' (in lab --help) has no row in the commands table`);
  for (const v of readmeVerbs)
    if (!verbs.includes(v)) problems.push(`README.md: the commands table has '${v}', which lab --help does not list`);

  // docs/commands.md: a section per verb, its options (and arguments) in it
  const known = new Set(program.commands.map((c) => c.name()));
  for (const v of verbs) if (v !== 'help' && !known.has(v)) problems.push(`lab --help lists '${v}' but buildProgram() has no such command`);
  const bySection = sections(doc('docs/commands.md'), 2);
  for (const cmd of program.commands) {
    const name = cmd.name();
    const body = bySection.get(name);
    if (body === undefined) {
      problems.push(`docs/commands.md: no section '## ${name}'`);
      continue;
    }
    const documented = new Set<string>();
    for (const t of tables(body)) for (const row of t.rows) for (const f of flagsIn(codeSpans(row[0] ?? '').join(' '))) documented.add(f);
    const actual = new Set<string>();
    for (const o of cmd.options.filter((x) => !x.hidden))
      for (const f of [o.long, o.short]) if (f && f !== '--help' && f !== '-h') actual.add(f);
    for (const f of actual) if (!documented.has(f)) problems.push(`docs/commands.md ## ${name}: option ${f} is not in its options table`);
    for (const f of documented)
      if (!actual.has(f)) problems.push(`docs/commands.md ## ${name}: documents ${f}, which '${name}' does not have`);
    for (const a of cmd.registeredArguments)
      if (!body.includes(a.name())) problems.push(`docs/commands.md ## ${name}: argument <${a.name()}> is not mentioned`);
  }
  for (const title of bySection.keys()) if (!known.has(title)) problems.push(`docs/commands.md: section '## ${title}' is not a command`);
}

// ---- scenarios, topology, architecture, links ----------------------------------------------------

function checkScenarios(problems: string[]) {
  const md = doc('docs/scenarios.md');
  const top = sections(md, 2);
  const all = fieldPaths(scenarioSchema);
  const probeBase = 'steps[].probes[].';
  const expectBase = 'steps[].expect[].';
  const kindsIn = (base: string) =>
    [...all.keys()]
      .filter((p) => p.startsWith(base) && !p.slice(base.length).includes('.'))
      .map((p) => p.slice(base.length))
      .filter((k) => k !== 'name');

  // the registry (lab/scenario/kinds) and the file's schema list the same kinds
  const same = (a: readonly string[], b: readonly string[]) => [...a].sort().join(',') === [...b].sort().join(',');
  const probeKinds = PROBES.map((k) => k.kind);
  const expectKinds = EXPECTATIONS.map((k) => k.kind);
  if (!same(probeKinds, kindsIn(probeBase)))
    problems.push(
      `the registry's probe kinds (${probeKinds.join(', ')}) differ from the scenario schema's (${kindsIn(probeBase).join(', ')})`,
    );
  if (!same(expectKinds, kindsIn(expectBase)))
    problems.push(
      `the registry's expectation kinds (${expectKinds.join(', ')}) differ from the scenario schema's (${kindsIn(expectBase).join(', ')})`,
    );

  // the file itself (everything that is not inside a kind), in the tables of '## The scenario file'
  const kindPath = (p: string) => [probeBase, expectBase].some((b) => p.startsWith(b) && p.slice(b.length).split('.')[0] !== 'name');
  const fileFields = new Map([...all].filter(([p]) => !kindPath(p)));
  const fileSection = top.get('The scenario file');
  if (fileSection === undefined) problems.push("docs/scenarios.md: no section '## The scenario file'");
  else checkFields(problems, 'docs/scenarios.md (The scenario file)', fileFields, rowsByKey(fileSection));

  // a section per kind, its fields in a table; an expectation says what it reads
  const groups = [
    {
      group: 'Probes',
      what: 'probe',
      kinds: PROBES.map((k) => ({ kind: k.kind, schema: k.schema, reads: undefined as string | undefined })),
    },
    {
      group: 'Expectations',
      what: 'expectation',
      kinds: EXPECTATIONS.map((k) => ({ kind: k.kind, schema: k.schema, reads: k.probe?.kind })),
    },
  ];
  for (const { group, what, kinds } of groups) {
    const body = top.get(group);
    if (body === undefined) {
      problems.push(`docs/scenarios.md: no section '## ${group}'`);
      continue;
    }
    const byKind = sections(body, 3);
    for (const { kind, schema, reads } of kinds) {
      const section = byKind.get(kind);
      if (section === undefined) {
        problems.push(`docs/scenarios.md ## ${group}: ${what} kind '${kind}' has no section '### ${kind}'`);
        continue;
      }
      checkFields(problems, `docs/scenarios.md ### ${kind} (${group})`, fieldPaths(schema), rowsByKey(section));
      if (what === 'expectation') {
        const says = reads ? `Reads a \`${reads}\` probe` : 'Reads a capture';
        if (!section.includes(says)) problems.push(`docs/scenarios.md ### ${kind} (${group}): should say '${says}'`);
      }
    }
    for (const title of byKind.keys())
      if (!kinds.some((k) => k.kind === title))
        problems.push(`docs/scenarios.md ## ${group}: section '### ${title}' is not a ${what} kind`);
  }
}

function checkTopology(problems: string[]) {
  const section = sections(doc('docs/topology.md'), 2).get('Every field');
  if (section === undefined) problems.push("docs/topology.md: no section '## Every field'");
  else checkFields(problems, 'docs/topology.md (Every field)', fieldPaths(topologySchema), rowsByKey(section));
}

function checkArchitecture(problems: string[]) {
  const listed = new Set<string>();
  for (const t of tables(doc('docs/architecture.md')))
    for (const row of t.rows) for (const span of codeSpans(row[0] ?? '')) if (span.startsWith('lab/')) listed.add(span.replace(/\/$/, ''));
  const folders = readdirSync(join(REPO, 'lab'), { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.startsWith('.') && e.name !== '__tests__')
    .map((e) => `lab/${e.name}`);
  for (const f of folders) if (!listed.has(f)) problems.push(`docs/architecture.md: folder ${f}/ has no row in the folder table`);
  for (const p of listed)
    if (!existsSync(join(REPO, p))) problems.push(`docs/architecture.md: the folder table names ${p}, which does not exist`);
}

function markdownFiles(): string[] {
  const out = ['README.md'];
  const walk = (dir: string) => {
    for (const e of readdirSync(join(REPO, dir), { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.md')) out.push(p);
    }
  };
  walk('docs');
  return out;
}

function checkLinks(problems: string[]) {
  for (const file of markdownFiles()) {
    const text = unfenced(doc(file)).replace(/`[^`\n]*`/g, '');
    const targets = [...text.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g), ...text.matchAll(/\bsrc="([^"]+)"/g)].map((m) => m[1] ?? '');
    for (const t of targets) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(t) || t.startsWith('#')) continue; // a URL or an anchor in the page
      const path = decodeURIComponent(t.split('#')[0] ?? '');
      const abs = resolve(REPO, dirname(file), path);
      if (!existsSync(abs)) problems.push(`${file}: link to ${t}, which does not exist (${relative(REPO, abs)})`);
      else if (path.endsWith('/') && !statSync(abs).isDirectory()) problems.push(`${file}: link to ${t}, which is not a folder`);
    }
  }
}

/** Code spans naming a file or folder of the repository (`lab/model/proxy.ts`, `scripts/`) name one that exists. */
function checkPaths(problems: string[]) {
  for (const file of markdownFiles()) {
    const text = unfenced(doc(file));
    for (const m of text.matchAll(/`((?:lab|scripts|scenarios|images|docs)\/[^`\s]*)`/g)) {
      const path = (m[1] ?? '').replace(/:\d+(:\d+)?$/, '');
      if (/[{}<>*…]/.test(path)) continue; // a pattern, not a path
      if (!existsSync(join(REPO, path))) problems.push(`${file}: names \`${path}\`, which does not exist`);
    }
  }
}

describe('docs', () => {
  it('document every CLI verb and option, probe and expectation kind, topology field and lab folder, and nothing else; links and paths resolve', () => {
    const problems: string[] = [];
    for (const check of [checkCli, checkScenarios, checkTopology, checkArchitecture, checkLinks, checkPaths]) {
      try {
        check(problems);
      } catch (e) {
        problems.push(`${check.name}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    if (problems.length > 0) throw new Error(`the docs and the code disagree (${problems.length}):\n  - ${problems.join('\n  - ')}`);
  });
});

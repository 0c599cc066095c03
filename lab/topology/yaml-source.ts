import { readFileSync } from 'node:fs';
import { Document, isMap, isNode, isPair, isScalar, LineCounter, parseAllDocuments, parseDocument } from 'yaml';
import type { z } from 'zod';
import { InputError, type InputIssue } from '../errors';

/** What semantic checks need of a source: where a value path sits, as an issue (YamlSource, or manifests merged in). */
export interface IssueSource {
  readonly file: string;
  issue(path: readonly (string | number)[], message: string, key?: string): InputIssue;
  locate(path: readonly (string | number)[], key?: string): { line: number; col: number } | undefined;
  docPath(path: readonly (string | number)[]): (string | number)[];
}

/** A parsed YAML file that can say where any value path sits (line:col), for error messages. */
export class YamlSource implements IssueSource {
  private constructor(
    readonly file: string,
    readonly doc: Document,
    private readonly lines: LineCounter,
    /** where this source's root sits in the document (a topology written inside a scenario) */
    private readonly root: readonly (string | number)[] = [],
    /** paths of a value with some array elements left out (parseAll) → the document's paths */
    private readonly mapPath: (p: Path) => Path = (p) => p,
  ) {}

  /** The value at `path` as a source of its own: its paths and line:cols stay the document's. */
  sub(path: readonly (string | number)[]): YamlSource {
    const at = this.mapPath([...path]);
    return new YamlSource(this.file, this.doc, this.lines, [...this.root, ...at], (p) => this.mapPath([...path, ...p]).slice(at.length));
  }

  static fromFile(file: string): YamlSource {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw InputError.of(file, '', `cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    return YamlSource.fromText(text, file);
  }

  static fromText(text: string, file = '<inline>'): YamlSource {
    const lines = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
    const src = new YamlSource(file, doc, lines);
    const errors = doc.errors.map((e): InputIssue => {
      const pos = lines.linePos(e.pos[0]);
      return { file, path: '', message: `broken YAML: ${e.message.split('\n')[0]}`, line: pos.line, col: pos.col };
    });
    if (errors.length) throw new InputError(errors);
    return src;
  }

  /** Every document of a multi-document file (`---`), each a source of its own; empty ones left out. */
  static documentsOfText(text: string, file = '<inline>'): YamlSource[] {
    const lines = new LineCounter();
    const parsed = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
    const docs = Array.isArray(parsed) ? parsed : [parsed];
    const errors = docs.flatMap((d) =>
      d.errors.map((e): InputIssue => {
        const pos = lines.linePos(e.pos[0]);
        return { file, path: '', message: `broken YAML: ${e.message.split('\n')[0]}`, line: pos.line, col: pos.col };
      }),
    );
    if (errors.length) throw new InputError(errors);
    return docs.filter((d) => d.contents !== null).map((d) => new YamlSource(file, d, lines));
  }

  get data(): unknown {
    try {
      if (!this.root.length) return this.doc.toJS() as unknown;
      const node = this.doc.getIn(this.root, true);
      return isNode(node) ? (node.toJS(this.doc) as unknown) : node;
    } catch (e) {
      // the yaml package refuses to expand an alias bomb ("billion laughs") past 100 aliases
      if (e instanceof ReferenceError && /alias/i.test(e.message)) {
        throw InputError.of(this.file, '', 'refused: its aliases expand too far (more than 100 alias uses; a YAML bomb?)');
      }
      throw e;
    }
  }

  /** `path` (of the parsed value) as the document's: indices shift where parseAll left list elements out. */
  docPath(path: readonly (string | number)[]): (string | number)[] {
    return this.mapPath([...path]);
  }

  /** line:col of the value at `path`, or of the key `key` inside it; falls back to the nearest parent. */
  locate(relative: readonly (string | number)[], key?: string): { line: number; col: number } | undefined {
    const path = [...this.root, ...this.mapPath([...relative])];
    for (let n = path.length; n >= this.root.length; n--) {
      const node = this.doc.getIn(path.slice(0, n), true);
      if (!isNode(node)) continue;
      if (key !== undefined && n === path.length && isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === key);
        if (pair && isNode(pair.key) && pair.key.range) return this.lines.linePos(pair.key.range[0]);
      }
      if (node.range) return this.lines.linePos(node.range[0]);
    }
    return undefined;
  }

  issue(path: readonly (string | number)[], message: string, key?: string): InputIssue {
    const full = [...this.root, ...this.mapPath([...path]), ...(key === undefined ? [] : [key])];
    return { file: this.file, path: formatPath(full), message, ...this.locate(path, key) };
  }

  /** Validates the document with a zod schema; every schema problem becomes a located issue. */
  parse<T extends z.ZodType>(schema: T): z.output<T> {
    const r = this.parseAll(schema);
    if (r.issues.length || r.value === undefined) throw new InputError(r.issues);
    return r.value;
  }

  /**
   * Validates the document, and when it has type errors also the parts that are right: a value of
   * the wrong type is left out (its default, if it has one, stands in), an array element that
   * still does not fit is left out whole; `value` is what then parses (undefined when nothing
   * could be left out: a required field outside any list), for the semantic checks to run on.
   * `src` locates paths of `value` in the document (indices shift where elements were left out).
   */
  parseAll<T extends z.ZodType>(schema: T): { value?: z.output<T>; issues: InputIssue[]; src: YamlSource } {
    // reportInput: without it zod leaves `input` out of every issue, and a wrong type would read as missing.
    const first = schema.safeParse(this.data ?? {}, { reportInput: true });
    if (first.success) return { value: first.data, issues: [], src: this };
    const issues = first.error.issues.flatMap((i) => this.zodIssue(i));
    const data: unknown = structuredClone(this.data ?? {});
    for (const i of first.error.issues) {
      const path = zodPath(i);
      if (i.code === 'unrecognized_keys') for (const k of i.keys) leaveOut(data, [...path, k]);
      else if (!path.length || !leaveOut(data, path)) return { issues, src: this };
    }
    for (let round = 0; round < 4; round++) {
      const { value, toDoc } = withoutLeftOut(data);
      const r = schema.safeParse(value, { reportInput: true });
      if (r.success) return { value: r.data, issues, src: new YamlSource(this.file, this.doc, this.lines, this.root, toDoc) };
      // what still fails once a bad value is left out: the list element around it goes
      for (const i of r.error.issues) if (!leaveOutElement(data, toDoc(zodPath(i)))) return { issues, src: this };
    }
    return { issues, src: this };
  }

  private zodIssue(i: z.core.$ZodIssue): InputIssue[] {
    const path = zodPath(i);
    if (i.code === 'unrecognized_keys') return i.keys.map((k) => this.issue(path, `unknown key '${k}'`, k));
    if (i.code === 'invalid_type' && i.input === undefined) return [this.issue(path, 'is required')];
    return [this.issue(path, i.message)];
  }
}

type Path = (string | number)[];
const zodPath = (i: z.core.$ZodIssue): Path => i.path.filter((p): p is string | number => typeof p !== 'symbol');

/** An array element marked as left out (removed by withoutLeftOut, so indices stay the document's until then). */
const LEFT_OUT = Symbol('left out');

function parentOf(data: unknown, path: Path): unknown {
  let v = data;
  for (const p of path.slice(0, -1)) v = typeof v === 'object' && v !== null ? (v as Record<string | number, unknown>)[p] : undefined;
  return v;
}

/** Leaves the value at `path` out: a key is deleted, an array element marked. False when there is nothing there. */
function leaveOut(data: unknown, path: Path): boolean {
  const parent = parentOf(data, path);
  const last = path[path.length - 1];
  if (last === undefined || typeof parent !== 'object' || parent === null) return false;
  if (Array.isArray(parent) && typeof last === 'number') parent[last] = LEFT_OUT;
  else delete (parent as Record<string | number, unknown>)[last];
  return true;
}

/** Leaves out the innermost array element that `path` goes through. */
function leaveOutElement(data: unknown, path: Path): boolean {
  for (let n = path.length; n > 0; n--)
    if (typeof path[n - 1] === 'number' && Array.isArray(parentOf(data, path.slice(0, n)))) return leaveOut(data, path.slice(0, n));
  return false;
}

/** The data without its left-out elements, and how a path in it maps back to the document's. */
function withoutLeftOut(data: unknown): { value: unknown; toDoc: (p: Path) => Path } {
  const kept = new Map<string, number[]>(); // array path (document's) → the document's index of each element kept
  const copy = (v: unknown, at: Path): unknown => {
    if (Array.isArray(v)) {
      const idx = v.flatMap((e, i) => (e === LEFT_OUT ? [] : [i]));
      if (idx.length !== v.length) kept.set(formatPath(at), idx);
      return idx.map((i) => copy(v[i], [...at, i]));
    }
    if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, e]) => [k, copy(e, [...at, k])]));
    return v;
  };
  const value = copy(data, []);
  const toDoc = (p: Path): Path => {
    const out: Path = [];
    for (const seg of p) out.push(typeof seg === 'number' ? (kept.get(formatPath(out))?.[seg] ?? seg) : seg);
    return out;
  };
  return { value, toDoc };
}

/**
 * Type errors and the semantic errors found on what parsed, in the file's order. A semantic issue
 * at (or around) a place that had a type error is dropped: it would only restate it.
 */
export function mergeIssues(typeIssues: readonly InputIssue[], semantic: readonly InputIssue[]): InputIssue[] {
  // each path and its ancestors (`pods[2].name` → pods, pods[2], pods[2].name), per file: linear, for files with thousands of errors
  const ancestors = (path: string) => [...path.matchAll(/[.[]/g)].map((m) => path.slice(0, m.index)).concat(path);
  const typed = new Set(typeIssues.map((t) => `${t.file}\0${t.path}`));
  const aroundTyped = new Set(typeIssues.flatMap((t) => ancestors(t.path).map((a) => `${t.file}\0${a}`)));
  const fresh = semantic.filter(
    (s) => !s.path || !(aroundTyped.has(`${s.file}\0${s.path}`) || ancestors(s.path).some((a) => typed.has(`${s.file}\0${a}`))),
  );
  const files = [...new Set([...typeIssues, ...fresh].map((i) => i.file))];
  const key = (i: InputIssue) => [files.indexOf(i.file), i.line ?? Infinity, i.col ?? 0] as const;
  return [...typeIssues, ...fresh]
    .map((i, n) => ({ i, n }))
    .sort((a, b) => {
      const [fa, la, ca] = key(a.i);
      const [fb, lb, cb] = key(b.i);
      return fa - fb || la - lb || ca - cb || a.n - b.n;
    })
    .map((x) => x.i);
}

export function formatPath(path: readonly (string | number)[]): string {
  return path.reduce<string>((s, p) => (typeof p === 'number' ? `${s}[${p}]` : s ? `${s}.${p}` : p), '');
}

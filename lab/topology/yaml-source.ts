import { readFileSync } from 'node:fs';
import { Document, isMap, isNode, isPair, isScalar, LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { InputError, type InputIssue } from '../errors';

/** A parsed YAML file that can say where any value path sits (line:col), for error messages. */
export class YamlSource {
  private constructor(
    readonly file: string,
    readonly doc: Document,
    private readonly lines: LineCounter,
    /** where this source's root sits in the document (a topology written inside a scenario) */
    private readonly root: readonly (string | number)[] = [],
  ) {}

  /** The value at `path` as a source of its own: its paths and line:cols stay the document's. */
  sub(path: readonly (string | number)[]): YamlSource {
    return new YamlSource(this.file, this.doc, this.lines, [...this.root, ...path]);
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

  /** line:col of the value at `path`, or of the key `key` inside it; falls back to the nearest parent. */
  locate(relative: readonly (string | number)[], key?: string): { line: number; col: number } | undefined {
    const path = [...this.root, ...relative];
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
    const full = [...this.root, ...path, ...(key === undefined ? [] : [key])];
    return { file: this.file, path: formatPath(full), message, ...this.locate(path, key) };
  }

  /** Validates the document with a zod schema; every schema problem becomes a located issue. */
  parse<T extends z.ZodType>(schema: T): z.output<T> {
    // reportInput: without it zod leaves `input` out of every issue, and a wrong type would read as missing.
    const result = schema.safeParse(this.data ?? {}, { reportInput: true });
    if (result.success) return result.data;
    const issues: InputIssue[] = [];
    for (const i of result.error.issues) {
      const path = i.path.filter((p): p is string | number => typeof p !== 'symbol');
      if (i.code === 'unrecognized_keys') {
        for (const k of i.keys) issues.push(this.issue(path, `unknown key '${k}'`, k));
      } else if (i.code === 'invalid_type' && i.input === undefined) {
        issues.push(this.issue(path, 'is required'));
      } else {
        issues.push(this.issue(path, i.message));
      }
    }
    throw new InputError(issues);
  }
}

export function formatPath(path: readonly (string | number)[]): string {
  return path.reduce<string>((s, p) => (typeof p === 'number' ? `${s}[${p}]` : s ? `${s}.${p}` : p), '');
}

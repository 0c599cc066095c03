// A small strict XML parser for tests: enough of XML 1.0 to say whether a generated SVG is
// well-formed standalone XML (one root, balanced tags, quoted unique attributes, only known
// entities, no stray '<' or '&') and to read its elements and text. Throws on anything else.

export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: (XmlElement | string)[];
}

const NAME = /^[A-Za-z_:][\w.:-]*/;
const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decode(s: string, where: number): string {
  if (/</.test(s)) throw new Error(`'<' in text or attribute at ${where}`);
  return s.replace(/&([^;\s]*);?/g, (m, ref: string) => {
    if (!m.endsWith(';')) throw new Error(`bare '&' at ${where}`);
    if (ref in ENTITIES) return ENTITIES[ref]!;
    const num = /^#(\d+)$/.exec(ref) ?? /^#x([0-9a-fA-F]+)$/.exec(ref);
    if (num) return String.fromCodePoint(parseInt(num[1]!, ref.startsWith('#x') ? 16 : 10));
    throw new Error(`unknown entity &${ref}; at ${where}`);
  });
}

export function parseXml(src: string): XmlElement {
  let i = 0;
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  const skipMisc = () => {
    for (;;) {
      const m = /^\s+/.exec(src.slice(i));
      if (m) i += m[0].length;
      if (src.startsWith('<!--', i)) {
        const end = src.indexOf('-->', i);
        if (end < 0) throw new Error('unterminated comment');
        i = end + 3;
      } else if (src.startsWith('<?', i)) {
        const end = src.indexOf('?>', i);
        if (end < 0) throw new Error('unterminated processing instruction');
        i = end + 2;
      } else return;
    }
  };
  skipMisc();
  while (i < src.length) {
    if (src[i] !== '<') {
      const end = src.indexOf('<', i);
      const raw = src.slice(i, end < 0 ? src.length : end);
      const top = stack[stack.length - 1];
      if (!top) {
        if (raw.trim()) throw new Error(`text outside the root element at ${i}`);
      } else top.children.push(decode(raw, i));
      i = end < 0 ? src.length : end;
      continue;
    }
    if (src.startsWith('<!--', i)) {
      const end = src.indexOf('-->', i);
      if (end < 0) throw new Error('unterminated comment');
      i = end + 3;
      continue;
    }
    if (src.startsWith('</', i)) {
      const m = NAME.exec(src.slice(i + 2));
      const close = m ? src.indexOf('>', i) : -1;
      if (!m || close < 0 || src.slice(i + 2 + m[0].length, close).trim()) throw new Error(`bad end tag at ${i}`);
      const top = stack.pop();
      if (!top || top.name !== m[0]) throw new Error(`</${m[0]}> at ${i} closes <${top?.name ?? 'nothing'}>`);
      i = close + 1;
      if (!stack.length) {
        skipMisc();
        if (i < src.length) throw new Error(`content after the root element at ${i}`);
      }
      continue;
    }
    const m = NAME.exec(src.slice(i + 1));
    if (!m) throw new Error(`bad tag at ${i}`);
    if (root && !stack.length) throw new Error(`second root element at ${i}`);
    const el: XmlElement = { name: m[0], attrs: {}, children: [] };
    i += 1 + m[0].length;
    for (;;) {
      const ws = /^\s*/.exec(src.slice(i))![0];
      i += ws.length;
      if (src.startsWith('/>', i) || src[i] === '>') break;
      if (!ws) throw new Error(`no space before an attribute at ${i}`);
      const a = /^([A-Za-z_:][\w.:-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')/.exec(src.slice(i));
      if (!a) throw new Error(`bad attribute at ${i}: ${src.slice(i, i + 30)}`);
      if (a[1]! in el.attrs) throw new Error(`duplicate attribute ${a[1]} at ${i}`);
      el.attrs[a[1]!] = decode(a[2] ?? a[3] ?? '', i);
      i += a[0].length;
    }
    const selfClosing = src.startsWith('/>', i);
    i += selfClosing ? 2 : 1;
    stack[stack.length - 1]?.children.push(el);
    root ??= el;
    if (!selfClosing) stack.push(el);
    else if (!stack.length) {
      skipMisc();
      if (i < src.length) throw new Error(`content after the root element at ${i}`);
    }
  }
  if (stack.length) throw new Error(`<${stack[stack.length - 1]!.name}> is never closed`);
  if (!root) throw new Error('no root element');
  return root;
}

/** Every element under (and including) `el`, depth first. */
export function elements(el: XmlElement): XmlElement[] {
  return [el, ...el.children.flatMap((c) => (typeof c === 'string' ? [] : elements(c)))];
}

/** The text inside an element, its descendants' included. */
export const textOf = (el: XmlElement): string => el.children.map((c) => (typeof c === 'string' ? c : textOf(c))).join('');

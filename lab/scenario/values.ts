import { COMPARISON_RE } from './kinds/fields';
import type { LabNames } from '../model/names';

// Expected values in scenarios: numbers, comparisons ('>= 60'), symbolic names resolved to the
// address or MAC they stand for, protocol and ICMP type names, TCP flag sets, lists of allowed
// values. Each compiles to a matcher that says what it expects in words.

export type Op = '>=' | '<=' | '>' | '<' | '==' | '!=';

export interface Comparison {
  op: Op;
  value: number;
}

export function parseComparison(v: number | string): Comparison | undefined {
  if (typeof v === 'number') return { op: '==', value: v };
  const m = COMPARISON_RE.exec(v);
  return m ? { op: m[1] as Op, value: Number(m[2]) } : undefined;
}

export function compare(actual: number, c: Comparison): boolean {
  switch (c.op) {
    case '>=':
      return actual >= c.value;
    case '<=':
      return actual <= c.value;
    case '>':
      return actual > c.value;
    case '<':
      return actual < c.value;
    case '==':
      return actual === c.value;
    case '!=':
      return actual !== c.value;
  }
}

export const comparisonText = (c: Comparison) => (c.op === '==' ? String(c.value) : `${c.op} ${c.value}`);

export type FieldKind = 'mac' | 'ip' | 'proto' | 'icmpType' | 'tcpFlags' | 'number' | 'other' | 'dnsName' | 'text' | 'ipList' | 'textList';

/** What kind of value a decoded field holds, from its leaf name. */
export function fieldKind(path: string): FieldKind {
  const parts = path.split('.');
  const leaf = parts[parts.length - 1]!;
  const layer = parts[parts.length - 2];
  if ((layer === 'eth' && (leaf === 'src' || leaf === 'dst')) || /Mac$/.test(leaf) || (layer === 'sll' && leaf === 'address')) return 'mac';
  if ((layer === 'ip' && (leaf === 'src' || leaf === 'dst')) || /Ip$/.test(leaf)) return 'ip';
  if (layer === 'ip' && (leaf === 'proto' || leaf === 'protocol')) return 'proto';
  if (layer === 'icmp' && leaf === 'type') return 'icmpType';
  if (layer === 'tcp' && leaf === 'flags') return 'tcpFlags';
  if (path.endsWith('dns.qname')) return 'dnsName';
  if (path.endsWith('dns.qtype') || path.endsWith('dns.rcode.name')) return 'text';
  if (path.endsWith('dns.a')) return 'ipList';
  if (path.endsWith('dns.answers')) return 'textList';
  return 'number';
}

const PROTOCOLS: Record<string, number> = { icmp: 1, tcp: 6, udp: 17 };
const ICMP_TYPES: Record<string, number> = { 'echo-reply': 0, 'dest-unreachable': 3, redirect: 5, 'echo-request': 8, 'time-exceeded': 11 };
const TCP_FLAGS = ['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR'];

export interface Matcher {
  /** the expectation in words, with names resolved: "10.42.1.9 (pod:web-2)" */
  text: string;
  test(actual: unknown): boolean;
}

type Scalar = string | number | boolean;

/**
 * Compiles an expected value for a field. Returns an error text when a name does not resolve.
 * `strictMacs: false` accepts interface names whose MAC is not known yet (checking a file
 * before the lab is up): the name must still exist.
 */
export function compileMatcher(path: string, expected: Scalar | Scalar[], names: LabNames, strictMacs = true): Matcher | string {
  if (Array.isArray(expected)) {
    const parts = expected.map((e) => compileMatcher(path, e, names, strictMacs));
    const bad = parts.find((p): p is string => typeof p === 'string');
    if (bad) return bad;
    const ms = parts as Matcher[];
    return { text: `one of ${ms.map((m) => m.text).join(', ')}`, test: (a) => ms.some((m) => m.test(a)) };
  }
  // a bare layer name ("vxlan: true") asks whether that header is there
  if (typeof expected === 'boolean')
    return { text: String(expected), test: (a) => (typeof a === 'object' && a !== null && !Array.isArray(a) ? expected : a === expected) };
  const kind = fieldKind(path);
  const cmp = parseComparison(expected);
  if (cmp && kind !== 'ip' && kind !== 'mac') return { text: comparisonText(cmp), test: (a) => typeof a === 'number' && compare(a, cmp) };
  const text = String(expected);
  const negate = /^!\s*/.exec(text);
  if (negate) {
    const inner = compileMatcher(path, text.slice(negate[0].length), names, strictMacs);
    return typeof inner === 'string' ? inner : { text: `not ${inner.text}`, test: (a) => a !== undefined && !inner.test(a) };
  }
  switch (kind) {
    case 'ip': {
      const ip = names.ip(text);
      if (!ip) return `'${text}' is not an address or a name of this lab (e.g. node1, node2.flannel.1, pod:web-1, service:web)`;
      return { text: ip === text ? ip : `${ip} (${text})`, test: (a) => a === ip };
    }
    case 'mac': {
      const mac = names.mac(text);
      if (!mac) {
        if (!strictMacs && names.iface(text)) return { text, test: () => false };
        return `'${text}' is not a MAC or an interface of this lab (e.g. node1.eth0, node2.flannel.1, pod:web-1)`;
      }
      return { text: mac === text.toLowerCase() ? mac : `${mac} (${text})`, test: (a) => typeof a === 'string' && a.toLowerCase() === mac };
    }
    case 'proto': {
      const n = PROTOCOLS[text.toLowerCase()];
      if (n === undefined) return `'${text}' is not a protocol: icmp, tcp, udp or a number`;
      return { text: `${n} (${text})`, test: (a) => a === n };
    }
    case 'icmpType': {
      const n = ICMP_TYPES[text.toLowerCase()];
      if (n === undefined) return `'${text}' is not an ICMP type: ${Object.keys(ICMP_TYPES).join(', ')} or a number`;
      return { text: `${n} (${text})`, test: (a) => a === n };
    }
    case 'tcpFlags': {
      const want = text
        .toUpperCase()
        .split(/[\s,+|]+/)
        .filter(Boolean);
      const bad = want.find((f) => !TCP_FLAGS.includes(f));
      if (bad) return `'${bad}' is not a TCP flag: ${TCP_FLAGS.join(', ')}`;
      const key = [...want].sort().join(',');
      return { text: `exactly [${want.join(', ')}]`, test: (a) => Array.isArray(a) && [...(a as string[])].sort().join(',') === key };
    }
    // DNS: names compare without case and trailing dot; a list field holds the value among its items
    case 'dnsName': {
      const want = text.toLowerCase().replace(/\.$/, '');
      return { text: want, test: (a) => typeof a === 'string' && a.toLowerCase().replace(/\.$/, '') === want };
    }
    case 'text':
      return { text, test: (a) => typeof a === 'string' && a.toUpperCase() === text.toUpperCase() };
    case 'ipList': {
      const ip = names.ip(text);
      if (!ip) return `'${text}' is not an address or a name of this lab (e.g. pod:web-1, service:web)`;
      return { text: `answers include ${ip === text ? ip : `${ip} (${text})`}`, test: (a) => Array.isArray(a) && a.includes(ip) };
    }
    case 'textList':
      return { text: `answers include ${text}`, test: (a) => Array.isArray(a) && a.includes(text) };
    default:
      return `'${text}' is not a number or a comparison such as '>= 3' for ${path}`;
  }
}

/** Shows a decoded value the way a matcher's text does: an address with the name it has in the lab. */
export function showValue(v: unknown, names: LabNames): string {
  if (v === undefined) return 'absent';
  if (Array.isArray(v)) return `[${v.join(', ')}]`;
  if (typeof v === 'string') {
    const n = names.nameOf(v);
    return n ? `${v} (${n})` : v;
  }
  // numbers and booleans as written; anything else (an object from a field path) as JSON, not [object Object]
  return typeof v === 'number' || typeof v === 'boolean' ? String(v) : (JSON.stringify(v) ?? typeof v);
}

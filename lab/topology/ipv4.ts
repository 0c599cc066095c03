// IPv4 addresses as unsigned 32-bit numbers; CIDRs as {base, prefix}.

export interface Cidr {
  base: number; // network address (host bits zero)
  prefix: number;
}

const OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

export function parseIp(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => OCTET.test(p))) return undefined;
  return parts.reduce((acc, p) => acc * 256 + Number(p), 0);
}

export function formatIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** Parses "a.b.c.d/p"; `strict` refuses host bits set (10.42.0.1/24). */
export function parseCidr(text: string, strict = true): Cidr | undefined {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(text);
  if (!m) return undefined;
  const ip = parseIp(m[1]!);
  const prefix = Number(m[2]);
  if (ip === undefined || prefix > 32) return undefined;
  const base = ip - (ip % size(prefix));
  if (strict && base !== ip) return undefined;
  return { base, prefix };
}

export function formatCidr(c: Cidr): string {
  return `${formatIp(c.base)}/${c.prefix}`;
}

export function size(prefix: number): number {
  return 2 ** (32 - prefix);
}

export function contains(c: Cidr, ip: number): boolean {
  return ip >= c.base && ip < c.base + size(c.prefix);
}

export function containsCidr(outer: Cidr, inner: Cidr): boolean {
  return inner.prefix >= outer.prefix && contains(outer, inner.base);
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return contains(a, b.base) || contains(b, a.base);
}

/** The n-th address of a subnet (0 = network address). */
export function nth(c: Cidr, n: number): number {
  return c.base + n;
}

/** The i-th subnet of length `prefix` inside `c`. */
export function subnet(c: Cidr, prefix: number, i: number): Cidr {
  return { base: c.base + i * size(prefix), prefix };
}

export function isBroadcast(c: Cidr, ip: number): boolean {
  return c.prefix < 31 && ip === c.base + size(c.prefix) - 1;
}

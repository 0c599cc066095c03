import {
  contains,
  containsCidr,
  formatCidr,
  formatIp,
  isBroadcast,
  nth,
  overlaps,
  parseCidr,
  parseIp,
  size,
  subnet,
  type Cidr,
} from '../ipv4';

const cidr = (text: string): Cidr => {
  const c = parseCidr(text);
  if (!c) throw new Error(`test setup: ${text} is not a strict CIDR`);
  return c;
};
const ip = (text: string): number => {
  const n = parseIp(text);
  if (n === undefined) throw new Error(`test setup: ${text} is not an IPv4 address`);
  return n;
};

describe('parseIp / formatIp', () => {
  it.each(['0.0.0.0', '10.42.0.1', '192.168.205.255', '255.255.255.255', '1.2.3.4'])('round-trips %s', (text) => {
    expect(formatIp(ip(text))).toBe(text);
  });

  it('reads addresses as unsigned 32-bit numbers', () => {
    expect(parseIp('0.0.0.0')).toBe(0);
    expect(parseIp('0.0.1.0')).toBe(256);
    expect(parseIp('10.42.0.1')).toBe(10 * 2 ** 24 + 42 * 2 ** 16 + 1);
    expect(parseIp('255.255.255.255')).toBe(2 ** 32 - 1);
  });

  it.each([
    ['256.0.0.1', 'octet above 255'],
    ['1.2.3.256', 'last octet above 255'],
    ['1.2.3', 'three octets'],
    ['1.2.3.4.5', 'five octets'],
    ['x1.2.3.4', 'leading garbage'],
    [' 1.2.3.4', 'leading space'],
    ['1.2.3.4 ', 'trailing space'],
    ['1.2.3.4x', 'trailing garbage'],
    ['01.2.3.4', 'leading zero'],
    ['1..3.4', 'empty octet'],
    ['-1.2.3.4', 'negative octet'],
    ['+1.2.3.4', 'signed octet'],
    ['0x1.2.3.4', 'hex octet'],
    ['', 'empty string'],
    ['1.2.3.4/24', 'a CIDR'],
  ])('refuses %j (%s)', (text) => {
    expect(parseIp(text)).toBeUndefined();
  });
});

describe('parseCidr / formatCidr', () => {
  it.each(['10.42.0.0/16', '10.42.1.0/24', '192.168.205.0/24', '0.0.0.0/0', '10.42.0.64/26', '1.2.3.4/32'])('round-trips %s', (text) => {
    expect(formatCidr(cidr(text))).toBe(text);
  });

  it('splits base and prefix', () => {
    expect(parseCidr('10.42.1.0/24')).toEqual({ base: ip('10.42.1.0'), prefix: 24 });
  });

  it('refuses host bits in strict mode and masks them otherwise', () => {
    expect(parseCidr('10.42.0.1/16')).toBeUndefined();
    expect(parseCidr('10.42.0.1/16', false)).toEqual(cidr('10.42.0.0/16'));
    expect(parseCidr('192.168.205.77/24', false)).toEqual(cidr('192.168.205.0/24'));
  });

  it.each([
    ['10.0.0.0/33', 'prefix above 32'],
    ['10.0.0.0/99', 'prefix far above 32'],
    ['10.0.0.0/', 'no prefix'],
    ['10.0.0.0', 'no slash'],
    ['10.0.0.0/100', 'three-digit prefix'],
    ['10.0.0.0/-1', 'negative prefix'],
    ['256.0.0.0/8', 'bad address'],
    ['x10.0.0.0/8', 'leading garbage'],
    ['10.0.0.0/8x', 'trailing garbage'],
    ['10.0.0.0/8/8', 'two slashes'],
  ])('refuses %j (%s)', (text) => {
    expect(parseCidr(text)).toBeUndefined();
    expect(parseCidr(text, false)).toBeUndefined();
  });
});

describe('size / nth / subnet', () => {
  it('counts addresses of a prefix', () => {
    expect(size(32)).toBe(1);
    expect(size(24)).toBe(256);
    expect(size(16)).toBe(65536);
    expect(size(0)).toBe(2 ** 32);
  });

  it('nth counts from the network address', () => {
    const s = cidr('10.42.1.0/24');
    expect(formatIp(nth(s, 0))).toBe('10.42.1.0');
    expect(formatIp(nth(s, 1))).toBe('10.42.1.1');
    expect(formatIp(nth(s, 255))).toBe('10.42.1.255');
  });

  it('subnet(c, prefix, i) is the i-th consecutive block', () => {
    const pod = cidr('10.42.0.0/16');
    expect(formatCidr(subnet(pod, 24, 0))).toBe('10.42.0.0/24');
    expect(formatCidr(subnet(pod, 24, 2))).toBe('10.42.2.0/24');
    expect(formatCidr(subnet(pod, 24, 255))).toBe('10.42.255.0/24');
    expect(formatCidr(subnet(pod, 26, 1))).toBe('10.42.0.64/26');
    expect(formatCidr(subnet(pod, 26, 5))).toBe('10.42.1.64/26');
  });
});

describe('contains / containsCidr / overlaps', () => {
  const s24 = cidr('10.42.1.0/24');

  it('contains is inclusive of network and broadcast, exclusive outside', () => {
    expect(contains(s24, ip('10.42.1.0'))).toBe(true);
    expect(contains(s24, ip('10.42.1.255'))).toBe(true);
    expect(contains(s24, ip('10.42.1.9'))).toBe(true);
    expect(contains(s24, ip('10.42.0.255'))).toBe(false);
    expect(contains(s24, ip('10.42.2.0'))).toBe(false);
    expect(contains(cidr('0.0.0.0/0'), ip('255.255.255.255'))).toBe(true);
    expect(contains(cidr('1.2.3.4/32'), ip('1.2.3.4'))).toBe(true);
    expect(contains(cidr('1.2.3.4/32'), ip('1.2.3.5'))).toBe(false);
  });

  it('containsCidr needs the inner block to be no larger and inside', () => {
    const pod = cidr('10.42.0.0/16');
    expect(containsCidr(pod, s24)).toBe(true);
    expect(containsCidr(pod, pod)).toBe(true);
    expect(containsCidr(s24, pod)).toBe(false);
    expect(containsCidr(pod, cidr('10.43.0.0/24'))).toBe(false);
    expect(containsCidr(pod, cidr('10.42.0.0/15'))).toBe(false);
  });

  it('overlaps is symmetric and catches nesting', () => {
    const cases: [string, string, boolean][] = [
      ['10.42.0.0/16', '10.43.0.0/16', false],
      ['10.42.0.0/15', '10.43.0.0/16', true],
      ['10.42.0.0/23', '10.42.1.0/24', true],
      ['10.42.0.0/24', '10.42.1.0/24', false],
      ['10.42.1.0/24', '10.42.1.0/24', true],
      ['10.42.0.0/26', '10.42.0.64/26', false],
      ['0.0.0.0/0', '192.168.205.0/24', true],
    ];
    for (const [a, b, want] of cases) {
      expect([a, b, overlaps(cidr(a), cidr(b))]).toEqual([a, b, want]);
      expect([b, a, overlaps(cidr(b), cidr(a))]).toEqual([b, a, want]);
    }
  });
});

describe('isBroadcast', () => {
  it('is the last address of the block', () => {
    const s = cidr('192.168.205.0/24');
    expect(isBroadcast(s, ip('192.168.205.255'))).toBe(true);
    expect(isBroadcast(s, ip('192.168.205.254'))).toBe(false);
    expect(isBroadcast(s, ip('192.168.205.0'))).toBe(false);
    expect(isBroadcast(cidr('10.42.0.64/26'), ip('10.42.0.127'))).toBe(true);
    expect(isBroadcast(cidr('10.42.0.0/29'), ip('10.42.0.7'))).toBe(true);
  });

  it('point-to-point /31 and host /32 have no broadcast address', () => {
    expect(isBroadcast(cidr('10.0.0.0/31'), ip('10.0.0.1'))).toBe(false);
    expect(isBroadcast(cidr('10.0.0.1/32'), ip('10.0.0.1'))).toBe(false);
  });
});

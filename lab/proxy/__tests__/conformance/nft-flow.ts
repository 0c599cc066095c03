import { contains, parseCidr, parseIp } from '../../../topology/ipv4';
import type { NftSummary } from '../../nftables-readback';

// kube-proxy's packet-flow check (runPacketFlowTests in pkg/proxy/nftables/helpers_test.go),
// over the lab's rules as nftables-readback.ts summarises them: a new connection is run through
// filter-prerouting-pre-dnat, nat-prerouting, then (its destination rewritten by a DNAT) through
// filter-forward and filter-input, as kube-proxy's tracePacket does. Every endpoint a numgen vmap
// may pick is followed. The result is kube-proxy's: the endpoints reached ("ip:port, ip:port"),
// or DROP / REJECT, or '' when nothing took the packet; and whether it was marked for
// masquerading. Only the rule forms kube-proxy writes are modelled; anything else throws.

export interface Flow {
  name: string;
  sourceIP: string;
  destIP: string;
  destPort: number;
  protocol?: 'TCP' | 'UDP';
  output: string;
  masq?: boolean;
}

interface Packet {
  src: string;
  dst: string;
  proto: string;
  dport: number;
}

const COMMENT = / comment "(?:[^"\\]|\\.)*"$/;

/** `key [comment "..."] : verdict` of a map element, as the summary writes it */
function splitElement(e: string): { key: string; verdict: string } {
  const m = /^(.*?)(?: comment "(?:[^"\\]|\\.)*")? : (.*)$/.exec(e);
  if (!m) throw new Error(`not a map element: ${e}`);
  return { key: m[1]!, verdict: m[2]! };
}

class Tracer {
  outputs: string[] = [];
  masq = false;
  matched: string[] = [];
  constructor(
    private readonly s: NftSummary,
    private readonly nodeIPs: ReadonlySet<string>,
  ) {}

  private addrMatches(ip: string, value: string): boolean {
    if (value.startsWith('@')) return (this.s.sets[value.slice(1)]?.elements ?? []).includes(ip);
    if (value.startsWith('{'))
      return value
        .slice(1, -1)
        .split(',')
        .some((v) => this.addrMatches(ip, v.trim()));
    if (value.includes('/')) return contains(parseCidr(value, false)!, parseIp(ip)!);
    return value === ip;
  }

  private lookup(map: string, key: string): string | undefined {
    const m = this.s.sets[map];
    if (!m) throw new Error(`no map ${map}`);
    return m.elements.map(splitElement).find((e) => e.key === key)?.verdict;
  }

  /** Runs a chain; true when the packet met a terminal verdict. */
  run(chain: string, p: Packet): boolean {
    const c = this.s.chains[chain];
    if (!c) throw new Error(`no chain ${chain}`);
    for (const whole of c.rules) {
      const r = this.rule(whole.replace(COMMENT, ''), whole, p);
      if (r !== 'next') return r === 'terminal';
    }
    return false;
  }

  /** 'next': on to the chain's next rule; 'terminal' / 'return': leave the chain. */
  private rule(rule: string, whole: string, p: Packet): 'next' | 'terminal' | 'return' {
    let rest = rule;
    let m: RegExpExecArray | null;
    while (rest) {
      rest = rest.trimStart();
      if ((m = /^ct state == new\b/.exec(rest))) {
        // only new connections are traced
      } else if ((m = /^ip daddr \. meta l4proto \. th dport vmap @(\S+)$/.exec(rest))) {
        const v = this.lookup(m[1]!, `${p.dst} . ${p.proto} . ${p.dport}`);
        return v === undefined ? 'next' : this.rule(v, whole, p);
      } else if ((m = /^meta l4proto \. th dport vmap @(\S+)$/.exec(rest))) {
        const v = this.lookup(m[1]!, `${p.proto} . ${p.dport}`);
        return v === undefined ? 'next' : this.rule(v, whole, p);
      } else if ((m = /^ip (daddr|saddr) (==|!=) (\{[^}]*\}|\S+)/.exec(rest))) {
        const hit = this.addrMatches(m[1] === 'daddr' ? p.dst : p.src, m[3]!);
        if (hit !== (m[2] === '==')) return 'next';
      } else if ((m = /^fib (daddr|saddr) type == local\b/.exec(rest))) {
        if (!this.nodeIPs.has(m[1] === 'daddr' ? p.dst : p.src)) return 'next';
      } else if ((m = /^(tcp|udp) dport == (\d+)/.exec(rest))) {
        if (m[1] !== p.proto || Number(m[2]) !== p.dport) return 'next';
      } else if ((m = /^jump mark-for-masquerade$/.exec(rest))) {
        // as kube-proxy's tracer: the jump itself is the mark (masquerading runs at postrouting)
        this.matched.push(whole);
        this.masq = true;
        return 'next';
      } else if ((m = /^(jump|goto) (\S+)$/.exec(rest))) {
        this.matched.push(whole);
        if (this.run(m[2]!, p)) return 'terminal';
        return m[1] === 'goto' ? 'return' : 'next';
      } else if ((m = /^(drop|reject)$/.exec(rest))) {
        this.matched.push(whole);
        this.outputs.push(m[1]!.toUpperCase());
        return 'terminal';
      } else if ((m = /^return$/.exec(rest))) {
        return 'return';
      } else if ((m = /^meta l4proto == (\w+) dnat to (\S+)$/.exec(rest))) {
        this.matched.push(whole);
        this.outputs.push(m[2]!);
        return 'terminal';
      } else if ((m = /^numgen random mod \d+ vmap \{ (.*) \}$/.exec(rest))) {
        // every endpoint the random pick may choose
        for (const e of m[1]!.split(', ')) this.rule(e.replace(/^\d+ : /, ''), whole, p);
        return 'terminal';
      } else throw new Error(`rule form not modelled by the flow tracer: ${whole}`);
      rest = rest.slice(m[0].length);
    }
    return 'next';
  }
}

/** What happens to a new connection, as kube-proxy's tracePacket says it. */
export function traceFlow(s: NftSummary, nodeIPs: readonly string[], f: Flow): { output: string; masq: boolean; matched: string[] } {
  const t = new Tracer(s, new Set(nodeIPs));
  const p: Packet = { src: f.sourceIP, dst: f.destIP, proto: (f.protocol ?? 'TCP').toLowerCase(), dport: f.destPort };
  const done = () => ({ output: t.outputs.join(', '), masq: t.masq, matched: t.matched });
  if (t.run('filter-prerouting-pre-dnat', p)) return done();
  t.run('nat-prerouting', p);
  // the DNAT (if any) takes effect before the filter hooks; like kube-proxy's tracer, only the
  // destination address is rewritten
  const dnat = t.outputs[0] && /^(\d+\.\d+\.\d+\.\d+):\d+$/.exec(t.outputs[0]);
  const after = dnat ? { ...p, dst: dnat[1]! } : p;
  if (t.run('filter-forward', after)) return done();
  t.run('filter-input', after);
  return done();
}

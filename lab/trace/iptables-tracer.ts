import { LabError } from '../errors';
import { restoreLines } from '../proxy/iptables-parse';
import { contains, parseCidr, parseIp } from '../topology/ipv4';
import type { RuleEvent } from './types';

// The walk the lab expects: one packet (the first of a new connection) followed through an
// iptables-restore ruleset, rule by rule, without the kernel. Like the tracer in kube-proxy's
// tests, but strict: a match or target it does not know is an error naming the line, never
// "assumed to match", so an expected walk cannot be quietly wrong. IPv4 only.

export interface TracePacket {
  src: string;
  dst: string;
  protocol: 'tcp' | 'udp' | 'icmp';
  srcport?: number;
  dstport?: number;
  mark?: number;
  /** the IPVS virtual service that took the packet (IPVS mode, after INPUT): what `-m ipvs` matches */
  ipvs?: { vaddr: string; vproto: string; vport: number };
}

export interface TraceContext {
  /** addresses local to the node, for `-m addrtype --dst-type LOCAL`: bare or CIDR ("127.0.0.0/8") */
  localAddresses: string[];
  /** ipset name → members as `ipset restore` adds them ("10.43.0.20,tcp:80", "10.42.0.0/16", "32506" in a bitmap:port) */
  ipsets?: Record<string, string[]>;
  /** the packet came in over a bridge port (br_netfilter): what `-m physdev --physdev-is-in` matches; unknown: such a rule is refused */
  bridgedIn?: boolean;
  /** "ip:port" of the endpoint observed: a `-m statistic --mode random` branch is taken when it DNATs there */
  preferDestination?: string;
  /** the address MASQUERADE picks (the outgoing interface's); without it the source is left as it was */
  masqueradeAs?: string;
}

export type Table = 'raw' | 'mangle' | 'nat' | 'filter';
export type Hook = 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting';
type Dir = 'src' | 'dst';

export type Match =
  | { kind: 'addr'; dir: Dir; cidr: string; neg: boolean }
  | { kind: 'proto'; proto: string; neg: boolean }
  | { kind: 'port'; dir: Dir; lo: number; hi: number; neg: boolean }
  | { kind: 'mark'; value: number; mask: number; neg: boolean }
  | { kind: 'ctstate'; states: string[]; neg: boolean }
  | { kind: 'set'; name: string; dirs: Dir[]; neg: boolean }
  | { kind: 'addrtype'; dir: Dir; neg: boolean } // type LOCAL, the only one accepted
  | { kind: 'random'; probability: number }
  /** -m recent (session affinity): --rcheck asks whether the source was seen lately, --set records it */
  | { kind: 'recent'; name: string; op: 'rcheck' | 'set'; neg: false }
  /** -m ipvs: the packet belongs to an IPVS connection (--ipvs), of this virtual address, protocol, port */
  | { kind: 'ipvs'; vaddr?: string; vproto?: string; vport?: number; neg: boolean }
  /** -m physdev --physdev-is-in: the packet came in over a bridge port */
  | { kind: 'physdev-in'; neg: boolean };

export type Target =
  | { kind: 'jump' | 'goto'; chain: string }
  | { kind: 'accept' | 'drop' | 'reject' | 'return' | 'masquerade' }
  | { kind: 'mark'; value: number; mask: number } // every MARK option in the kernel's form: mark = (mark & ~mask) ^ value
  | { kind: 'dnat' | 'snat'; to: string };

/** text: as in the file, without "-A CHAIN "; no target: a counting rule, it only continues */
export interface Rule {
  line: number;
  text: string;
  comment?: string;
  matches: Match[];
  target?: Target;
}

/** policy: ACCEPT / DROP for built-in chains, '-' for user chains */
export interface Chain {
  name: string;
  policy: string;
  rules: Rule[];
}
/** table → chain name → chain */
export type Ruleset = Map<string, Map<string, Chain>>;

export interface TraceStep {
  hook: string;
  table: string;
  chain: string;
  /** the rule's text and line; both absent for a policy */
  rule?: string;
  line?: number;
  /** jump X | goto X | return | accept | drop | reject | continue (MARK, no target) | dnat to ip:port | snat to ip | masquerade | policy accept */
  verdict: string;
  /** on the first step in each base chain: the packet as that chain saw it */
  packet?: TracePacket;
}

export interface TraceResult {
  steps: TraceStep[];
  /** chains entered in order, base chains as "nat PREROUTING" */
  chains: string[];
  verdict: 'accept' | 'drop' | 'reject';
  packet: TracePacket; // after DNAT / SNAT / MARK
  dnat?: string;
  snat?: string; // 'masquerade' or the address
  marked?: number; // the mark the last MARK target left
  notes: string[]; // choices the tracer made that a reader should know about
}

/** A ruleset or context the tracer cannot follow: bad input (exit 2). */
export class RulesetError extends LabError {
  constructor(message: string) {
    super(message, 2);
  }
}

type Fail = (why: string) => never;
const MODULES = new Set(['tcp', 'udp', 'comment', 'statistic', 'mark', 'conntrack', 'set', 'addrtype', 'recent', 'ipvs', 'physdev']);
const CTSTATES = new Set(['NEW', 'INVALID', 'ESTABLISHED', 'RELATED', 'UNTRACKED', 'DNAT', 'SNAT']);
const NEGATABLE = new Set([
  '-s',
  '--source',
  '-d',
  '--destination',
  '-p',
  '--protocol',
  '--dport',
  '--sport',
  '--mark',
  '--ctstate',
  '--match-set',
  '--dst-type',
  '--src-type',
  '--physdev-is-in',
]);

/**
 * iptables-restore (or iptables-save) text → tables → chains → parsed rules; errors name the line.
 * Lines and words come from the shared parser (lab/proxy/iptables-parse.ts); the checks are here.
 * Each `*table` replaces that table, as iptables-restore does; given `onto`, the text is read as
 * `iptables-restore --noflush` on top of it instead (a user chain declared again is flushed).
 */
export function parseRestore(text: string, onto?: Ruleset): Ruleset {
  const rs: Ruleset = new Map(
    [...(onto ?? [])].map(([t, chains]) => [t, new Map([...chains].map(([n, c]) => [n, { ...c, rules: [...c.rules] }]))]),
  );
  let table: Map<string, Chain> | undefined;
  let name = '';
  const jumps: { table: Map<string, Chain>; chain: string; line: number }[] = [];
  for (const l of restoreLines(text)) {
    const fail: Fail = (why) => {
      throw new RulesetError(`line ${l.line}: ${why}: ${l.text}`);
    };
    if (l.kind === 'table') {
      if (table) fail(`table ${name} has no COMMIT before this`);
      name = l.table;
      rs.set(name, (table = (onto && rs.get(name)) || builtinChains(name)));
    } else if (!table) fail('not inside a table (*name … COMMIT)');
    else if (l.kind === 'commit') table = undefined;
    else if (l.kind === 'chain') {
      const policy = l.policy ?? fail('bad chain declaration');
      const old = table.get(l.chain);
      if (old && old.policy !== '-')
        old.policy = policy; // --noflush: a built-in chain keeps its rules
      else table.set(l.chain, { name: l.chain, policy, rules: [] });
    } else if (l.kind === 'rule') {
      const rule = parseRule(l.rest, l.words, l.line, fail);
      const chain = table.get(l.chain) ?? fail(`chain ${l.chain} is not declared`);
      if (l.insert) chain.rules.unshift(rule);
      else chain.rules.push(rule);
      const [t, next] = [rule.target?.kind, jumpsTo(rule)];
      if (next) jumps.push({ table, chain: next, line: l.line });
      if ((t === 'dnat' || t === 'snat' || t === 'masquerade') && name !== 'nat') fail(`${t.toUpperCase()} is only valid in the nat table`);
    } else if (l.kind === 'delete') {
      if (!table.delete(l.chain)) fail(`chain ${l.chain} does not exist`);
    } else if (l.text.startsWith('-A ')) fail('-A without a chain');
    else fail('not a table, chain, rule or COMMIT line');
  }
  if (table) throw new RulesetError(`table ${name} has no COMMIT`);
  // a target that is neither built in nor a chain of its table: iptables-restore refuses it too
  for (const j of jumps) if (!j.table.has(j.chain)) throw new RulesetError(`line ${j.line}: unknown target or undeclared chain ${j.chain}`);
  return rs;
}

const BUILTINS: Record<string, string[]> = {
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  mangle: ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
  raw: ['PREROUTING', 'OUTPUT'],
};

/** A table as the kernel has it before anything is added: its built-in chains, empty, policy ACCEPT. */
const builtinChains = (table: string) =>
  new Map<string, Chain>((BUILTINS[table] ?? []).map((n) => [n, { name: n, policy: 'ACCEPT', rules: [] }]));

/** Typed matches and target from the shared parser's words of one rule (text: after "-A CHAIN "). */
function parseRule(text: string, w: string[], line: number, fail: Fail): Rule {
  const rule: Rule = { line, text, matches: [] };
  const loaded = new Set<string>();
  let neg = false;
  for (let i = 0; i < w.length; i++) {
    const opt = w[i]!;
    if (opt === '!') {
      neg = true;
      continue;
    }
    if (neg && !NEGATABLE.has(opt)) fail(`! before ${opt} is not supported`);
    const arg = () => w[++i] ?? fail(`${opt} needs a value`);
    const add = (m: Match) => rule.matches.push(m);
    switch (opt) {
      case '-s':
      case '--source':
      case '-d':
      case '--destination': {
        const cidr = arg();
        if (parseIp(cidr) === undefined && !parseCidr(cidr, false)) fail(`bad address ${cidr}`);
        add({ kind: 'addr', dir: opt === '-s' || opt === '--source' ? 'src' : 'dst', cidr, neg });
        break;
      }
      case '-p':
      case '--protocol':
        add({ kind: 'proto', proto: arg().toLowerCase(), neg });
        break;
      case '-m': {
        const module = arg();
        if (!MODULES.has(module)) fail(`unknown match -m ${module}`);
        loaded.add(module);
        break;
      }
      case '--dport':
      case '--sport': {
        if (!loaded.has('tcp') && !loaded.has('udp')) fail(`${opt} without -m tcp or -m udp`);
        const m = /^(\d+)(?::(\d+))?$/.exec(arg()) ?? fail(`bad port in ${opt}`);
        add({ kind: 'port', dir: opt === '--sport' ? 'src' : 'dst', lo: Number(m[1]), hi: Number(m[2] ?? m[1]), neg });
        break;
      }
      case '--comment':
        rule.comment = arg();
        break; // kept for display, never matched
      case '--mode':
        if (arg() !== 'random') fail('only -m statistic --mode random is supported');
        break;
      case '--probability': {
        const probability = Number(arg());
        if (!(probability >= 0 && probability <= 1)) fail(`bad --probability ${w[i]}`);
        add({ kind: 'random', probability });
        break;
      }
      case '--mark': {
        const [value, mask] = markArg(arg(), fail);
        add({ kind: 'mark', value, mask, neg });
        break;
      }
      case '--ctstate': {
        const states = arg().split(',');
        for (const s of states) if (!CTSTATES.has(s)) fail(`unknown conntrack state ${s}`);
        add({ kind: 'ctstate', states, neg });
        break;
      }
      case '--match-set': {
        const name = arg();
        const dirs = arg().split(',');
        if (!dirs.every((d) => d === 'src' || d === 'dst')) fail(`bad --match-set flags ${dirs.join(',')}`);
        add({ kind: 'set', name, dirs: dirs, neg });
        break;
      }
      // -m recent (session affinity), in kube-proxy's order (--name X --rcheck --seconds N --reap)
      // or iptables-save's (--rcheck --seconds N --reap --name X --mask M --rsource)
      case '--name':
      case '--rcheck':
      case '--set':
      case '--seconds':
      case '--reap':
      case '--mask':
      case '--rsource': {
        if (!loaded.has('recent')) fail(`${opt} without -m recent`);
        let m = rule.matches.find((x): x is Extract<Match, { kind: 'recent' }> => x.kind === 'recent');
        if (!m) add((m = { kind: 'recent', name: '', op: 'rcheck', neg: false }));
        if (opt === '--name') m.name = arg();
        else if (opt === '--set') m.op = 'set';
        else if (opt === '--seconds' || opt === '--mask') arg();
        break;
      }
      // -m physdev (kube-proxy's IPVS external-IP rule: ! --physdev-is-in, not from a pod's bridge)
      case '--physdev-is-in':
        if (!loaded.has('physdev')) fail(`${opt} without -m physdev`);
        add({ kind: 'physdev-in', neg });
        break;
      // -m ipvs (kube-proxy's KUBE-IPVS-OUT-FILTER: --vaddr A --vproto tcp --vport N), each a property of one match
      case '--ipvs':
      case '--vaddr':
      case '--vproto':
      case '--vport': {
        if (!loaded.has('ipvs')) fail(`${opt} without -m ipvs`);
        if (neg) fail(`! before ${opt} is not supported`);
        let m = rule.matches.find((x): x is Extract<Match, { kind: 'ipvs' }> => x.kind === 'ipvs');
        if (!m) add((m = { kind: 'ipvs', neg: false }));
        if (opt === '--vaddr') {
          const a = arg();
          if (parseIp(a) === undefined && !parseCidr(a, false)) fail(`bad address ${a}`);
          m.vaddr = a;
        } else if (opt === '--vproto') m.vproto = arg().toLowerCase();
        else if (opt === '--vport') m.vport = Number(/^\d+$/.exec(arg())?.[0] ?? fail(`bad port in ${opt}`));
        break;
      }
      case '--dst-type':
      case '--src-type':
        if (arg() !== 'LOCAL') fail(`only ${opt} LOCAL is supported`);
        add({ kind: 'addrtype', dir: opt === '--src-type' ? 'src' : 'dst', neg });
        break;
      case '-j':
      case '-g':
        rule.target = parseTarget(opt, arg(), w.slice(i + 1), fail);
        return rule;
      default:
        fail(`unknown option ${opt}`);
    }
    neg = false;
  }
  if (neg) fail('! at the end of the rule');
  return rule;
}

function markArg(v: string, fail: Fail): [number, number] {
  const m = /^(0x[0-9a-f]+|\d+)(?:\/(0x[0-9a-f]+|\d+))?$/i.exec(v) ?? fail(`bad mark ${v}`);
  return [Number(m[1]) >>> 0, m[2] === undefined ? 0xffffffff : Number(m[2]) >>> 0];
}

function parseTarget(opt: string, name: string, rest: string[], fail: Fail): Target {
  const opts = new Map<string, string>(); // `--name value` or a bare flag
  for (let i = 0; i < rest.length; i++) {
    const o = rest[i]!;
    if (!o.startsWith('--')) fail(`unexpected ${o} after ${opt} ${name}`);
    opts.set(o, rest[i + 1] !== undefined && !rest[i + 1]!.startsWith('--') ? rest[++i]! : '');
  }
  const only = <T extends Target>(t: T, ...allowed: string[]): T => {
    for (const o of opts.keys()) if (!allowed.includes(o)) fail(`unknown option ${o} for ${name}`);
    return t;
  };
  const to = (o: string) => {
    only({ kind: 'accept' }, o, '--random', '--random-fully', '--persistent');
    const v = opts.get(o) || fail(`${name} needs ${o}`);
    return /^\d+\.\d+\.\d+\.\d+(:\d+)?$/.test(v) ? v : fail(`${name} ${o} ${v}: only ip[:port] is supported`);
  };
  if (opt === '-g') return only({ kind: 'goto', chain: name });
  switch (name) {
    case 'ACCEPT':
    case 'DROP':
    case 'RETURN':
      return only({ kind: name.toLowerCase() as 'accept' | 'drop' | 'return' });
    case 'REJECT':
      return only({ kind: 'reject' }, '--reject-with');
    case 'MASQUERADE':
      return only({ kind: 'masquerade' }, '--random', '--random-fully');
    case 'DNAT':
      return { kind: 'dnat', to: to('--to-destination') };
    case 'SNAT':
      return { kind: 'snat', to: to('--to-source') };
    case 'MARK': {
      const [o, v] = opts.size === 1 ? [...opts][0]! : fail('MARK needs one of --set-xmark, --or-mark, --xor-mark');
      const [value, mask] = markArg(v, fail);
      if (o === '--set-xmark') return { kind: 'mark', value, mask };
      if (o === '--or-mark') return { kind: 'mark', value, mask: value };
      if (o === '--xor-mark') return { kind: 'mark', value, mask: 0 };
      return fail(`unknown option ${o} for MARK`);
    }
    default:
      // a user chain (checked once the whole table is read), or a target such as LOG or
      // CONNMARK that is not modelled: with options it cannot be a chain
      return opts.size ? fail(`unknown target ${name}`) : { kind: 'jump', chain: name };
  }
}

// --- tracing ----------------------------------------------------------------------------------

const inNet = (ip: string, cidr: string) => {
  const a = parseIp(ip);
  const c = cidr.includes('/') ? parseCidr(cidr, false) : { base: parseIp(cidr) ?? NaN, prefix: 32 };
  return a !== undefined && c !== undefined && contains(c, a);
};

/** One ipset member: address/CIDR parts match an address, `proto:port` or bare-port parts a port. */
function memberMatches(member: string, dirs: Dir[], p: TracePacket): boolean {
  const parts = member.trim().split(/\s+/)[0]!.split(',');
  if (parts.length > dirs.length) return false; // fewer flags than the set has dimensions
  return parts.every((part, i) => {
    const dir = dirs[i]!;
    const m = /^(?:(\w+):)?(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) return inNet(p[dir], part);
    const port = dir === 'src' ? p.srcport : p.dstport;
    // a bare port is tcp in an ip,port member (ipset's default), any of tcp/udp alone (bitmap:port)
    const proto = m[1] ?? (parts.length > 1 ? 'tcp' : p.protocol);
    return p.protocol !== 'icmp' && p.protocol === proto && port !== undefined && port >= Number(m[2]) && port <= Number(m[3] ?? m[2]);
  });
}

const failAt = (rule: Rule, why: string): never => {
  throw new RulesetError(`line ${rule.line}: ${why}: ${rule.text}`);
};

function matchOne(m: Exclude<Match, { kind: 'random' }>, rule: Rule, p: TracePacket, ctx: TraceContext): boolean {
  const port = m.kind === 'port' ? (m.dir === 'src' ? p.srcport : p.dstport) : undefined;
  const r =
    m.kind === 'addr'
      ? inNet(p[m.dir], m.cidr)
      : m.kind === 'proto'
        ? m.proto === 'all' || m.proto === p.protocol
        : m.kind === 'port'
          ? port !== undefined && port >= m.lo && port <= m.hi
          : m.kind === 'recent'
            ? // the traced probe is a client not seen before: no affinity entry; --set always matches
              m.op === 'set'
            : m.kind === 'physdev-in'
              ? (ctx.bridgedIn ?? failAt(rule, 'whether the packet came in over a bridge port (br_netfilter) is not known'))
              : m.kind === 'ipvs'
                ? p.ipvs !== undefined &&
                  (m.vaddr === undefined || inNet(p.ipvs.vaddr, m.vaddr)) &&
                  (m.vproto === undefined || m.vproto === p.ipvs.vproto) &&
                  (m.vport === undefined || m.vport === p.ipvs.vport)
                : m.kind === 'mark'
                  ? ((p.mark ?? 0) & m.mask) >>> 0 === m.value
                  : m.kind === 'ctstate'
                    ? // the traced packet opens a connection; the DNAT/SNAT states are taken as unset: the
                      // generated rules test them only for packets to 127.0.0.0/8 (KUBE-FIREWALL), which
                      // no lab rule DNATs
                      m.states.includes('NEW')
                    : m.kind === 'set'
                      ? (ctx.ipsets?.[m.name] ?? failAt(rule, `--match-set ${m.name}: no such set in the context's ipsets`)).some((x) =>
                          memberMatches(x, m.dirs, p),
                        )
                      : ctx.localAddresses.some((a) => inNet(p[m.dir], a));
  return m.neg ? !r : r;
}

const jumpsTo = (r: Rule) => (r.target?.kind === 'jump' || r.target?.kind === 'goto' ? r.target.chain : undefined);

/** Whether a chain ends, through its jumps, in a DNAT to `dest` ("ip:port"; without a port on either side the ips are compared). */
function leadsTo(chains: Map<string, Chain>, chain: string, dest: string, seen = new Set<string>()): boolean {
  if (seen.has(chain)) return false;
  seen.add(chain);
  return (chains.get(chain)?.rules ?? []).some((r) => {
    if (r.target?.kind === 'dnat')
      return (
        r.target.to === dest || ((!r.target.to.includes(':') || !dest.includes(':')) && r.target.to.split(':')[0] === dest.split(':')[0])
      );
    const next = jumpsTo(r);
    return next !== undefined && leadsTo(chains, next, dest, seen);
  });
}

type State = Omit<TraceResult, 'verdict'>;

/**
 * A `-m statistic --mode random` rule whose other matches matched: taken when it leads to the
 * preferred endpoint; with none given, or none of the chain's branches leading there, the first
 * one met is taken (and a note says so).
 */
function takeBranch(chains: Map<string, Chain>, chain: Chain, rule: Rule, st: State, want: string | undefined): boolean {
  if (!want) return true;
  const leads = (r: Rule) => jumpsTo(r) !== undefined && leadsTo(chains, jumpsTo(r)!, want);
  if (leads(rule)) return true;
  if (chain.rules.some(leads)) return false;
  st.notes.push(`no branch of ${chain.name} leads to ${want}: took the first (line ${rule.line})`);
  return true;
}

/** Walks one base chain of one table: a jump pushes a frame, a goto replaces one, RETURN or a chain's end pops one. */
function walk(rs: Ruleset, table: string, base: string, st: State, ctx: TraceContext, hook: string): TraceResult['verdict'] {
  const chains = rs.get(table);
  const baseChain = chains?.get(base);
  if (!chains || !baseChain) throw new RulesetError(`no chain ${base} in table ${table}`);
  if (baseChain.policy === '-') throw new RulesetError(`${table} ${base} is a user chain, not a base chain`);
  st.chains.push(`${table} ${base}`);
  let entry: TracePacket | undefined = { ...st.packet };
  const step = (chain: Chain, rule: Rule | undefined, verdict: string) => {
    st.steps.push({
      hook,
      table,
      chain: chain.name,
      ...(rule && { rule: rule.text, line: rule.line }),
      verdict,
      ...(entry && { packet: entry }),
    });
    entry = undefined;
  };
  const policy = () => {
    const p = baseChain.policy.toLowerCase();
    if (p !== 'accept' && p !== 'drop') throw new RulesetError(`${table} ${base}: policy ${baseChain.policy} is not ACCEPT or DROP`);
    step(baseChain, undefined, `policy ${p}`);
    return p;
  };
  const stack = [{ chain: baseChain, i: 0 }];
  for (let entered = 0; ;) {
    const frame = stack.at(-1)!;
    const rule = frame.chain.rules[frame.i++];
    if (!rule) {
      // a user chain's end returns; the base chain's end (or that of a chain it went to) is its policy
      stack.pop();
      if (!stack.length) return policy();
      continue;
    }
    if (!rule.matches.every((m) => m.kind === 'random' || matchOne(m, rule, st.packet, ctx))) continue;
    if (rule.matches.some((m) => m.kind === 'random') && !takeBranch(chains, frame.chain, rule, st, ctx.preferDestination)) continue;
    const t = rule.target;
    if (!t) {
      step(frame.chain, rule, 'continue');
      continue;
    }
    switch (t.kind) {
      case 'jump':
      case 'goto':
        if (++entered > 1000) failAt(rule, 'more than 1000 chains entered: a loop?');
        step(frame.chain, rule, `${t.kind} ${t.chain}`);
        st.chains.push(t.chain);
        if (t.kind === 'goto') stack.pop(); // RETURN from there goes back past this chain
        stack.push({ chain: chains.get(t.chain)!, i: 0 });
        break;
      case 'return':
        step(frame.chain, rule, 'return');
        stack.pop();
        if (!stack.length) return policy();
        break;
      case 'mark':
        st.packet.mark = st.marked = (((st.packet.mark ?? 0) & ~t.mask) ^ t.value) >>> 0;
        step(frame.chain, rule, 'continue');
        break;
      case 'dnat':
      case 'snat': {
        // terminal in nat: the table is done with this packet
        const [ip, port] = t.to.split(':') as [string, string?];
        if (t.kind === 'dnat') [st.packet.dst, st.dnat] = [ip, t.to];
        else [st.packet.src, st.snat] = [ip, ip];
        if (port) st.packet[t.kind === 'dnat' ? 'dstport' : 'srcport'] = Number(port);
        step(frame.chain, rule, `${t.kind} to ${t.to}`);
        return 'accept';
      }
      case 'masquerade':
        st.snat = 'masquerade';
        if (ctx.masqueradeAs) st.packet.src = ctx.masqueradeAs;
        step(frame.chain, rule, 'masquerade');
        return 'accept';
      default:
        step(frame.chain, rule, t.kind);
        return t.kind;
    }
  }
}

const start = (pkt: TracePacket): State => ({ steps: [], chains: [], packet: { ...pkt }, notes: [] });

/** One base chain of one table, e.g. traceChain(rs, 'nat', 'PREROUTING', …). */
export function traceChain(rs: Ruleset, table: Table, baseChain: string, pkt: TracePacket, ctx: TraceContext): TraceResult {
  const st = start(pkt);
  const verdict = walk(rs, table, baseChain, st, ctx, baseChain.toLowerCase()); // before the spread: it fills st
  return { ...st, verdict };
}

/** The iptables tables at each hook in netfilter priority order (nat's DNAT before filter, its SNAT after). */
export const HOOK_TABLES: Record<Hook, [Table, string][]> = {
  prerouting: [
    ['raw', 'PREROUTING'],
    ['mangle', 'PREROUTING'],
    ['nat', 'PREROUTING'],
  ],
  input: [
    ['mangle', 'INPUT'],
    ['filter', 'INPUT'],
    ['nat', 'INPUT'],
  ],
  forward: [
    ['mangle', 'FORWARD'],
    ['filter', 'FORWARD'],
  ],
  output: [
    ['raw', 'OUTPUT'],
    ['mangle', 'OUTPUT'],
    ['nat', 'OUTPUT'],
    ['filter', 'OUTPUT'],
  ],
  postrouting: [
    ['mangle', 'POSTROUTING'],
    ['nat', 'POSTROUTING'],
  ],
};

/** Every table the ruleset has at one hook, the packet (mark, DNAT) carried from one to the next. */
export function traceHook(rs: Ruleset, hook: Hook, pkt: TracePacket, ctx: TraceContext): TraceResult {
  const st = start(pkt);
  for (const [table, chain] of HOOK_TABLES[hook]) {
    if (!rs.get(table)?.has(chain)) continue;
    const verdict = walk(rs, table, chain, st, ctx, hook);
    if (verdict !== 'accept') return { ...st, verdict };
  }
  return { ...st, verdict: 'accept' };
}

/** The steps as RuleEvents (family ip, as iptables-nft): a packet event where a base chain is entered, then its rules. */
export function ruleEvents(r: TraceResult): RuleEvent[] {
  return r.steps.flatMap((s) => {
    const base = { hook: s.hook, family: 'ip', table: s.table, chain: s.chain };
    const p = s.packet;
    const mark = p?.mark !== undefined ? { mark: `0x${p.mark.toString(16)}` } : {};
    const entered: RuleEvent[] = p
      ? [{ ...base, packet: { src: p.src, dst: p.dst, srcport: p.srcport, dstport: p.dstport, ...mark } }]
      : [];
    return [...entered, { ...base, ...(s.rule !== undefined && { rule: s.rule }), verdict: s.verdict }];
  });
}

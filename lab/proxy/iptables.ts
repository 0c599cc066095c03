import { extChain, markHex, type ProxyModel, sepChain, type ServicePortModel, svcChain } from '../model/proxy';

// kube-proxy's iptables mode, as iptables-restore text (one file per node, whole filter and
// nat tables: restoring it replaces the previous rules atomically, table by table).
// Layout and comments follow kube-proxy (pkg/proxy/iptables/proxier.go), e.g. article 003's
//   -A KUBE-SVC-7CWUT4JBGBRVUN2L ! -s 10.42.0.0/16 -d 10.43.6.58/32 ... -j KUBE-MARK-MASQ
//   -A KUBE-SVC-7CWUT4JBGBRVUN2L ... -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-U2YYZT2C3O6VM4EV

/** An iptables-restore table being written: chains in order of declaration, then rules. */
export class RestoreTable {
  private readonly chains = new Map<string, string>(); // name → policy ('-' for user chains)
  private readonly rules: string[] = [];
  constructor(
    readonly name: 'filter' | 'nat' | 'mangle',
    builtins: string[],
  ) {
    for (const b of builtins) this.chains.set(b, 'ACCEPT');
  }
  chain(name: string): this {
    if (!this.chains.has(name)) this.chains.set(name, '-');
    return this;
  }
  add(chain: string, ...words: string[]): this {
    return this.line(chain, words.join(' '));
  }
  /** A rule given as its text after `-A <chain> ` */
  line(chain: string, rest: string): this {
    this.chain(chain);
    this.rules.push(`-A ${chain} ${rest}`);
    return this;
  }
  render(): string {
    return [`*${this.name}`, ...[...this.chains].map(([c, p]) => `:${c} ${p} [0:0]`), ...this.rules, 'COMMIT'].join('\n');
  }
}

/** `-m comment --comment X`, quoted the way iptables-save quotes it (only when needed). */
export const comment = (text: string) => ['-m', 'comment', '--comment', /^[\w./:+-]+$/.test(text) ? text : `"${text}"`];

const proto = (sp: ServicePortModel) => sp.protocol.toLowerCase();
const matchPort = (sp: ServicePortModel, port: number) => ['-p', proto(sp), '-m', proto(sp), '--dport', String(port)];

export const FILTER_BUILTINS = ['INPUT', 'FORWARD', 'OUTPUT'];
export const NAT_BUILTINS = ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'];

/** Chains every mode shares: the masquerade mark, its SNAT, and the forward rules for marked traffic. */
export function addMasqueradeChains(nat: RestoreTable, filter: RestoreTable, mark: number): void {
  const m = markHex(mark);
  nat
    .add('POSTROUTING', ...comment('kubernetes postrouting rules'), '-j', 'KUBE-POSTROUTING')
    .add('KUBE-MARK-MASQ', '-j', 'MARK', '--or-mark', m)
    .add('KUBE-POSTROUTING', '-m', 'mark', '!', '--mark', `${m}/${m}`, '-j', 'RETURN')
    // clear the mark, so a packet that is re-routed is not masqueraded twice (as kube-proxy does)
    .add('KUBE-POSTROUTING', '-j', 'MARK', '--xor-mark', m)
    .add('KUBE-POSTROUTING', ...comment('kubernetes service traffic requiring SNAT'), '-j', 'MASQUERADE', '--random-fully');
  filter
    .add('FORWARD', ...comment('kubernetes forwarding rules'), '-j', 'KUBE-FORWARD')
    .add('KUBE-FORWARD', '-m', 'conntrack', '--ctstate', 'INVALID', '-j', 'DROP')
    .add('KUBE-FORWARD', ...comment('kubernetes forwarding rules'), '-m', 'mark', '--mark', `${m}/${m}`, '-j', 'ACCEPT')
    .add(
      'KUBE-FORWARD',
      ...comment('kubernetes forwarding conntrack rule'),
      '-m',
      'conntrack',
      '--ctstate',
      'RELATED,ESTABLISHED',
      '-j',
      'ACCEPT',
    );
}

/** 1/(n-i) with 10 decimals, as kube-proxy writes it; the last endpoint gets no probability. */
export const probability = (n: number, i: number) => (1 / (n - i)).toFixed(10);

/** The same text for every node: nothing here depends on the node (node ports match ADDRTYPE LOCAL). */
export function iptablesRules(model: ProxyModel): string {
  const filter = new RestoreTable('filter', FILTER_BUILTINS);
  const nat = new RestoreTable('nat', NAT_BUILTINS);
  filter
    .add(
      'INPUT',
      '-m',
      'conntrack',
      '--ctstate',
      'NEW',
      ...comment('kubernetes externally-visible service portals'),
      '-j',
      'KUBE-EXTERNAL-SERVICES',
    )
    .add('FORWARD', '-m', 'conntrack', '--ctstate', 'NEW', ...comment('kubernetes service portals'), '-j', 'KUBE-SERVICES')
    .add(
      'FORWARD',
      '-m',
      'conntrack',
      '--ctstate',
      'NEW',
      ...comment('kubernetes externally-visible service portals'),
      '-j',
      'KUBE-EXTERNAL-SERVICES',
    )
    .add('OUTPUT', '-m', 'conntrack', '--ctstate', 'NEW', ...comment('kubernetes service portals'), '-j', 'KUBE-SERVICES')
    .chain('KUBE-SERVICES')
    .chain('KUBE-EXTERNAL-SERVICES');
  nat
    .add('PREROUTING', ...comment('kubernetes service portals'), '-j', 'KUBE-SERVICES')
    .add('OUTPUT', ...comment('kubernetes service portals'), '-j', 'KUBE-SERVICES')
    .chain('KUBE-SERVICES')
    .chain('KUBE-NODEPORTS');
  addMasqueradeChains(nat, filter, model.mark);

  for (const sp of model.services) {
    const svc = svcChain(sp);
    const ip = `${sp.clusterIP}/32`;
    if (!sp.endpoints.length) {
      // No endpoint: refuse at once, as kube-proxy does, instead of letting the SYN time out.
      filter.add(
        'KUBE-SERVICES',
        '-d',
        ip,
        ...comment(`${sp.id} has no endpoints`),
        ...matchPort(sp, sp.port),
        '-j',
        'REJECT',
        '--reject-with',
        'icmp-port-unreachable',
      );
      if (sp.nodePort !== undefined)
        filter.add(
          'KUBE-EXTERNAL-SERVICES',
          ...comment(`${sp.id} has no endpoints`),
          '-m',
          'addrtype',
          '--dst-type',
          'LOCAL',
          ...matchPort(sp, sp.nodePort),
          '-j',
          'REJECT',
          '--reject-with',
          'icmp-port-unreachable',
        );
      continue;
    }
    nat.add('KUBE-SERVICES', '-d', ip, ...comment(`${sp.id} cluster IP`), ...matchPort(sp, sp.port), '-j', svc);
    nat.add(
      svc,
      '!',
      '-s',
      model.clusterCIDR,
      '-d',
      ip,
      ...comment(`${sp.id} cluster IP`),
      ...matchPort(sp, sp.port),
      '-j',
      'KUBE-MARK-MASQ',
    );
    if (sp.nodePort !== undefined) {
      const ext = extChain(sp);
      nat.add('KUBE-NODEPORTS', ...comment(sp.id), ...matchPort(sp, sp.nodePort), '-j', ext);
      nat.add(ext, ...comment(`masquerade traffic for ${sp.id} external destinations`), '-j', 'KUBE-MARK-MASQ');
      nat.add(ext, '-j', svc);
    }
    // The per-endpoint rules are most of a large ruleset: written as whole lines, with the
    // service's shared words built once (same text as add() would produce).
    const n = sp.endpoints.length;
    const p = proto(sp);
    const idComment = comment(sp.id).join(' ');
    sp.endpoints.forEach((ep, i) => {
      const sep = sepChain(sp, ep);
      const target = `${ep.ip}:${ep.port}`;
      const pick = i < n - 1 ? ` -m statistic --mode random --probability ${probability(n, i)}` : '';
      nat.line(svc, `${comment(`${sp.id} -> ${target}`).join(' ')}${pick} -j ${sep}`);
      // hairpin: an endpoint reaching itself through the service must be masqueraded
      nat.line(sep, `-s ${ep.ip}/32 ${idComment} -j KUBE-MARK-MASQ`);
      nat.line(sep, `${idComment} -p ${p} -m ${p} -j DNAT --to-destination ${target}`);
    });
  }
  // Must stay last: anything addressed to this node that no cluster-IP rule took may be a node port.
  nat.add(
    'KUBE-SERVICES',
    ...comment('kubernetes service nodeports; NOTE: this must be the last rule in this chain'),
    '-m',
    'addrtype',
    '--dst-type',
    'LOCAL',
    '-j',
    'KUBE-NODEPORTS',
  );
  return `${filter.render()}\n${nat.render()}\n`;
}

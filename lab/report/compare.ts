import type { RunReport } from './types';
import type { Walk } from '../trace/types';

// Where the proxy modes' paths differ, from what a run observed: every `trace` probe with the
// same from → to in several modes (services-iptables/-nftables/-ipvs trace the same packets)
// becomes one table, a column per mode. And where the CNIs' paths differ: the same from → to in
// one proxy mode on several pod networks (scenarios/cni-comparison.yaml: flannel vxlan and
// host-gw, Calico bgp and vxlan), a column per backend. Written to comparison.md in the run's folder.

interface Column {
  proxy: string;
  walk: Walk;
}

/** flannel's backends first, then Calico's modes; a walk without one is flannel's default */
const BACKENDS = ['vxlan', 'host-gw', 'calico-bgp', 'calico-vxlan', 'calico-ipip'];
const backendOf = (w: Walk) => w.backend ?? 'vxlan';
const BACKEND_TITLE: Record<string, string> = {
  vxlan: 'flannel vxlan',
  'host-gw': 'flannel host-gw',
  'calico-bgp': 'calico bgp',
  'calico-vxlan': 'calico vxlan',
  'calico-ipip': 'calico ipip',
};
const esc = (t: string) => t.replace(/\|/g, '\\|');

// kube-proxy's own chains: iptables/ipvs KUBE-*, nftables' fixed names and per-service chains
const KUBE_CHAIN =
  /^(KUBE-|services$|service-|endpoint-|external-|mark-for-masquerade$|masquerading$|firewall-check$|cluster-ips-check$|nodeport-endpoints-check$|reject-chain$)/;

function rowsOf(w: Walk): Record<string, string> {
  const natHop = w.hops.find((h) => h.changes.some((c) => c.kind === 'dnat'));
  const node = w.rules.find((r) => r.node === (natHop?.ownerKind === 'node' ? natHop.owner : undefined)) ?? w.rules[0];
  const last = w.hops.filter((h) => h.observed).at(-1);
  // where, not to which address: the endpoint is chosen at random in each mode
  const at = (kind: string) => w.hops.filter((h) => h.changes.some((c) => c.kind === kind)).map((h) => `at ${h.point}`);
  const baseChains = node?.chains.filter((c) => c.includes(' ')) ?? [];
  return {
    'hooks on the node that rewrites': node ? `${node.node}: ${node.hooks.join(' → ')}` : 'not traced',
    'base chains entered': baseChains.join(', ') || '-',
    // hashed chain names differ with the endpoint chosen: the kind of chain is what compares
    "kube-proxy's chains entered":
      node?.chains
        .filter((c) => KUBE_CHAIN.test(c))
        .map((c) =>
          c
            .replace(/^(KUBE-(?:SVC|SEP|EXT|FW|SVL)-)[A-Z0-9]{16}$/, '$1…')
            .replace(/^((?:service|endpoint|external)-)[A-Z0-9]{8}-.*$/, '$1…'),
        )
        .join(' → ') || '-',
    'DNAT first seen': at('dnat').join(', ') || 'none',
    'SNAT first seen': at('snat').join(', ') || 'none',
    'TTL at the endpoint': last?.observed ? String(last.observed.ip.ttl) : '-',
    'endpoint sees the source as': !last?.observed ? '-' : at('snat').length ? 'rewritten (SNAT)' : 'as sent',
    'observed = expected': w.differences.length ? `no: ${w.differences.length} difference(s)` : 'yes',
  };
}

/** Markdown tables, one per traced from → to seen in two or more proxy modes; '' when none. */
export function comparisonMarkdown(report: RunReport): string {
  return [proxyComparison(report), cniComparison(report)].filter((t) => t).join('\n');
}

const walksOf = (report: RunReport): Walk[] =>
  report.scenarios.flatMap((s) =>
    s.steps.flatMap((step) => step.probes.flatMap((p) => (p.kind === 'trace' && p.result ? [p.result as Walk] : []))),
  );

function proxyComparison(report: RunReport): string {
  const groups = new Map<string, Column[]>();
  for (const walk of walksOf(report)) {
    // one pod network per table: a mode's column on flannel is not set beside another on Calico
    const net = backendOf(walk);
    const key = `${walk.from} → ${walk.to}${net === 'vxlan' ? '' : ` (${BACKEND_TITLE[net] ?? net})`}`;
    const cols = groups.get(key) ?? [];
    if (!cols.some((c) => c.proxy === walk.proxy)) cols.push({ proxy: walk.proxy, walk });
    groups.set(key, cols);
  }
  const out: string[] = [];
  for (const [key, cols] of groups) {
    if (cols.length < 2) continue;
    const order = ['iptables', 'nftables', 'ipvs'];
    cols.sort((a, b) => order.indexOf(a.proxy) - order.indexOf(b.proxy));
    const rows = cols.map((c) => rowsOf(c.walk));
    out.push(`### ${key}`, '', `| | ${cols.map((c) => c.proxy).join(' | ')} | differs |`, `|---|${cols.map(() => '---').join('|')}|---|`);
    for (const row of Object.keys(rows[0]!)) {
      const vals = rows.map((r) => r[row]!);
      out.push(`| ${row} | ${vals.map(esc).join(' | ')} | ${new Set(vals).size > 1 ? '**yes**' : ''} |`);
    }
    out.push('');
  }
  return out.length ? `# Where the proxy modes' paths differ (run ${report.runId})\n\n${out.join('\n')}` : '';
}

/** The points a walk passed, veth names shortened (their hash says nothing here): `node1:cali…` */
const pointsOf = (w: Walk) =>
  w.hops
    .filter((h) => h.expected)
    .map((h) => h.point.replace(/:(cali|veth)[0-9a-f]+$/, ':$1…'))
    .join(' → ');

function cniRowsOf(w: Walk): Record<string, string> {
  const last = w.hops.filter((h) => h.observed).at(-1);
  const wire = w.hops.find((h) => h.observed?.outer);
  const first = w.hops[0]?.observed ?? w.hops[0]?.expected;
  return {
    'points on the way': pointsOf(w),
    "the pod's first hop (MAC it sends to)": first?.eth
      ? first.eth.dst === 'ee:ee:ee:ee:ee:ee'
        ? 'ee:ee:ee:ee:ee:ee (cali veth, proxy ARP)'
        : 'cni0 (bridge)'
      : '-',
    'on the underlay': wire?.observed?.outer
      ? wire.observed.outer.ipip
        ? 'IP-in-IP (IP protocol 4)'
        : `VXLAN udp/${wire.observed.outer.udp.dstport} vni ${wire.observed.outer.vni}`
      : "the pod's own packet",
    'TTL at the endpoint': last?.observed ? String(last.observed.ip.ttl) : '-',
    'observed = expected': w.differences.length ? `no: ${w.differences.length} difference(s)` : 'yes',
  };
}

/** Markdown tables, one per traced from → to seen on two or more pod networks in one proxy mode; '' when none. */
function cniComparison(report: RunReport): string {
  const groups = new Map<string, Walk[]>();
  // pod destinations only: through a service each network's run may pick another endpoint
  for (const walk of walksOf(report).filter((w) => !/^(service|nodeport):/.test(w.to))) {
    const key = `${walk.from} → ${walk.to} (proxy ${walk.proxy})`;
    const cols = groups.get(key) ?? [];
    if (!cols.some((c) => backendOf(c) === backendOf(walk))) cols.push(walk);
    groups.set(key, cols);
  }
  const out: string[] = [];
  for (const [key, cols] of groups) {
    if (cols.length < 2) continue;
    cols.sort((a, b) => BACKENDS.indexOf(backendOf(a)) - BACKENDS.indexOf(backendOf(b)));
    const rows = cols.map(cniRowsOf);
    const titles = cols.map((c) => BACKEND_TITLE[backendOf(c)] ?? backendOf(c));
    out.push(`### ${key}`, '', `| | ${titles.join(' | ')} | differs |`, `|---|${cols.map(() => '---').join('|')}|---|`);
    for (const row of Object.keys(rows[0]!)) {
      const vals = rows.map((r) => r[row]!);
      out.push(`| ${row} | ${vals.map(esc).join(' | ')} | ${new Set(vals).size > 1 ? '**yes**' : ''} |`);
    }
    out.push('');
  }
  return out.length ? `# Where the CNIs' paths differ (run ${report.runId})\n\n${out.join('\n')}` : '';
}

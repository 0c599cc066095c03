import type { RunReport } from './types';
import type { Walk } from '../trace/types';

// Where the proxy modes' paths differ, from what a run observed: every `trace` probe with the
// same from → to in several modes (services-iptables/-nftables/-ipvs trace the same packets)
// becomes one table, a column per mode. Written to comparison.md in the run's folder.

interface Column {
  proxy: string;
  walk: Walk;
}

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
  const groups = new Map<string, Column[]>();
  for (const s of report.scenarios)
    for (const step of s.steps)
      for (const p of step.probes) {
        if (p.kind !== 'trace' || !p.result) continue;
        const walk = p.result as Walk;
        const key = `${walk.from} → ${walk.to}`;
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
    const esc = (t: string) => t.replace(/\|/g, '\\|');
    out.push(`### ${key}`, '', `| | ${cols.map((c) => c.proxy).join(' | ')} | differs |`, `|---|${cols.map(() => '---').join('|')}|---|`);
    for (const row of Object.keys(rows[0]!)) {
      const vals = rows.map((r) => r[row]!);
      out.push(`| ${row} | ${vals.map(esc).join(' | ')} | ${new Set(vals).size > 1 ? '**yes**' : ''} |`);
    }
    out.push('');
  }
  return out.length ? `# Where the proxy modes' paths differ (run ${report.runId})\n\n${out.join('\n')}` : '';
}

import Table from 'cli-table3';
import pc from 'picocolors';
import type { InterfaceView, LabView } from '../status/inspect';
import type { ProxyModel } from '../model/proxy';

// The human view of a lab: one row per interface that matters (eth0, cni0, flannel.N),
// addresses and MACs as the kernel reports them.

const SHOWN = /^(eth0|cni0|flannel\.\d+|vxlan\.calico)$/;

export function renderLab(view: LabView): string {
  const head =
    `${pc.bold(`lab ${view.name}`)}  runtime ${view.runtime}  state ${stateColor(view.state)}` +
    (view.backend ? `  backend ${view.backend}` : '') +
    (view.topology ? `  from ${view.topology}` : '');
  const t = new Table({
    head: ['kind', 'name', 'node', 'namespace', 'interface', 'address', 'mac', 'mtu'],
    style: { head: [], border: [] },
    chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
  });
  const rows = (kind: string, name: string, node: string, ns: string, ifs: InterfaceView[]) => {
    for (const i of ifs.filter((i) => SHOWN.test(i.name)))
      t.push([kind, name, node, ns, i.name, i.addresses.join(' ') || '-', i.mac, String(i.mtu)]);
  };
  for (const n of view.nodes) rows('node', n.name, n.name, n.namespace, n.interfaces);
  for (const p of view.pods) rows('pod', p.name, p.node, p.namespace, p.interfaces);
  const gw = view.underlay.interfaces.filter((i) => i.kind === 'bridge');
  const lines = [head, t.toString()];
  if (gw.length)
    lines.push(`underlay (namespace ${view.underlay.namespace}): ${gw.map((g) => `${g.name} ${g.addresses.join(' ')}`).join(', ')}`);
  if (view.missing.length) lines.push(pc.red(`missing namespaces: ${view.missing.join(', ')}`));
  if (view.bgp?.length) lines.push(renderBgp(view.bgp));
  if (view.policies?.length) lines.push(renderPolicies(view.policies));
  return lines.join('\n');
}

/** Calico's bgp mode: one row per session, as each node's BIRD reports it. */
function renderBgp(nodes: NonNullable<LabView['bgp']>): string {
  const t = new Table({
    head: ['node', 'peer', 'BIRD protocol', 'state', 'routes received'],
    style: { head: [], border: [] },
    chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
  });
  for (const n of nodes) {
    if (!n.running) t.push([n.node, '', '', pc.red('BIRD not running'), '']);
    for (const s of n.running ? n.sessions : []) {
      const state = s.info === 'Established' ? pc.green(s.info) : pc.red(`${s.state} ${s.info}`.trim() || 'no session');
      t.push([n.node, `${s.peer} ${s.address}`, s.protocol, state, s.received === undefined ? '' : String(s.received)]);
    }
  }
  return `BGP (BIRD, iBGP full mesh)\n${t.toString()}`;
}

/** NetworkPolicies: the ones isolating each pod per direction ('-': not isolated, all traffic passes). */
function renderPolicies(pods: NonNullable<LabView['policies']>): string {
  const t = new Table({
    head: ['pod', 'node', 'ingress isolated by', 'egress isolated by', 'in the kernel'],
    style: { head: [], border: [] },
    chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
  });
  for (const p of pods)
    t.push([p.pod, p.node, p.ingress.join(', ') || '-', p.egress.join(', ') || '-', p.installed ? pc.green('yes') : pc.red('missing')]);
  return `NetworkPolicies (table ip kube-network-policies on each node)\n${t.toString()}`;
}

function stateColor(s: LabView['state']): string {
  return s === 'up' ? pc.green(s) : s === 'creating' ? pc.yellow(s) : pc.red(s);
}

/** The services kube-proxy's rules implement, one line per service port with its endpoints. */
export function renderServices(model: ProxyModel): string {
  if (!model.services.length) return '';
  // LoadBalancer and external IPs: a column only when some service has them
  const external = (sp: ProxyModel['services'][number]) =>
    [
      ...(sp.loadBalancerIPs ?? []).map((ip) => `LB ${ip}:${sp.port}${sp.sourceRanges ? ` from ${sp.sourceRanges.join(', ')}` : ''}`),
      ...(sp.externalIPs ?? []).map((ip) => `external ${ip}:${sp.port}`),
      ...(sp.healthCheckNodePort !== undefined ? [`health check :${sp.healthCheckNodePort}`] : []),
    ].join('\n');
  const withExternal = model.services.some((sp) => external(sp) !== '');
  const t = new Table({
    head: ['service', 'type', 'cluster IP', 'node port', ...(withExternal ? ['external'] : []), 'endpoints'],
    style: { head: [], border: [] },
  });
  for (const sp of model.services)
    t.push([
      sp.id,
      sp.type,
      `${sp.clusterIP}:${sp.port}/${sp.protocol}`,
      sp.nodePort !== undefined ? String(sp.nodePort) : '',
      ...(withExternal ? [external(sp)] : []),
      sp.endpoints.length ? sp.endpoints.map((e) => `${e.pod} ${e.ip}:${e.port}`).join('\n') : pc.yellow('none (rejected)'),
    ]);
  return `kube-proxy ${model.mode} mode, masquerade mark 0x${model.mark.toString(16)}\n${t.toString()}`;
}

import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { LabError } from '../errors';
import { probeIpip, probeIpvs } from '../runtime/kernel-features';
import type { Topology } from '../topology/types';

// What the netns runtime needs from the machine, checked before anything is created.

/** tool → Debian package that provides it */
export const NETNS_TOOLS: Record<string, string> = {
  ip: 'iproute2',
  bridge: 'iproute2',
  nsenter: 'util-linux',
  sysctl: 'procps',
};

export function which(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const p = join(dir, cmd);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return undefined;
}

/** The tools a topology needs beyond the runtime's own: its proxy mode, rule files, pod servers. */
export function toolsFor(topo: Topology): Record<string, string> {
  const tools: Record<string, string> = { ...NETNS_TOOLS };
  const need = (tool: string) => (tools[tool] = RULE_TOOLS[tool]!);
  if (topo.proxy.mode === 'iptables') need('iptables-restore');
  if (topo.proxy.mode === 'nftables') need('nft');
  if (topo.proxy.mode === 'ipvs') ['iptables-restore', 'ipset', 'ipvsadm'].forEach(need);
  for (const r of topo.proxy.rules) need(r.tool);
  if (topo.pods.length) need('socat');
  if (topo.cluster.backend === 'calico-bgp') ['bird', 'birdc'].forEach(need);
  if (topo.cluster.dns) need('dnsmasq');
  return tools;
}

const RULE_TOOLS: Record<string, string> = {
  'iptables-restore': 'iptables',
  nft: 'nftables',
  ipset: 'ipset',
  ipvsadm: 'ipvsadm',
  socat: 'socat',
  bird: 'bird2',
  birdc: 'bird2',
  dnsmasq: 'dnsmasq-base',
};

/** Everything `up` needs from this machine for this topology, checked before anything is created. */
export async function checkTopologyEnvironment(topo: Topology): Promise<void> {
  // docker: the rule tools and pod servers (dnsmasq and dig of the cluster DNS too) are the node
  // image's; this host only holds the underlay. Each host's engine is checked where the runtime
  // connects to it (an engine that does not answer is exit 2 before anything is made), so a lab
  // on other machines only needs theirs.
  checkEnvironment(topo.runtime === 'docker' ? NETNS_TOOLS : toolsFor(topo));
  if (topo.cluster.backend === 'calico-ipip') {
    const ipip = await probeIpip();
    if (!ipip.ok)
      throw new LabError(
        `calico.mode ipip (${topo.source}) needs IP-in-IP in the kernel, and this kernel has none: ${ipip.missing} is not set.\n${ipip.detail}\n${ipip.hint}`,
        2,
      );
  }
  if (topo.proxy.mode === 'ipvs') {
    const ipvs = await probeIpvs();
    if (!ipvs.ok)
      throw new LabError(
        `proxy.mode ipvs (${topo.source}) needs IPVS in the kernel, and this kernel has none: ${ipvs.missing} is not set.\n${ipvs.detail}\n${ipvs.hint}`,
        2,
      );
  }
}

export function checkEnvironment(tools: Record<string, string> = NETNS_TOOLS): void {
  const problems: string[] = [];
  if (process.getuid && process.getuid() !== 0)
    problems.push('the netns runtime needs root (it creates network namespaces): run it as root, e.g. with sudo');
  const missing = Object.entries(tools).filter(([t]) => !which(t));
  if (missing.length) {
    const pkgs = [...new Set(missing.map(([, p]) => p))];
    problems.push(`missing tools: ${missing.map(([t, p]) => `${t} (${p})`).join(', ')}; install with: apt-get install ${pkgs.join(' ')}`);
  }
  if (problems.length) throw new LabError(problems.join('\n'), 2);
}

import { isDeepStrictEqual } from 'node:util';
import { nodeNamespace } from '../model/kernel-names';
import type { Phase, Step, Tool } from '../plan/types';
import type { RuleFileSpec, Topology } from '../topology/types';
import { iptablesRules, localhostNodePortsOn, nodePortTargets, ROUTE_LOCALNET } from './iptables';
import { ipvsDeviceCreate, ipvsRules } from './ipvs';
import { lbRouteStep } from './lb-routes';
import { modelOf } from '../model/lab';
import { type ProxyModel, type ProxyNode, proxyNodes } from '../model/proxy';
import type { IptablesOptions } from './iptables';
import { parseTables } from './iptables-parse';
import { nftablesRules } from './nftables';
import { deltaRulesForNodes } from './resync';

// kube-proxy's rules as plan phases, per node. Pure, like the rest of the plan.
//   ipsets  (ipvs mode) the kube-ipvs0 device and the ipsets: iptables rules match on the sets
//   proxy   one iptables-restore / nft -f / ipvsadm -R per node; each replaces what it owns
//           atomically (iptables mode: kube-proxy's own chains, restored with --noflush as
//           kube-proxy does; ipvs mode: whole filter+nat tables; the `kube-proxy` nft table)
//   rules   the user's own files with mode 'append', one phase per file, in file order
// A user file with mode 'replace' takes the place of the generated batch of the same tool.

/** One node's generated batches, keyed by the tool that installs them. */
export type NodeRules = Partial<Record<Tool, string[]>>;

const lines = (text: string) => text.replace(/\n+$/, '').split('\n');

/**
 * The generated rules, as a function of the node. What does not depend on the node is made
 * once here, not once per node: a 1,000-service iptables text takes ~80 ms to generate, and a
 * 100-node lab would otherwise pay it 100 times. (nftables: the header comment and the
 * nodeport-ips set name the node; ipvs: node ports are virtual services on the node's own address.)
 */
/**
 * What kube-proxy's IPVS proxier sets in every node: vs.conntrack=1, without which IPVS keeps no
 * netfilter conntrack entry and the masquerade of node → cluster IP traffic never happens (seen
 * in the VM: connections from a node timed out until it was set); the expire settings it also sets.
 */
export const IPVS_SYSCTLS = ['net.ipv4.vs.conntrack=1', 'net.ipv4.vs.expire_nodest_conn=1', 'net.ipv4.vs.expire_quiescent_template=1'];

export function rulesForNodes(
  model: ProxyModel,
  opts: IptablesOptions = {},
  held?: Record<string, string>,
): (node: ProxyNode) => NodeRules {
  switch (model.mode) {
    case 'none':
      return () => ({});
    case 'iptables': {
      // kube-proxy sets route_localnet for localhostNodePorts (and never clears it)
      const sysctl = localhostNodePortsOn(model) ? { sysctl: [ROUTE_LOCALNET] } : {};
      // per node when node ports bind to its addresses, a Local traffic policy picks its own endpoints,
      // or a source range holds the node's IP (KUBE-FW lets the node's own LoadBalancer IP in)
      const perNode =
        nodePortTargets(model) !== 'all' || model.services.some((sp) => sp.externalLocal || sp.internalLocal || sp.sourceRanges);
      if (perNode || held)
        return (node) => {
          const h = held?.[node.name];
          return {
            ...sysctl,
            'iptables-restore': lines(iptablesRules(model, node, { ...opts, ...(h !== undefined ? { held: parseTables(h) } : {}) })),
          };
        };
      const text = lines(iptablesRules(model, undefined, opts));
      return () => ({ ...sysctl, 'iptables-restore': text });
    }
    case 'nftables':
      return (node) => ({ nft: lines(nftablesRules(model, node)) });
    case 'ipvs':
      return (node) => {
        const r = ipvsRules(model, node);
        return {
          sysctl: IPVS_SYSCTLS,
          ip: r.link,
          ipset: lines(r.ipset),
          'iptables-restore': lines(r.iptables),
          ipvsadm: lines(r.ipvsadm),
        };
      };
  }
}

const appliesTo = (r: RuleFileSpec, node: string) => r.nodes === '*' || r.nodes.includes(node);
const FIRST_PHASE: Partial<Record<Tool, 'ipsets'>> = { ip: 'ipsets', ipset: 'ipsets', sysctl: 'ipsets' };

export interface ProxyPlanOptions {
  /** re-sync of a running lab: devices the first install created exist already */
  resync?: boolean;
  /** the topology the running lab was synced with: iptables chains of services gone are deleted */
  previous?: Topology;
  /** iptables mode: each node's iptables-save now (by node name), as kube-proxy reads it on a sync */
  held?: Record<string, string>;
  /**
   * with `previous`: write only what changed since `previous` was synced (resync.ts), not every
   * rule; a user's file in mode 'replace' makes it a full re-sync (its batch is re-applied whole)
   */
  incremental?: boolean;
  /** kube-ipvs0's link type: kube-proxy's dummy where the kernel has it, else ifb (this machine) */
  ipvsDevice?: 'dummy' | 'ifb';
}

export function planProxy(topo: Topology, opts: ProxyPlanOptions = {}): Phase[] {
  const model = modelOf(topo).proxy;
  const incremental = opts.incremental === true && opts.previous !== undefined && !topo.proxy.rules.some((r) => r.mode === 'replace');
  const rulesFor: (n: ProxyNode) => NodeRules =
    incremental && opts.previous
      ? deltaRulesForNodes(modelOf(opts.previous).proxy, model)
      : rulesForNodes(
          model,
          {
            ...(opts.resync ? { resync: true } : {}),
            ...(opts.previous ? { previous: modelOf(opts.previous).proxy } : {}),
          },
          opts.held,
        );
  const ipsets: Step[] = [];
  const proxy: Step[] = [];
  for (const n of proxyNodes(topo)) {
    const ns = nodeNamespace(topo.name, n.name);
    const rules = rulesFor(n);
    // kube-ipvs0 cannot be created idempotently in a batch (`link replace` is refused): only once
    if (rules.ip && !opts.resync) rules.ip = [...ipvsDeviceCreate(opts.ipvsDevice), ...rules.ip];
    const origins: Partial<Record<Tool, Step['origin']>> = {};
    topo.proxy.rules.forEach((r, i) => {
      if (r.mode !== 'replace' || !appliesTo(r, n.name)) return;
      rules[r.tool] = lines(r.text);
      origins[r.tool] = { file: r.file, path: `proxy.rules[${i}]` };
    });
    for (const [tool, text] of Object.entries(rules) as [Tool, string[]][]) {
      const origin = origins[tool];
      // iptables mode's own batch adds to the tables (--noflush), as kube-proxy's does
      const append = tool === 'iptables-restore' && model.mode === 'iptables' && !origin;
      (FIRST_PHASE[tool] === 'ipsets' && model.mode === 'ipvs' ? ipsets : proxy).push({
        ns,
        tool,
        lines: text,
        ...(append ? { append } : {}),
        ...(origin ? { origin } : {}),
      });
    }
  }
  // @lab's routes to the LoadBalancer and external IPs (lb-routes.ts), after the rules that take them
  const lb = lbRouteStep(topo, opts.previous);
  if (lb) proxy.push(lb);
  const phases: Phase[] = [];
  if (ipsets.length) phases.push({ name: 'ipsets', steps: ipsets });
  if (proxy.length) phases.push({ name: 'proxy', steps: proxy });
  // Re-sync in iptables mode: the tables are not flushed (--noflush), so an unchanged file
  // appended the last time is still there; applying it again would double its rules.
  // (An incremental re-sync flushes nothing outside the chains that changed: in any mode.)
  const kept = (r: RuleFileSpec) =>
    ((model.mode === 'iptables' && r.tool === 'iptables-restore') || incremental) &&
    opts.previous?.proxy.rules.some(
      (o) => o.mode === 'append' && o.tool === r.tool && o.text === r.text && isDeepStrictEqual(o.nodes, r.nodes),
    );
  topo.proxy.rules.forEach((r, i) => {
    if (r.mode !== 'append' || kept(r)) return;
    const origin = { file: r.file, path: `proxy.rules[${i}]` };
    const steps = topo.nodes
      .filter((n) => appliesTo(r, n.name))
      .map((n): Step => ({ ns: nodeNamespace(topo.name, n.name), tool: r.tool, lines: lines(r.text), append: true, origin }));
    if (steps.length) phases.push({ name: 'rules', steps });
  });
  return phases;
}

import type { ProbeCompileContext, ProbeTarget } from '../types';

/**
 * A probe sent from a node, a pod or `@lab` (the lab's own namespace: a client outside the
 * cluster, on the underlay), as `lab connect @lab …` and `trace` from `@lab` take it.
 */
export function fromOf(spec: { from: string }, ctx: ProbeCompileContext): string | undefined {
  const ns = ctx.names.namespaceOf(spec.from);
  if (!ns) return (ctx.fail(['from'], `no node or pod '${spec.from}' in topology ${ctx.names.topo.name} (or @lab)`), undefined);
  return ns;
}

/** A probe from a node or pod to an address or a name of the lab (ping, traceroute). */
export function fromAndTo(spec: { from: string; to: string }, ctx: ProbeCompileContext): ProbeTarget | undefined {
  const ns = fromOf(spec, ctx);
  if (!ns) return undefined;
  const to = ctx.names.ip(spec.to);
  if (!to)
    return (ctx.fail(['to'], `'${spec.to}' is not an address or a name of this lab (e.g. web-2, node2.flannel.1, service:web)`), undefined);
  return { from: spec.from, ns, to };
}

import { z } from 'zod';
import { connect, type ConnectResult } from '../../../probe/connect';
import { checkResolved, type NamedTarget, nameTarget, resolveInPod } from '../../../probe/resolve';
import type { ProbeKind, ProbeTarget } from '../types';
import { fromOf } from './from-to';

const schema = z.strictObject({
  from: z.string(),
  /** ip:port, <pod>:port, service:<name>[:<port>], nodeport:<service>[:<port>]@<node>, <DNS name>:port (resolved in the pod) */
  to: z.string(),
  count: z.number().int().min(1).max(100_000).default(1),
  protocol: z.enum(['TCP', 'UDP']).optional(),
  timeout: z.number().int().min(1).max(60).default(2),
});
export type ConnectProbe = z.infer<typeof schema>;

/** Connections (TCP or UDP) to an address, a pod, a service or a node port; each says which pod answered. */
export const connectProbe: ProbeKind<'connect', ConnectProbe, ProbeTarget & { target: NamedTarget }, ConnectResult> = {
  kind: 'connect',
  schema,
  compile(spec, ctx) {
    const ns = fromOf(spec, ctx);
    if (!ns) return undefined;
    const target = nameTarget(ctx.names, spec.from, spec.to, spec.protocol) ?? ctx.names.target(spec.to, spec.protocol);
    if (typeof target === 'string') return (ctx.fail(['to'], target), undefined);
    return { from: spec.from, ns, to: `${target.ip}:${target.port}`, target };
  },
  async run(p, { rt, signal }) {
    const t = p.target;
    // a name: the pod's own resolver first (real queries), then the address it gave
    const ip = t.dns ? checkResolved(t, await resolveInPod(rt, p.ns, t.dns.name, signal)) : t.ip;
    const r = await connect(rt, p.ns, ip, t.port, {
      count: p.spec.count,
      protocol: t.protocol,
      timeoutS: p.spec.timeout,
      ...(signal ? { signal } : {}),
    });
    const lines = r.attempts.map((a, i) => `${i + 1}\t${a.ok ? `pod=${a.pod} peer=${a.peer} local=${a.local}` : `failed: ${a.error}`}`);
    if (t.dns) lines.unshift(`# ${t.dns.name} → ${ip} (getent ahostsv4 in the pod)`);
    return {
      argv: ['connect-loop.sh', t.protocol.toLowerCase(), ip, String(t.port), String(p.spec.count)],
      output: lines.join('\n') + '\n',
      result: r,
    };
  },
};

import { z } from 'zod';
import { seconds } from '../fields';
import type { ProbeKind, ProbeTarget } from '../types';

/** A command run in a node, a pod or the lab namespace, its output checked by `output` expectations
 *  (what an article shows with ip route, iptables -L, ipset list, ipvsadm -Ln, bridge fdb...). */
const schema = z.strictObject({
  on: z.string(),
  // YAML reads `-4` or `80` as numbers: an argument is text either way
  run: z.array(z.union([z.string(), z.number().transform(String)])).min(1),
  timeout: seconds.default(30),
});
export type CommandProbe = z.infer<typeof schema>;
export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export const commandProbe: ProbeKind<'command', CommandProbe, ProbeTarget, CommandResult> = {
  kind: 'command',
  schema,
  compile(spec, ctx) {
    const ns = ctx.names.namespaceOf(spec.on);
    if (!ns) return (ctx.fail(['on'], `no node or pod '${spec.on}' in topology ${ctx.names.topo.name} (or @lab)`), undefined);
    return { from: spec.on, ns, to: spec.run.join(' ') };
  },
  async run(p, { rt, signal }) {
    const r = await rt.run(p.ns, p.spec.run, { check: false, timeoutMs: p.spec.timeout * 1000, ...(signal ? { signal } : {}) });
    return {
      argv: p.spec.run,
      output: r.stdout + (r.stderr ? `\n--- stderr\n${r.stderr}` : ''),
      result: { code: r.code, stdout: r.stdout, stderr: r.stderr },
    };
  },
};

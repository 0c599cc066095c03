import { join } from 'node:path';
import { z } from 'zod';
import { dnsServers } from '../../../pods/dns';
import { dnsLookup, type DnsLookup } from '../../../probe/dns';
import { seconds } from '../fields';
import type { ProbeKind, ProbeTarget } from '../types';
import { fromOf } from './from-to';

const schema = z.strictObject({
  from: z.string(),
  name: z.string().min(1),
  type: z.enum(['A', 'AAAA', 'SRV', 'PTR', 'TXT', 'CNAME', 'NS', 'SOA', 'ANY']).default('A'),
  /** an address or a name of the lab (kube-dns-1, service:kube-dns); left out: the pod's resolv.conf */
  server: z.string().optional(),
  tcp: z.boolean().default(false),
  search: z.boolean().default(false),
  timeout: seconds.default(2),
});
export type DnsProbe = z.infer<typeof schema>;
export type DnsOutcome = Omit<DnsLookup, 'argv' | 'output'>;

/** One dig from a pod or node; with the lab's cluster DNS, its server pods are watched to tell which answered. */
export const dnsProbe: ProbeKind<'dns', DnsProbe, ProbeTarget & { server?: string }, DnsOutcome> = {
  kind: 'dns',
  schema,
  compile(spec, ctx) {
    const ns = fromOf(spec, ctx);
    if (!ns) return undefined;
    let server: string | undefined;
    if (spec.server !== undefined) {
      server = ctx.names.ip(spec.server);
      if (!server) return (ctx.fail(['server'], `'${spec.server}' is not an address or a name of this lab`), undefined);
    }
    return { from: spec.from, ns, to: `${spec.name} ${spec.type}${server ? ` @${server}` : ''}`, ...(server ? { server } : {}) };
  },
  async run(p, { rt, names, dir, slug }) {
    const watch = dnsServers(names.topo).map((s) => ({ pod: s.pod, ns: s.ns }));
    const { argv, output, ...result } = await dnsLookup(
      rt,
      p.ns,
      {
        name: p.spec.name,
        type: p.spec.type,
        tcp: p.spec.tcp,
        search: p.spec.search,
        timeoutS: p.spec.timeout,
        ...(p.server ? { server: p.server } : {}),
      },
      watch,
      join(dir, slug),
    );
    return { argv, output, result };
  },
};

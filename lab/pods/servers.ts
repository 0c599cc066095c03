import { podNamespace } from '../model/kernel-names';
import { modelOf } from '../model/lab';
import type { Topology } from '../topology/types';
import { inRepo } from '../paths';
import { isDnsServer } from '../topology/dns';

// Every pod that declares a port, or is a service endpoint, gets a listener that answers with
// its own name and the peer it saw (reply.sh under socat), so a client can tell which endpoint
// served it and whether its source address was rewritten on the way.

export const REPLY_SCRIPT = inRepo('lab', 'pods', 'reply.sh');
export const CONNECT_LOOP_SCRIPT = inRepo('lab', 'pods', 'connect-loop.sh');
export const REACH_SCRIPT = inRepo('lab', 'pods', 'reach.sh');

export interface Listener {
  pod: string;
  node: string;
  ns: string;
  port: number;
  protocol: 'TCP' | 'UDP';
}

/** What a long-running process in a namespace is: argv, environment, and when it is ready. */
export interface Daemon {
  ns: string;
  argv: string[];
  env: Record<string, string>;
  /** ready once this port is bound in the namespace */
  ready: { port: number; protocol: 'TCP' | 'UDP' };
}

export function planListeners(topo: Topology): Listener[] {
  const want = new Map<string, Listener>();
  const pods = new Map(topo.pods.map((p) => [p.name, p]));
  const add = (pod: string, port: number, protocol: 'TCP' | 'UDP') => {
    if (isDnsServer(topo, pod)) return; // the cluster DNS's pods run dnsmasq on their port 53 (lab/pods/dns.ts)
    const p = pods.get(pod);
    if (!p) return; // an EndpointSlice's address that is no pod of the lab (the API server on a node's address)
    want.set(`${pod}/${protocol}/${port}`, { pod, node: p.node, ns: podNamespace(topo.name, p.node, pod), port, protocol });
  };
  for (const p of topo.pods) for (const port of p.ports) add(p.name, port.port, port.protocol);
  for (const sp of modelOf(topo).proxy.services) for (const ep of sp.endpoints) add(ep.pod, ep.port, sp.protocol);
  return [...want.values()].sort((a, b) => a.ns.localeCompare(b.ns) || a.port - b.port || a.protocol.localeCompare(b.protocol));
}

/** socat parses its address arguments: a path with separators in it would be misread. */
function socatSafe(path: string): string {
  if (!/^[\w./-]+$/.test(path)) throw new Error(`the pod server script's path cannot be given to socat (it has spaces or ,:!): ${path}`);
  return path;
}

export function listenerDaemon(l: Listener): Daemon {
  const address = l.protocol === 'TCP' ? `TCP-LISTEN:${l.port},reuseaddr,fork` : `UDP-RECVFROM:${l.port},fork,ip-pktinfo`;
  return {
    ns: l.ns,
    // -t 5: once the client has half-closed, wait for reply.sh's answer up to 5 s, not socat's
    // default 0.5 s — under load (seen in the VM) reply.sh could start later and the client got
    // a FIN without its answer. socat still closes at once when reply.sh exits.
    // -T 3 (UDP): datagrams from several clients at once can fork a child whose datagram a
    // sibling took; it would wait forever holding the port (seen with 9 clients probing one pod
    // at once) — an idle child now ends after 3 s.
    argv: ['socat', '-t', '5', ...(l.protocol === 'UDP' ? ['-T', '3'] : []), address, `EXEC:${socatSafe(REPLY_SCRIPT)}`],
    env: { KDL_POD: l.pod, KDL_NODE: l.node, KDL_PORT: String(l.port), KDL_PROTO: l.protocol.toLowerCase() },
    ready: { port: l.port, protocol: l.protocol },
  };
}

import { nodeNamespace } from '../model/kernel-names';
import { modelOf } from '../model/lab';
import { inRepo } from '../paths';
import type { Topology } from '../topology/types';
import type { Daemon } from './servers';

// kube-proxy's health check server (pkg/proxy/healthcheck): for each LoadBalancer service with
// externalTrafficPolicy Local, every node answers HTTP on the service's healthCheckNodePort with
// the number of its local ready endpoints: 200 when there are any, 503 otherwise; a cloud load
// balancer sends traffic only to nodes answering 200. Here one socat listener per node and
// service runs healthcheck.sh, which reads its state file per request. Planned here (pure);
// started by `up`, re-fed (and stopped or started per port) by `apply`, stopped by `down` with the
// node's namespace (lab/ops/healthcheck.ts).

export const HEALTHCHECK_SCRIPT = inRepo('lab', 'pods', 'healthcheck.sh');

export interface HealthCheck {
  node: string;
  /** the node's namespace, where the listener runs */
  ns: string;
  port: number;
  namespace: string;
  service: string;
  /** kube-proxy's LocalReadyEndpoints: distinct ready endpoint IPs on this node, over all the service's ports */
  localEndpoints: number;
}

export function planHealthChecks(topo: Topology): HealthCheck[] {
  const ports = modelOf(topo).proxy.services;
  const out: HealthCheck[] = [];
  for (const svc of topo.services) {
    if (svc.healthCheckNodePort === undefined) continue;
    const mine = ports.filter((sp) => sp.namespace === svc.namespace && sp.service === svc.name);
    for (const n of topo.nodes) {
      // terminating endpoints may still serve, but the health check fails without a ready one (as kube-proxy)
      const ips = new Set(mine.flatMap((sp) => sp.allEndpoints.filter((e) => e.node === n.name && e.ready).map((e) => e.ip)));
      out.push({
        node: n.name,
        ns: nodeNamespace(topo.name, n.name),
        port: svc.healthCheckNodePort,
        namespace: svc.namespace,
        service: svc.name,
        localEndpoints: ips.size,
      });
    }
  }
  return out;
}

/** The state file's text: what healthcheck.sh answers with. */
export const healthCheckState = (h: HealthCheck) => `${h.namespace} ${h.service} ${h.localEndpoints}\n`;

export function healthCheckDaemon(h: HealthCheck, file: string): Daemon {
  if (!/^[\w./-]+$/.test(HEALTHCHECK_SCRIPT))
    throw new Error(`the health check script's path cannot be given to socat: ${HEALTHCHECK_SCRIPT}`);
  return {
    ns: h.ns,
    argv: ['socat', '-t', '5', `TCP-LISTEN:${h.port},reuseaddr,fork`, `EXEC:${HEALTHCHECK_SCRIPT}`],
    env: { KDL_HC_FILE: file },
    ready: { port: h.port, protocol: 'TCP' },
  };
}

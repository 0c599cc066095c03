import { inLab } from '../model/kernel-names';
import type { Runtime } from '../runtime/runtime';
import { removeRecord } from '../state/store';
import { checkLabName } from '../topology/schema';
import { loadTopology } from '../topology/resolve';
import { type RuntimeHooks, runtimeOfLab } from '../runtime/select';
import { removeBirdFiles } from './bgp';
import { removeDnsFiles } from './dns';
import { removeHealthCheckFiles } from './healthcheck';
import { labNames, selectLab } from './select';

/**
 * Removes everything of a lab, found by its prefix in the kernel (no state record needed):
 * processes inside its namespaces, then the namespaces, which takes every link, bridge,
 * VXLAN device, route and rule inside them along. Idempotent. Returns how many were removed.
 */
export async function down(rt: Runtime, lab: string): Promise<number> {
  // the name is a namespace prefix: `kind.kind-worker` would take one node of lab `kind` away
  checkLabName(lab);
  const mine = (await rt.listNamespaces()).filter((ns) => inLab(ns, lab));
  // Pods first, then nodes, then the lab namespace: veths die with either end anyway.
  mine.sort((a, b) => b.split('.').length - a.split('.').length);
  await rt.deleteNamespaces(mine);
  removeBirdFiles(lab); // its BIRDs died with the namespaces' processes
  removeDnsFiles(lab); // so did its dnsmasqs
  removeHealthCheckFiles(lab); // and its health check servers
  removeRecord(lab);
  return mine.length;
}

export interface DownRequest {
  name?: string;
  /** take the lab name from this topology file */
  file?: string;
  all?: boolean;
  hooks?: RuntimeHooks;
}

/**
 * `lab down`: the lab meant (or every lab), each removed; `onDown` hears of each as it goes. A named
 * lab that is not there is nothing to remove (none returned): down stays idempotent, as kind's is.
 */
export async function downLabs(
  req: DownRequest,
  onDown: (lab: string, namespaces: number) => void = () => undefined,
): Promise<{ lab: string; namespaces: number }[]> {
  const name = req.name ?? (req.file ? loadTopology(req.file).name : undefined);
  const found = await labNames();
  const selected = req.all ? found : [await selectLab(name, 'down')];
  const labs = selected.filter((x): x is string => x !== undefined && found.includes(x));
  const done: { lab: string; namespaces: number }[] = [];
  for (const lab of labs) {
    const namespaces = await down(await runtimeOfLab(lab, req.hooks), lab);
    done.push({ lab, namespaces });
    onDown(lab, namespaces);
  }
  return done;
}

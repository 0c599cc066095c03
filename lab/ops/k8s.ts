import { InputError } from '../errors';
import { type GetRequest, getTable, noResourcesLine, notFoundLines, outputOf, resourceOf, selectObjects } from '../k8s/get';
import { type K8sObject, labList, labObjects, type ListObject, renderObjects } from '../k8s/objects';
import type { Overrides } from '../topology/resolve';
import { type LabSource, labSource } from './lab-source';

// `lab export` and `lab get`: the lab's model as Kubernetes objects (lab/k8s/), of a lab that is
// up (its state record) or of a topology file.

interface Source {
  name?: string;
  file: string;
  overrides?: Overrides;
}

/** `lab export`: every object of the lab, as one List. */
export function exportLab(req: Source & { output?: string }): string {
  const format = req.output ?? 'yaml';
  if (format !== 'yaml' && format !== 'json') throw InputError.of('--output', '', `'${format}': export prints yaml or json`);
  return renderObjects(list(req), format);
}

function list(req: Source): ListObject {
  const { topo, createdAt } = labSource(req);
  return labList(labObjects(topo, createdAt));
}

export interface GetResult {
  stdout: string;
  /** kubectl's messages (nothing found, a name not found) */
  stderr: string[];
  /** 1 when a name given is not there, as kubectl exits */
  code: number;
}

/** `lab get <resource> [names] [-n NS | -A] [-o wide|yaml|json]`. */
export function getObjects(
  req: Source & { resource: string; names?: string[]; namespace?: string; allNamespaces?: boolean; output?: string },
  now = Date.now(),
  source: LabSource = labSource(req),
): GetResult {
  const resource = resourceOf(req.resource);
  const output = outputOf(req.output);
  const { topo, createdAt } = source;
  const g: GetRequest = {
    resource,
    namespace: req.namespace ?? 'default',
    allNamespaces: req.allNamespaces === true,
    names: req.names ?? [],
  };
  const { found, missing } = selectObjects(labObjects(topo, createdAt), g);
  const stderr = notFoundLines(g, missing);
  const code = missing.length ? 1 : 0;
  if (output === 'yaml' || output === 'json') {
    // one object asked for by name: that object; otherwise a List, as kubectl prints them
    const one = g.names.length === 1 && found.length === 1 ? found[0]! : undefined;
    const body: K8sObject | ListObject = one ?? { apiVersion: 'v1', kind: 'List', items: found, metadata: { resourceVersion: '' } };
    return { stdout: missing.length && !found.length ? '' : renderObjects(body, output), stderr, code };
  }
  if (!found.length) return { stdout: '', stderr: missing.length ? stderr : [noResourcesLine(g)], code };
  return { stdout: getTable(resource, found, { wide: output === 'wide', allNamespaces: g.allNamespaces, now }), stderr, code };
}

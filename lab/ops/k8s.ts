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
  // `po,svc` as kubectl takes it: each type's table in turn, names as <type>/<name>
  const resources = [...new Set(req.resource.split(',').map(resourceOf))];
  const output = outputOf(req.output);
  const names = req.names ?? [];
  if (resources.length > 1 && names.length)
    throw InputError.of('names', '', 'names go with one resource type (kubectl get pods a b), not with several (po,svc)');
  const objects = labObjects(source.topo, source.createdAt);
  const base = { namespace: req.namespace ?? 'default', allNamespaces: req.allNamespaces === true, names };
  const each = resources.map((resource) => {
    const g: GetRequest = { ...base, resource };
    return { g, ...selectObjects(objects, g) };
  });
  const stderr = each.flatMap((e) => notFoundLines(e.g, e.missing));
  const code = stderr.length ? 1 : 0;
  const found = each.flatMap((e) => e.found);
  if (output === 'yaml' || output === 'json') {
    // one object asked for by name: that object; otherwise a List, as kubectl prints them
    const one = names.length === 1 && found.length === 1 ? found[0]! : undefined;
    const body: K8sObject | ListObject = one ?? { apiVersion: 'v1', kind: 'List', items: found, metadata: { resourceVersion: '' } };
    return { stdout: stderr.length && !found.length ? '' : renderObjects(body, output), stderr, code };
  }
  if (!found.length) return { stdout: '', stderr: stderr.length ? stderr : [noResourcesLine(each[0]!.g)], code };
  const tables = each
    .filter((e) => e.found.length)
    .map((e) =>
      getTable(e.g.resource, e.found, { wide: output === 'wide', allNamespaces: base.allNamespaces, now, typed: resources.length > 1 }),
    );
  return { stdout: tables.join('\n'), stderr, code };
}

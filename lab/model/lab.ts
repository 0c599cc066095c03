import type { Topology } from '../topology/types';
import { type ProxyModel, proxyModel } from './proxy';

// The resolved lab: a topology and what follows from it (services → endpoints, kube-proxy's
// hashed names). Every consumer — planners, pod servers, names, the graph, status, the bench —
// takes it from here, so it is computed once per loaded topology, in this one place.

export interface LabModel {
  readonly topo: Topology;
  readonly proxy: ProxyModel;
}

const made = new WeakMap<Topology, LabModel>();

/** The model of a topology, made on first use and kept with the topology object (which is never mutated). */
export function modelOf(topo: Topology): LabModel {
  let m = made.get(topo);
  if (!m) made.set(topo, (m = { topo, proxy: proxyModel(topo) }));
  return m;
}

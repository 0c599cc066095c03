import type { Topology } from '../../topology/types';
import { calico } from './calico';
import { flannel } from './flannel';
import type { CniKind } from './types';

const KINDS: Record<Topology['cluster']['cni'], CniKind> = { flannel, calico };

/** The CNI kind that plans a topology's pod network (cluster.cni). */
export function cniKind(topo: Topology): CniKind {
  return KINDS[topo.cluster.cni];
}

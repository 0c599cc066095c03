import type { Topology } from '../../topology/types';
import { flannel } from './flannel';
import type { CniKind } from './types';

/** The CNI kind that plans a topology's pod network. */
export function cniKind(_topo: Topology): CniKind {
  return flannel;
}

// Cluster address plan for N nodes × P pods: the underlay segments, podCIDR and node subnet
// prefix a topology needs so that every node and pod gets an address. Pure; used by the bench
// (and by anyone writing a large topology) — the schema's defaults stop at ~250 nodes.
import { formatCidr, formatIp, parseIp, size, subnet, type Cidr } from './ipv4';

/** A Linux bridge takes at most 1023 ports (BR_MAX_PORTS 1024, port 0 reserved): one per node. */
export const BRIDGE_MAX_PORTS = 1023;

export interface ClusterSizing {
  /** underlay segments, each a bridge in the lab namespace (gateway .1) */
  underlay: string[];
  podCIDR: string;
  nodeSubnetPrefix: number;
  serviceCIDR: string;
  /** with several segments: node i's underlay address (nodes are only auto-allocated in the first) */
  nodeIps?: string[];
}

const DEFAULT_UNDERLAY = '192.168.205.0/24';
const DEFAULT_POD_CIDR = '10.42.0.0/16';
const SERVICE_CIDR = '10.43.0.0/16';
/** larger pod networks: 10.64.0.0/10 clear of the service range */
const WIDE_POD_BASE = parseIp('10.64.0.0')!;
const WIDE_POD_MIN_PREFIX = 10;
/** larger underlays: /22s and up inside 172.16.0.0/12 */
const WIDE_UNDERLAY = { base: parseIp('172.16.0.0')!, prefix: 12 };

const bits = (n: number) => Math.ceil(Math.log2(n));

/** The smallest address plan for `nodes` nodes of `podsPerNode` pods; throws when none fits. */
export function sizeCluster(nodes: number, podsPerNode: number): ClusterSizing {
  if (!Number.isInteger(nodes) || nodes < 1) throw new Error(`node count must be a positive integer, not ${nodes}`);
  if (!Number.isInteger(podsPerNode) || podsPerNode < 0)
    throw new Error(`pods per node must be a non-negative integer, not ${podsPerNode}`);

  // A node subnet holds its pods plus network, cni0's gateway .1 and broadcast, and on the first two
  // nodes the cluster DNS's server pod (cluster.dns, on by default); flannel's /24 when it fits.
  const nodeSubnetPrefix = Math.min(24, 32 - bits(podsPerNode + 4));
  if (nodeSubnetPrefix < 16) throw new Error(`${podsPerNode} pods per node need a node subnet larger than /16`);
  const podPrefix = Math.min(16, nodeSubnetPrefix - bits(nodes));
  if (podPrefix < WIDE_POD_MIN_PREFIX)
    throw new Error(
      `${nodes} nodes of /${nodeSubnetPrefix} subnets need a podCIDR of /${podPrefix}, larger than ${formatIp(WIDE_POD_BASE)}/${WIDE_POD_MIN_PREFIX}`,
    );
  const podCIDR = podPrefix === 16 ? DEFAULT_POD_CIDR : formatCidr({ base: WIDE_POD_BASE, prefix: podPrefix });

  // A segment holds its nodes plus network, gateway and broadcast, and one bridge port per node.
  if (nodes <= size(24) - 3) return { underlay: [DEFAULT_UNDERLAY], podCIDR, nodeSubnetPrefix, serviceCIDR: SERVICE_CIDR };
  const perSegmentMax = Math.min(BRIDGE_MAX_PORTS, size(WIDE_UNDERLAY.prefix) - 3);
  const segments = Math.ceil(nodes / perSegmentMax);
  const perSegment = Math.ceil(nodes / segments);
  const segPrefix = 32 - bits(perSegment + 3);
  if (segments * size(segPrefix) > size(WIDE_UNDERLAY.prefix))
    throw new Error(`${nodes} nodes need ${segments} underlay segments of /${segPrefix}, more than ${formatCidr(WIDE_UNDERLAY)} holds`);
  const segs: Cidr[] = Array.from({ length: segments }, (_, i) => subnet(WIDE_UNDERLAY, segPrefix, i));
  const out: ClusterSizing = { underlay: segs.map(formatCidr), podCIDR, nodeSubnetPrefix, serviceCIDR: SERVICE_CIDR };
  // Node i goes to segment ⌊i / perSegment⌋, from .2 on (.1 is the gateway).
  if (segments > 1)
    out.nodeIps = Array.from({ length: nodes }, (_, i) => formatIp(segs[Math.floor(i / perSegment)]!.base + 2 + (i % perSegment)));
  return out;
}

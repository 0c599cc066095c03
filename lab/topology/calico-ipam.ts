import { type Cidr, contains, formatCidr, formatIp, nth, size, subnet } from './ipv4';

// Calico's IPAM, made deterministic: the pool (podCIDR) is cut into blocks of /blockSize; a node
// claims a block (its affinity) and hands out its addresses lowest first, every address of the
// block usable (pods get /32s, so there is no network or broadcast address to skip); a node
// whose blocks are full claims the next free block. Calico starts at a random block; here the
// blocks go out in order: explicitly addressed pods' blocks first, then one block per node in
// node order (as calico-node's tunnel address would claim it), then more as pods need them.

type Path = (string | number)[];

export interface IpamInput {
  pool: Cidr;
  blockSize: number;
  nodes: number;
  /** each pod's node index (undefined: the pod names no node that exists) */
  podNode: (number | undefined)[];
  /** each pod's address when the topology gives one (already checked as an address) */
  podIp: (number | undefined)[];
  /** vxlan.calico needs an address on every node: the first one of its first block */
  tunnels: boolean;
  nodeName: (i: number) => string;
  fail: (path: Path, message: string) => void;
}

export interface IpamResult {
  /** per node, the blocks it owns, in the order claimed */
  blocks: Cidr[][];
  tunnel: (number | undefined)[];
  podIp: (number | undefined)[];
}

export function calicoIpam(a: IpamInput): IpamResult {
  const count = size(a.blockSize) > size(a.pool.prefix) ? 0 : size(a.pool.prefix) / size(a.blockSize);
  const blocks: Cidr[][] = Array.from({ length: a.nodes }, () => []);
  const owner = new Map<number, number>();
  const used = new Set<number>();
  const blockOf = (ip: number) => Math.floor((ip - a.pool.base) / size(a.blockSize));
  const claim = (node: number, b: number) => {
    owner.set(b, node);
    blocks[node]!.push(subnet(a.pool, a.blockSize, b));
  };
  let next = 0;
  const claimNext = (node: number): boolean => {
    while (next < count && owner.has(next)) next++;
    if (next >= count) return false;
    claim(node, next++);
    return true;
  };
  const podIp = [...a.podIp];

  // explicitly addressed pods: their blocks belong to their nodes
  podIp.forEach((ip, i) => {
    const node = a.podNode[i];
    if (ip === undefined || node === undefined) return;
    if (!contains(a.pool, ip)) {
      a.fail(['pods', i, 'ip'], `${formatIp(ip)} is not inside podCIDR ${formatCidr(a.pool)}`);
      podIp[i] = undefined;
      return;
    }
    const b = blockOf(ip);
    const held = owner.get(b);
    if (held !== undefined && held !== node)
      a.fail(
        ['pods', i, 'ip'],
        `${formatIp(ip)} is in block ${formatCidr(subnet(a.pool, a.blockSize, b))}, which node ${a.nodeName(held)} owns (a block belongs to one node)`,
      );
    else if (held === undefined) claim(node, b);
    used.add(ip);
  });
  for (let n = 0; n < a.nodes; n++)
    if (!blocks[n]!.length && !claimNext(n)) a.fail(['nodes', n], `no free /${a.blockSize} block left in podCIDR ${formatCidr(a.pool)}`);

  /** the lowest free address of the node's blocks, claiming another block when they are full */
  const allocate = (node: number): number | undefined => {
    for (let k = 0; ; k++) {
      const b = blocks[node]![k];
      if (!b && !claimNext(node)) return undefined;
      const block = blocks[node]![k]!;
      for (let j = 0; j < size(block.prefix); j++)
        if (!used.has(nth(block, j))) {
          used.add(nth(block, j));
          return nth(block, j);
        }
    }
  };
  const tunnel = Array.from({ length: a.nodes }, (_, n) => (a.tunnels && blocks[n]!.length ? allocate(n) : undefined));
  podIp.forEach((ip, i) => {
    const node = a.podNode[i];
    if (ip !== undefined || node === undefined || a.podIp[i] !== undefined) return;
    podIp[i] = allocate(node);
    if (podIp[i] === undefined) a.fail(['pods', i], `no free address left in podCIDR ${formatCidr(a.pool)} for ${a.nodeName(node)}`);
  });
  return { blocks, tunnel, podIp };
}

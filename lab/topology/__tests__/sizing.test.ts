import { parseCidr, size } from '../ipv4';
import { loadTopologyText } from '../resolve';
import { BRIDGE_MAX_PORTS, sizeCluster, type ClusterSizing } from '../sizing';

/** A flannel vxlan topology of `nodes` × `pods` in the plan `sizeCluster` made. */
function topologyText(s: ClusterSizing, nodes: number, pods: number): string {
  const lines = [
    'name: sized',
    `cluster: { underlay: [${s.underlay.join(', ')}], podCIDR: ${s.podCIDR}, nodeSubnetPrefix: ${s.nodeSubnetPrefix}, serviceCIDR: ${s.serviceCIDR} }`,
    'nodes:',
  ];
  for (let i = 0; i < nodes; i++) lines.push(s.nodeIps ? `  - { name: n${i}, ip: ${s.nodeIps[i]} }` : `  - { name: n${i} }`);
  lines.push('pods:');
  for (let i = 0; i < nodes; i++) for (let j = 0; j < pods; j++) lines.push(`  - { name: p${i}-${j}, node: n${i} }`);
  return lines.join('\n') + '\n';
}

describe('sizeCluster', () => {
  it("keeps the schema's defaults while they fit (up to 253 nodes of /24)", () => {
    for (const n of [1, 100, 253])
      expect(sizeCluster(n, 2)).toEqual({
        underlay: ['192.168.205.0/24'],
        podCIDR: '10.42.0.0/16',
        nodeSubnetPrefix: 24,
        serviceCIDR: '10.43.0.0/16',
      });
  });

  it('widens the underlay and the podCIDR past that, clear of the service range', () => {
    expect(sizeCluster(254, 2)).toEqual({
      underlay: ['172.16.0.0/23'],
      podCIDR: '10.42.0.0/16', // 256 /24s
      nodeSubnetPrefix: 24,
      serviceCIDR: '10.43.0.0/16',
    });
    expect(sizeCluster(257, 2)).toEqual({
      underlay: ['172.16.0.0/23'],
      podCIDR: '10.64.0.0/15',
      nodeSubnetPrefix: 24,
      serviceCIDR: '10.43.0.0/16',
    });
    expect(sizeCluster(1000, 2)).toEqual({
      underlay: ['172.16.0.0/22'],
      podCIDR: '10.64.0.0/14',
      nodeSubnetPrefix: 24,
      serviceCIDR: '10.43.0.0/16',
    });
  });

  it('splits nodes over several segments when one bridge would take more than 1023 ports', () => {
    const s = sizeCluster(2500, 2);
    expect(s.underlay).toEqual(['172.16.0.0/22', '172.16.4.0/22', '172.16.8.0/22']);
    expect(s.podCIDR).toBe('10.64.0.0/12');
    expect(s.nodeIps).toHaveLength(2500);
    expect(s.nodeIps!.slice(0, 2)).toEqual(['172.16.0.2', '172.16.0.3']);
    expect(s.nodeIps!.at(-1)).toBe('172.16.11.65'); // the third segment's 832nd node: 172.16.8.0 + 2 + 831
    const perSegment = new Map<string, number>();
    for (const ip of s.nodeIps!) {
      const seg = s.underlay.find((u) => {
        const c = parseCidr(u)!;
        const n = parseCidr(`${ip}/32`)!.base;
        return n > c.base + 1 && n < c.base + size(c.prefix) - 1; // not network, gateway, broadcast
      });
      expect(seg).toBeDefined();
      perSegment.set(seg!, (perSegment.get(seg!) ?? 0) + 1);
    }
    for (const count of perSegment.values()) expect(count).toBeLessThanOrEqual(BRIDGE_MAX_PORTS);
  });

  it('shrinks node subnets below /24 only for more pods than a /24 holds', () => {
    // 252 and a cluster DNS server pod
    expect(sizeCluster(10, 252).nodeSubnetPrefix).toBe(24);
    expect(sizeCluster(10, 253).nodeSubnetPrefix).toBe(23);
    expect(sizeCluster(10, 253).podCIDR).toBe('10.42.0.0/16');
    expect(sizeCluster(300, 253).podCIDR).toBe('10.64.0.0/14'); // 512 /23s
  });

  it.each([
    [1000, 2],
    [2500, 1],
    [3, 252], // a full /24 on the nodes with a DNS server pod
  ])('gives a plan the topology loader accepts: %i nodes × %i pods', (nodes, pods) => {
    const topo = loadTopologyText(topologyText(sizeCluster(nodes, pods), nodes, pods), 'sized.yaml');
    expect(topo.nodes).toHaveLength(nodes);
    expect(new Set(topo.pods.map((p) => p.ip)).size).toBe(nodes * pods + 2); // and the cluster DNS's 2
  });

  it.each([
    [0, 2, 'node count must be a positive integer, not 0'],
    [1.5, 2, 'node count must be a positive integer, not 1.5'],
    [10, -1, 'pods per node must be a non-negative integer, not -1'],
    [10, 70000, '70000 pods per node need a node subnet larger than /16'],
    [20000, 2, '20000 nodes of /24 subnets need a podCIDR of /9, larger than 10.64.0.0/10'],
  ])('refuses %p nodes × %p pods: %s', (nodes, pods, message) => {
    expect(() => sizeCluster(nodes, pods)).toThrow(message);
  });
});

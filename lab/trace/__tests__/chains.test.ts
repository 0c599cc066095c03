import { join } from 'node:path';
import { proxyModel } from '../../model/proxy';
import { loadTopology } from '../../topology/resolve';
import type { Topology } from '../../topology/types';
import { expectedChains } from '../chains';
import { expectedWalk, type Destination, type Source } from '../path';

// The chains a node's rules should send a probe through, computed from the generated rules: here
// for IPVS mode, where kube-proxy's jumps put more chains on the way than the packet needs.
const TOPO = join(__dirname, '../../../scenarios/topologies/default.yaml');
const ipvs: Topology = loadTopology(TOPO, { name: 'c', proxyMode: 'ipvs' });
const sp = proxyModel(ipvs).services.find((s) => s.service === 'nginx-test')!;
const dest = (endpointPod: string): Destination => ({
  kind: 'service',
  service: sp,
  endpoint: sp.endpoints.find((e) => e.pod === endpointPod)!,
  via: 'clusterIP',
});
const probe = { protocol: 'tcp' as const, srcport: 40000, dstport: 80 };
const chainsFor = (src: Source) => {
  const d = dest('nginx-test-1');
  return expectedChains(ipvs, 'node1', expectedWalk(ipvs, src, d, probe), src, d, probe);
};

describe('expectedChains, IPVS mode (default lab, node1)', () => {
  it('pod → cluster IP: PREROUTING, INPUT (IPVS), then IPVS sends it on through filter OUTPUT, then POSTROUTING', () => {
    const client = ipvs.pods.find((p) => p.name === 'client')!;
    expect(chainsFor({ kind: 'pod', pod: client })).toEqual([
      'nat PREROUTING',
      'KUBE-SERVICES',
      'KUBE-NODE-PORT',
      'filter INPUT',
      'KUBE-IPVS-FILTER',
      'KUBE-PROXY-FIREWALL',
      'KUBE-NODE-PORT',
      'filter OUTPUT',
      'KUBE-IPVS-OUT-FILTER',
      'nat POSTROUTING',
      'KUBE-POSTROUTING',
    ]);
  });

  it('node → cluster IP: OUTPUT (IPVS takes it there), marked for masquerade, then POSTROUTING', () => {
    const node1 = ipvs.nodes.find((n) => n.name === 'node1')!;
    expect(chainsFor({ kind: 'node', node: node1 })).toEqual([
      'nat OUTPUT',
      'KUBE-SERVICES',
      'KUBE-MARK-MASQ',
      'KUBE-NODE-PORT',
      'filter OUTPUT',
      'KUBE-IPVS-OUT-FILTER',
      'nat POSTROUTING',
      'KUBE-POSTROUTING',
    ]);
  });
});

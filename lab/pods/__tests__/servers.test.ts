import { join } from 'node:path';
import { loadTopology } from '../../topology/resolve';
import { planListeners } from '../servers';

// The pods' listeners: an EndpointSlice may name an address that is no pod of the lab (kind's
// default/kubernetes → the API server on the control plane's address): it gets no listener
// (was a TypeError in `up`'s servers stage).

test('an endpoint that is no pod of the lab has no listener; the pods keep theirs', () => {
  const topo = loadTopology(join(__dirname, '..', '..', 'proxy', '__tests__', 'fixtures', 'diff-rules-kind.yaml'));
  const l = planListeners(topo);
  expect(l.some((x) => x.port === 6443)).toBe(false);
  expect(l.filter((x) => x.port === 53).map((x) => `${x.pod} ${x.protocol}`)).toEqual([
    'kube-system/coredns-7db6d8ff4d-4xk2p TCP',
    'kube-system/coredns-7db6d8ff4d-4xk2p UDP',
    'kube-system/coredns-7db6d8ff4d-q9vbn TCP',
    'kube-system/coredns-7db6d8ff4d-q9vbn UDP',
  ]);
});

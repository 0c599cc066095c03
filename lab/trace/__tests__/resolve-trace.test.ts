import { readFileSync } from 'node:fs';
import { LabNames } from '../../model/names';
import { topologyFile } from '../../testing/kernel';
import { InputError } from '../../errors';
import { loadTopologyText } from '../../topology/resolve';
import { resolveTrace } from '../walk';

// A trace to a node port goes where kube-proxy's --nodeport-addresses lets it: a node address
// left out has no node port rule, so there is no walk to expect (the kernel tests trace the rest).

const yaml = readFileSync(topologyFile('default.yaml'), 'utf8');
const withAddresses = (list: string) =>
  loadTopologyText(yaml.replace(/^proxy:\n/m, `proxy:\n  nodePortAddresses: ${list}\n`), 'npa.yaml', { name: 'npa' });
const resolve = (list: string, to: string) => {
  const topo = withAddresses(list);
  return resolveTrace(topo, new LabNames(topo), { from: '@lab', to }, () => 0.5);
};

describe('resolveTrace and proxy.nodePortAddresses', () => {
  it('follows a node port on a node address in the list (a CIDR, primary, or no list: all)', () => {
    for (const list of ['[192.168.205.0/24]', '[primary]', '[]'])
      expect(resolve(list, 'nodeport:nginx-test@node2').candidates.map((c) => c.kind)).toEqual(['service', 'service']);
  });

  it('refuses one the list leaves out, naming what answers', () => {
    expect(() => resolve('[10.42.0.0/16]', 'nodeport:nginx-test@node2')).toThrow(InputError);
    expect(() => resolve('[10.42.0.0/16]', 'nodeport:nginx-test@node2')).toThrow(
      /node ports of node2 answer on .* \(proxy.nodePortAddresses\), not on 192\.168\.205\.\d+: kube-proxy has no rule for it there/,
    );
  });
});

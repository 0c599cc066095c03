import { InputError } from '../../errors';
import { loadTopologyText } from '../resolve';

const errors = (text: string): string[] => {
  try {
    loadTopologyText(text, 'hosts.yaml');
  } catch (e) {
    if (e instanceof InputError) return e.message.split('\n');
    throw e;
  }
  throw new Error('expected an InputError');
};

describe('hosts', () => {
  it('spreads nodes that name no host over the hosts in turn', () => {
    const t = loadTopologyText(
      [
        'name: x',
        'runtime: docker',
        'hosts:',
        '  - { name: a, engine: "ssh://10.0.0.1" }',
        '  - { name: b, engine: "ssh://u@10.0.0.2:2200" }',
        'nodes: [{ name: n1 }, { name: n2 }, { name: n3, host: a }, { name: n4 }]',
      ].join('\n'),
    );
    expect(t.nodes.map((n) => n.host)).toEqual(['a', 'b', 'a', 'a']);
    expect(t.hosts[1]).toEqual({ name: 'b', engine: { kind: 'ssh', user: 'u', host: '10.0.0.2', port: 2200 }, address: '10.0.0.2' });
  });

  it('says what is wrong, with the line', () => {
    expect(
      errors(
        [
          'name: x',
          'hosts:',
          '  - { name: a, engine: local }',
          '  - { name: b, engine: "ssh://host-b" }',
          '  - { name: c, engine: "tcp://h:2376" }',
          '  - { name: d, engine: "ftp://h" }',
          'nodes: [{ name: n1, host: z }]',
        ].join('\n'),
      ),
    ).toEqual([
      expect.stringMatching(/^hosts\.yaml:3:\d+: hosts: hosts need runtime: docker/),
      expect.stringMatching(/^hosts\.yaml:3:\d+: hosts\[0\]: host 'a' needs address:/),
      expect.stringMatching(/^hosts\.yaml:4:\d+: hosts\[1\]: host 'b' needs address:/),
      expect.stringMatching(/^hosts\.yaml:5:\d+: hosts\[2\]\.tls: a tcp:\/\/ engine needs tls:/),
      expect.stringMatching(/^hosts\.yaml:6:\d+: hosts\[3\]\.engine: 'ftp:\/\/h': expected local, unix:\/\/\/path, ssh:\/\//),
      expect.stringMatching(/^hosts\.yaml:7:\d+: nodes\[0\]\.host: no host named 'z' \(hosts: a, b, c, d\)/),
    ]);
    expect(errors('name: x\nnodes: [{ name: n1, host: a }]')).toEqual([expect.stringMatching(/nodes\[0\]\.host: there are no hosts/)]);
  });
});

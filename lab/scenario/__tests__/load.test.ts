import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError } from '../../errors';
import { LocalExecutor } from '../../runtime/executor';
import { REPO } from '../../testing/kernel';
import { loadScenario, loadScenarios, scenarioFiles } from '../load';

const fixture = (f: string) => join(__dirname, 'fixtures', f);
const DEFAULT_TOPOLOGY = join(REPO, 'scenarios/topologies/default.yaml');

/** Writes a scenario file from lines into a fresh folder; returns its path. */
function scenarioFile(name: string, lines: string[]): string {
  const f = join(mkdtempSync(join(tmpdir(), 'kdl-scn-')), name);
  writeFileSync(f, lines.join('\n') + '\n');
  return f;
}

function issuesOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof InputError) return e.message.split('\n');
    throw e;
  }
  throw new Error('expected an InputError');
}

describe('scenario files', () => {
  it('loads the shipped suites with every reference resolved', () => {
    const s = loadScenario(join(REPO, 'scenarios', 'pod-network.yaml'));
    expect(s.name).toBe('pod-network');
    expect(s.topology.name).toBe('default');
    const cross = s.steps[1]!;
    expect(cross.captures.map((c) => [c.name, c.ns, c.iface])).toEqual([
      ['underlay', 'kdl.default.node1', 'eth0'],
      ['pod', 'kdl.default.node1.client', 'eth0'],
    ]);
    expect(cross.probes[0]).toMatchObject({ kind: 'ping', from: 'client', to: '10.42.1.9', ns: 'kdl.default.node1.client' });
    expect(cross.expect.map((e) => e.kind)).toEqual(['ping', 'packets', 'packets', 'packets']);
    expect(cross.expect[1]).toMatchObject({ name: 'vxlan-outer-and-inner', capture: { name: 'underlay' }, line: expect.any(Number) });
  });

  it('resolves connect targets: service, node port, name:port', () => {
    const s = loadScenario(join(REPO, 'scenarios', 'services-iptables.yaml'));
    const target = (i: number) => {
      const p = s.steps[i]!.probes[0]!;
      return p.kind === 'connect' ? { ip: p.target.ip, port: p.target.port, svc: p.target.service?.id } : undefined;
    };
    expect(target(0)).toEqual({ ip: '10.43.0.20', port: 80, svc: 'default/web:http' });
    expect(target(1)).toEqual({ ip: '192.168.205.4', port: 32506, svc: 'default/nginx-test:80-80' });
  });

  it('reports every problem of a bad file with its line, before anything runs', async () => {
    const lines = await loadScenarios([fixture('bad.yaml')], new LocalExecutor()).then(
      () => [],
      (e: unknown) => {
        if (e instanceof InputError) return e.message.split('\n');
        throw e;
      },
    );
    const file = fixture('bad.yaml');
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(new RegExp(`^${file}:6:\\d+: steps\\[0\\]\\.captures\\[0\\]\\.at: no node or pod 'node9'`)),
        expect.stringMatching(
          /:7:\d+: steps\[0\]\.captures\[1\]\.at: 'node1' has no interface 'flannel.7' \(it has any, eth0, cni0, flannel.1/,
        ),
        expect.stringMatching(/:10:\d+: steps\[0\]\.probes\[0\]\.ping\.from: no node or pod 'clinet'/),
        expect.stringMatching(/:11:\d+: steps\[0\]\.probes\[1\]\.traceroute\.to: 'web-22' is not an address/),
        expect.stringMatching(/:13:\d+: steps\[0\]\.expect\[0\]\.packets\.fields\.ip\.tll: unknown field 'ip.tll'/),
        expect.stringMatching(/:13:\d+: steps\[0\]\.expect\[0\]\.packets\.fields\.eth\.src: 'node1.eth9' is not a MAC or an interface/),
        expect.stringMatching(/:14:\d+: steps\[0\]\.expect\[1\]\.hops: no traceroute probe named 'nope'/),
        expect.stringMatching(/:15:\d+: steps\[0\]\.expect\[2\]\.nat: a 'nat' expectation needs a connect probe/),
      ]),
    );
  });

  it('checks BPF filters with tcpdump and names the line', async () => {
    const f = scenarioFile('filter.yaml', [
      `topology: ${DEFAULT_TOPOLOGY}`,
      'steps:',
      '  - name: s',
      '    captures:',
      '      - { at: node1:eth0, filter: "udp prot 8472" }',
    ]);
    await expect(loadScenarios([f], new LocalExecutor())).rejects.toThrow(
      /filter\.yaml:5:\d+: steps\[0\]\.captures\[0\]\.filter: tcpdump cannot use this filter: can't parse filter expression: syntax error/,
    );
  });

  it('rejects values that do not fit their field', () => {
    const f = scenarioFile('values.yaml', [
      `topology: ${DEFAULT_TOPOLOGY}`,
      'steps:',
      '  - name: s',
      '    captures: [{ at: node1:eth0 }]',
      '    expect:',
      '      - packets: { where: { ip.proto: icnp, icmp.type: echo }, fields: { tcp.flags: SYNACK, ip.ttl: lots, ip.src: nowhere } }',
      '      - { ping: { ttl: 62 }, hops: { count: 1 } }',
    ]);
    const lines = issuesOf(() => loadScenario(f));
    expect(lines).toEqual([
      expect.stringMatching(/:6:\d+: .*where\.ip\.proto: 'icnp' is not a protocol/),
      expect.stringMatching(/:6:\d+: .*where\.icmp\.type: 'echo' is not an ICMP type/),
      expect.stringMatching(/:6:\d+: .*fields\.tcp\.flags: 'SYNACK' is not a TCP flag/),
      expect.stringMatching(/:6:\d+: .*fields\.ip\.ttl: 'lots' is not a number or a comparison/),
      expect.stringMatching(/:6:\d+: .*fields\.ip\.src: 'nowhere' is not an address or a name of this lab/),
      expect.stringMatching(/:7:\d+: steps\[0\]\.expect\[1\]: an expectation is exactly one of .* \(found ping, hops\)/),
    ]);
  });

  it('finds scenario files in a folder, skipping topologies/', () => {
    const files = scenarioFiles(join(REPO, 'scenarios')).map((f) => f.slice(REPO.length + 1));
    expect(files).toEqual(expect.arrayContaining(['scenarios/pod-network.yaml', 'scenarios/services-iptables.yaml']));
    expect(files.some((f) => f.includes('topologies'))).toBe(false);
    expect(() => scenarioFiles(join(REPO, 'nope'))).toThrow(/no such file or folder/);
  });

  it('takes an inline topology and locates its errors in the scenario file', () => {
    const f = scenarioFile('inline.yaml', [
      'topology:',
      '  name: tiny',
      '  nodes:',
      '    - { name: n1, ip: 300.1.1.1 }',
      'steps:',
      '  - name: s',
    ]);
    expect(issuesOf(() => loadScenario(f))).toEqual([
      expect.stringMatching(/inline\.yaml:4:\d+: topology\.nodes\[0\]\.ip: 300\.1\.1\.1 is not a valid IPv4 address/),
    ]);
    writeFileSync(
      f,
      [
        'topology:',
        '  name: tiny',
        '  nodes: [{ name: n1 }]',
        '  pods: [{ name: p1, node: n1 }]',
        'steps:',
        '  - name: s',
        '    probes: [{ ping: { from: p1, to: n1 } }]',
        '    expect: [{ ping: { received: 3 } }]',
      ].join('\n'),
    );
    const s = loadScenario(f);
    expect(s.topology.name).toBe('tiny');
    expect(s.steps[0]!.probes[0]).toMatchObject({ kind: 'ping', to: s.topology.nodes[0]!.ip });
  });

  describe('a step that moves to another topology', () => {
    const tiny = (pods: string) => ['      name: tiny', '      nodes: [{ name: n1 }, { name: n2 }]', `      pods: [${pods}]`];

    it('runs that step and the later ones on it, their names checked against it', () => {
      const f = scenarioFile('moves.yaml', [
        `topology: ${DEFAULT_TOPOLOGY}`,
        'steps:',
        '  - name: on the default lab',
        '    probes: [{ ping: { from: client, to: web-2 } }]',
        '  - name: inline, one pod fewer',
        '    topology:',
        ...tiny('{ name: a, node: n1 }, { name: b, node: n2 }'),
        '    probes: [{ ping: { from: a, to: b } }]',
        '  - name: still there',
        '    probes: [{ ping: { from: b, to: a } }]',
        `  - { name: back by file, topology: ${DEFAULT_TOPOLOGY}, probes: [{ ping: { from: client, to: web-1 } }] }`,
      ]);
      const s = loadScenario(f);
      expect(s.topology.name).toBe('default');
      expect(s.steps.map((st) => st.topology?.name)).toEqual([undefined, 'tiny', undefined, 'default']);
      expect(s.steps[1]!.topology!.source).toBe(f);
      expect(s.steps[3]!.topology!.source).toBe(DEFAULT_TOPOLOGY);
      expect(s.steps[2]!.probes[0]).toMatchObject({ from: 'b', ns: 'kdl.tiny.n2.b' });
      expect(s.steps[3]!.probes[0]).toMatchObject({ ns: 'kdl.default.node1.client' });
    });

    it("gives the scenario's proxy mode and the command line's lab name to every topology", () => {
      const f = scenarioFile('overrides.yaml', [
        `topology: ${DEFAULT_TOPOLOGY}`,
        'proxy: nftables',
        'steps:',
        '  - { name: a }',
        '  - name: b',
        '    topology:',
        ...tiny(''),
      ]);
      const s = loadScenario(f, { labName: 'mine' });
      expect([s.topology, s.steps[1]!.topology!].map((t) => [t.name, t.proxy.mode])).toEqual([
        ['mine', 'nftables'],
        ['mine', 'nftables'],
      ]);
    });

    it('reports a missing file, a bad inline topology, names of the old lab and a move to the same lab, with lines', () => {
      const f = scenarioFile('bad-moves.yaml', [
        `topology: ${DEFAULT_TOPOLOGY}`,
        'steps:',
        '  - name: missing file',
        '    topology: nowhere.yaml',
        '  - name: unchecked after a topology that did not load',
        '    probes: [{ ping: { from: nobody, to: web-2 } }]',
      ]);
      expect(issuesOf(() => loadScenario(f))).toEqual([
        expect.stringMatching(/bad-moves\.yaml:4:\d+: steps\[0\]\.topology: no topology file 'nowhere\.yaml'/),
      ]);
      writeFileSync(
        f,
        [
          `topology: ${DEFAULT_TOPOLOGY}`,
          'steps:',
          '  - name: inline with a bad address',
          '    topology:',
          '      name: tiny',
          '      nodes: [{ name: n1, ip: 300.1.1.1 }]',
          '  - name: s',
        ].join('\n'),
      );
      expect(issuesOf(() => loadScenario(f))).toEqual([
        expect.stringMatching(/bad-moves\.yaml:6:\d+: steps\[0\]\.topology\.nodes\[0\]\.ip: 300\.1\.1\.1 is not a valid IPv4 address/),
      ]);
      writeFileSync(
        f,
        [
          `topology: ${DEFAULT_TOPOLOGY}`,
          'steps:',
          '  - name: a',
          '  - name: the default lab again',
          `    topology: ${DEFAULT_TOPOLOGY}`,
          '  - name: b',
          '    topology:',
          ...tiny('{ name: a, node: n1 }'),
          '    probes: [{ ping: { from: client, to: a } }]',
        ].join('\n'),
      );
      expect(issuesOf(() => loadScenario(f))).toEqual([
        expect.stringMatching(
          /bad-moves\.yaml:5:\d+: steps\[1\]\.topology: the same topology as the step before runs on \(lab default\): leave it out/,
        ),
        expect.stringMatching(/bad-moves\.yaml:11:\d+: steps\[2\]\.probes\[0\]\.ping\.from: .*client/),
      ]);
    });
  });
});

import { join } from 'node:path';
import { InputError, LabError } from '../../errors';
import { loadTopology, loadTopologyText } from '../resolve';
import type { Topology } from '../types';

const TOPOLOGIES = join(__dirname, '../../../scenarios/topologies');
const FILE = 'topo.yaml';

/** YAML from lines, so a test can name the line (1-based) its problem sits on. */
const yaml = (...lines: string[]) => lines.join('\n') + '\n';
const load = (text: string) => loadTopologyText(text, FILE);

/** Loads `text`, expecting an InputError; returns it. */
function inputError(text: string): InputError {
  let caught: unknown;
  try {
    load(text);
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(InputError);
  const err = caught as InputError;
  expect(err).toBeInstanceOf(LabError);
  expect(err.exitCode).toBe(2);
  expect(err.issues.length).toBeGreaterThan(0);
  return err;
}

/** The lines of the error message (one per issue). */
const messageLines = (text: string) => inputError(text).message.split('\n');

/**
 * Expects exactly one issue, reported as `topo.yaml:LINE:COL: path: message`.
 * `line`/`col` may be omitted when a test only cares that a position is given.
 */
function expectOneIssue(text: string, want: { path: string; message: RegExp | string; line?: number; col?: number }) {
  const err = inputError(text);
  expect(err.issues).toHaveLength(1);
  const [issue] = err.issues;
  expect(issue).toMatchObject({ file: FILE, path: want.path });
  expect(issue!.line).toEqual(want.line ?? expect.any(Number));
  expect(issue!.col).toEqual(want.col ?? expect.any(Number));
  const where = `${FILE}:${issue!.line}:${issue!.col}`;
  expect(err.message.startsWith(want.path ? `${where}: ${want.path}: ` : `${where}: `)).toBe(true);
  if (typeof want.message === 'string') expect(issue!.message).toBe(want.message);
  else expect(issue!.message).toMatch(want.message);
  return issue!;
}

/** A valid two-node lab; tests add or override lines. */
const twoNodes = (...extra: string[]) =>
  yaml(
    'name: t', //                                    1
    'nodes:', //                                     2
    '  - { name: a, ip: 192.168.205.2 }', //         3
    '  - { name: b, ip: 192.168.205.3 }', //         4
    ...extra,
  );

describe('the checked-in topologies', () => {
  it('default.yaml resolves to the article 003 layout', () => {
    const topo = loadTopology(join(TOPOLOGIES, 'default.yaml'));
    expect(topo.name).toBe('default');
    expect(topo.runtime).toBe('netns');
    expect(topo.source).toBe(join(TOPOLOGIES, 'default.yaml'));
    expect(topo.cluster).toEqual({
      cni: 'flannel',
      podCIDR: '10.42.0.0/16',
      serviceCIDR: '10.43.0.0/16',
      underlay: [{ cidr: '192.168.205.0/24', gateway: '192.168.205.1' }],
      backend: 'vxlan',
      vni: 1,
      port: 8472,
      mtu: 1450,
      // on by default, as in a cluster: kube-system/kube-dns at the service CIDR's .10
      dns: { domain: 'cluster.local', clusterIP: '10.43.0.10', pods: ['kube-system/kube-dns-1', 'kube-system/kube-dns-2'] },
    });
    const node = (name: string, ip: string, third: number) => ({
      name,
      ip,
      underlay: '192.168.205.0/24',
      gateway: '192.168.205.1',
      podSubnet: `10.42.${third}.0/24`,
      cni0: `10.42.${third}.1`,
      vtep: `10.42.${third}.0`,
    });
    expect(topo.nodes).toEqual([node('node1', '192.168.205.4', 0), node('node2', '192.168.205.3', 1), node('node3', '192.168.205.5', 2)]);
    expect(topo.pods.map((p) => [p.name, p.node, p.ip])).toEqual([
      ['client', 'node1', '10.42.0.65'],
      ['web-1', 'node1', '10.42.0.66'],
      ['web-2', 'node2', '10.42.1.9'],
      ['web-3', 'node3', '10.42.2.9'],
      ['nginx-test-1', 'node2', '10.42.1.6'],
      ['nginx-test-2', 'node3', '10.42.2.6'],
      // the cluster DNS's server pods, after the file's, on the first two nodes
      ['kube-system/kube-dns-1', 'node1', '10.42.0.2'],
      ['kube-system/kube-dns-2', 'node2', '10.42.1.2'],
    ]);
    expect(topo.pods[0]!.labels).toEqual({ app: 'client' });
    expect(topo.pods[0]!.ports).toEqual([]);
    expect(topo.pods[1]!.ports).toEqual([{ port: 80, protocol: 'TCP' }]);
  });

  it('host-gw.yaml resolves with backend host-gw and MTU 1500', () => {
    const topo = loadTopology(join(TOPOLOGIES, 'host-gw.yaml'));
    expect(topo.name).toBe('hostgw');
    expect(topo.cluster.backend).toBe('host-gw');
    expect(topo.cluster.mtu).toBe(1500);
    expect(topo.nodes.map((n) => [n.name, n.ip, n.podSubnet])).toEqual([
      ['node1', '192.168.205.4', '10.42.0.0/24'],
      ['node2', '192.168.205.3', '10.42.1.0/24'],
      ['node3', '192.168.205.5', '10.42.2.0/24'],
    ]);
    const dns = { 'k8s-app': 'kube-dns' };
    expect(topo.pods.map((p) => p.labels)).toEqual([{}, {}, {}, dns, dns]);
  });

  it('a --name override renames the lab and is validated like the file', () => {
    expect(loadTopology(join(TOPOLOGIES, 'default.yaml'), { name: 'other' }).name).toBe('other');
    for (const bad of ['Other', 'a.node1', 'x;rm -rf /', '', 'a'.repeat(33)]) {
      let caught: unknown;
      try {
        loadTopology(join(TOPOLOGIES, 'default.yaml'), { name: bad });
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(InputError);
      expect((caught as InputError).exitCode).toBe(2);
      expect((caught as InputError).message).toContain('--name');
    }
  });

  it('a missing file is an InputError naming the file', () => {
    const file = join(TOPOLOGIES, 'no-such-topology.yaml');
    expect(() => loadTopology(file)).toThrow(InputError);
    expect(() => loadTopology(file)).toThrow(`${file}: cannot read: ENOENT`);
  });
});

describe('defaults', () => {
  it('fills in the cluster and the pod fields', () => {
    const topo = load(
      yaml('name: t', 'nodes: [{ name: a }]', 'pods: [{ name: p, node: a, ports: [80, { port: 53, protocol: UDP, name: dns }] }]'),
    );
    expect(topo.source).toBe(FILE);
    expect(topo.cluster).toEqual({
      cni: 'flannel',
      podCIDR: '10.42.0.0/16',
      serviceCIDR: '10.43.0.0/16',
      underlay: [{ cidr: '192.168.205.0/24', gateway: '192.168.205.1' }],
      backend: 'vxlan',
      vni: 1,
      port: 8472,
      mtu: 1450,
      // one node: one server pod
      dns: { domain: 'cluster.local', clusterIP: '10.43.0.10', pods: ['kube-system/kube-dns-1'] },
    });
    expect(topo.pods[0]).toEqual({
      name: 'p',
      node: 'a',
      ip: '10.42.0.2',
      labels: {},
      ports: [
        { port: 80, protocol: 'TCP' },
        { port: 53, protocol: 'UDP', name: 'dns' },
      ],
    });
  });

  it('MTU defaults by backend; an explicit MTU wins', () => {
    const mtu = (cluster: string) => load(yaml('name: t', `cluster: ${cluster}`, 'nodes: [{ name: a }]')).cluster.mtu;
    expect(mtu('{ backend: vxlan }')).toBe(1450);
    expect(mtu('{ backend: host-gw }')).toBe(1500);
    expect(mtu('{ backend: host-gw, mtu: 9000 }')).toBe(9000);
    expect(mtu('{ mtu: 1400 }')).toBe(1400);
  });
});

describe('deterministic allocation', () => {
  const text = yaml(
    'name: t',
    'nodes:',
    '  - { name: a }',
    '  - { name: b, ip: 192.168.205.3, podSubnet: 10.42.1.0/24 }',
    '  - { name: c }',
    '  - { name: d, ip: 192.168.205.2 }',
    '  - { name: e }',
    'pods:',
    '  - { name: p1, node: a }',
    '  - { name: p2, node: a, ip: 10.42.0.3 }',
    '  - { name: p3, node: a }',
    '  - { name: p4, node: c }',
    '  - { name: p5, node: a }',
  );

  it('node IPs count up from .2, skipping given ones (and never the .1 gateway)', () => {
    const topo = load(text);
    expect(topo.nodes.map((n) => [n.name, n.ip])).toEqual([
      ['a', '192.168.205.4'],
      ['b', '192.168.205.3'],
      ['c', '192.168.205.5'],
      ['d', '192.168.205.2'],
      ['e', '192.168.205.6'],
    ]);
    expect(topo.nodes.every((n) => n.gateway === '192.168.205.1' && n.ip !== n.gateway)).toBe(true);
  });

  it('pod subnets are consecutive blocks of podCIDR, skipping given ones', () => {
    const topo = load(text);
    expect(topo.nodes.map((n) => [n.name, n.podSubnet, n.cni0, n.vtep])).toEqual([
      ['a', '10.42.0.0/24', '10.42.0.1', '10.42.0.0'],
      ['b', '10.42.1.0/24', '10.42.1.1', '10.42.1.0'],
      ['c', '10.42.2.0/24', '10.42.2.1', '10.42.2.0'],
      ['d', '10.42.3.0/24', '10.42.3.1', '10.42.3.0'],
      ['e', '10.42.4.0/24', '10.42.4.1', '10.42.4.0'],
    ]);
  });

  it('a given subnet later in the list is skipped by earlier nodes too', () => {
    const topo = load(yaml('name: t', 'nodes:', '  - { name: a }', '  - { name: b }', '  - { name: c, podSubnet: 10.42.0.0/24 }'));
    expect(topo.nodes.map((n) => n.podSubnet)).toEqual(['10.42.1.0/24', '10.42.2.0/24', '10.42.0.0/24']);
  });

  it('nodeSubnetPrefix sets the size of allocated subnets', () => {
    const topo = load(
      yaml('name: t', 'cluster: { podCIDR: 10.42.0.0/24, nodeSubnetPrefix: 26 }', 'nodes: [{ name: a }, { name: b }, { name: c }]'),
    );
    expect(topo.nodes.map((n) => [n.podSubnet, n.cni0])).toEqual([
      ['10.42.0.0/26', '10.42.0.1'],
      ['10.42.0.64/26', '10.42.0.65'],
      ['10.42.0.128/26', '10.42.0.129'],
    ]);
  });

  it('pod IPs count up from .2 of their node subnet, skipping given ones', () => {
    const topo = load(text);
    expect(topo.pods.map((p) => [p.name, p.ip])).toEqual([
      ['p1', '10.42.0.2'],
      ['p2', '10.42.0.3'],
      ['p3', '10.42.0.4'],
      ['p4', '10.42.2.2'],
      ['p5', '10.42.0.5'],
      ['kube-system/kube-dns-1', '10.42.0.6'],
      ['kube-system/kube-dns-2', '10.42.1.2'],
    ]);
  });

  it('the same input gives the same output', () => {
    const a: Topology = load(text);
    const b: Topology = load(text);
    expect(b).toEqual(a);
    expect(JSON.stringify(b)).toBe(JSON.stringify(a));
  });

  it('with several underlay segments, allocated nodes go on the first', () => {
    const topo = load(
      yaml(
        'name: t',
        'cluster: { underlay: [192.168.205.0/24, 192.168.206.0/24] }',
        'nodes:',
        '  - { name: a, ip: 192.168.206.7 }',
        '  - { name: b }',
      ),
    );
    expect(topo.cluster.underlay).toEqual([
      { cidr: '192.168.205.0/24', gateway: '192.168.205.1' },
      { cidr: '192.168.206.0/24', gateway: '192.168.206.1' },
    ]);
    expect(topo.nodes.map((n) => [n.ip, n.underlay, n.gateway])).toEqual([
      ['192.168.206.7', '192.168.206.0/24', '192.168.206.1'],
      ['192.168.205.2', '192.168.205.0/24', '192.168.205.1'],
    ]);
  });

  it('running out of addresses is reported, not wrapped around', () => {
    // a /29 underlay has .2-.6 for nodes; a /29 pod subnet has .2-.6 for pods
    const six = Array.from({ length: 6 }, (_, i) => `  - { name: n${i} }`);
    const full = messageLines(yaml('name: t', 'cluster: { underlay: 192.168.205.0/29 }', 'nodes:', ...six));
    expect(full).toEqual([`${FILE}:9:5: nodes[5]: no free underlay address left in 192.168.205.0/29`]);

    const pods = Array.from({ length: 6 }, (_, i) => `  - { name: p${i}, node: a }`);
    const podsFull = messageLines(yaml('name: t', 'nodes: [{ name: a, podSubnet: 10.42.0.0/29 }]', 'pods:', ...pods));
    expect(podsFull).toEqual([
      // the cluster DNS's server pod is refused where the DNS is asked for (here by default)
      `${FILE}:1:1: cluster.dns: the cluster DNS's pod kube-dns-1: no free address left in a's pod subnet 10.42.0.0/29`,
      `${FILE}:9:5: pods[5]: no free address left in a's pod subnet 10.42.0.0/29`,
    ]);

    const subnets = messageLines(yaml('name: t', 'cluster: { podCIDR: 10.42.0.0/23 }', 'nodes: [{ name: a }, { name: b }, { name: c }]'));
    expect(subnets).toEqual([`${FILE}:3:35: nodes[2]: no free /24 left in podCIDR 10.42.0.0/23`]);
  });
});

describe('schema errors are located at line:col', () => {
  it('unknown key at the top level points at the key', () => {
    expectOneIssue(twoNodes('colour: blue'), { path: 'colour', message: "unknown key 'colour'", line: 5, col: 1 });
  });

  it('unknown key inside a node points at the key', () => {
    const text = yaml(
      'name: t', //                1
      'nodes:', //                 2
      '  - name: a', //            3
      '    ipp: 192.168.205.9', // 4
    );
    const issue = expectOneIssue(text, { path: 'nodes[0].ipp', message: "unknown key 'ipp'", line: 4, col: 5 });
    expect(inputError(text).message).toBe(`${FILE}:4:5: nodes[0].ipp: unknown key 'ipp'`);
    expect(issue.file).toBe(FILE);
  });

  it('unknown key in a flow mapping of the second node points at the key', () => {
    expectOneIssue(twoNodes('  - { name: c, subnet: 10.42.9.0/24 }'), {
      path: 'nodes[2].subnet',
      message: "unknown key 'subnet'",
      line: 5,
      col: 16,
    });
  });

  it('unknown key inside cluster.vxlan', () => {
    const text = yaml('name: t', 'cluster:', '  vxlan:', '    vni: 1', '    group: 239.1.1.1', 'nodes: [{ name: a }]');
    expectOneIssue(text, { path: 'cluster.vxlan.group', message: "unknown key 'group'", line: 5, col: 5 });
  });

  it('missing nodes', () => {
    expectOneIssue(yaml('name: t'), { path: 'nodes', message: 'is required', line: 1, col: 1 });
  });

  it('an empty node list', () => {
    expectOneIssue(yaml('name: t', 'nodes: []'), { path: 'nodes', message: 'a lab needs at least one node', line: 2, col: 8 });
  });

  it('a node without a name', () => {
    expectOneIssue(twoNodes('  - { ip: 192.168.205.9 }'), { path: 'nodes[2].name', message: 'is required', line: 5, col: 5 });
  });

  it('wrong type: port as a string says so (not "is required")', () => {
    const text = yaml('name: t', 'cluster:', '  vxlan: { port: "8472" }', 'nodes: [{ name: a }]');
    expectOneIssue(text, { path: 'cluster.vxlan.port', message: /expected number, received string/, line: 3, col: 18 });
  });

  it('wrong type: nodes as a mapping', () => {
    expectOneIssue(yaml('name: t', 'nodes:', '  a: { ip: 192.168.205.2 }'), { path: 'nodes', message: /expected array/, line: 3, col: 3 });
  });

  it('wrong type: a number where a name goes', () => {
    expectOneIssue(yaml('name: 7', 'nodes: [{ name: a }]'), { path: 'name', message: /expected string, received number/, line: 1, col: 7 });
  });

  it('out-of-range numbers', () => {
    expectOneIssue(twoNodes('cluster: { vxlan: { port: 70000 } }'), { path: 'cluster.vxlan.port', message: /65535/, line: 5, col: 27 });
    expectOneIssue(twoNodes('cluster: { mtu: 100 }'), { path: 'cluster.mtu', message: /576/, line: 5, col: 17 });
    // flannel.<vni> has to fit in an interface name (15 characters)
    expectOneIssue(twoNodes('cluster: { vxlan: { vni: 16777215 } }'), {
      path: 'cluster.vxlan.vni',
      message: /at most 9999999/,
      line: 5,
      col: 26,
    });
    expect(load(twoNodes('cluster: { vxlan: { vni: 9999999 } }')).cluster.vni).toBe(9999999);
  });

  it('an unknown backend', () => {
    expectOneIssue(twoNodes('cluster: { backend: calico }'), { path: 'cluster.backend', message: /vxlan|host-gw/, line: 5, col: 21 });
  });

  it('not an address / not a CIDR by shape', () => {
    expectOneIssue(twoNodes('  - { name: c, ip: node-c }'), { path: 'nodes[2].ip', message: 'not an IPv4 address', line: 5, col: 20 });
    expectOneIssue(twoNodes('cluster: { podCIDR: 10.42.0.0 }'), {
      path: 'cluster.podCIDR',
      message: 'not an IPv4 CIDR (a.b.c.d/len)',
      line: 5,
      col: 21,
    });
  });

  it('an empty file', () => {
    const err = inputError('');
    expect(err.issues.map((i) => i.path).sort()).toEqual(['name', 'nodes']);
  });
});

describe('broken YAML', () => {
  it('an unclosed bracket', () => {
    const issues = inputError(yaml('name: t', 'nodes: [{ name: a }')).issues;
    expect(issues[0]).toMatchObject({ file: FILE, path: '', line: expect.any(Number), col: expect.any(Number) });
    expect(issues[0]!.message).toMatch(/^broken YAML: /);
    expect(inputError(yaml('name: t', 'nodes: [{ name: a }')).message).toMatch(/^topo\.yaml:\d+:\d+: broken YAML: /);
  });

  it('bad indentation', () => {
    const text = yaml(
      'name: t', //                 1
      'nodes:', //                  2
      '  - name: a', //             3
      '   ip: 192.168.205.2', //    4  (one space short of the mapping)
    );
    const lines = messageLines(text);
    expect(lines[0]).toMatch(/^topo\.yaml:4:\d+: broken YAML: /);
  });

  it('a duplicate key', () => {
    expect(messageLines(yaml('name: t', 'name: u', 'nodes: [{ name: a }]'))[0]).toMatch(/^topo\.yaml:2:1: broken YAML: .*unique/i);
  });

  it('a tab in indentation', () => {
    expect(messageLines(yaml('name: t', 'nodes:', '\t- name: a'))[0]).toMatch(/^topo\.yaml:3:\d+: broken YAML: /);
  });
});

describe('names', () => {
  const bad: [string, string][] = [
    ['uppercase', 'Node1'],
    ['underscore', 'node_1'],
    ['dot', 'node.1'],
    ['leading dash', '-node'],
    ['trailing dash', 'node-'],
    ['space', '"node 1"'],
  ];

  it.each(bad)('node name with %s is refused', (_what, name) => {
    expectOneIssue(yaml('name: t', 'nodes:', `  - { name: ${name} }`), {
      path: 'nodes[0].name',
      message: /not a valid node name/,
      line: 3,
      col: 13,
    });
  });

  it.each(bad)('pod name with %s is refused', (_what, name) => {
    expectOneIssue(twoNodes('pods:', `  - { name: ${name}, node: a }`), {
      path: 'pods[0].name',
      message: /not a valid pod name/,
      line: 6,
      col: 13,
    });
  });

  it.each(bad)('lab name with %s is refused', (_what, name) => {
    expectOneIssue(yaml(`name: ${name}`, 'nodes: [{ name: a }]'), { path: 'name', message: /not a valid lab name/, line: 1, col: 7 });
  });

  it('too long names are refused (node/pod 63, lab 32)', () => {
    expect(load(yaml(`name: ${'l'.repeat(32)}`, `nodes: [{ name: ${'n'.repeat(63)} }]`)).nodes[0]!.name).toHaveLength(63);
    expectOneIssue(yaml('name: t', 'nodes:', `  - { name: ${'n'.repeat(64)} }`), {
      path: 'nodes[0].name',
      message: 'node names are at most 63 characters',
      line: 3,
    });
    expectOneIssue(twoNodes('pods:', `  - { name: ${'p'.repeat(64)}, node: a }`), {
      path: 'pods[0].name',
      message: 'pod names are at most 63 characters',
      line: 6,
    });
    expectOneIssue(yaml(`name: ${'l'.repeat(33)}`, 'nodes: [{ name: a }]'), {
      path: 'name',
      message: 'lab names are at most 32 characters',
      line: 1,
    });
  });

  it('duplicate node names', () => {
    const text = yaml('name: t', 'nodes:', '  - { name: a }', '  - { name: a }');
    expectOneIssue(text, { path: 'nodes[1].name', message: "duplicate name 'a' (also nodes[0].name at line 3)", line: 4, col: 13 });
  });

  it('duplicate pod names', () => {
    expectOneIssue(twoNodes('pods:', '  - { name: p, node: a }', '  - { name: p, node: b }'), {
      path: 'pods[1].name',
      message: "duplicate name 'p' (also pods[0].name at line 6)",
      line: 7,
      col: 13,
    });
  });

  it('a pod named like a node', () => {
    expectOneIssue(twoNodes('pods:', '  - { name: b, node: a }'), {
      path: 'pods[0].name',
      message: "duplicate name 'b' (also nodes[1].name at line 4)",
      line: 6,
      col: 13,
    });
  });
});

describe('addresses', () => {
  it('a pod on a missing node', () => {
    const text = yaml(
      'name: t', //        1
      'nodes:', //         2
      '  - name: a', //    3
      'pods:', //          4
      '  - name: p', //    5
      '    node: b', //    6
    );
    expectOneIssue(text, { path: 'pods[0].node', message: "no node named 'b' (nodes: a)", line: 6, col: 11 });
  });

  it('duplicate node IP', () => {
    const text = yaml('name: t', 'nodes:', '  - { name: a, ip: 192.168.205.7 }', '  - { name: b, ip: 192.168.205.7 }');
    expectOneIssue(text, {
      path: 'nodes[1].ip',
      message: 'duplicate IP 192.168.205.7 (node b; also nodes[0].ip at line 3)',
      line: 4,
      col: 20,
    });
  });

  it('duplicate pod IP, also across the given/allocated boundary', () => {
    expectOneIssue(twoNodes('pods:', '  - { name: p, node: a, ip: 10.42.0.9 }', '  - { name: q, node: a, ip: 10.42.0.9 }'), {
      path: 'pods[1].ip',
      message: 'duplicate IP 10.42.0.9 (pod q; also pods[0].ip at line 6)',
      line: 7,
      col: 29,
    });
    // an allocated pod never takes a given address, wherever the given one sits in the list
    const topo = load(twoNodes('pods:', '  - { name: p, node: a }', '  - { name: q, node: a, ip: 10.42.0.2 }'));
    expect(topo.pods.map((p) => p.ip)).toEqual(['10.42.0.3', '10.42.0.2', '10.42.0.4', '10.42.1.2']);
  });

  it('a pod IP outside its node subnet', () => {
    expectOneIssue(twoNodes('pods:', '  - { name: p, node: a, ip: 10.42.1.9 }'), {
      path: 'pods[0].ip',
      message: "10.42.1.9 is not in a's pod subnet 10.42.0.0/24",
      line: 6,
      col: 29,
    });
  });

  it.each([
    ['10.42.0.0', "10.42.0.0 is a's flannel address (<subnet>.0)"],
    ['10.42.0.1', "10.42.0.1 is a's cni0 address (<subnet>.1)"],
    ['10.42.0.255', 'is the broadcast address of 10.42.0.0/24'],
  ])('a pod IP of %s is refused', (ip, message) => {
    expectOneIssue(twoNodes('pods:', `  - { name: p, node: a, ip: ${ip} }`), {
      path: 'pods[0].ip',
      message: new RegExp(message.replace(/[.()<>]/g, '\\$&')),
      line: 6,
      col: 29,
    });
  });

  it('a node IP outside the underlay', () => {
    expectOneIssue(twoNodes('  - { name: c, ip: 10.0.0.5 }'), {
      path: 'nodes[2].ip',
      message: '10.0.0.5 is not inside the underlay (192.168.205.0/24)',
      line: 5,
      col: 20,
    });
  });

  it('a node IP equal to the gateway, the network or the broadcast address', () => {
    const at = (ip: string) => twoNodes(`  - { name: c, ip: ${ip} }`);
    expectOneIssue(at('192.168.205.1'), {
      path: 'nodes[2].ip',
      message: '192.168.205.1 is the underlay gateway of 192.168.205.0/24',
      line: 5,
      col: 20,
    });
    expectOneIssue(at('192.168.205.0'), { path: 'nodes[2].ip', message: /network or broadcast/, line: 5 });
    expectOneIssue(at('192.168.205.255'), { path: 'nodes[2].ip', message: /network or broadcast/, line: 5 });
  });

  it('CIDRs with host bits set', () => {
    expectOneIssue(twoNodes('cluster: { podCIDR: 10.42.0.1/16 }'), {
      path: 'cluster.podCIDR',
      message: '10.42.0.1/16 has host bits set',
      line: 5,
      col: 21,
    });
    expectOneIssue(twoNodes('  - { name: c, podSubnet: 10.42.7.1/24 }'), {
      path: 'nodes[2].podSubnet',
      message: '10.42.7.1/24 has host bits set',
      line: 5,
      col: 27,
    });
    expectOneIssue(yaml('name: t', 'cluster: { underlay: 192.168.205.9/24 }', 'nodes: [{ name: a }]'), {
      path: 'cluster.underlay',
      message: '192.168.205.9/24 has host bits set',
      line: 2,
      col: 22,
    });
  });

  it('a CIDR with a bad address or prefix', () => {
    expectOneIssue(twoNodes('cluster: { serviceCIDR: 10.43.0.0/33 }'), {
      path: 'cluster.serviceCIDR',
      message: '10.43.0.0/33 is not a valid CIDR',
      line: 5,
    });
    expectOneIssue(twoNodes('cluster: { serviceCIDR: 10.300.0.0/16 }'), {
      path: 'cluster.serviceCIDR',
      message: '10.300.0.0/16 is not a valid CIDR',
      line: 5,
    });
  });
});

describe('subnets and ranges', () => {
  it('overlapping pod subnets between two nodes', () => {
    const text = yaml('name: t', 'nodes:', '  - { name: a, podSubnet: 10.42.0.0/23 }', '  - { name: b, podSubnet: 10.42.1.0/24 }');
    expectOneIssue(text, { path: 'nodes[1].podSubnet', message: "10.42.1.0/24 overlaps a's pod subnet 10.42.0.0/23", line: 4, col: 27 });
  });

  it('a pod subnet outside podCIDR, or too small', () => {
    expectOneIssue(twoNodes('  - { name: c, podSubnet: 10.99.0.0/24 }'), {
      path: 'nodes[2].podSubnet',
      message: /not inside podCIDR 10.42.0.0\/16/,
      line: 5,
    });
    expectOneIssue(twoNodes('  - { name: c, podSubnet: 10.42.9.0/30 }'), { path: 'nodes[2].podSubnet', message: /too small/, line: 5 });
  });

  it('podCIDR overlapping serviceCIDR', () => {
    expectOneIssue(twoNodes('cluster:', '  podCIDR: 10.42.0.0/15'), {
      path: 'cluster.serviceCIDR',
      message: 'serviceCIDR (10.43.0.0/16) overlaps podCIDR (10.42.0.0/15)',
      // serviceCIDR is not in the file (defaulted): located at its nearest parent, cluster's value
      line: 6,
      col: 3,
    });
  });

  it('podCIDR overlapping the underlay', () => {
    const text = yaml('name: t', 'cluster:', '  podCIDR: 10.42.0.0/16', '  underlay: 10.42.200.0/24', 'nodes: [{ name: a }]');
    expectOneIssue(text, {
      path: 'cluster.underlay',
      message: 'underlay 10.42.200.0/24 (10.42.200.0/24) overlaps podCIDR (10.42.0.0/16)',
      line: 4,
      col: 13,
    });
  });

  it('two overlapping underlay segments', () => {
    const text = yaml('name: t', 'cluster:', '  underlay:', '    - 192.168.0.0/16', '    - 192.168.205.0/24', 'nodes: [{ name: a }]');
    expectOneIssue(text, { path: 'cluster.underlay[1]', message: /overlaps underlay 192\.168\.0\.0\/16/, line: 5, col: 7 });
  });

  it('an underlay too small for a gateway and nodes', () => {
    expectOneIssue(yaml('name: t', 'cluster: { underlay: 192.168.205.0/30 }', 'nodes: [{ name: a, ip: 192.168.205.2 }]'), {
      path: 'cluster.underlay',
      message: '192.168.205.0/30 is too small for a gateway and nodes (at most /29)',
      line: 2,
      col: 22,
    });
  });

  it('node subnets larger than podCIDR', () => {
    const issues = inputError(yaml('name: t', 'cluster: { podCIDR: 10.42.0.0/24, nodeSubnetPrefix: 20 }', 'nodes: [{ name: a }]')).issues;
    expect(issues.map((i) => i.path)).toContain('cluster.nodeSubnetPrefix');
  });
});

describe('backends and underlay segments', () => {
  const twoSegments = (backend: string) =>
    yaml(
      'name: t', //                                                      1
      `cluster: { backend: ${backend}, underlay: [192.168.205.0/24, 192.168.206.0/24] }`, // 2
      'nodes:', //                                                       3
      '  - { name: a, ip: 192.168.205.2 }', //                           4
      '  - { name: b, ip: 192.168.206.2 }', //                           5
    );

  it('host-gw refuses nodes on two segments', () => {
    expectOneIssue(twoSegments('host-gw'), {
      path: 'nodes[1].ip',
      message: 'host-gw needs every node on one L2 segment: 192.168.206.2 is not in 192.168.205.0/24 with a',
      line: 5,
      col: 20,
    });
  });

  it('host-gw accepts two segments when every node is on the same one', () => {
    const topo = load(
      yaml(
        'name: t',
        'cluster: { backend: host-gw, underlay: [192.168.205.0/24, 192.168.206.0/24] }',
        'nodes:',
        '  - { name: a }',
        '  - { name: b }',
      ),
    );
    expect(topo.nodes.map((n) => n.underlay)).toEqual(['192.168.205.0/24', '192.168.205.0/24']);
  });

  it('vxlan accepts nodes on two segments', () => {
    const topo = load(twoSegments('vxlan'));
    expect(topo.nodes.map((n) => [n.ip, n.underlay, n.gateway])).toEqual([
      ['192.168.205.2', '192.168.205.0/24', '192.168.205.1'],
      ['192.168.206.2', '192.168.206.0/24', '192.168.206.1'],
    ]);
  });
});

describe('every problem is reported at once', () => {
  it('collects semantic problems across nodes and pods', () => {
    const text = yaml(
      'name: t', //                                          1
      'nodes:', //                                           2
      '  - { name: a, ip: 192.168.205.1 }', //               3  gateway
      '  - { name: b, ip: 10.0.0.2 }', //                    4  outside underlay
      '  - { name: a }', //                                  5  duplicate name
      'pods:', //                                            6
      '  - { name: p, node: zz }', //                        7  missing node
      '  - { name: q, node: b, ip: 10.42.1.1 }', //          8  cni0 address
    );
    const err = inputError(text);
    expect(err.issues.length).toBeGreaterThan(1);
    expect(err.message.split('\n')).toEqual([
      `${FILE}:3:20: nodes[0].ip: 192.168.205.1 is the underlay gateway of 192.168.205.0/24`,
      `${FILE}:4:20: nodes[1].ip: 10.0.0.2 is not inside the underlay (192.168.205.0/24)`,
      `${FILE}:5:13: nodes[2].name: duplicate name 'a' (also nodes[0].name at line 3)`,
      `${FILE}:7:22: pods[0].node: no node named 'zz' (nodes: a, b, a)`,
      `${FILE}:8:29: pods[1].ip: 10.42.1.1 is b's cni0 address (<subnet>.1)`,
    ]);
  });

  it('collects schema problems across the file', () => {
    const text = yaml(
      'name: T', //                         1
      'colour: blue', //                    2
      'cluster: { mtu: "big" }', //         3
      'nodes:', //                          4
      '  - { name: a, ipp: 1.2.3.4 }', //   5
    );
    const err = inputError(text);
    expect(err.issues.length).toBe(4);
    expect(err.issues.map((i) => `${i.line}:${i.col} ${i.path}`).sort()).toEqual([
      '1:7 name',
      '2:1 colour',
      '3:17 cluster.mtu',
      '5:16 nodes[0].ipp',
    ]);
  });
});

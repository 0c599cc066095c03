import { topologyIssues as issues } from '../../testing/topology-issues';
import { calicoVethName, parseNamespace, podNamespace } from '../../model/kernel-names';
import { modelOf } from '../../model/lab';
import { loadTopologyText } from '../resolve';
import { podMeta, podRef } from '../types';

// Kubernetes namespaces: pods of one name in several namespaces, selectors scoped to the
// service's namespace, namespace labels, and EndpointSlices given as they are.

const yaml = (...lines: string[]) => lines.join('\n') + '\n';

const e2e = yaml(
  'name: ns',
  'cluster: { dns: false }', // no kube-system of the lab's own
  'nodes: [{ name: n1 }, { name: n2 }]',
  'namespaces: [{ name: x, labels: { team: red } }, { name: y }]',
  'pods:',
  '  - { name: a, node: n1, namespace: x, labels: { pod: a }, ports: [80] }',
  '  - { name: a, node: n2, namespace: y, labels: { pod: a }, ports: [80] }',
  '  - { name: a, node: n1, labels: { pod: a }, ports: [80] }',
  'services:',
  '  - { name: s-a, namespace: x, selector: { pod: a }, ports: [{ port: 80 }] }',
  '  - { name: s-a, namespace: z, selector: { pod: a }, ports: [{ port: 80 }] }',
);

describe('pods in Kubernetes namespaces', () => {
  const topo = loadTopologyText(e2e, 'topo.yaml');

  it('names a pod <ns>/<name> outside default, and podMeta gives both parts back', () => {
    expect(topo.pods.map((p) => p.name)).toEqual(['x/a', 'y/a', 'a']);
    expect(topo.pods.map((p) => podMeta(p))).toEqual([
      { namespace: 'x', name: 'a' },
      { namespace: 'y', name: 'a' },
      { namespace: 'default', name: 'a' },
    ]);
    expect(podRef('default', 'a')).toBe('a');
    expect(podRef('x', 'a')).toBe('x/a');
  });

  it('gives each its own network namespace, which parses back to the pod', () => {
    const ns = podNamespace('ns', 'n1', 'x/a');
    expect(ns).toBe('kdl.ns.n1.x.a');
    expect(parseNamespace(ns)).toEqual({ role: 'pod', lab: 'ns', node: 'n1', pod: 'x/a' });
    expect(calicoVethName('x/a')).not.toBe(calicoVethName('y/a'));
  });

  it("lists every namespace with the API server's kubernetes.io/metadata.name label", () => {
    expect(topo.namespaces).toEqual([
      { name: 'default', labels: { 'kubernetes.io/metadata.name': 'default' } },
      { name: 'x', labels: { team: 'red', 'kubernetes.io/metadata.name': 'x' } },
      { name: 'y', labels: { 'kubernetes.io/metadata.name': 'y' } },
      { name: 'z', labels: { 'kubernetes.io/metadata.name': 'z' } },
    ]);
  });

  it("selects pods of the service's own namespace only", () => {
    const svcs = modelOf(topo).proxy.services;
    expect(svcs.find((s) => s.namespace === 'x')!.endpoints.map((e) => e.pod)).toEqual(['x/a']);
    expect(svcs.find((s) => s.namespace === 'z')!.endpoints).toEqual([]);
  });

  it('refuses two pods of one name in one namespace, and a wrong metadata.name label', () => {
    expect(
      issues(yaml('name: t', 'nodes: [{ name: n }]', 'pods: [{ name: a, node: n, namespace: x }, { name: a, node: n, namespace: x }]'))[0],
    ).toMatch(/pods\[1\]\.name: duplicate name 'x\/a'/);
    expect(
      issues(yaml('name: t', 'nodes: [{ name: n }]', "namespaces: [{ name: x, labels: { 'kubernetes.io/metadata.name': y } }]"))[0],
    ).toMatch(/namespaces\[0\]\.labels\.kubernetes\.io\/metadata\.name: the API server sets this label/);
  });
});

describe('EndpointSlices given in the topology', () => {
  const text = yaml(
    'name: sl',
    'cluster: { dns: false }', // services[0] is ext
    'nodes: [{ name: n1 }, { name: n2 }]',
    'pods: [{ name: p, node: n2, namespace: other, ports: [8080] }]',
    'services:',
    '  - { name: ext, ports: [{ name: http, port: 80 }] }',
    'endpointSlices:',
    '  - name: ext-abcde',
    '    service: ext',
    '    ports: [{ name: http, port: 8080 }]',
    '    endpoints:',
    '      - { addresses: [10.42.1.2] }',
    '      - { addresses: [10.42.0.99], nodeName: n1, conditions: { ready: false, serving: true, terminating: true } }',
  );

  it('takes the endpoints from the slice: pods found by address, other addresses with their node', () => {
    const topo = loadTopologyText(text, 'topo.yaml');
    const sp = modelOf(topo).proxy.services[0]!;
    expect(sp.allEndpoints.map((e) => `${e.ip}:${e.port} ${e.pod || '-'} ${e.node} ${e.ready ? 'ready' : 'terminating'}`)).toEqual([
      '10.42.0.99:8080 - n1 terminating',
      '10.42.1.2:8080 other/p n2 ready',
    ]);
    expect(sp.endpoints.map((e) => e.ip)).toEqual(['10.42.1.2']);
  });

  it('refuses a slice of a missing service, a missing node, and a targetRef with another address', () => {
    expect(issues(text.replace('service: ext', 'service: nope'))[0]).toMatch(/endpointSlices\[0\]\.service: no service 'default\/nope'/);
    expect(issues(text.replace('nodeName: n1', 'nodeName: n9'))[0]).toMatch(
      /endpointSlices\[0\]\.endpoints\[1\]\.nodeName: no node named 'n9'/,
    );
    expect(
      issues(
        text.replace('{ addresses: [10.42.1.2] }', '{ addresses: [10.42.1.3], targetRef: { kind: Pod, name: p, namespace: other } }'),
      )[0],
    ).toMatch(/endpointSlices\[0\]\.endpoints\[0\]\.addresses\[0\]: pod other\/p has address 10\.42\.1\.2, not 10\.42\.1\.3/);
  });
});

import { join } from 'node:path';
import { main } from '../../cli';
import { getObjects } from '../../ops/k8s';
import { inRepo } from '../../paths';
import { expectGoldenFile } from '../../testing/golden';
import { loadTopology, loadTopologyText } from '../../topology/resolve';
import { humanDuration, tabwrite } from '../get';
import { generatedName, labList, labObjects, renderObjects } from '../objects';

// `lab export` and `lab get`: the lab as Kubernetes objects, and kubectl's tables of them.

const GOLDEN = join(__dirname, 'golden');
const topo = (name: string) => inRepo('scenarios', 'topologies', name);
const DEFAULT = topo('default.yaml');
const ARTICLE_004 = topo('articles/004-kind-ithome-2024.yaml');

/** A lab with what the objects must carry: named target ports, conditions, policies, affinity, a headless service, a given slice. */
const FEATURES = `
name: k8s-features
cluster: { podCIDR: 10.42.0.0/16, serviceCIDR: 10.43.0.0/16, underlay: 192.168.205.0/24, backend: vxlan, dns: false }
proxy: { mode: iptables }
namespaces:
  - { name: shop, labels: { team: shop } }
nodes:
  - { name: node1, ip: 192.168.205.4, podSubnet: 10.42.0.0/24 }
  - { name: node2, ip: 192.168.205.3, podSubnet: 10.42.1.0/24 }
pods:
  - { name: api-1, namespace: shop, node: node1, ip: 10.42.0.10, labels: { app: api }, ports: [{ name: http, port: 8080 }] }
  - { name: api-2, namespace: shop, node: node2, ip: 10.42.1.10, labels: { app: api }, ports: [{ name: http, port: 9090 }] }
  - { name: api-3, namespace: shop, node: node2, ip: 10.42.1.11, labels: { app: api }, ports: [{ name: http, port: 8080 }],
      conditions: { ready: false, serving: true, terminating: true } }
  - { name: db-0, namespace: shop, node: node1, ip: 10.42.0.20, labels: { app: db }, ports: [5432] }
  - { name: ext-1, node: node2, ip: 10.42.1.30, labels: { app: ext }, ports: [80], conditions: { ready: false } }
services:
  - name: api
    namespace: shop
    type: NodePort
    clusterIP: 10.43.1.1
    selector: { app: api }
    externalTrafficPolicy: Local
    sessionAffinity: ClientIP
    sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } }
    ports: [{ name: web, port: 80, targetPort: http, nodePort: 30080 }]
  - { name: db, namespace: shop, clusterIP: None, selector: { app: db }, ports: [{ port: 5432, targetPort: 5432 }] }
  - { name: ext, clusterIP: 10.43.1.3, internalTrafficPolicy: Local, ports: [{ name: http, port: 80, targetPort: 80 }] }
  - { name: lonely, clusterIP: 10.43.1.4, selector: { app: none }, ports: [{ port: 80, targetPort: 80 }] }
networkPolicies:
  - { name: default-deny, namespace: shop, podSelector: {} }
  - name: api-from-web
    namespace: shop
    podSelector:
      matchLabels: { app: api }
      matchExpressions: [{ key: tier, operator: NotIn, values: [z, b] }, { key: env, operator: Exists }]
    ingress:
      - from: [{ namespaceSelector: { matchLabels: { team: shop } } }, { ipBlock: { cidr: 10.0.0.0/8, except: [10.1.0.0/16] } }]
        ports: [{ port: http }, { protocol: UDP, port: 5000, endPort: 5010 }]
    egress: [{}]
endpointSlices:
  - name: ext-abcde
    service: ext
    ports: [{ name: http, port: 80 }]
    endpoints:
      - { addresses: [10.42.1.30], conditions: { ready: false, serving: true, terminating: false } }
      - { addresses: [192.168.205.99], nodeName: node1 }
`;
const features = () => loadTopologyText(FEATURES, 'features.yaml');

describe('lab export: the lab as Kubernetes objects', () => {
  test.each([
    ['default', DEFAULT],
    ['article-004', ARTICLE_004],
    ['dns', topo('dns.yaml')],
  ])('%s: a List as kubectl get -o yaml prints it (golden)', (name, file) => {
    expectGoldenFile(join(GOLDEN, `${name}.export.yaml`), renderObjects(labList(labObjects(loadTopology(file))), 'yaml'));
  });

  test('every modelled field: golden, and what each object says', () => {
    const o = labObjects(features(), '2026-12-02T05:00:00Z');
    expectGoldenFile(join(GOLDEN, 'features.export.yaml'), renderObjects(labList(o), 'yaml'));
    expect(o.namespaces.map((n) => [n.metadata.name, n.metadata.labels])).toEqual([
      ['default', { 'kubernetes.io/metadata.name': 'default' }],
      ['shop', { team: 'shop', 'kubernetes.io/metadata.name': 'shop' }],
    ]);
    const api = o.services.find((s) => s.metadata.name === 'api')!;
    expect(api.spec).toMatchObject({
      type: 'NodePort',
      externalTrafficPolicy: 'Local',
      internalTrafficPolicy: 'Cluster',
      sessionAffinity: 'ClientIP',
      sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } },
      ports: [{ name: 'web', port: 80, targetPort: 'http', nodePort: 30080, protocol: 'TCP' }],
    });
    expect(o.services.find((s) => s.metadata.name === 'ext')!.spec).not.toHaveProperty('selector');
    // a named target port that is 8080 on two pods and 9090 on one: two slices, as the controller makes them
    const apiSlices = o.endpointSlices.filter((s) => s.metadata.labels?.['kubernetes.io/service-name'] === 'api');
    expect(apiSlices.map((s) => [s.ports, s.endpoints.map((e) => e.addresses[0])]).sort()).toEqual([
      [[{ name: 'web', port: 8080, protocol: 'TCP' }], ['10.42.0.10', '10.42.1.11']],
      [[{ name: 'web', port: 9090, protocol: 'TCP' }], ['10.42.1.10']],
    ]);
    expect(apiSlices.every((s) => /^api-[bcdfghjklmnpqrstvwxz2456789]{5}$/.test(s.metadata.name))).toBe(true);
    const terminating = apiSlices.flatMap((s) => s.endpoints).find((e) => e.addresses[0] === '10.42.1.11')!;
    expect(terminating).toEqual({
      addresses: ['10.42.1.11'],
      conditions: { ready: false, serving: true, terminating: true },
      nodeName: 'node2',
      targetRef: { kind: 'Pod', name: 'api-3', namespace: 'shop' },
    });
    // the given slice, as given (its pod found by address)
    expect(o.endpointSlices.find((s) => s.metadata.name === 'ext-abcde')).toMatchObject({
      metadata: { namespace: 'default', labels: { 'kubernetes.io/service-name': 'ext' } },
      endpoints: [
        { addresses: ['10.42.1.30'], conditions: { ready: false, serving: true, terminating: false }, targetRef: { name: 'ext-1' } },
        { addresses: ['192.168.205.99'], nodeName: 'node1' },
      ],
    });
    // a selector matching nothing: the controller's empty slice
    expect(o.endpointSlices.find((s) => s.metadata.name.startsWith('lonely-'))).toMatchObject({ endpoints: [], ports: [] });
    const api3 = o.pods.find((p) => p.metadata.name === 'api-3')!;
    expect(api3.metadata).toMatchObject({ namespace: 'shop', deletionTimestamp: '2026-12-02T05:00:00Z' });
    expect(api3.status.conditions.find((c) => c.type === 'Ready')!.status).toBe('True'); // still serving
    expect(o.pods.find((p) => p.metadata.name === 'ext-1')!.status.containerStatuses[0]!.ready).toBe(false);
  });

  test('network policies: the object as the API shows it', () => {
    const o = labObjects(features());
    expect(o.networkPolicies.map((p) => p.metadata.name)).toEqual(['api-from-web', 'default-deny']);
    expect(o.networkPolicies[0]!.spec).toEqual({
      podSelector: {
        matchLabels: { app: 'api' },
        matchExpressions: [
          { key: 'tier', operator: 'NotIn', values: ['z', 'b'] },
          { key: 'env', operator: 'Exists' },
        ],
      },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [
        {
          from: [{ namespaceSelector: { matchLabels: { team: 'shop' } } }, { ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }],
          ports: [
            { protocol: 'TCP', port: 'http' },
            { protocol: 'UDP', port: 5000, endPort: 5010 },
          ],
        },
      ],
      egress: [{}],
    });
    expect(o.networkPolicies[1]!.spec).toEqual({ podSelector: {}, policyTypes: ['Ingress'] });
  });

  test('slice names are stable for a lab and differ between services', () => {
    expect(generatedName('web', 'a/default/web/0')).toBe(generatedName('web', 'a/default/web/0'));
    expect(generatedName('web', 'a/default/web/0')).not.toBe(generatedName('web', 'a/default/web/1'));
  });
});

describe('lab get: kubectl columns', () => {
  const now = Date.parse('2026-12-02T05:03:20Z'); // 200 s after the features lab came up
  const get = (resource: string, more: Partial<Parameters<typeof getObjects>[0]> = {}) =>
    getObjects({ file: ARTICLE_004, resource, ...more }, now);

  test('article 004: kubectl get -n ithome pod,svc -o wide as the article prints them', () => {
    expect(get('pods', { namespace: 'ithome', output: 'wide' }).stdout).toBe(
      [
        'NAME                     READY   STATUS    RESTARTS   AGE         IP           NODE                  NOMINATED NODE   READINESS GATES',
        'nginx-7584b6f84c-2z6z9   1/1     Running   0          <unknown>   10.244.1.2   ithome-2024-worker2   <none>           <none>',
        'nginx-7584b6f84c-pjbkm   1/1     Running   0          <unknown>   10.244.2.2   ithome-2024-worker    <none>           <none>',
        'nginx-7584b6f84c-wcq92   1/1     Running   0          <unknown>   10.244.2.3   ithome-2024-worker    <none>           <none>',
        '',
      ].join('\n'),
    );
    expect(get('svc', { namespace: 'ithome', output: 'wide' }).stdout).toBe(
      [
        'NAME    TYPE        CLUSTER-IP      EXTERNAL-IP   PORT(S)    AGE         SELECTOR',
        'nginx   ClusterIP   10.96.191.108   <none>        8080/TCP   <unknown>   app=nginx',
        '',
      ].join('\n'),
    );
  });

  test('po,svc: each table in turn, names as <type>/<name>, a blank line between', () => {
    expect(get('po,svc', { namespace: 'ithome' }).stdout).toBe(
      [
        'NAME                         READY   STATUS    RESTARTS   AGE',
        'pod/nginx-7584b6f84c-2z6z9   1/1     Running   0          <unknown>',
        'pod/nginx-7584b6f84c-pjbkm   1/1     Running   0          <unknown>',
        'pod/nginx-7584b6f84c-wcq92   1/1     Running   0          <unknown>',
        '',
        'NAME            TYPE        CLUSTER-IP      EXTERNAL-IP   PORT(S)    AGE',
        'service/nginx   ClusterIP   10.96.191.108   <none>        8080/TCP   <unknown>',
        '',
      ].join('\n'),
    );
    expect(() => get('po,svc', { names: ['x'] })).toThrow('names go with one resource type');
  });

  test('nothing in the namespace: kubectl message on stderr, exit 0; a name not there: exit 1', () => {
    expect(get('po')).toMatchObject({ stdout: expect.stringContaining('client') as unknown, code: 0 });
    expect(get('svc')).toEqual({ stdout: '', stderr: ['No resources found in default namespace.'], code: 0 });
    expect(get('netpol', { allNamespaces: true })).toEqual({ stdout: '', stderr: ['No resources found'], code: 0 });
    expect(get('pods', { names: ['nope'] })).toEqual({
      stdout: '',
      stderr: ['Error from server (NotFound): pods "nope" not found'],
      code: 1,
    });
  });

  test('-A adds NAMESPACE first; nodes are cluster-scoped; endpointslices, node wide columns', () => {
    const f = (resource: string, more: Partial<Parameters<typeof getObjects>[0]> = {}) => {
      const t = features();
      return getObjects({ file: '', resource, ...more }, now, { topo: t, createdAt: '2026-12-02T05:00:00Z' }).stdout;
    };
    expect(f('pods', { allNamespaces: true })).toBe(
      [
        'NAMESPACE   NAME    READY   STATUS        RESTARTS   AGE',
        'default     ext-1   0/1     Running       0          3m20s',
        'shop        api-1   1/1     Running       0          3m20s',
        'shop        api-2   1/1     Running       0          3m20s',
        'shop        api-3   1/1     Terminating   0          3m20s',
        'shop        db-0    1/1     Running       0          3m20s',
        '',
      ].join('\n'),
    );
    expect(f('services', { namespace: 'shop' })).toBe(
      [
        'NAME   TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)        AGE',
        'api    NodePort    10.43.1.1    <none>        80:30080/TCP   3m20s',
        'db     ClusterIP   None         <none>        5432/TCP       3m20s',
        '',
      ].join('\n'),
    );
    expect(f('netpol', { namespace: 'shop' })).toBe(
      [
        'NAME           POD-SELECTOR                   AGE',
        'api-from-web   app=api,env,tier notin (b,z)   3m20s',
        'default-deny   <none>                         3m20s',
        '',
      ].join('\n'),
    );
    expect(f('endpointslices')).toMatch(
      /^NAME +ADDRESSTYPE +PORTS +ENDPOINTS +AGE\next-abcde +IPv4 +80 +10\.42\.1\.30,192\.168\.205\.99 +3m20s\nlonely-\w{5} +IPv4 +<unset> +<unset> +3m20s\n$/,
    );
    expect(f('no', { output: 'wide', namespace: 'shop' })).toBe(
      [
        'NAME    STATUS   ROLES    AGE     VERSION   INTERNAL-IP     EXTERNAL-IP   OS-IMAGE    KERNEL-VERSION   CONTAINER-RUNTIME',
        'node1   Ready    <none>   3m20s             192.168.205.4   <none>        <unknown>   <unknown>        <unknown>',
        'node2   Ready    <none>   3m20s             192.168.205.3   <none>        <unknown>   <unknown>        <unknown>',
        '',
      ].join('\n'),
    );
  });

  test('-o yaml of one object is that object; of several, a List; -o json as kubectl indents it', () => {
    const one = get('svc', { namespace: 'ithome', names: ['nginx'], output: 'yaml' }).stdout;
    expect(one).toMatch(/^apiVersion: v1\nkind: Service\nmetadata:\n {2}name: nginx\n {2}namespace: ithome\n/);
    const list = get('pods', { namespace: 'ithome', output: 'json' }).stdout;
    const parsed = JSON.parse(list) as { kind: string; items: unknown[] };
    expect(parsed.kind).toBe('List');
    expect(parsed.items).toHaveLength(3);
    expect(list.split('\n')[1]).toBe('    "apiVersion": "v1",');
  });

  test.each([
    [0, '0s'],
    [45_000, '45s'],
    [119_000, '119s'],
    [200_000, '3m20s'],
    [600_000, '10m'],
    [179 * 60_000, '179m'],
    [3 * 3600_000, '3h'],
    [(5 * 60 + 3) * 60_000, '5h3m'],
    [20 * 3600_000, '20h'],
    [(3 * 24 + 4) * 3600_000, '3d4h'],
    [40 * 24 * 3600_000, '40d'],
    [(2 * 365 + 30) * 24 * 3600_000, '2y30d'],
    [9 * 365 * 24 * 3600_000, '9y'],
  ])('AGE of %d ms: %s (apimachinery HumanDuration)', (ms, text) => expect(humanDuration(ms)).toBe(text));

  test("tabwriter: kubectl's min width 6 and padding 3, the last column unpadded", () => {
    expect(
      tabwrite([
        ['A', 'BB', 'C'],
        ['long-name', 'x', 'y'],
      ]),
    ).toBe('A           BB    C\nlong-name   x     y\n');
  });
});

describe('lab get / export (CLI)', () => {
  let out: string[];
  let errs: string[];
  beforeEach(() => {
    out = [];
    errs = [];
    jest.spyOn(process.stdout, 'write').mockImplementation((s: unknown) => (out.push(String(s)), true));
    jest.spyOn(console, 'error').mockImplementation((s: unknown) => void errs.push(String(s)));
  });
  afterEach(() => {
    jest.restoreAllMocks();
    process.exitCode = undefined;
  });

  test('get po -n ithome -t <file>: 0; an unknown resource or output: 2; a lab not up: 3', async () => {
    expect(await main(['get', 'po', '-n', 'ithome', '-t', ARTICLE_004])).toBe(0);
    expect(out.join('')).toContain('nginx-7584b6f84c-2z6z9');
    expect(await main(['get', 'deployments', '-t', ARTICLE_004])).toBe(2);
    expect(errs.join('\n')).toContain('the server doesn\'t have a resource type "deployments"');
    expect(await main(['get', 'po', '-o', 'name', '-t', ARTICLE_004])).toBe(2);
    expect(await main(['get', 'po', '--name', 'k8scmd-no-such-lab'])).toBe(3);
  });

  test('export -o json: a List of every kind; export -o wide: 2', async () => {
    expect(await main(['export', '-o', 'json', '-t', ARTICLE_004])).toBe(0);
    const list = JSON.parse(out.join('')) as { kind: string; items: { kind: string }[] };
    expect(list.kind).toBe('List');
    expect([...new Set(list.items.map((i) => i.kind))]).toEqual(['Namespace', 'Node', 'Pod', 'Service', 'EndpointSlice']);
    expect(await main(['export', '-o', 'wide', '-t', ARTICLE_004])).toBe(2);
  });
});

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatIssue, InputError, type InputIssue } from '../../errors';
import { labList, labObjects, renderObjects } from '../../k8s/objects';
import { proxyModel, svcChain } from '../../model/proxy';
import { iptablesRules } from '../../proxy/iptables';
import { planListeners } from '../../pods/servers';
import { fnv32a, generatedPodNames, KUBE_ALPHABET, podTemplateHash, safeEncode } from '../manifests/names';
import { loadTopology, loadTopologyAll } from '../resolve';
import { serviceSchema } from '../schema';
import type { Topology } from '../types';

// Kubernetes objects as a lab's input (lab/topology/manifests): the source articles' clusters and
// a kind-like cluster as kubectl dumps them, the names the controllers give pods, and every
// malformed object refused with its file:line:col and the object's name.

const REPO = join(__dirname, '..', '..', '..');
const dump = (name: string) => join(REPO, 'scenarios', 'topologies', 'manifests', name);
const dir = mkdtempSync(join(tmpdir(), 'kdl-manifests-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
const write = (text: string, name = `m${n++}.yaml`) => {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
};
const quiet =
  (warnings: InputIssue[] = []) =>
  (i: InputIssue) =>
    void warnings.push(i);
// the lab's own cluster DNS (on by default) left out: these are about what the objects give
const load = (file: string, warnings: InputIssue[] = [], overrides: { dns?: boolean } = { dns: false }): Topology =>
  loadTopology(file, overrides, quiet(warnings));
const errorsOf = (file: string): string[] => {
  try {
    load(file);
  } catch (e) {
    if (e instanceof InputError) return e.issues.map(formatIssue);
    throw e;
  }
  throw new Error('expected an InputError');
};
const chains = (t: Topology) => proxyModel(t).services.map((sp) => `${sp.id} ${svcChain(sp)}`);

const NODES = `apiVersion: v1
kind: Node
metadata: { name: n1 }
spec: { podCIDR: 10.244.0.0/24 }
status: { addresses: [{ type: InternalIP, address: 172.18.0.2 }] }
---
apiVersion: v1
kind: Node
metadata: { name: n2 }
spec: { podCIDR: 10.244.1.0/24 }
status: { addresses: [{ type: InternalIP, address: 172.18.0.3 }] }
`;

describe('the source articles as kubectl dumps', () => {
  it("004: kind's ithome-2024 from the dump alone: its names, ranges and KUBE-SVC-V6MXQNFYUC7YNW7B", () => {
    const warnings: InputIssue[] = [];
    const t = load(dump('004-kind-ithome-2024.yaml'), warnings);
    expect(t.name).toBe('ithome-2024'); // kind://docker/ithome-2024/… on the nodes
    expect(t.cluster).toMatchObject({ podCIDR: '10.244.0.0/16', serviceCIDR: '10.96.0.0/16', backend: 'host-gw' });
    expect(t.cluster.underlay).toEqual([{ cidr: '172.18.0.0/24', gateway: '172.18.0.1' }]);
    expect(t.pods.map((p) => `${p.name} ${p.node} ${p.ip}`)).toEqual([
      'ithome/nginx-7584b6f84c-2z6z9 ithome-2024-worker2 10.244.1.2',
      'ithome/nginx-7584b6f84c-pjbkm ithome-2024-worker 10.244.2.2',
      'ithome/nginx-7584b6f84c-wcq92 ithome-2024-worker 10.244.2.3',
      'client ithome-2024-control-plane 10.244.0.5',
    ]);
    expect(chains(t)).toEqual(['ithome/nginx KUBE-SVC-V6MXQNFYUC7YNW7B']);
    expect(t.proxy.mode).toBe('iptables');
    // the Deployment and its ReplicaSet are not expanded: their pods are in the dump
    expect(t.pods).toHaveLength(4);
    expect(warnings.map((w) => w.message)).toEqual(['1 ConfigMap ignored (they do not change the dataplane)']);
  });

  it('003: the k3s cluster, flannel VXLAN from the nodes, KUBE-SVC-7CWUT4JBGBRVUN2L on NodePort 32506', () => {
    const t = load(dump('003-k3s-three-nodes.yaml'));
    expect(t.name).toBe('cluster');
    expect(t.cluster).toMatchObject({ podCIDR: '10.42.0.0/16', serviceCIDR: '10.43.0.0/16', backend: 'vxlan' });
    expect(t.nodes.map((x) => `${x.name} ${x.ip} ${x.podSubnet}`)).toEqual([
      'master 192.168.205.4 10.42.0.0/24',
      'node1 192.168.205.3 10.42.1.0/24',
      'node2 192.168.205.5 10.42.2.0/24',
    ]);
    expect(chains(t)).toEqual(['default/nginx-test:80-80 KUBE-SVC-7CWUT4JBGBRVUN2L']);
    expect(t.services[0]).toMatchObject({ type: 'NodePort', clusterIP: '10.43.6.58', ports: [{ nodePort: 32506, targetPort: 80 }] });
  });

  it('the dumps give what the hand-written article topologies give', () => {
    const mine = load(dump('004-kind-ithome-2024.yaml'));
    const theirs = loadTopology(join(REPO, 'scenarios/topologies/articles/004-kind-ithome-2024.yaml'), { dns: false });
    const view = (t: Topology) => ({
      pods: t.pods.map((p) => [p.name, p.node, p.ip]),
      services: t.services.map((s) => [s.clusterIP, s.ports]),
    });
    expect(view(mine)).toEqual(view(theirs));
  });
});

describe('a kind-like cluster from the API reference', () => {
  const warnings: InputIssue[] = [];
  // as `up -f` loads it: the lab's DNS, on by default, gives way to the dump's own kube-dns
  const t = load(dump('kind-small-cluster.yaml'), warnings, {});

  it("gives real clusters' well-known chain names", () => {
    expect(chains(t)).toEqual([
      'default/kubernetes:https KUBE-SVC-NPX46M4PTMTKRN6Y',
      'kube-system/kube-dns:dns-tcp KUBE-SVC-ERIFXISQEP7F7OF4',
      'kube-system/kube-dns:dns KUBE-SVC-TCOU7JCQXEZGVUNU',
      'kube-system/kube-dns:metrics KUBE-SVC-JD5MR3NA4I4DYORP',
      'shop/web:http KUBE-SVC-67NZLRHBNDSAWJRO',
    ]);
  });

  it("takes kubeadm's subnets, kube-proxy's mode, and keeps its own kube-dns (the lab's DNS off)", () => {
    expect(t.name).toBe('kind');
    expect(t.cluster).toMatchObject({ podCIDR: '10.244.0.0/16', serviceCIDR: '10.96.0.0/16' });
    expect(t.cluster.dns).toBeUndefined();
    expect(t.services.find((s) => s.name === 'kube-dns')).toMatchObject({ namespace: 'kube-system', clusterIP: '10.96.0.10' });
  });

  it('default/kubernetes: its EndpointSlice, the control plane at 172.18.0.2:6443', () => {
    expect(t.endpointSlices).toEqual([
      {
        name: 'kubernetes',
        namespace: 'default',
        service: 'kubernetes',
        ports: [{ name: 'https', port: 6443, protocol: 'TCP' }],
        endpoints: [{ ip: '172.18.0.2', conditions: { ready: true, serving: true, terminating: false } }],
      },
    ]);
  });

  it("plans no server for an endpoint that is no pod (the API server's 172.18.0.2:6443)", () => {
    const listeners = planListeners(t);
    expect(listeners.some((l) => l.port === 6443)).toBe(false);
    expect(listeners.filter((l) => l.pod.startsWith('kube-system/coredns-')).map((l) => `${l.port}/${l.protocol}`)).toEqual([
      '53/TCP',
      '53/UDP',
      '9153/TCP',
      '53/TCP',
      '53/UDP',
      '9153/TCP',
    ]);
  });

  it('expands the controllers: replicas round-robin over schedulable nodes, a DaemonSet where its taints allow', () => {
    const pods = (prefix: string) => t.pods.filter((p) => p.name.startsWith(prefix)).map((p) => `${p.name} ${p.node}`);
    const hash = podTemplateHash('shop', 'web');
    expect(pods('shop/web-')).toEqual(
      generatedPodNames('shop', `web-${hash}`, 3).map((x, i) => `shop/${x} ${['kind-worker', 'kind-worker2', 'kind-worker'][i]}`),
    );
    // coredns tolerates the control plane's taint
    expect(pods('kube-system/coredns-').map((p) => p.split(' ')[1])).toEqual(['kind-control-plane', 'kind-worker']);
    expect(pods('shop/db-')).toEqual(['shop/db-0 kind-worker', 'shop/db-1 kind-worker2']);
    expect(t.pods.find((p) => p.name === 'shop/db-1')).toMatchObject({
      hostname: 'db-1',
      subdomain: 'db',
      labels: { 'statefulset.kubernetes.io/pod-name': 'db-1' },
    });
    // no toleration for node-role.kubernetes.io/control-plane:NoSchedule: not on the control plane
    expect(pods('shop/node-agent-').map((p) => p.split(' ')[1])).toEqual(['kind-worker', 'kind-worker2']);
    expect(t.pods.find((p) => p.name.startsWith('shop/web-'))!.labels).toEqual({ app: 'web', tier: 'frontend', 'pod-template-hash': hash });
    // the same dump, the same lab
    expect(load(dump('kind-small-cluster.yaml')).pods).toEqual(t.pods);
  });

  it('says what it ignored, once per kind, and which hostNetwork pods are their nodes', () => {
    expect(warnings.map((w) => w.message)).toEqual([
      "Service kube-system/kube-dns: spec.clusterIP: 10.96.0.10: the cluster's own DNS service: the lab's cluster DNS (cluster.dns) is off",
      '1 ConfigMap ignored (they do not change the dataplane)',
      '1 Endpoints ignored (they do not change the dataplane)',
      '1 Secret ignored (they do not change the dataplane)',
      '1 ServiceAccount ignored (they do not change the dataplane)',
      expect.stringMatching(
        /^3 hostNetwork pods left out \(DaemonSet kube-system\/kube-proxy, DaemonSet kube-system\/kindnet, Pod kube-system\/kube-apiserver-kind-control-plane\)/,
      ),
    ]);
  });
});

describe('export → up: the same rules', () => {
  it.each([
    ['default', join(REPO, 'scenarios/topologies/default.yaml')],
    ['the kind dump', dump('kind-small-cluster.yaml')],
  ])('%s exported as Kubernetes objects reads back to the same pods, services and iptables rules', (_, file) => {
    const first = load(file);
    const back = load(write(renderObjects(labList(labObjects(first)), 'yaml'), `export-${n}.yaml`));
    const view = (t: Topology) => ({
      nodes: t.nodes.map((x) => [x.name, x.ip, x.podSubnet]),
      // export lists objects as the API server does, by namespace and name
      pods: t.pods.map((p) => JSON.stringify([p.name, p.node, p.ip, p.ports])).sort(),
      services: t.services.map((s) => JSON.stringify([s.namespace, s.name, s.type, s.clusterIP, s.ports])).sort(),
      cluster: [t.cluster.podCIDR, t.cluster.serviceCIDR],
    });
    expect(view(back)).toEqual(view(first));
    expect(iptablesRules(proxyModel(back))).toEqual(iptablesRules(proxyModel(first)));
  });
});

describe("the controllers' names", () => {
  it('encode as rand.SafeEncodeString does: digits become 4-9 and b, c, d, f', () => {
    expect(safeEncode('0123456789')).toBe('456789bcdf');
    expect(fnv32a('')).toBe(0x811c9dc5);
    expect(fnv32a('a')).toBe(0xe40c292c); // FNV-1a's published test vector
    expect(podTemplateHash('ithome', 'nginx')).toMatch(/^[456789bcdf]{1,10}$/);
    const names = generatedPodNames('ns', 'web-7584b6f84c', 50);
    expect(new Set(names).size).toBe(50);
    for (const x of names) expect(x).toMatch(new RegExp(`^web-7584b6f84c-[${KUBE_ALPHABET}]{5}$`));
  });
});

describe('manifests: in a topology', () => {
  it('reads files and folders relative to the topology; the topology says the rest', () => {
    const sub = join(dir, 'objs');
    mkdirSync(sub, { recursive: true });
    writeFileSync(
      join(sub, 'b-svc.yml'),
      'apiVersion: v1\nkind: Service\nmetadata: { name: web }\nspec: { selector: { app: web }, ports: [{ port: 80 }] }\n',
    );
    writeFileSync(
      join(sub, 'a-deploy.yaml'),
      'apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: web }\nspec:\n  replicas: 2\n  selector: { matchLabels: { app: web } }\n  template: { metadata: { labels: { app: web } }, spec: { containers: [{ name: c, ports: [{ containerPort: 80 }] }] } }\n',
    );
    writeFileSync(join(sub, 'notes.txt'), 'not read');
    const topo = write('name: t\nnodes: [{ name: a }, { name: b }]\nmanifests: [objs]\n');
    const t = load(topo);
    expect(t.pods.map((p) => p.node)).toEqual(['a', 'b']);
    expect(t.services.map((s) => `${s.name} ${s.clusterIP}`)).toEqual(['web 10.43.0.10']);
    const missing = write('name: t\nnodes: [{ name: a }]\nmanifests: [nowhere.yaml]\n');
    expect(errorsOf(missing)).toEqual([`${missing}:3:13: manifests[0]: no such file or folder: ${join(dir, 'nowhere.yaml')}`]);
  });

  it("kube-proxy's ConfigMap decides the mode and the masquerade bit", () => {
    const cm = write(`${NODES}---
apiVersion: v1
kind: ConfigMap
metadata: { name: kube-proxy, namespace: kube-system }
data:
  config.conf: |
    kind: KubeProxyConfiguration
    mode: ipvs
    iptables: { masqueradeBit: 15 }
    ipvs: { scheduler: lc }
`);
    expect(load(cm).proxy).toMatchObject({ mode: 'ipvs', masqueradeBit: 15, scheduler: 'lc' });
    expect(loadTopology(cm, { proxyMode: 'nftables' }, quiet()).proxy.mode).toBe('nftables'); // --proxy wins
  });

  it('NetworkPolicy objects become networkPolicies:, their errors located in the object', () => {
    const np = (sel: string) => `${NODES}---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: deny, namespace: shop }
spec:
  podSelector: ${sel}
  policyTypes: [Ingress]
  ingress: null
`;
    const t = load(write(np('{ matchLabels: { app: web } }')));
    expect(t.networkPolicies.map((p) => [p.namespace, p.name, p.podSelector.matchLabels, p.policyTypes])).toEqual([
      ['shop', 'deny', { app: 'web' }, ['Ingress']],
    ]);
    const bad = write(np('{ matchExpressions: [{ key: app, operator: In }] }'));
    expect(errorsOf(bad)).toEqual([
      `${bad}:17:59: NetworkPolicy shop/deny: spec.podSelector.matchExpressions[0].operator: values must be given when operator is 'In'`,
    ]);
  });

  it("a dump's kube-dns wins over cluster.dns", () => {
    write(
      `apiVersion: v1
kind: Service
metadata: { name: kube-dns, namespace: kube-system }
spec: { clusterIP: 10.43.0.10, ports: [{ name: dns, port: 53, protocol: UDP }] }
`,
      'dns.yaml',
    );
    const warnings: InputIssue[] = [];
    const t = load(write('name: t\ncluster: { dns: true }\nnodes: [{ name: a }]\nmanifests: [dns.yaml]\n'), warnings, {});
    expect(warnings.map((w) => w.message)).toEqual([
      "Service kube-system/kube-dns: spec.clusterIP: 10.43.0.10: the cluster's own DNS service: the lab's cluster DNS (cluster.dns) is off",
    ]);
    expect(t.cluster.dns).toBeUndefined();
    expect(t.services.map((s) => `${s.namespace}/${s.name} ${s.clusterIP}`)).toEqual(['kube-system/kube-dns 10.43.0.10']);
  });
});

describe('malformed objects: file:line:col, the object, and nothing else loads', () => {
  const one = (text: string) => {
    const f = write(text);
    return { f, errors: errorsOf(f) };
  };

  it('a wrong apiVersion', () => {
    const { f, errors } = one(`${NODES}---\napiVersion: extensions/v1beta1\nkind: Deployment\nmetadata: { name: web }\nspec: {}\n`);
    expect(errors).toEqual([
      `${f}:13:13: Deployment default/web: apiVersion: extensions/v1beta1 is not how a Deployment is served: use apps/v1`,
    ]);
  });

  it('a Pod on a missing node', () => {
    const { f, errors } = one(
      `${NODES}---\napiVersion: v1\nkind: Pod\nmetadata: { name: p, namespace: ithome }\nspec: { nodeName: n9, containers: [{ name: c }] }\n`,
    );
    expect(errors).toEqual([`${f}:16:19: Pod ithome/p: spec.nodeName: no node named 'n9' (nodes: n1, n2)`]);
  });

  it("a podIP outside its node's podCIDR", () => {
    const { f, errors } = one(
      `${NODES}---\napiVersion: v1\nkind: Pod\nmetadata: { name: p }\nspec: { nodeName: n1, containers: [{ name: c }] }\nstatus: { podIP: 10.244.1.7 }\n`,
    );
    expect(errors).toEqual([`${f}:17:18: Pod default/p: status.podIP: 10.244.1.7 is not in n1's pod subnet 10.244.0.0/24`]);
  });

  it('duplicate objects', () => {
    const svc = 'apiVersion: v1\nkind: Service\nmetadata: { name: web }\nspec: { ports: [{ port: 80 }] }\n';
    const { f, errors } = one(`${NODES}---\n${svc}---\n${svc}`);
    expect(errors).toEqual([`${f}:18:1: Service default/web: a duplicate object (also at ${f}:13:1)`]);
  });

  it("a Deployment whose selector does not select its template: the API server's refusal", () => {
    const { f, errors } = one(
      `${NODES}---\napiVersion: apps/v1\nkind: Deployment\nmetadata: { name: web }\nspec:\n  selector: { matchLabels: { app: web } }\n  template: { metadata: { labels: { app: api } }, spec: { containers: [{ name: c }] } }\n`,
    );
    expect(errors).toEqual([
      `${f}:17:13: Deployment default/web: spec.selector: does not match the template's labels ({"app":"api"}): the API server refuses it`,
    ]);
  });

  it('a Service selecting no pod is a warning (kubectl takes it), not an error', () => {
    const warnings: InputIssue[] = [];
    const f = write(
      `${NODES}---\napiVersion: v1\nkind: Service\nmetadata: { name: web, namespace: shop }\nspec: { selector: { app: web }, ports: [{ port: 80 }] }\n`,
    );
    load(f, warnings);
    expect(warnings.map(formatIssue)).toEqual([
      `${f}:16:19: Service shop/web: spec.selector: selects no pod: its endpoints are empty and kube-proxy rejects its traffic`,
    ]);
  });

  it("a Service's bad targetPort, unknown field and unmodelled type, all at once", () => {
    const { f, errors } = one(
      `${NODES}---\napiVersion: v1\nkind: Service\nmetadata: { name: nginx, namespace: ithome }\nspec:\n  type: LoadBalancer\n  clusterIp: 10.96.0.5\n  ports: [{ port: 80, targetPort: 70000 }]\n---\napiVersion: v1\nkind: Service\nmetadata: { name: api, namespace: ithome }\nspec:\n  ports: [{ port: 80, targetPort: 70000 }]\n`,
    );
    expect(errors).toEqual([
      `${f}:18:3: Service ithome/nginx: spec.clusterIp: unknown field 'clusterIp' (the lab reads this kind strictly)`,
      `${f}:25:35: Service ithome/api: spec.ports[0].targetPort: Too big: expected number to be <=65535`,
    ]);
    const lbText = `${NODES}---\napiVersion: v1\nkind: Service\nmetadata: { name: nginx, namespace: ithome }\nspec:\n  type: LoadBalancer\n  ports: [{ port: 80 }]\n`;
    // until the services schema has LoadBalancer (issue 18), an error saying so; then it is read like any type
    if (!serviceSchema.shape.type.safeParse('LoadBalancer').success) {
      const lb = one(lbText);
      expect(lb.errors).toEqual([`${lb.f}:17:9: Service ithome/nginx: spec.type: LoadBalancer is not modelled by the lab yet (issue 18)`]);
    } else expect(load(write(lbText)).services.find((s) => s.name === 'nginx')?.type).toBe('LoadBalancer');
  });

  it('a kind the lab should understand but cannot yet: an error naming it', () => {
    const { f, errors } = one(`${NODES}---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: { name: web }\nspec: {}\n`);
    expect(errors).toEqual([
      `${f}:14:7: Ingress default/web: kind: Ingress: an ingress controller (not kube-proxy) serves it; the lab has none yet`,
    ]);
  });

  it('broken YAML, a List item without kind, and a dump without nodes', () => {
    expect(one('apiVersion: v1\nkind: List\nitems: [{ apiVersion: v1, metadata: { name: x } }]\n').errors).toEqual([
      expect.stringMatching(/:3:9: object: kind: is required \(a Kubernetes object has apiVersion and kind\)$/),
    ]);
    expect(one('apiVersion: v1\nkind: Pod\nmetadata: { name: [\n').errors[0]).toMatch(/broken YAML/);
    expect(() => load(write('apiVersion: v1\nkind: Service\nmetadata: { name: web }\nspec: { ports: [{ port: 80 }] }\n'))).toThrow(
      /the objects have no Node/,
    );
  });

  it('every problem of a dump at once, through loadTopologyAll', () => {
    const f = write(
      `${NODES}---\napiVersion: apps/v1beta1\nkind: StatefulSet\nmetadata: { name: a }\n---\napiVersion: v1\nkind: Pod\nmetadata: { name: p }\nspec: { containers: [{ name: c, ports: [{ containerPort: 0 }] }] }\n`,
    );
    expect(loadTopologyAll(f, {}, quiet()).issues.map((i) => i.message)).toEqual([
      'StatefulSet default/a: apiVersion: apps/v1beta1 is not how a StatefulSet is served: use apps/v1',
      'Pod default/p: spec.containers[0].ports[0].containerPort: Too small: expected number to be >=1',
    ]);
  });
});

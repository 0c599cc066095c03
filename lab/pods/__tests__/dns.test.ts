import { topologyIssues as issues } from '../../testing/topology-issues';
import { join } from 'node:path';
import { checkTopologyEnvironment } from '../../ops/environment';
import { modelOf } from '../../model/lab';
import { expectGoldenFile } from '../../testing/golden';
import { loadTopology, loadTopologyText } from '../../topology/resolve';
import { dnsHostsFile, dnsmasqConfig, dnsRecords, dnsServers, podResolvConf } from '../dns';
import { planListeners } from '../servers';

const TOPO = join(__dirname, '../../../scenarios/topologies/dns.yaml');
const GOLDEN = join(__dirname, 'golden');
const yaml = (...lines: string[]) => lines.join('\n') + '\n';

describe('cluster DNS in the topology (cluster.dns)', () => {
  const topo = loadTopology(TOPO);

  it('adds kube-system/kube-dns at the service CIDR .10 with dns/UDP and dns-tcp/TCP 53, and two server pods on two nodes', () => {
    expect(topo.cluster.dns).toEqual({
      domain: 'cluster.local',
      clusterIP: '10.43.0.10',
      pods: ['kube-system/kube-dns-1', 'kube-system/kube-dns-2'],
    });
    const svc = topo.services.find((s) => s.name === 'kube-dns')!;
    expect(svc).toMatchObject({ namespace: 'kube-system', clusterIP: '10.43.0.10', selector: { 'k8s-app': 'kube-dns' } });
    expect(svc.ports.map((p) => `${p.name} ${p.port}/${p.protocol}`)).toEqual(['dns 53/UDP', 'dns-tcp 53/TCP']);
    const pods = topo.pods.filter((p) => p.labels['k8s-app'] === 'kube-dns');
    expect(pods.map((p) => `${p.name} ${p.namespace} ${p.node} ${p.ip}`)).toEqual([
      'kube-system/kube-dns-1 kube-system node1 10.42.0.2',
      'kube-system/kube-dns-2 kube-system node2 10.42.1.2',
    ]);
    // kube-proxy sends to both; the lab's reply listeners leave their port 53 to dnsmasq
    const dns = modelOf(topo).proxy.services.filter((s) => s.service === 'kube-dns');
    expect(dns.map((s) => s.endpoints.map((e) => e.pod).join(','))).toEqual([
      'kube-system/kube-dns-1,kube-system/kube-dns-2',
      'kube-system/kube-dns-1,kube-system/kube-dns-2',
    ]);
    expect(planListeners(topo).filter((l) => l.pod.startsWith('kube-system/kube-dns'))).toEqual([]);
  });

  it('is on by default, as in a cluster, on either runtime; off with cluster.dns: false and with proxy.mode none', () => {
    const t = loadTopologyText(yaml('name: t', 'nodes: [{ name: a }]'));
    expect(t.cluster.dns).toEqual({ domain: 'cluster.local', clusterIP: '10.43.0.10', pods: ['kube-system/kube-dns-1'] });
    expect(t.pods.map((p) => [p.name, p.namespace, p.node])).toEqual([['kube-system/kube-dns-1', 'kube-system', 'a']]);
    expect(t.services.map((s) => `${s.namespace}/${s.name} ${s.clusterIP}`)).toEqual(['kube-system/kube-dns 10.43.0.10']);
    // the docker runtime's node image has dnsmasq and dig: the same DNS there
    expect(loadTopologyText(yaml('name: t', 'runtime: docker', 'nodes: [{ name: a }]')).cluster.dns).toEqual(t.cluster.dns);
    for (const off of ['cluster: { dns: false }', 'proxy: { mode: none }']) {
      const o = loadTopologyText(yaml('name: t', off, 'nodes: [{ name: a }]'));
      expect([off, o.cluster.dns, o.pods, o.services]).toEqual([off, undefined, [], []]);
    }
    // asked for, it is there with no kube-proxy too (the user's choice)
    expect(
      loadTopologyText(yaml('name: t', 'cluster: { dns: true }', 'proxy: { mode: none }', 'nodes: [{ name: a }]')).cluster.dns,
    ).toBeDefined();
  });

  it('leaves headless services (clusterIP: None) out of kube-proxy', () => {
    expect(topo.services.find((s) => s.name === 'db')!.clusterIP).toBe('None');
    expect(modelOf(topo).proxy.services.map((s) => s.service)).not.toContain('db');
  });

  it('refuses a service on the DNS address, a pod with a DNS pod name, and a headless NodePort', () => {
    const base = ['name: t', 'cluster: { dns: true }', 'nodes: [{ name: a }, { name: b }]'];
    expect(
      issues(yaml(...base, 'services:', '  - { name: w, clusterIP: 10.43.0.10, selector: { app: w }, ports: [{ port: 80 }] }')),
    ).toEqual([
      "topo.yaml:5:27: services[0].clusterIP: 10.43.0.10 is the cluster DNS's address (kube-system/kube-dns, the service CIDR's .10): choose another, or set cluster.dns: false",
    ]);
    expect(issues(yaml(...base, 'pods: [{ name: kube-dns-2, node: a, namespace: kube-system }]'))[0]).toMatch(
      /pods\[0\]\.name: 'kube-system\/kube-dns-2' is the name of a cluster DNS pod/,
    );
    // the same name in another namespace is another pod
    expect(loadTopologyText(yaml(...base, 'pods: [{ name: kube-dns-2, node: a }]')).pods.map((p) => p.name)).toContain(
      'kube-system/kube-dns-2',
    );
    expect(
      issues(
        yaml(
          'name: t',
          'nodes: [{ name: a }]',
          'services: [{ name: h, type: NodePort, clusterIP: None, selector: { a: b }, ports: [{ port: 1 }] }]',
        ),
      )[0],
    ).toMatch(/clusterIP: a headless service \(clusterIP: None\) is of type ClusterIP, not NodePort/);
  });

  it('is not refused on the docker runtime: its node image brings dnsmasq and dig, this host needs neither', async () => {
    const t = loadTopologyText(yaml('name: t', 'runtime: docker', 'cluster: { dns: true }', 'nodes: [{ name: a }]'));
    expect(t.cluster.dns).toBeDefined();
    // (as a non-root user it still fails, for root, not for the DNS)
    const outcome = await checkTopologyEnvironment(t).then(
      () => 'ok',
      (e: Error) => e.message,
    );
    expect(outcome).not.toMatch(/dns|dnsmasq|resolv/i);
  });

  it('allocates other services from .11 up when the DNS holds .10', () => {
    const t = loadTopologyText(
      yaml(
        'name: t',
        'cluster: { dns: true, domain: corp.example }',
        'nodes: [{ name: a }]',
        'services: [{ name: w, selector: { a: b }, ports: [{ port: 80 }] }]',
      ),
    );
    expect(t.services.map((s) => `${s.namespace}/${s.name} ${s.clusterIP}`)).toEqual([
      'default/w 10.43.0.11',
      'kube-system/kube-dns 10.43.0.10',
    ]);
    expect(t.cluster.dns).toEqual({ domain: 'corp.example', clusterIP: '10.43.0.10', pods: ['kube-system/kube-dns-1'] });
    expect(podResolvConf(t, { ...t.pods[0]!, name: 'x', namespace: 'team' })).toBe(
      'nameserver 10.43.0.10\nsearch team.svc.corp.example svc.corp.example corp.example\noptions ndots:5\n',
    );
  });
});

describe('cluster DNS data (goldens)', () => {
  const topo = loadTopology(TOPO);
  const records = dnsRecords(topo);

  it('answers services, headless pods by hostname, SRV for named ports and pod names', () => {
    expect(records.a).toContainEqual(['web.default.svc.cluster.local', '10.43.0.20']);
    expect(records.a.filter(([n]) => n === 'db.default.svc.cluster.local').map(([, ip]) => ip)).toEqual(['10.42.1.20', '10.42.2.20']);
    expect(records.a).toContainEqual(['db-0.db.default.svc.cluster.local', '10.42.1.20']);
    expect(records.a).toContainEqual(['10-42-0-65.default.pod.cluster.local', '10.42.0.65']);
    expect(records.srv).toContainEqual({
      name: '_pg._tcp.db.default.svc.cluster.local',
      target: 'db-1.db.default.svc.cluster.local',
      port: 5432,
    });
    expect(records.srv).toContainEqual({
      name: '_http._tcp.web.default.svc.cluster.local',
      target: 'web.default.svc.cluster.local',
      port: 80,
    });
  });

  it('writes the hosts file, each dnsmasq configuration and the pods resolv.conf as in the goldens', () => {
    expectGoldenFile(join(GOLDEN, 'dns.hosts'), dnsHostsFile(records));
    for (const s of dnsServers(topo))
      expectGoldenFile(
        join(GOLDEN, `dns.${s.pod.replace('/', '.')}.conf`),
        dnsmasqConfig(topo, s, records, `/run/k8s-dataplane-lab/dns/dns/${s.pod.replace('/', '.')}.hosts`),
      );
    const client = topo.pods.find((p) => p.name === 'client')!;
    expectGoldenFile(join(GOLDEN, 'dns.client.resolv.conf'), podResolvConf(topo, client)!);
    // the servers keep the node's resolver (CoreDNS's dnsPolicy: Default)
    expect(
      podResolvConf(
        topo,
        topo.pods.find((p) => p.name === 'kube-system/kube-dns-1')!,
      ),
    ).toBeUndefined();
  });
});

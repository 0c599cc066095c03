import { base32, proxyModel, proxyNodes, sepChain, sha256, sha256Base32, svcChain, type ServicePortModel } from '../../model/proxy';
import { loadTopologyText } from '../../topology/resolve';

// Chain names as they stand in the articles' own `iptables -L` listings (shared/seeds).
const sp = (id: string, protocol: 'TCP' | 'UDP' = 'TCP'): ServicePortModel => ({
  namespace: '',
  service: '',
  portName: '',
  id,
  type: 'ClusterIP',
  protocol,
  clusterIP: '',
  port: 0,
  endpoints: [],
  allEndpoints: [],
});
const ep = (text: string) => ({ ip: text.split(':')[0]!, port: Number(text.split(':')[1]), pod: '', node: '' });

describe("kube-proxy's chain names", () => {
  test('article 004: ithome/nginx (unnamed port, TCP) and its three endpoints', () => {
    const s = sp('ithome/nginx');
    expect(svcChain(s)).toBe('KUBE-SVC-V6MXQNFYUC7YNW7B');
    expect(sepChain(s, ep('10.244.1.2:80'))).toBe('KUBE-SEP-7DAGYOML5QKPWFSL');
    expect(sepChain(s, ep('10.244.2.2:80'))).toBe('KUBE-SEP-YJAODCWU7PX6K2OG');
    expect(sepChain(s, ep('10.244.2.3:80'))).toBe('KUBE-SEP-DYRIFX6ZVNZI7BRA');
  });

  test('article 003: default/nginx-test:80-80 and its two endpoints', () => {
    const s = sp('default/nginx-test:80-80');
    expect(svcChain(s)).toBe('KUBE-SVC-7CWUT4JBGBRVUN2L');
    expect(sepChain(s, ep('10.42.1.6:80'))).toBe('KUBE-SEP-U2YYZT2C3O6VM4EV');
    expect(sepChain(s, ep('10.42.2.6:80'))).toBe('KUBE-SEP-GWUIQWA2TNZI4ESX');
  });

  test("kube-proxy's well-known names: kube-dns over UDP, kubernetes:https", () => {
    expect(svcChain(sp('kube-system/kube-dns:dns', 'UDP'))).toBe('KUBE-SVC-TCOU7JCQXEZGVUNU');
    expect(svcChain(sp('default/kubernetes:https'))).toBe('KUBE-SVC-NPX46M4PTMTKRN6Y');
  });

  test("sha256Base32 (from the hex digest) is base32 of the digest's first 5 or 10 bytes", () => {
    const texts = [
      '',
      'a',
      'ns1/svc1:p80tcp',
      'default/s17/tcp/http__10.42.0.172/8080',
      'ü/ßvc',
      ...Array.from({ length: 200 }, (_, i) => `x${i}`),
    ];
    for (const t of texts) {
      expect(sha256Base32(t, 1)).toBe(base32(sha256(t).subarray(0, 5)));
      expect(sha256Base32(t, 2)).toBe(base32(sha256(t).subarray(0, 10)));
    }
  });

  test('base32 is RFC 4648 (upper case, no hex alphabet)', () => {
    expect(base32(Buffer.from('foobar'))).toBe('MZXW6YTBOI');
    expect(base32(Buffer.from('f'))).toBe('MY');
  });
});

describe('the proxy model: what kube-proxy derives from the objects', () => {
  const topo = (proxy: string) =>
    loadTopologyText(`
name: order
cluster: { dns: false } # the one service is s
proxy: ${proxy}
nodes: [{ name: n1 }]
pods:
  - { name: a, node: n1, ip: 10.42.0.9, labels: { app: x }, ports: [11] }
  - { name: b, node: n1, ip: 10.42.0.11, labels: { app: x }, ports: [11] }
  - { name: c, node: n1, ip: 10.42.0.100, labels: { app: x }, ports: [11] }
services: [{ name: s, selector: { app: x }, ports: [{ port: 80, targetPort: 11 }] }]
`);

  test('endpoints are ordered by their "ip:port" text, as kube-proxy orders them', () => {
    // numerically .9 < .11 < .100; as text "10.42.0.100:11" < "10.42.0.11:11" < "10.42.0.9:11"
    const [sp] = proxyModel(topo('{ mode: iptables }')).services;
    expect(sp!.endpoints.map((e) => e.ip)).toEqual(['10.42.0.100', '10.42.0.11', '10.42.0.9']);
  });

  test("--nodeport-addresses: kube-proxy's default per mode, or as written", () => {
    expect(proxyModel(topo('{ mode: iptables }')).nodePortAddresses).toEqual([]);
    expect(proxyModel(topo('{ mode: ipvs }')).nodePortAddresses).toEqual([]);
    expect(proxyModel(topo('{ mode: nftables }')).nodePortAddresses).toEqual(['primary']);
    expect(proxyModel(topo('{ mode: nftables, nodePortAddresses: [192.168.205.0/24] }')).nodePortAddresses).toEqual(['192.168.205.0/24']);
    expect(proxyModel(topo('{ mode: iptables }')).localhostNodePorts).toBe(true);
    expect(proxyModel(topo('{ mode: iptables, localhostNodePorts: false }')).localhostNodePorts).toBe(false);
  });

  test('a node sees its eth0, cni0 and flannel.1 addresses', () => {
    expect(proxyNodes(topo('{}'))).toEqual([
      { name: 'n1', ip: '192.168.205.2', localAddresses: ['192.168.205.2', '10.42.0.1', '10.42.0.0'] },
    ]);
  });

  test('a bad --nodeport-addresses entry is an input error naming its path', () => {
    expect(() => topo('{ nodePortAddresses: [10.0.0.1/8] }')).toThrow(/proxy\.nodePortAddresses\[0\].*host bits/s);
    expect(() => topo('{ nodePortAddresses: [eth0] }')).toThrow(/proxy\.nodePortAddresses\[0\]/);
  });
});

describe('endpoint conditions and session affinity', () => {
  const topo = (pods: string, svc = '') =>
    loadTopologyText(`
name: cond
cluster: { dns: false } # the one service is s
nodes: [{ name: n1 }]
pods:
${pods}
services: [{ name: s, selector: { app: x }, ports: [{ port: 80, targetPort: 80 }]${svc} }]
`);
  const ips = (t: ReturnType<typeof topo>) => proxyModel(t).services[0]!.endpoints.map((e) => e.ip);

  test('ready endpoints are used; terminating ones are left out while any is ready', () => {
    const t = topo(`
  - { name: a, node: n1, ip: 10.42.0.9, labels: { app: x }, ports: [80] }
  - { name: b, node: n1, ip: 10.42.0.10, labels: { app: x }, ports: [80], conditions: { terminating: true } }
  - { name: c, node: n1, ip: 10.42.0.11, labels: { app: x }, ports: [80], conditions: { ready: false } }`);
    expect(ips(t)).toEqual(['10.42.0.9']);
  });

  test('none ready: the serving terminating ones (not the non-serving, nor the not-ready non-terminating)', () => {
    const t = topo(`
  - { name: b, node: n1, ip: 10.42.0.10, labels: { app: x }, ports: [80], conditions: { terminating: true } }
  - { name: c, node: n1, ip: 10.42.0.11, labels: { app: x }, ports: [80], conditions: { ready: false } }
  - { name: d, node: n1, ip: 10.42.0.12, labels: { app: x }, ports: [80], conditions: { terminating: true, serving: false } }`);
    expect(ips(t)).toEqual(['10.42.0.10']);
    expect(proxyModel(t).services[0]!.endpoints[0]).toMatchObject({ ready: false, serving: true, terminating: true });
  });

  test('ready and terminating at once is refused, naming the path', () => {
    expect(() => topo(`  - { name: b, node: n1, labels: { app: x }, conditions: { ready: true, terminating: true } }`)).toThrow(
      /pods\[0\]\.conditions\.ready.*never ready/s,
    );
  });

  test('sessionAffinity ClientIP: the timeout (10800 s unless given); a config without ClientIP is refused', () => {
    const pod = `  - { name: a, node: n1, labels: { app: x }, ports: [80] }`;
    expect(proxyModel(topo(pod, ', sessionAffinity: ClientIP')).services[0]!.affinitySeconds).toBe(10800);
    const five = ', sessionAffinity: ClientIP, sessionAffinityConfig: { clientIP: { timeoutSeconds: 5 } }';
    expect(proxyModel(topo(pod, five)).services[0]!.affinitySeconds).toBe(5);
    expect(proxyModel(topo(pod)).services[0]!.affinitySeconds).toBeUndefined();
    expect(() => topo(pod, ', sessionAffinityConfig: { clientIP: { timeoutSeconds: 5 } }')).toThrow(/sessionAffinityConfig needs/);
    expect(() => topo(pod, ', sessionAffinity: ClientIP, sessionAffinityConfig: { clientIP: { timeoutSeconds: 0 } }')).toThrow(
      /timeoutSeconds must be in 1-86400/,
    );
  });
});

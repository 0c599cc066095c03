import { base32, sepChain, svcChain, type ServicePortModel } from '../../model/proxy';

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

  test('base32 is RFC 4648 (upper case, no hex alphabet)', () => {
    expect(base32(Buffer.from('foobar'))).toBe('MZXW6YTBOI');
    expect(base32(Buffer.from('f'))).toBe('MY');
  });
});

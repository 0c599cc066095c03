import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NETNS_ETC } from '../../state/dns';
import { cli, describeKernel, rt, topologyFile } from '../../testing/kernel';
import { uniqueLabName } from '../../testing/names';
import { loadTopologyText } from '../../topology/resolve';
import { connectFrom } from '../connect';
import { down } from '../down';
import { traceLab } from '../trace';
import { up } from '../up';

// connect and trace given a name (`web.default.svc.cluster.local:80`, `web.default:80`, `web:80`)
// on the real kernel: the client pod's own resolver (getent, its resolv.conf) asks kube-dns
// 10.43.0.10 through kube-proxy's DNAT, then the connection goes to the address it answered; the
// walk's DNS step shows each query of the ndots:5 search list, where it was DNATed and the answer.

const DNS_IP = '10.43.0.10';
const WEB_IP = '10.43.0.20';
const DNS_PODS = ['kube-system/kube-dns-1', 'kube-system/kube-dns-2'];
const WEB_PODS = ['web-1', 'web-2', 'web-3'];

describeKernel('service names in connect and trace', () => {
  const lab = uniqueLabName('dns-n');
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kdl-dns-names-'));
    await down(rt, lab);
    const text = readFileSync(topologyFile('dns.yaml'), 'utf8').replace(/^name: dns$/m, `name: ${lab}`);
    await up(loadTopologyText(text, 'dns.yaml'), rt);
  }, 60000);
  afterAll(async () => {
    await down(rt, lab);
    rmSync(dir, { recursive: true, force: true });
  });

  it.each([['web.default.svc.cluster.local'], ['web.default'], ['web']])(
    'connect client %s:80: resolved in the pod to the cluster IP, then served by the endpoints',
    async (name) => {
      const r = await connectFrom({ name: lab, from: 'client', address: `${name}:80`, count: 6 });
      expect(r.resolved).toEqual({ name, address: WEB_IP, canonical: 'web.default.svc.cluster.local' });
      expect(r.failed).toBe(0);
      for (const pod of Object.keys(r.byPod)) expect(WEB_PODS).toContain(pod);
      // the client's own address kept, as for a cluster IP given by number
      expect(new Set(r.attempts.map((a) => a.peer?.split(':')[0]))).toEqual(new Set(['10.42.0.65']));
    },
    30000,
  );

  it("a headless service's name connects to one of its pods, a StatefulSet pod's name to that pod", async () => {
    const any = await connectFrom({ name: lab, from: 'client', address: 'db:5432', count: 1 });
    expect(['10.42.1.20', '10.42.2.20']).toContain(any.resolved?.address);
    expect(['db-0', 'db-1']).toContain(Object.keys(any.byPod)[0]);
    const one = await connectFrom({ name: lab, from: 'client', address: 'db-1.db:5432', count: 2 });
    expect([one.resolved?.address, one.byPod]).toEqual(['10.42.2.20', { 'db-1': 2 }]);
  }, 30000);

  it('a name that does not exist fails clearly after the whole search list; from a node it is refused', async () => {
    const r = await cli(['connect', '--name', lab, 'client', 'nosuch:80']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /'nosuch' does not resolve in kdl\..*\.client: getent ahostsv4 exited 2 \(no such name: NXDOMAIN after the whole search list\)/,
    );
    const node = await cli(['connect', '--name', lab, 'node1', 'web:80']);
    expect(node.code).toBe(2);
    expect(node.stderr).toMatch(/'web' is a name for the cluster DNS, resolved by a pod's resolv.conf: node1 has none/);
  }, 30000);

  it('trace client web:80: the DNS step (one query, to 10.43.0.10:53, DNATed to a DNS pod, answered from 10.43.0.10) before the SYN', async () => {
    const w = await traceLab(rt, lab, { from: 'client', to: 'web:80' }, join(dir, 'web'));
    expect(w.dns?.differences).toEqual([]);
    expect(w.dns?.addresses).toEqual([WEB_IP]);
    expect(w.dns?.expected).toMatchObject({ tried: ['web.default.svc.cluster.local'], server: `${DNS_IP}:53`, servers: DNS_PODS });
    const q = w.dns!.queries.filter((x) => x.qtype === 'A');
    expect(q.map((x) => [x.qname, x.sentTo, x.rcode, x.answers, x.answerFrom])).toEqual([
      ['web.default.svc.cluster.local', `${DNS_IP}:53`, 'NOERROR', [WEB_IP], `${DNS_IP}:53`],
    ]);
    expect(DNS_PODS).toContain(q[0]!.server);
    expect(q[0]!.arrivedAt).toMatch(/^10\.42\.[01]\.2:53$/);
    // then the packet: to the cluster IP the name gave, DNATed to an endpoint
    expect(w.target).toEqual({ ip: WEB_IP, port: 80 });
    expect(WEB_PODS).toContain(w.reached);
    expect([w.ok, w.differences]).toEqual([true, []]);
  }, 60000);

  it('trace client web.default:80: ndots:5 tries web.default.default.svc.cluster.local (NXDOMAIN) first, then the service', async () => {
    const w = await traceLab(rt, lab, { from: 'client', to: 'web.default:80' }, join(dir, 'web-default'));
    const q = w.dns!.queries.filter((x) => x.qtype === 'A');
    expect(q.map((x) => `${x.qname} ${x.rcode} ${x.answerFrom}`)).toEqual([
      `web.default.default.svc.cluster.local NXDOMAIN ${DNS_IP}:53`,
      `web.default.svc.cluster.local NOERROR ${DNS_IP}:53`,
    ]);
    for (const x of q) expect(DNS_PODS).toContain(x.server);
    expect([w.ok, w.differences]).toEqual([true, []]);
  }, 60000);

  it("a walk's DNS step fails when the queries go elsewhere than kube-dns (a test that can fail)", async () => {
    // the pod's resolv.conf pointed at an address no service has (1 s, one try a name): no answer
    const client = join(NETNS_ETC, `kdl.${lab}.node1.client`, 'resolv.conf');
    const saved = readFileSync(client, 'utf8');
    try {
      writeFileSync(client, saved.replace(DNS_IP, '10.43.0.99').replace('ndots:5', 'ndots:5 timeout:1 attempts:1'));
      const w = await traceLab(rt, lab, { from: 'client', to: 'web:80' }, join(dir, 'broken'));
      expect(w.ok).toBe(false);
      expect(w.differences).toContain('dns: web.default.svc.cluster.local: sent to 10.43.0.99:53, not to kube-dns 10.43.0.10:53');
    } finally {
      writeFileSync(client, saved);
    }
  }, 90000);
});

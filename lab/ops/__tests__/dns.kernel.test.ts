import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { podNamespace } from '../../model/kernel-names';
import type { Packet } from '../../pcap/decode';
import { readPcapFile } from '../../pcap';
import { startCapture } from '../../probe/capture';
import { NETNS_ETC } from '../../state/dns';
import { removeRecord } from '../../state/store';
import { describeKernel, labNamespaces, rt, topologyFile } from '../../testing/kernel';
import { uniqueLabName } from '../../testing/names';
import { loadTopologyText } from '../../topology/resolve';
import type { ProxyMode, Topology } from '../../topology/types';
import { apply } from '../apply';
import { down } from '../down';
import { up } from '../up';

// The cluster DNS on the real kernel (scenarios/topologies/dns.yaml): dnsmasq in kube-dns-1
// (node1) and kube-dns-2 (node2) behind kube-system/kube-dns 10.43.0.10, reached from the
// client pod (node1) through kube-proxy's DNAT, the resolver configuration kubelet writes
// bind-mounted by `ip netns exec`. Captures on the client's eth0 and on both servers' eth0.

const DNS_YAML = readFileSync(topologyFile('dns.yaml'), 'utf8');
const DNS_IP = '10.43.0.10';
const WEB_IP = '10.43.0.20';
const CLIENT = '10.42.0.65';

const topoFor = (lab: string, mode: ProxyMode, edit: (y: string) => string = (y) => y): Topology =>
  loadTopologyText(edit(DNS_YAML.replace(/^name: dns$/m, `name: ${lab}`).replace(/^(\s+mode:) iptables\b/m, `$1 ${mode}`)), 'dns.yaml');

/** pids of processes whose command line names this lab's DNS folder (its dnsmasqs) */
const dnsmasqsOf = (lab: string) =>
  readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(`/dns/${lab}/`);
      } catch {
        return false;
      }
    });
const netnsEtcOf = (lab: string) => (existsSync(NETNS_ETC) ? readdirSync(NETNS_ETC).filter((e) => e.startsWith(`kdl.${lab}.`)) : []);

describeKernel('cluster DNS', () => {
  it('down stops the dnsmasqs and removes the resolver files also when the process that made the lab is gone (no record)', async () => {
    const lab = uniqueLabName('dnscrash');
    try {
      await up(topoFor(lab, 'iptables'), rt);
      expect(dnsmasqsOf(lab)).toHaveLength(2);
      expect(netnsEtcOf(lab).length).toBeGreaterThan(0);
      removeRecord(lab); // as if `lab up` had been killed: only the kernel and the files tell
    } finally {
      await down(rt, lab);
    }
    expect([dnsmasqsOf(lab), netnsEtcOf(lab), labNamespaces(lab)]).toEqual([[], [], []]);
  }, 60000);

  describe.each<[ProxyMode]>([['iptables'], ['nftables']])('%s mode', (mode) => {
    const lab = uniqueLabName(`dns${mode.slice(0, 3)}`);
    let topo: Topology;
    let dir: string;
    const client = () => podNamespace(lab, 'node1', 'client');
    const servers = () => [
      { pod: 'kube-dns-1', ns: podNamespace(lab, 'node1', 'kube-system/kube-dns-1'), ip: '10.42.0.2' },
      { pod: 'kube-dns-2', ns: podNamespace(lab, 'node2', 'kube-system/kube-dns-2'), ip: '10.42.1.2' },
    ];
    const inClient = (argv: string[], check = true) => rt.run(client(), argv, { check, timeoutMs: 20000 });

    /** Runs `what` with tcpdump on the client's and both servers' eth0 (port 53); returns their DNS packets. */
    async function captured(what: () => Promise<unknown>): Promise<{ client: Packet[]; servers: Record<string, Packet[]> }> {
      const targets = [{ pod: 'client', ns: client() }, ...servers()];
      const caps = await Promise.all(
        targets.map((t) =>
          startCapture(rt, { ns: t.ns, iface: 'eth0', filter: 'port 53', file: join(dir, `${t.pod}-${Date.now()}.pcap`) }),
        ),
      );
      try {
        await what();
      } finally {
        for (const c of caps) await c.stop();
      }
      const read = (i: number) => readPcapFile(caps[i]!.spec.file).packets.filter((p) => p.dns);
      return { client: read(0), servers: { 'kube-dns-1': read(1), 'kube-dns-2': read(2) } };
    }

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'kdl-dns-'));
      await down(rt, lab);
      topo = topoFor(lab, mode);
      await up(topo, rt);
    }, 60000);
    afterAll(async () => {
      await down(rt, lab);
      rmSync(dir, { recursive: true, force: true });
      // its dnsmasqs were stopped with the namespaces' processes, and its resolver files went with it
      expect([dnsmasqsOf(lab), netnsEtcOf(lab)]).toEqual([[], []]);
    });

    it('gives each pod kubelet resolv.conf through ip netns exec, the host /etc/resolv.conf untouched', async () => {
      const host = readFileSync('/etc/resolv.conf', 'utf8');
      expect((await inClient(['cat', '/etc/resolv.conf'])).stdout).toBe(
        `nameserver ${DNS_IP}\nsearch default.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n`,
      );
      expect(readFileSync('/etc/resolv.conf', 'utf8')).toBe(host);
    });

    it.each([['udp'], ['tcp']])(
      'resolves web.default.svc.cluster.local over %s: to 10.43.0.10:53, DNATed to a DNS pod, answered from 10.43.0.10',
      async (proto) => {
        let out = '';
        const pk = await captured(async () => {
          out = (await inClient(['dig', ...(proto === 'tcp' ? ['+tcp'] : []), '+short', '+tries=1', 'web.default.svc.cluster.local']))
            .stdout;
        });
        expect(out.trim()).toBe(WEB_IP);
        const l4 = (p: Packet) => (proto === 'tcp' ? p.tcp : p.udp);
        const q = pk.client.filter((p) => !p.dns!.response);
        const r = pk.client.filter((p) => p.dns!.response);
        expect(q.map((p) => `${p.ip!.src} → ${p.ip!.dst}:${l4(p)?.dstport} ${p.dns!.qname}`)).toEqual([
          `${CLIENT} → ${DNS_IP}:53 web.default.svc.cluster.local`,
        ]);
        expect(r.map((p) => `${p.ip!.src}:${l4(p)?.srcport} → ${p.ip!.dst} ${p.dns!.answers.map((a) => a.data).join(',')}`)).toEqual([
          `${DNS_IP}:53 → ${CLIENT} ${WEB_IP}`,
        ]);
        // exactly one server saw it, addressed to its own pod IP (kube-proxy's DNAT), from the client (no SNAT)
        const seen = servers().filter((s) => pk.servers[s.pod]!.some((p) => p.dns!.id === q[0]!.dns!.id));
        expect(seen).toHaveLength(1);
        const at = pk.servers[seen[0]!.pod]!.filter((p) => p.dns!.id === q[0]!.dns!.id);
        expect(at.map((p) => `${p.ip!.src} → ${p.ip!.dst} ${p.dns!.response ? 'R' : 'Q'}`)).toEqual([
          `${CLIENT} → ${seen[0]!.ip} Q`,
          `${seen[0]!.ip} → ${CLIENT} R`,
        ]);
      },
      30000,
    );

    it('walks the ndots:5 search list: web is found as web.default.svc.cluster.local first; example.com tries every suffix before the bare name', async () => {
      let web = '';
      const first = await captured(async () => {
        web = (await inClient(['getent', 'hosts', 'web'])).stdout;
      });
      expect(web).toMatch(new RegExp(`^${WEB_IP.replace(/\./g, '\\.')}\\s+web\\.default\\.svc\\.cluster\\.local`));
      const aQueries = (ps: Packet[]) => ps.filter((p) => !p.dns!.response && p.dns!.qtype === 'A').map((p) => p.dns!.qname);
      expect(aQueries(first.client)[0]).toBe('web.default.svc.cluster.local');
      let code: number | null = 0;
      const second = await captured(async () => {
        code = (await inClient(['getent', 'hosts', 'example.com'], false)).code;
      });
      expect(code).not.toBe(0);
      // in this order (the bare name, REFUSED by a server that forwards nowhere, may be retried)
      expect([...new Set(aQueries(second.client))]).toEqual([
        'example.com.default.svc.cluster.local',
        'example.com.svc.cluster.local',
        'example.com.cluster.local',
        'example.com',
      ]);
      // the cluster domain's names do not exist; the bare name is forwarded nowhere
      const rcodes = second.client.filter((p) => p.dns!.response && p.dns!.qtype === 'A').map((p) => `${p.dns!.qname} ${p.dns!.rcode}`);
      expect(rcodes.slice(0, 3)).toEqual([
        'example.com.default.svc.cluster.local 3',
        'example.com.svc.cluster.local 3',
        'example.com.cluster.local 3',
      ]);
    }, 30000);

    it('over TCP (dns-tcp) too: the ndots:5 search list tries web.default.svc.cluster.local first, through the DNAT', async () => {
      let out = '';
      const pk = await captured(async () => {
        out = (await inClient(['dig', '+tcp', '+search', '+short', 'web'])).stdout;
      });
      expect(out.trim()).toBe(WEB_IP);
      const q = pk.client.filter((p) => p.tcp && !p.dns!.response);
      expect(q.map((p) => `${p.ip!.dst}:${p.tcp!.dstport} ${p.dns!.qname}`)[0]).toBe(`${DNS_IP}:53 web.default.svc.cluster.local`);
      const seen = servers().filter((s) => pk.servers[s.pod]!.some((p) => p.tcp && p.dns!.id === q[0]!.dns!.id && p.ip!.dst === s.ip));
      expect(seen).toHaveLength(1);
    }, 30000);

    it.each([['udp'], ['tcp']])(
      'answers a headless service with its pods, a StatefulSet pod by name, SRV for a named port, pod names (%s)',
      async (proto) => {
        const dig = async (...args: string[]) =>
          (await inClient(['dig', ...(proto === 'tcp' ? ['+tcp'] : []), '+short', ...args])).stdout.trim().split('\n').sort();
        expect(await dig('db.default.svc.cluster.local')).toEqual(['10.42.1.20', '10.42.2.20']);
        expect(await dig('db-0.db.default.svc.cluster.local')).toEqual(['10.42.1.20']);
        expect(await dig('SRV', '_pg._tcp.db.default.svc.cluster.local')).toEqual([
          '0 0 5432 db-0.db.default.svc.cluster.local.',
          '0 0 5432 db-1.db.default.svc.cluster.local.',
        ]);
        expect(await dig('10-42-1-9.default.pod.cluster.local')).toEqual(['10.42.1.9']);
        expect((await inClient(['dig', 'nothere.default.svc.cluster.local'])).stdout).toMatch(/status: NXDOMAIN/);
      },
      30000,
    );

    it('forgets a pod that apply removed, within the re-sync', async () => {
      const next = topoFor(lab, mode, (y) => y.replace(/^ {2}- \{ name: db-1,.*\n/m, ''));
      expect(next.pods.map((p) => p.name)).not.toContain('db-1');
      await apply(next, rt);
      const dig = async (name: string) => (await inClient(['dig', '+tries=3', name])).stdout;
      expect(await dig('db.default.svc.cluster.local')).toMatch(/^db\.default\.svc\.cluster\.local\.\s+0\s+IN\s+A\s+10\.42\.1\.20$/m);
      expect(await dig('db.default.svc.cluster.local')).not.toMatch(/10\.42\.2\.20/);
      expect(await dig('db-1.db.default.svc.cluster.local')).toMatch(/status: NXDOMAIN/);
      expect(existsSync(join(NETNS_ETC, podNamespace(lab, 'node3', 'db-1')))).toBe(false);
      topo = next;
    }, 60000);
  });
});

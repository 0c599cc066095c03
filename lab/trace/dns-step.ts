import { join } from 'node:path';
import { readPcapFile } from '../pcap';
import { DNS_RCODES } from '../pcap/decode';
import { CAPTURE_READY_MS, type RunningCapture, startCapture } from '../probe/capture';
import { type NameLookup, parseAhosts } from '../probe/resolve';
import { dnsServers } from '../pods/dns';
import { abortError } from '../runtime/executor';
import type { Runtime } from '../runtime/runtime';
import type { Topology, TopologyPod } from '../topology/types';
import type { WalkDns, WalkDnsQuery } from './types';

// The DNS step of a walk whose target is a name: the pod's own resolver asked for real (getent
// in its namespace), with the pod's eth0 and every DNS server pod's eth0 captured meanwhile, so
// the step shows each query the search list sent to kube-dns's cluster IP, the server pod it was
// DNATed to, and the answer coming back from the cluster IP (conntrack reversing the DNAT); set
// against what the lab's data says the resolver tries and gets.

const pcapName = (owner: string) => `dns-${owner.replace('/', '.')}.pcap`;

export async function dnsStep(
  rt: Runtime,
  topo: Topology,
  pod: TopologyPod,
  fromNs: string,
  lookup: NameLookup,
  dir: string,
  signal?: AbortSignal,
): Promise<WalkDns> {
  const dns = topo.cluster.dns!;
  const service = `${dns.clusterIP}:53`;
  const servers = dnsServers(topo);
  const points = [{ owner: pod.name, ns: fromNs }, ...servers.map((s) => ({ owner: s.pod, ns: s.ns }))];
  const argv = ['getent', 'ahostsv4', lookup.name];
  const caps: { owner: string; cap: RunningCapture }[] = [];
  let out: { code: number | null; stdout: string } = { code: null, stdout: '' };
  try {
    const started = await Promise.allSettled(
      points.map(async (p) =>
        caps.push({
          owner: p.owner,
          cap: await startCapture(
            rt,
            { ns: p.ns, iface: 'eth0', filter: 'port 53', file: join(dir, pcapName(p.owner)) },
            CAPTURE_READY_MS,
            signal,
          ),
        }),
      ),
    );
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    out = await rt.run(fromNs, argv, { check: false, timeoutMs: 30_000, ...(signal ? { signal } : {}) });
  } finally {
    await Promise.all(caps.map((c) => c.cap.stop().catch(() => undefined)));
  }
  if (signal?.aborted) throw abortError(signal);
  const got = out.code === 0 ? parseAhosts(out.stdout) : { addresses: [] };

  const read = (owner: string) => readPcapFile(join(dir, pcapName(owner))).packets;
  const atPod = read(pod.name);
  const atServers = servers.map((s) => ({ s, packets: read(s.pod) }));
  const hp = (ip?: string, port?: number) => `${ip}:${port}`;
  const queries: WalkDnsQuery[] = [];
  for (const p of atPod) {
    const d = p.dns;
    if (!d || d.response || !p.ip || p.ip.src !== pod.ip) continue;
    const l4 = p.udp ?? p.tcp;
    // a retry of the same question is the same query
    if (queries.some((q) => q.id === d.id && q.qname === d.qname)) continue;
    const q: WalkDnsQuery = { id: d.id, qname: d.qname ?? '', qtype: d.qtype ?? '', sentTo: hp(p.ip.dst, l4?.dstport), answers: [] };
    const there = atServers.find((x) => x.packets.some((o) => o.dns && !o.dns.response && o.dns.id === d.id && o.ip?.dst === x.s.ip));
    if (there) Object.assign(q, { server: there.s.pod, arrivedAt: `${there.s.ip}:53` });
    const answer = atPod.find((o) => o.dns?.response && o.dns.id === d.id && o.ip?.dst === pod.ip);
    if (answer?.dns) {
      const al4 = answer.udp ?? answer.tcp;
      q.answerFrom = hp(answer.ip?.src, al4?.srcport);
      q.rcode = DNS_RCODES[answer.dns.rcode] ?? String(answer.dns.rcode);
      q.answers = answer.dns.answers.filter((a) => a.type === 'A').map((a) => a.data);
    }
    queries.push(q);
  }

  const expected = { ...lookup.expected, server: service, servers: servers.map((s) => s.pod) };
  const differences: string[] = [];
  const asked = queries.filter((q) => q.qtype === 'A').map((q) => q.qname);
  if (asked.join(' ') !== expected.tried.join(' '))
    differences.push(`the resolver asked ${asked.join(', ') || 'nothing'}; the search list (ndots:5) tries ${expected.tried.join(', ')}`);
  for (const q of queries) {
    if (q.sentTo !== service) differences.push(`${q.qname}: sent to ${q.sentTo}, not to kube-dns ${service}`);
    if (!q.server) differences.push(`${q.qname}: seen at no DNS server pod (${expected.servers.join(', ')}): not DNATed to one`);
    if (!q.answerFrom) differences.push(`${q.qname}: no answer came back`);
    else if (q.answerFrom !== service)
      differences.push(`${q.qname}: answered from ${q.answerFrom}, not ${service} (the DNAT was not reversed)`);
  }
  const want = [...expected.addresses].sort().join(', ');
  if ([...got.addresses].sort().join(', ') !== want)
    differences.push(
      `the pod's resolver returned ${got.addresses.join(', ') || 'nothing'} (getent exit ${out.code}); the cluster DNS holds ${want || 'nothing'}`,
    );
  return {
    name: lookup.name,
    argv,
    expected,
    queries,
    addresses: got.addresses,
    ...(got.canonical ? { canonical: got.canonical } : {}),
    differences,
    pcaps: points.map((p) => pcapName(p.owner)),
  };
}

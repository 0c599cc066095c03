import { existsSync, mkdirSync, readdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inLab, podNamespace } from '../model/kernel-names';
import { dnsDaemon, dnsHostsFile, dnsmasqConfig, dnsRecords, dnsServers, podResolvConf } from '../pods/dns';
import type { Runtime } from '../runtime/runtime';
import { dnsDir, dnsFiles, NETNS_ETC, netnsEtcMarker } from '../state/dns';
import type { Topology, TopologyPod } from '../topology/types';

// The cluster DNS (cluster.dns: true): dnsmasq in each server pod, a lab process like the pods'
// socat listeners and Calico's BIRD. Started detached in the pod's namespace in the foreground,
// it outlives `up`; `down` stops it with every other process in the lab's namespaces (found by
// namespace, so also after a crash) and removes its files (removeDnsFiles). Its data is planned
// in lab/pods/dns.ts. Each other pod gets kubelet's resolv.conf at /etc/netns/<namespace>/,
// which `ip netns exec` (every `lab exec` and probe) bind-mounts over /etc/resolv.conf: the
// host's own /etc/resolv.conf is never touched.

/** Writes every server's configuration and hosts file; returns the record counts. */
function writeServerFiles(topo: Topology): { a: number; srv: number } {
  const records = dnsRecords(topo);
  mkdirSync(dnsDir(topo.name), { recursive: true, mode: 0o700 });
  for (const s of dnsServers(topo)) {
    const f = dnsFiles(topo.name, s.pod);
    writeFileSync(f.hosts, dnsHostsFile(records));
    writeFileSync(f.conf, dnsmasqConfig(topo, s, records, f.hosts));
  }
  return { a: records.a.length, srv: records.srv.length };
}

/** kubelet's resolv.conf for each pod given, under /etc/netns/<its namespace>/. */
function writeResolvConfs(topo: Topology, pods: readonly TopologyPod[]): number {
  let n = 0;
  for (const p of pods) {
    const text = podResolvConf(topo, p);
    if (text === undefined) continue;
    if (!existsSync(NETNS_ETC)) {
      mkdirSync(dnsDir(topo.name), { recursive: true, mode: 0o700 });
      mkdirSync(NETNS_ETC, { recursive: true });
      writeFileSync(netnsEtcMarker(), '');
    }
    const dir = join(NETNS_ETC, podNamespace(topo.name, p.node, p.name));
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'resolv.conf'), text);
    n++;
  }
  return n;
}

/** `up`: the servers' files, every pod's resolv.conf, and dnsmasq started until UDP 53 is bound in each server pod. */
export async function startDns(rt: Runtime, topo: Topology): Promise<string> {
  const servers = dnsServers(topo);
  if (!topo.cluster.dns || !servers.length) return 'no cluster DNS (cluster.dns: false)';
  const counts = writeServerFiles(topo);
  const pods = writeResolvConfs(topo, topo.pods);
  await rt.startDaemons(servers.map((s) => dnsDaemon(s, dnsFiles(topo.name, s.pod).conf)));
  return `dnsmasq in ${servers.map((s) => `${s.pod} (${s.node})`).join(', ')} behind kube-system/kube-dns ${topo.cluster.dns.clusterIP}: ${counts.a} A, ${counts.srv} SRV record(s); resolv.conf in ${pods} pod(s)`;
}

/**
 * `apply`: the records written again and each dnsmasq restarted (its srv-host lines are
 * configuration, which SIGHUP does not re-read), resolv.conf for added pods, removed for gone ones.
 */
export async function refeedDns(
  rt: Runtime,
  topo: Topology,
  added: readonly TopologyPod[],
  removed: readonly TopologyPod[],
): Promise<string> {
  const servers = dnsServers(topo);
  if (!topo.cluster.dns || !servers.length) return 'no cluster DNS';
  for (const p of removed) rmSync(join(NETNS_ETC, podNamespace(topo.name, p.node, p.name)), { recursive: true, force: true });
  writeResolvConfs(topo, added);
  const counts = writeServerFiles(topo);
  await rt.stopProcesses(servers.map((s) => s.ns));
  await rt.startDaemons(servers.map((s) => dnsDaemon(s, dnsFiles(topo.name, s.pod).conf)));
  return `${servers.length} dnsmasq re-fed: ${counts.a} A, ${counts.srv} SRV record(s)`;
}

/** `down`: the servers' files and every /etc/netns/<namespace>/ of the lab (its processes are stopped already). */
export function removeDnsFiles(lab: string): void {
  rmSync(dnsDir(lab), { recursive: true, force: true });
  let entries: string[] = [];
  try {
    entries = readdirSync(NETNS_ETC);
  } catch {
    return; // none
  }
  for (const e of entries.filter((x) => inLab(x, lab))) rmSync(join(NETNS_ETC, e), { recursive: true, force: true });
  // the folder was the lab's own: the last lab to go takes it along
  if (existsSync(netnsEtcMarker()) && readdirSync(NETNS_ETC).length === 0) {
    rmdirSync(NETNS_ETC);
    rmSync(netnsEtcMarker(), { force: true });
  }
}

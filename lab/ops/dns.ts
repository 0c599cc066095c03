import { existsSync, mkdirSync, readdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inLab, nodeNamespace, podNamespace } from '../model/kernel-names';
import { dnsDaemon, dnsHostsFile, dnsmasqConfig, dnsRecords, dnsServers, podResolvConf } from '../pods/dns';
import type { Runtime } from '../runtime/runtime';
import { CONTAINER_NETNS_ETC, dnsDir, dnsFiles, NETNS_ETC, netnsEtcMarker } from '../state/dns';
import type { Topology, TopologyPod } from '../topology/types';

// The cluster DNS (cluster.dns: true): dnsmasq in each server pod, a lab process like the pods'
// socat listeners and Calico's BIRD. Started detached in the pod's namespace in the foreground,
// it outlives `up`; `down` stops it with every other process in the lab's namespaces (found by
// namespace, so also after a crash) and removes its files (removeDnsFiles). Its data is planned
// in lab/pods/dns.ts. Each other pod gets kubelet's resolv.conf at /etc/netns/<namespace>/,
// which `ip netns exec` (every `lab exec` and probe) bind-mounts over /etc/resolv.conf: the
// host's own /etc/resolv.conf is never touched.
//
// Where the files go depends on where the pods are. netns: on this machine (the state folder,
// the host's /etc/netns, which the lab makes and removes when it was not there). docker: inside
// the node containers, written through the runtime's exec like BIRD's configuration — the
// server's files in its node's container at the same state path, each pod's resolv.conf in its
// node container's own /etc/netns/<namespace>/, which the `ip netns exec` the runtime runs pod
// commands with reads there; the host's /etc stays untouched, and the files go with the
// containers at `down`.

/** A file written inside a namespace's filesystem (a docker node container) through the runtime. */
async function writeThrough(rt: Runtime, ns: string, path: string, text: string): Promise<void> {
  await rt.run(ns, ['sh', '-c', 'mkdir -p -m 700 "$(dirname "$1")" && cat > "$1"', 'sh', path], {
    input: text,
    timeoutMs: 20_000,
    where: `writing ${path} in ${ns}`,
  });
}

/** Writes every server's configuration and hosts file where its dnsmasq runs; returns the record counts. */
async function writeServerFiles(rt: Runtime, topo: Topology): Promise<{ a: number; srv: number }> {
  const records = dnsRecords(topo);
  const hosts = dnsHostsFile(records);
  const servers = dnsServers(topo);
  if (rt.kind === 'docker')
    await Promise.all(
      servers.flatMap((s) => {
        const f = dnsFiles(topo.name, s.pod);
        const node = nodeNamespace(topo.name, s.node);
        return [writeThrough(rt, node, f.hosts, hosts), writeThrough(rt, node, f.conf, dnsmasqConfig(topo, s, records, f.hosts))];
      }),
    );
  else {
    mkdirSync(dnsDir(topo.name), { recursive: true, mode: 0o700 });
    for (const s of servers) {
      const f = dnsFiles(topo.name, s.pod);
      writeFileSync(f.hosts, hosts);
      writeFileSync(f.conf, dnsmasqConfig(topo, s, records, f.hosts));
    }
  }
  return { a: records.a.length, srv: records.srv.length };
}

/** kubelet's resolv.conf for each pod given (none for the servers), by pod. */
const resolvConfs = (topo: Topology, pods: readonly TopologyPod[]) =>
  pods.flatMap((p) => {
    const text = podResolvConf(topo, p);
    return text === undefined ? [] : [{ pod: p, dir: podNamespace(topo.name, p.node, p.name), text }];
  });

/** Each pod's resolv.conf under /etc/netns/<its namespace>/: the host's, or its node container's. */
async function writeResolvConfs(rt: Runtime, topo: Topology, pods: readonly TopologyPod[]): Promise<number> {
  const files = resolvConfs(topo, pods);
  if (rt.kind === 'docker') {
    // one exec per node container, the folders and texts as arguments (short: three lines each)
    const byNode = new Map<string, string[]>();
    for (const f of files) byNode.set(f.pod.node, [...(byNode.get(f.pod.node) ?? []), join(CONTAINER_NETNS_ETC, f.dir), f.text]);
    await Promise.all(
      [...byNode].map(([node, args]) =>
        rt.run(
          nodeNamespace(topo.name, node),
          ['sh', '-c', 'while [ $# -gt 1 ]; do mkdir -p "$1" && printf %s "$2" > "$1/resolv.conf" || exit 1; shift 2; done', 'sh', ...args],
          { timeoutMs: 20_000, where: `writing the pods' resolv.conf in node ${node}` },
        ),
      ),
    );
    return files.length;
  }
  for (const { dir, text } of files) {
    if (!existsSync(NETNS_ETC)) {
      mkdirSync(dnsDir(topo.name), { recursive: true, mode: 0o700 });
      mkdirSync(NETNS_ETC, { recursive: true });
      writeFileSync(netnsEtcMarker(), '');
    }
    mkdirSync(join(NETNS_ETC, dir), { recursive: true });
    writeFileSync(join(NETNS_ETC, dir, 'resolv.conf'), text);
  }
  return files.length;
}

/** `apply`: the resolv.conf folders of removed pods (a node container apply removed took its own along). */
async function forgetResolvConfs(rt: Runtime, topo: Topology, pods: readonly TopologyPod[]): Promise<void> {
  const dirs = pods.map((p) => ({ node: p.node, dir: podNamespace(topo.name, p.node, p.name) }));
  if (rt.kind !== 'docker') {
    for (const { dir } of dirs) rmSync(join(NETNS_ETC, dir), { recursive: true, force: true });
    return;
  }
  const byNode = new Map<string, string[]>();
  for (const { node, dir } of dirs) byNode.set(node, [...(byNode.get(node) ?? []), join(CONTAINER_NETNS_ETC, dir)]);
  await Promise.all(
    [...byNode].map(([node, paths]) =>
      rt.run(nodeNamespace(topo.name, node), ['rm', '-rf', '--', ...paths], { check: false, timeoutMs: 20_000 }),
    ),
  );
}

/** `up`: the servers' files, every pod's resolv.conf, and dnsmasq started until UDP 53 is bound in each server pod. */
export async function startDns(rt: Runtime, topo: Topology): Promise<string> {
  const servers = dnsServers(topo);
  if (!topo.cluster.dns || !servers.length) return 'no cluster DNS (cluster.dns: false)';
  const counts = await writeServerFiles(rt, topo);
  const pods = await writeResolvConfs(rt, topo, topo.pods);
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
  await forgetResolvConfs(rt, topo, removed);
  await writeResolvConfs(rt, topo, added);
  const counts = await writeServerFiles(rt, topo);
  await rt.stopProcesses(servers.map((s) => s.ns));
  await rt.startDaemons(servers.map((s) => dnsDaemon(s, dnsFiles(topo.name, s.pod).conf)));
  return `${servers.length} dnsmasq re-fed: ${counts.a} A, ${counts.srv} SRV record(s)`;
}

/**
 * `down`: the servers' files and every /etc/netns/<namespace>/ of the lab on this machine (its
 * processes are stopped already; on docker both were inside the containers, gone with them).
 */
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

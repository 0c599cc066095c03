import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { readPcapFile } from '../pcap';
import type { Runtime } from '../runtime/runtime';
import { type RunningCapture, startCapture } from './capture';

// One DNS lookup with dig inside a pod or node, and — when the lab's cluster DNS is watched —
// which server pod it reached: after kube-proxy's DNAT the answer comes from the service
// address, so only a capture at the servers can tell (the query's id, seen at one of them).

export interface DnsQuery {
  name: string;
  type: string;
  /** @server; left out: the resolv.conf the namespace sees (the pod's, through ip netns exec) */
  server?: string;
  tcp: boolean;
  /** dig +search: the resolv.conf search list and ndots apply */
  search: boolean;
  timeoutS: number;
}

export interface DnsAnswerLine {
  name: string;
  ttl: number;
  type: string;
  data: string;
}

export interface DnsLookup {
  argv: string[];
  output: string;
  /** NOERROR, NXDOMAIN, REFUSED, ...; undefined when no answer came (timeout) */
  status?: string;
  id?: number;
  answers: DnsAnswerLine[];
  /** where the answer came from, as dig saw it (10.43.0.10#53) */
  server?: string;
  /** the watched server pods that saw the query (by id); undefined when none were watched */
  answeredBy?: string[];
  error?: string;
}

export function digArgv(q: DnsQuery): string[] {
  return [
    'dig',
    ...(q.server ? [`@${q.server}`] : []),
    ...(q.tcp ? ['+tcp'] : []),
    ...(q.search ? ['+search'] : []),
    '+tries=1',
    `+time=${Math.max(1, Math.round(q.timeoutS))}`,
    '+nocookie',
    q.name,
    q.type,
  ];
}

/** dig's default output: the header line, the ANSWER SECTION, the SERVER line. */
export function parseDig(out: string): Omit<DnsLookup, 'argv' | 'output' | 'answeredBy'> {
  const header = /status: (?<status>[A-Z]+), id: (?<id>\d+)/.exec(out)?.groups;
  const server = /^;; SERVER: (\S+)/m.exec(out)?.[1];
  const answers: DnsAnswerLine[] = [];
  const section = /;; ANSWER SECTION:\n([\s\S]*?)(\n\n|$)/.exec(out)?.[1] ?? '';
  for (const line of section.split('\n')) {
    const m = /^(?<name>\S+)\s+(?<ttl>\d+)\s+IN\s+(?<type>\S+)\s+(?<data>.*)$/.exec(line.trim())?.groups;
    if (m?.name && m.type && m.data !== undefined)
      answers.push({ name: m.name.replace(/\.$/, ''), ttl: Number(m.ttl), type: m.type, data: m.data.trim() });
  }
  return {
    ...(header?.status ? { status: header.status, id: Number(header.id) } : {}),
    answers,
    ...(server ? { server } : {}),
    ...(header?.status ? {} : { error: /;; (connection timed out|communications error)[^\n]*/.exec(out)?.[0] ?? 'no answer' }),
  };
}

/** `watch`: server pods' namespaces (pod → ns) captured on eth0 (port 53) while dig runs, pcaps under `dir`. */
export async function dnsLookup(
  rt: Runtime,
  ns: string,
  q: DnsQuery,
  watch: { pod: string; ns: string }[] = [],
  dir?: string,
): Promise<DnsLookup> {
  const argv = digArgv(q);
  const caps: { pod: string; cap: RunningCapture }[] = [];
  if (watch.length && dir) {
    mkdirSync(dir, { recursive: true });
    for (const w of watch)
      caps.push({
        pod: w.pod,
        cap: await startCapture(rt, { ns: w.ns, iface: 'eth0', filter: 'port 53', file: join(dir, `${w.pod.replace('/', '.')}.pcap`) }),
      });
  }
  let output = '';
  try {
    const r = await rt.run(ns, argv, { check: false, timeoutMs: (q.timeoutS + 5) * 1000 });
    output = r.stdout + (r.stderr ? `\n--- stderr\n${r.stderr}` : '');
  } finally {
    for (const c of caps) await c.cap.stop();
  }
  const parsed = parseDig(output);
  const answeredBy = caps.length
    ? caps
        .filter((c) => readPcapFile(c.cap.spec.file).packets.some((p) => p.dns && !p.dns.response && p.dns.id === parsed.id))
        .map((c) => c.pod)
    : undefined;
  return { argv, output, ...parsed, ...(answeredBy ? { answeredBy } : {}) };
}

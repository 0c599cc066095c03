import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LabError } from '../errors';
import { abortError, type Executor, type ExecResult, type Started } from '../runtime/executor';
import type { Runtime } from '../runtime/runtime';

// The real tcpdump inside a namespace, writing a pcap. Traffic may start only once tcpdump has
// said "listening on" (the socket is open and the filter set by then); stopping sends SIGINT and
// waits for the exit, so every packet tcpdump took is in the file, and its own counts come back.

export interface CaptureSpec {
  ns: string;
  /** an interface of that namespace, or 'any' (Linux cooked capture v2) */
  iface: string;
  /** BPF filter text, given to tcpdump as one argument (never through a shell) */
  filter?: string;
  /** where the pcap is written (a path this host and the runtime both see) */
  file: string;
  /** stop by itself after this many packets (tcpdump -c) */
  count?: number;
}

export interface CaptureStats {
  file: string;
  /** tcpdump's own counts from its exit report */
  captured?: number;
  receivedByFilter?: number;
  droppedByKernel?: number;
  /** the link type tcpdump announced, e.g. EN10MB or LINUX_SLL2 */
  linkType?: string;
}

export interface RunningCapture {
  spec: CaptureSpec;
  linkType: string;
  /** settles when tcpdump exits by itself (after `count` packets) */
  ended: Promise<void>;
  stop(): Promise<CaptureStats>;
}

export function tcpdumpArgv(spec: CaptureSpec): string[] {
  // -U and --immediate-mode: every packet reaches the file as it comes, so nothing waits in a
  // buffer when the capture is stopped; -n: no name lookups; -s 0: whole packets; -Z root:
  // Debian's tcpdump would otherwise drop to the tcpdump user, who may not write the results folder.
  return [
    'tcpdump',
    '-i',
    spec.iface,
    '-n',
    '-U',
    '--immediate-mode',
    '-s',
    '0',
    '-Z',
    'root',
    '-w',
    spec.file,
    ...(spec.count ? ['-c', String(spec.count)] : []),
    ...(spec.filter ? [spec.filter] : []),
  ];
}

/**
 * How long tcpdump may take to say it is listening. Generous: a trace starts a dozen at once, and in
 * a loaded VM that was seen to take over 5 s; the wait ends as soon as tcpdump is ready.
 */
export const CAPTURE_READY_MS = 15_000;

/**
 * Starts tcpdump and resolves once it listens. `signal` aborted before that (a run interrupted):
 * tcpdump is killed and the call rejects once it has exited; after that, `stop()` stops it.
 */
export async function startCapture(
  rt: Runtime,
  spec: CaptureSpec,
  readyTimeoutMs = CAPTURE_READY_MS,
  signal?: AbortSignal,
): Promise<RunningCapture> {
  if (signal?.aborted) throw abortError(signal);
  // where tcpdump writes may be inside a node container: the runtime brings the file here on stop
  const target = await rt.fileFor(spec.ns, spec.file);
  const proc = rt.start(spec.ns, tcpdumpArgv({ ...spec, file: target.path }));
  let stderr = '';
  let onAbort = () => undefined as void;
  const linkType = await new Promise<string>((resolve, reject) => {
    // settled once tcpdump is gone (below): no capture outlives a failed start
    let failure: Error | undefined;
    const fail = (e: Error) => {
      clearTimeout(timer);
      failure = e;
      proc.signal('SIGKILL');
    };
    const timer = setTimeout(
      () =>
        fail(
          new LabError(`tcpdump on ${spec.ns}:${spec.iface} did not say it was listening within ${readyTimeoutMs} ms: ${stderr.trim()}`),
        ),
      readyTimeoutMs,
    );
    if (signal) {
      onAbort = () => fail(abortError(signal));
      signal.addEventListener('abort', onAbort, { once: true });
    }
    proc.onStderr((text) => {
      stderr += text;
      const m = /listening on \S+, link-type (\S+)/.exec(stderr);
      if (m && !failure) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    void proc.exited.then((r) => {
      clearTimeout(timer);
      if (signal?.aborted) failure ??= abortError(signal);
      reject(failure ?? new LabError(`tcpdump on ${spec.ns}:${spec.iface} exited before listening: ${(r.stderr || stderr).trim()}`));
    });
  }).finally(() => signal?.removeEventListener('abort', onAbort));
  return {
    spec,
    linkType,
    ended: proc.exited.then(() => undefined),
    stop: async () => {
      const stats = await stopCapture(proc, spec, linkType);
      await target.collect();
      return stats;
    },
  };
}

async function stopCapture(proc: Started, spec: CaptureSpec, linkType: string): Promise<CaptureStats> {
  // A packet the probe saw answered may still be on its way to tcpdump's socket.
  await new Promise((r) => setTimeout(r, 50));
  proc.signal('SIGINT');
  const killer = setTimeout(() => proc.signal('SIGKILL'), 5000);
  const r: ExecResult = await proc.exited;
  clearTimeout(killer);
  const count = (what: string) => {
    const m = new RegExp(`(\\d+) packets? ${what}`).exec(r.stderr);
    return m ? Number(m[1]) : undefined;
  };
  return {
    file: spec.file,
    linkType,
    ...optional('captured', count('captured')),
    ...optional('receivedByFilter', count('received by filter')),
    ...optional('droppedByKernel', count('dropped by kernel')),
  };
}

const optional = <K extends string>(k: K, v: number | undefined) => (v === undefined ? {} : ({ [k]: v } as Record<K, number>));

/**
 * Checks BPF filter texts without a device: tcpdump compiles each against an empty pcap file
 * (`-d -r`), so a typo is an input error before any lab is built. Returns filter → error text
 * (undefined when it compiles).
 */
export async function checkFilters(host: Executor, filters: Iterable<string>): Promise<Map<string, string | undefined>> {
  const result = new Map<string, string | undefined>();
  const dir = mkdtempSync(join(tmpdir(), 'kdl-filter-'));
  try {
    const empty = join(dir, 'empty.pcap');
    writeEmptyPcap(empty);
    for (const f of filters) {
      if (result.has(f)) continue;
      const r = await host.run(['tcpdump', '-d', '-r', empty, f], { check: false });
      result.set(
        f,
        r.code === 0
          ? undefined
          : r.stderr
              .replace(/^reading from file.*\n/m, '')
              .trim()
              .replace(/^tcpdump: /, '') || `tcpdump exited ${r.code}`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return result;
}

/** A pcap file header with no packets (Ethernet). */
function writeEmptyPcap(path: string, linkType = 1): void {
  const b = Buffer.alloc(24);
  b.writeUInt32LE(0xa1b2c3d4, 0);
  b.writeUInt16LE(2, 4);
  b.writeUInt16LE(4, 6);
  b.writeUInt32LE(262144, 16);
  b.writeUInt32LE(linkType, 20);
  writeFileSync(path, b);
}

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { InputError, LabError } from '../errors';
import { type Packet, readPcapFile, vxlanPortsWith } from '../pcap';
import { type CaptureStats, checkFilters, startCapture } from '../probe/capture';
import { LocalExecutor } from '../runtime/executor';
import type { RuntimeHooks } from '../runtime/select';
import { newRunId } from '../report/run-id';
import { resultsRoot } from './results-dir';
import { labRuntime } from './target';
import type { Runtime } from '../runtime/runtime';
import { resolvePoint } from '../model/names';
import { LabNames } from '../model/names';
import { readRecord } from '../state/store';

// `lab capture <point>`: tcpdump at a named point of a lab that is up, by hand, until Ctrl-C, a
// number of seconds or a number of packets; the pcap lands under results/<run-id>/ like a
// scenario's, and what it holds is printed with the lab's own decoder.

export interface CaptureRequest {
  lab: string;
  /** <node|pod|@lab>[:<interface|any>] */
  at: string;
  filter?: string;
  seconds?: number;
  count?: number;
  /** the run's folder */
  dir: string;
}

export interface CaptureDone {
  file: string;
  stats: CaptureStats;
  packets: Packet[];
}

export async function captureAt(
  rt: Runtime,
  req: CaptureRequest,
  onListening: (file: string, linkType: string) => void,
  interrupted: Promise<void>,
): Promise<CaptureDone> {
  const rec = readRecord(req.lab);
  if (!rec) throw new LabError(`lab '${req.lab}' has no state record (is it up? 'lab status' shows what is)`, 2);
  const point = resolvePoint(new LabNames(rec.topology), req.at);
  if (typeof point === 'string') throw InputError.of('point', '', point);
  mkdirSync(req.dir, { recursive: true });
  const file = join(req.dir, `${point.owner.replace(/^@/, '').replace('/', '.')}-${point.iface}.pcap`);
  const cap = await startCapture(rt, {
    ns: point.ns,
    iface: point.iface,
    file,
    ...(req.filter ? { filter: req.filter } : {}),
    ...(req.count ? { count: req.count } : {}),
  });
  onListening(file, cap.linkType);
  let timer: NodeJS.Timeout | undefined;
  const elapsed = req.seconds ? new Promise<void>((r) => (timer = setTimeout(r, req.seconds! * 1000))) : new Promise<void>(() => undefined);
  await Promise.race([cap.ended, elapsed, interrupted]);
  clearTimeout(timer);
  const stats = await cap.stop();
  return { file, stats, packets: readPcapFile(file, { vxlanPorts: vxlanPortsWith(rec.topology.cluster.port) }).packets };
}

/** `lab capture`: the lab meant, the filter checked by tcpdump first, the pcap in a new run folder under `results`. */
export async function captureLab(
  req: { name?: string; at: string; filter: string; seconds?: number; count?: number; results: string },
  onListening: (file: string, linkType: string) => void,
  interrupted: Promise<void>,
  hooks: RuntimeHooks = {},
): Promise<CaptureDone> {
  const { lab, rt } = await labRuntime(req.name, 'capture', hooks);
  const filter = req.filter.trim();
  const err = filter ? (await checkFilters(new LocalExecutor(), [filter])).get(filter) : undefined;
  if (err) throw InputError.of('filter', '', `tcpdump cannot use '${filter}': ${err}`);
  const dir = join(resultsRoot(req.results), newRunId());
  const at = {
    lab,
    at: req.at,
    dir,
    ...(filter ? { filter } : {}),
    ...(req.seconds ? { seconds: req.seconds } : {}),
    ...(req.count ? { count: req.count } : {}),
  };
  return captureAt(rt, at, onListening, interrupted);
}

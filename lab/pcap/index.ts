import { readFileSync } from 'node:fs';
import { type DecodeOptions, decodeFrame, type Packet } from './decode';
import { type Capture, readCapture } from './reader';

export * from './decode';
export * from './fields';
export * from './reader';

/** Decodes every frame, with times relative to the first frame (like tshark's frame.time_relative). */
export function decodeCapture(capture: Capture, opts: DecodeOptions = {}): Packet[] {
  const t0 = capture.frames[0]?.time ?? 0;
  return capture.frames.map((f) => ({ ...decodeFrame(f, opts), relativeTime: f.time - t0 }));
}

/** Reads a pcap or pcapng file and decodes every frame in it. */
export function readPcapFile(path: string, opts: DecodeOptions = {}): { capture: Capture; packets: Packet[] } {
  const capture = readCapture(readFileSync(path), path);
  return { capture, packets: decodeCapture(capture, opts) };
}

// Reads classic pcap and pcapng captures (what tcpdump, dumpcap and editcap write) into frames.
// Structural damage (bad magic, a block whose lengths disagree) throws PcapError naming the
// byte offset; a record cut off at the end of the file is what a capture killed mid-write
// leaves behind, so the frames before it are kept and a warning says what was dropped.

export interface Frame {
  /** 1-based, like tshark's frame.number */
  index: number;
  tsSec: number;
  tsNsec: number;
  /** seconds since the epoch as a float (tsSec + tsNsec / 1e9) */
  time: number;
  capturedLength: number;
  originalLength: number;
  linkType: number;
  /** pcapng: interfaces numbered across all sections, in file order; classic pcap: 0 */
  interfaceId: number;
  interfaceName?: string;
  data: Buffer;
}

export interface Capture {
  format: 'pcap' | 'pcapng';
  /** byte order of the (first) section */
  byteOrder: 'LE' | 'BE';
  /** 'us', 'ns', 'ms', 's', '10^-N' or '2^-N'; interfaces that differ are joined with ',' */
  resolution: 'us' | 'ns' | (string & {});
  frames: Frame[];
  warnings: string[];
}

export class PcapError extends Error {
  constructor(
    readonly file: string,
    readonly offset: number,
    detail: string,
  ) {
    super(`${file}: byte ${offset}: ${detail}`);
    this.name = 'PcapError';
  }
}

const PCAP_US = 0xa1b2c3d4;
const PCAP_NS = 0xa1b23c4d;
const PCAPNG_SHB = 0x0a0d0d0a;
const PCAPNG_BOM = 0x1a2b3c4d;
const PCAP_HEADER = 24;
const PCAP_RECORD = 16;
/** libpcap's own upper bound for a record; beyond it the length field is garbage, not data */
const MAX_RECORD = 0x4000000;

/** Parses a whole capture held in memory; `file` only labels errors and warnings. */
export function readCapture(buf: Buffer, file = '<buffer>'): Capture {
  if (buf.length < 4) throw new PcapError(file, 0, `file is ${buf.length} bytes, too short for a capture header`);
  if (buf.readUInt32BE(0) === PCAPNG_SHB) return readPcapng(buf, file);
  const be = buf.readUInt32BE(0);
  const le = buf.readUInt32LE(0);
  for (const [magic, order] of [
    [be, 'BE'],
    [le, 'LE'],
  ] as const) {
    if (magic === PCAP_US || magic === PCAP_NS) return readPcap(buf, file, order, magic === PCAP_NS ? 'ns' : 'us');
  }
  throw new PcapError(file, 0, `bad magic 0x${be.toString(16).padStart(8, '0')}: neither pcap nor pcapng`);
}

/** Reads unsigned integers in one byte order. */
class Cursor {
  constructor(
    readonly buf: Buffer,
    public le: boolean,
  ) {}
  u16(o: number): number {
    return this.le ? this.buf.readUInt16LE(o) : this.buf.readUInt16BE(o);
  }
  u32(o: number): number {
    return this.le ? this.buf.readUInt32LE(o) : this.buf.readUInt32BE(o);
  }
  i64(o: number): bigint {
    return this.le ? this.buf.readBigInt64LE(o) : this.buf.readBigInt64BE(o);
  }
}

function frameTime(tsSec: number, tsNsec: number): number {
  return tsSec + tsNsec / 1e9;
}

function readPcap(buf: Buffer, file: string, order: 'LE' | 'BE', resolution: 'us' | 'ns'): Capture {
  if (buf.length < PCAP_HEADER) throw new PcapError(file, 0, `pcap file header is ${buf.length} bytes, 24 needed`);
  const c = new Cursor(buf, order === 'LE');
  const warnings: string[] = [];
  const major = c.u16(4);
  if (major !== 2) warnings.push(`${file}: byte 4: pcap version ${major}.${c.u16(6)}, expected 2.4`);
  const snaplen = c.u32(16);
  // The upper bits carry FCS length and flags (draft-ietf-opsawg-pcap); the type is the low 16.
  const linkType = c.u32(20) & 0xffff;
  const frames: Frame[] = [];
  const scale = resolution === 'ns' ? 1 : 1000;
  let off = PCAP_HEADER;
  while (off < buf.length) {
    if (buf.length - off < PCAP_RECORD) {
      warnings.push(
        `${file}: byte ${off}: record header cut off (${buf.length - off} of 16 bytes) at end of file; ${frames.length} frames kept`,
      );
      break;
    }
    const tsSec = c.u32(off);
    const frac = c.u32(off + 4);
    const capLen = c.u32(off + 8);
    const origLen = c.u32(off + 12);
    if (capLen > Math.max(snaplen, MAX_RECORD))
      throw new PcapError(file, off + 8, `record claims ${capLen} captured bytes (snaplen ${snaplen})`);
    const start = off + PCAP_RECORD;
    if (start + capLen > buf.length) {
      warnings.push(
        `${file}: byte ${off}: frame ${frames.length + 1} cut off (${buf.length - start} of ${capLen} bytes) at end of file; ${frames.length} frames kept`,
      );
      break;
    }
    frames.push(frameAt(frames.length + 1, tsSec, frac * scale, origLen, linkType, 0, buf.subarray(start, start + capLen)));
    off = start + capLen;
  }
  return { format: 'pcap', byteOrder: order, resolution, frames, warnings };
}

/** One frame as both formats describe it (captured length = the bytes kept). */
function frameAt(
  index: number,
  tsSec: number,
  tsNsec: number,
  originalLength: number,
  linkType: number,
  interfaceId: number,
  data: Buffer,
): Frame {
  return { index, tsSec, tsNsec, time: frameTime(tsSec, tsNsec), capturedLength: data.length, originalLength, linkType, interfaceId, data };
}

// ---- pcapng -----------------------------------------------------------------------------

const BT_IDB = 1;
const BT_PB = 2;
const BT_SPB = 3;
const BT_EPB = 6;
/** Blocks that carry no frames and are skipped silently: NRB, ISB, journal, DSB, custom. */
const QUIET_BLOCKS = new Set([4, 5, 9, 10, 0xbad, 0x40000bad]);

interface Interface {
  globalId: number;
  linkType: number;
  snaplen: number;
  name?: string;
  /** timestamp units per second: 10^n or 2^n */
  base: 10n | 2n;
  exp: number;
  offsetSec: bigint;
}

const pad4 = (n: number) => (n + 3) & ~3;

function resolutionName(i: Interface): string {
  if (i.base === 10n) return ({ 0: 's', 3: 'ms', 6: 'us', 9: 'ns' } as Record<number, string>)[i.exp] ?? `10^-${i.exp}`;
  return `2^-${i.exp}`;
}

/** Splits a timestamp in interface units into whole seconds and nanoseconds. */
function splitTimestamp(units: bigint, i: Interface): { tsSec: number; tsNsec: number } {
  const perSec = i.base ** BigInt(i.exp);
  const sec = units / perSec + i.offsetSec;
  const nsec = ((units % perSec) * 1_000_000_000n) / perSec;
  return { tsSec: Number(sec), tsNsec: Number(nsec) };
}

interface Options {
  [code: number]: Buffer;
}

/** TLV options from `start` to `end`; a malformed list stops with a warning (options are extras). */
function readOptions(c: Cursor, start: number, end: number, where: string, warnings: string[]): Options {
  const out: Options = {};
  let o = start;
  while (o + 4 <= end) {
    const code = c.u16(o);
    const len = c.u16(o + 2);
    if (code === 0) break;
    if (o + 4 + len > end) {
      warnings.push(`${where}: option ${code} at byte ${o} runs past its block; rest of the options ignored`);
      break;
    }
    out[code] ??= c.buf.subarray(o + 4, o + 4 + len);
    o += 4 + pad4(len);
  }
  return out;
}

function readPcapng(buf: Buffer, file: string): Capture {
  const warnings: string[] = [];
  const frames: Frame[] = [];
  const c = new Cursor(buf, true);
  let firstOrder: 'LE' | 'BE' | undefined;
  let section: Interface[] = [];
  const allInterfaces: Interface[] = [];
  let off = 0;

  // A cut-off first section header is a truncated file header, not a capture stopped mid-write.
  const cutOff = (what: string) => {
    if (firstOrder === undefined) throw new PcapError(file, off, `${what}: pcapng section header truncated`);
    warnings.push(`${file}: byte ${off}: ${what} at end of file; ${frames.length} frames kept`);
  };

  while (off < buf.length) {
    if (buf.length - off < 12) {
      cutOff(`block header cut off (${buf.length - off} bytes)`);
      break;
    }
    const rawType = buf.readUInt32BE(off);
    if (rawType === PCAPNG_SHB) {
      // The byte-order magic decides how to read this section, its own length included.
      const bom = buf.readUInt32LE(off + 8);
      if (bom === PCAPNG_BOM) c.le = true;
      else if (bom === 0x4d3c2b1a) c.le = false;
      else
        throw new PcapError(file, off + 8, `section header byte-order magic 0x${buf.readUInt32BE(off + 8).toString(16)} is not 1a2b3c4d`);
    }
    const type = c.u32(off);
    const len = c.u32(off + 4);
    if (len < 12 || len % 4 !== 0)
      throw new PcapError(file, off + 4, `block type 0x${type.toString(16)} has length ${len} (must be a multiple of 4, at least 12)`);
    if (off + len > buf.length) {
      cutOff(`block type 0x${type.toString(16)} of ${len} bytes cut off (${buf.length - off} present)`);
      break;
    }
    const trailer = c.u32(off + len - 4);
    if (trailer !== len)
      throw new PcapError(
        file,
        off + len - 4,
        `block type 0x${type.toString(16)} at byte ${off}: trailing length ${trailer} != leading length ${len}`,
      );
    const body = off + 8;
    const end = off + len - 4;
    const need = (n: number, what: string) => {
      if (end - body < n) throw new PcapError(file, off + 4, `${what} block of ${len} bytes is too short for its ${n}-byte fixed part`);
    };
    const where = `${file}: block at byte ${off}`;

    if (type === PCAPNG_SHB) {
      need(16, 'section header');
      const major = c.u16(body + 4);
      if (major !== 1) throw new PcapError(file, body + 4, `pcapng major version ${major} is not supported`);
      firstOrder ??= c.le ? 'LE' : 'BE';
      section = [];
    } else if (type === BT_IDB) {
      need(8, 'interface description');
      const opts = readOptions(c, body + 8, end, where, warnings);
      const iface: Interface = {
        globalId: allInterfaces.length,
        linkType: c.u16(body),
        snaplen: c.u32(body + 4),
        base: 10n,
        exp: 6,
        offsetSec: 0n,
      };
      const name = opts[2];
      if (name) iface.name = name.toString('utf8').replace(/\0+$/, '');
      const tsresol = opts[9]?.[0];
      if (tsresol !== undefined) {
        iface.base = tsresol & 0x80 ? 2n : 10n;
        iface.exp = tsresol & 0x7f;
      }
      const tsoffset = opts[14];
      if (tsoffset?.length === 8) iface.offsetSec = new Cursor(tsoffset, c.le).i64(0);
      section.push(iface);
      allInterfaces.push(iface);
    } else if (type === BT_EPB || type === BT_PB || type === BT_SPB) {
      let ifId: number;
      let units = 0n;
      let capLen: number;
      let origLen: number;
      let data: number;
      if (type === BT_SPB) {
        need(4, 'simple packet');
        ifId = 0;
        origLen = c.u32(body);
        data = body + 4;
        const snap = section[0]?.snaplen ?? 0;
        capLen = Math.min(origLen, end - data, snap || Infinity);
      } else {
        need(20, type === BT_EPB ? 'enhanced packet' : 'packet');
        ifId = type === BT_EPB ? c.u32(body) : c.u16(body);
        units = (BigInt(c.u32(body + 4)) << 32n) | BigInt(c.u32(body + 8));
        capLen = c.u32(body + 12);
        origLen = c.u32(body + 16);
        data = body + 20;
        if (data + capLen > end) throw new PcapError(file, body + 12, `captured length ${capLen} does not fit in its ${len}-byte block`);
      }
      const iface = section[ifId];
      if (!iface) throw new PcapError(file, body, `packet names interface ${ifId}, but this section describes ${section.length}`);
      const { tsSec, tsNsec } = type === BT_SPB ? { tsSec: 0, tsNsec: 0 } : splitTimestamp(units, iface);
      const frame = frameAt(frames.length + 1, tsSec, tsNsec, origLen, iface.linkType, iface.globalId, buf.subarray(data, data + capLen));
      if (iface.name !== undefined) frame.interfaceName = iface.name;
      frames.push(frame);
    } else if (!QUIET_BLOCKS.has(type)) {
      warnings.push(`${where}: skipped unknown block type 0x${type.toString(16)} (${len} bytes)`);
    }
    off += len;
  }
  const resolutions = [...new Set(allInterfaces.map(resolutionName))];
  return {
    format: 'pcapng',
    byteOrder: firstOrder ?? 'LE',
    resolution: resolutions.length ? resolutions.join(',') : 'us',
    frames,
    warnings,
  };
}

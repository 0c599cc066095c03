import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import type Dockerode from 'dockerode';
import * as tarFs from 'tar-fs';
import { LabError } from '../errors';
import { LOCAL_SOCKET } from './engine';
import { inRepo } from '../paths';

// The node image for the docker runtime. Its tag carries a hash of its build context
// (kdl-node:<12 hex>), so an image that exists is the image the context describes and is reused
// as it is; a changed context builds a new one. The build starts FROM a Debian base:
// debian:bookworm-slim when the engine has it or can pull it, otherwise kdl-base:bookworm, which
// is made here once from a debootstrap'ed root filesystem fetched from the host's own Debian
// mirror (the one its apt sources name), so that no image registry is needed.

/** One line of progress for a spinner, e.g. "debootstrap: Retrieving libc6" or "build: Step 3/6 : RUN …". */
export type ProgressFn = (line: string) => void;

export const NODE_CONTEXT = inRepo('images', 'node');
export const NODE_REPO = 'kdl-node';
export const BASE_IMAGE = 'kdl-base:bookworm';
export const UPSTREAM_BASE = 'debian:bookworm-slim';
export const LABEL_IMAGE = 'io.k8s-dataplane-lab.image';
export const LABEL_CONTEXT = 'io.k8s-dataplane-lab.context';
const SUITE = 'bookworm';
/** How long a pull may go without any progress before it is given up (no registry reachable). */
const PULL_IDLE_MS = 15_000;

// ---------------------------------------------------------------------------------------------
// context hash

/** sha256 over the context folder's sorted relative paths and their contents: the first 12 hex. */
export function contextHash(dir: string): string {
  const h = createHash('sha256');
  for (const rel of listFiles(dir)) {
    const abs = join(dir, rel);
    const st = lstatSync(abs);
    const body = st.isSymbolicLink() ? Buffer.from(`symlink:${readlinkSync(abs)}`) : readFileSync(abs);
    h.update(`${rel}\0${body.length}\0`);
    h.update(body);
    h.update('\0');
  }
  return h.digest('hex').slice(0, 12);
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const abs = join(d, e.name);
      if (e.isDirectory()) walk(abs);
      else out.push(relative(dir, abs).split(sep).join('/'));
    }
  };
  walk(dir);
  return out.sort();
}

// ---------------------------------------------------------------------------------------------
// engine helpers

function statusCode(e: unknown): number | undefined {
  if (typeof e === 'object' && e !== null && 'statusCode' in e) {
    const c = (e as { statusCode: unknown }).statusCode;
    return typeof c === 'number' ? c : undefined;
  }
  return undefined;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Throws a LabError (exit 2) telling how to get an engine when none answers. */
export async function requireEngine(docker: Dockerode): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      docker.ping(),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('no answer within 5 s')), 5000))),
    ]);
  } catch (e) {
    throw new LabError(
      `the docker runtime needs a Docker engine, and none answers on ${LOCAL_SOCKET} (${message(e)}): ` +
        'install one (apt-get install docker.io) and start dockerd (systemctl start docker, or run dockerd), then retry',
      2,
    );
  } finally {
    clearTimeout(timer);
  }
}

export async function imageExists(docker: Dockerode, name: string): Promise<boolean> {
  try {
    await docker.getImage(name).inspect();
    return true;
  } catch (e) {
    if (statusCode(e) === 404) return false;
    throw e;
  }
}

/** A JSON message from the engine's progress streams (pull, import, build). */
interface EngineMessage {
  stream?: string;
  status?: string;
  progress?: string;
  id?: string;
  error?: string;
  errorDetail?: { message?: string };
  aux?: { ID?: string };
}

/**
 * Follows a progress stream to its end. Resolves with the messages; rejects on a transport error
 * or on the first message that carries an error (the engine reports a failed build that way,
 * with HTTP 200).
 */
function follow(docker: Dockerode, stream: NodeJS.ReadableStream, onMessage: (m: EngineMessage) => void): Promise<EngineMessage[]> {
  return new Promise((resolve, reject) => {
    let failed: string | undefined;
    docker.modem.followProgress(
      stream,
      (err, out: EngineMessage[]) => {
        if (err) reject(err);
        else if (failed !== undefined) reject(new Error(failed));
        else resolve(out);
      },
      (m: EngineMessage) => {
        if (m.error !== undefined || m.errorDetail?.message !== undefined) failed ??= m.errorDetail?.message ?? m.error ?? 'unknown error';
        onMessage(m);
      },
    );
  });
}

// ---------------------------------------------------------------------------------------------
// the base image

/**
 * The image to build the node image FROM: kdl-base:bookworm if it exists, else
 * debian:bookworm-slim if the engine has it or can pull it (a pull that shows no progress for
 * 15 s is given up), else kdl-base:bookworm made now from a debootstrap'ed Debian root
 * filesystem (once; about 30 s on a host near its mirror).
 */
export async function ensureBaseImage(docker: Dockerode, onProgress: ProgressFn = () => undefined): Promise<string> {
  await requireEngine(docker);
  if (await imageExists(docker, BASE_IMAGE)) return BASE_IMAGE;
  if (await imageExists(docker, UPSTREAM_BASE)) return UPSTREAM_BASE;
  onProgress(`base: pulling ${UPSTREAM_BASE}`);
  try {
    await pullImage(docker, UPSTREAM_BASE, onProgress);
    return UPSTREAM_BASE;
  } catch (e) {
    onProgress(`base: cannot pull ${UPSTREAM_BASE} (${firstLine(message(e))}); making ${BASE_IMAGE} with debootstrap`);
  }
  await buildBaseImage(docker, onProgress);
  return BASE_IMAGE;
}

async function pullImage(docker: Dockerode, name: string, onProgress: ProgressFn): Promise<void> {
  const ctl = new AbortController();
  let timer = setTimeout(() => ctl.abort(), PULL_IDLE_MS);
  const alive = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => ctl.abort(), PULL_IDLE_MS);
  };
  try {
    const stream = await docker.pull(name, { abortSignal: ctl.signal });
    await follow(docker, stream, (m) => {
      alive();
      const text = [m.id, m.status, m.progress].filter(Boolean).join(' ');
      if (text) onProgress(`pull: ${text}`);
    });
  } catch (e) {
    throw ctl.signal.aborted ? new Error(`no progress for ${PULL_IDLE_MS / 1000} s`) : e;
  } finally {
    clearTimeout(timer);
  }
  if (!(await imageExists(docker, name))) throw new Error(`the pull ended without ${name}`);
}

/** Makes kdl-base:bookworm: debootstrap --variant=minbase from the host's mirror, then an import. */
async function buildBaseImage(docker: Dockerode, onProgress: ProgressFn): Promise<void> {
  if (process.getuid?.() !== 0) throw new LabError(`making ${BASE_IMAGE} with debootstrap needs root`, 2);
  const sources = readAptSources();
  const mirror = debianMirror(sources);
  if (!mirror) {
    throw new LabError(
      `cannot make ${BASE_IMAGE}: no Debian mirror found in the apt sources (/etc/apt/sources.list, /etc/apt/sources.list.d/) ` +
        `and ${UPSTREAM_BASE} cannot be pulled`,
      2,
    );
  }
  const tmp = mkdtempSync(join(tmpdir(), 'kdl-base-'));
  const rootfs = join(tmp, 'rootfs');
  const started = Date.now();
  try {
    onProgress(`debootstrap: ${SUITE} (minbase) from ${mirror}`);
    await debootstrap(rootfs, mirror, onProgress);
    prepareRootfs(rootfs, aptSourcesFor(sources, mirror), hostAptValidity());
    onProgress(`import: ${BASE_IMAGE}`);
    await importRootfs(docker, rootfs, BASE_IMAGE);
    onProgress(`base: ${BASE_IMAGE} made in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    removeTree(tmp);
  }
}

function debootstrap(rootfs: string, mirror: string, onProgress: ProgressFn): Promise<void> {
  const argv = ['--variant=minbase', SUITE, rootfs, mirror];
  return new Promise((resolve, reject) => {
    const child = spawn('debootstrap', argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    const tail: string[] = [];
    const onLine = (line: string): void => {
      if (!line.trim()) return;
      tail.push(line);
      if (tail.length > 15) tail.shift();
      const m = /^I: (.*)$/.exec(line);
      if (m?.[1]) onProgress(`debootstrap: ${m[1]}`);
    };
    for (const s of [child.stdout, child.stderr]) lines(s, onLine);
    child.on('error', (e: NodeJS.ErrnoException) =>
      reject(
        e.code === 'ENOENT'
          ? new LabError(`cannot make ${BASE_IMAGE}: debootstrap is not installed (apt-get install debootstrap)`, 2)
          : e,
      ),
    );
    child.on('close', (code, signal) => {
      if (code === 0) return resolve();
      const log = join(rootfs, 'debootstrap', 'debootstrap.log');
      const logTail = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').slice(-10) : [];
      reject(
        new LabError(
          `debootstrap ${argv.join(' ')} exited ${code ?? signal}:\n  ${[...tail, ...logTail].join('\n  ')}`,
        ),
      );
    });
  });
}

function lines(stream: Readable, onLine: (line: string) => void): void {
  let buf = '';
  stream.on('data', (b: Buffer) => {
    buf += b.toString();
    let i: number;
    while ((i = buf.search(/[\r\n]/)) >= 0) {
      onLine(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
  stream.on('end', () => buf && onLine(buf));
}

/**
 * Makes the debootstrap'ed tree a small image root: apt sources naming the host's mirror (so
 * apt works in builds FROM it), the host's apt settings about Release validity (a snapshot
 * mirror's Release files are past their Valid-Until), dpkg excludes for docs, man pages and
 * locales as debian:*-slim has them, a policy-rc.d that keeps package scripts from starting
 * services, and no caches, logs or host files (resolv.conf, hostname).
 */
function prepareRootfs(rootfs: string, sourcesList: string, aptConf: string): void {
  const etc = join(rootfs, 'etc');
  writeFileSync(join(etc, 'apt', 'sources.list'), sourcesList);
  rmSync(join(etc, 'apt', 'sources.list.d'), { recursive: true, force: true });
  mkdirSync(join(etc, 'apt', 'sources.list.d'), { recursive: true });
  if (aptConf) writeFileSync(join(etc, 'apt', 'apt.conf.d', '90kdl-host-validity'), aptConf);
  writeFileSync(
    join(etc, 'apt', 'apt.conf.d', '90kdl-slim'),
    ['Acquire::Languages "none";', 'APT::Install-Recommends "false";', 'APT::Install-Suggests "false";', ''].join('\n'),
  );
  writeFileSync(
    join(etc, 'dpkg', 'dpkg.cfg.d', 'kdl-slim'),
    [
      'path-exclude /usr/share/doc/*',
      'path-include /usr/share/doc/*/copyright',
      'path-exclude /usr/share/man/*',
      'path-exclude /usr/share/info/*',
      'path-exclude /usr/share/locale/*',
      'path-include /usr/share/locale/locale.alias',
      'path-exclude /usr/share/lintian/*',
      '',
    ].join('\n'),
  );
  // as in Debian's own container images: package scripts start no services (there is no init)
  writeFileSync(join(rootfs, 'usr', 'sbin', 'policy-rc.d'), '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  for (const d of ['usr/share/man', 'usr/share/info', 'usr/share/locale', 'usr/share/lintian']) {
    for (const e of safeList(join(rootfs, d))) {
      if (d === 'usr/share/locale' && e === 'locale.alias') continue;
      rmSync(join(rootfs, d, e), { recursive: true, force: true });
    }
  }
  for (const pkg of safeList(join(rootfs, 'usr/share/doc'))) {
    for (const e of safeList(join(rootfs, 'usr/share/doc', pkg))) {
      if (e !== 'copyright') rmSync(join(rootfs, 'usr/share/doc', pkg, e), { recursive: true, force: true });
    }
  }
  for (const d of ['var/cache/apt/archives', 'var/lib/apt/lists']) {
    for (const e of safeList(join(rootfs, d))) {
      if (e !== 'partial' && e !== 'lock') rmSync(join(rootfs, d, e), { recursive: true, force: true });
    }
  }
  for (const e of safeList(join(rootfs, 'var/cache/apt'))) if (e.endsWith('.bin')) rmSync(join(rootfs, 'var/cache/apt', e), { force: true });
  for (const f of ['etc/resolv.conf', 'etc/hostname', 'var/log/bootstrap.log', 'var/log/dpkg.log', 'var/log/alternatives.log']) {
    rmSync(join(rootfs, f), { force: true });
  }
  rmSync(join(rootfs, 'var/log/apt'), { recursive: true, force: true });
  rmSync(join(rootfs, 'debootstrap'), { recursive: true, force: true });
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Streams the tree into the engine (POST /images/create?fromSrc=-) and tags it `name`. */
async function importRootfs(docker: Dockerode, rootfs: string, name: string): Promise<void> {
  const [repo, tag] = name.split(':') as [string, string];
  const special = ['dev', 'proc', 'sys', 'run', 'tmp'].map((d) => join(rootfs, d) + sep);
  // sort: a reproducible archive; umask 0: modes (setuid bits included) as on disk; the contents
  // of the pseudo filesystems' mount points are left out (the runtime provides them).
  const opts: tarFs.PackOptions & { sort: boolean; umask: number } = {
    sort: true,
    umask: 0,
    strict: false,
    ignore: (p: string) => special.some((d) => p.startsWith(d)),
  };
  const ctl = new AbortController();
  let packError: Error | undefined;
  const body = tarStream(tarFs.pack(rootfs, opts), (e) => {
    packError = e;
    ctl.abort();
  });
  try {
    const stream = await docker.importImage(body, {
      repo,
      tag,
      changes: [`LABEL ${LABEL_IMAGE}=base`, 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'CMD ["bash"]'],
      abortSignal: ctl.signal,
    });
    await follow(docker, stream, () => undefined);
  } catch (e) {
    throw new Error(`importing ${name} failed: ${message(packError ?? e)}`);
  }
  if (!(await imageExists(docker, name))) throw new Error(`importing ${name} ended without the image`);
}

/**
 * tar-fs 3 packs into a streamx stream; the engine's client wants a Node stream, so the archive
 * goes through a PassThrough (an error while packing ends it with that error).
 */
function tarStream(pack: tarFs.Pack, onError?: (e: Error) => void): PassThrough {
  const body = new PassThrough();
  pack.on('error', (e: Error) => {
    onError?.(e);
    body.destroy(e);
  });
  pack.pipe(body);
  return body;
}

/** Removes a temporary tree; anything still mounted inside it (debootstrap mounts proc and sys) is unmounted first. */
function removeTree(dir: string): void {
  const mounts = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => (l.split(' ')[1] ?? '').replace(/\\040/g, ' '))
    .filter((m) => m.startsWith(dir + '/'))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) {
    // best effort; a mount that stays keeps the tree from being removed below
    spawnSync('umount', ['-l', m]);
  }
  const still = readFileSync('/proc/self/mounts', 'utf8').includes(` ${dir}/`);
  if (!still) rmSync(dir, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------
// apt sources

export interface AptSource {
  types: string[];
  uris: string[];
  suites: string[];
  components: string[];
}

/** Parses deb822 .sources text: stanzas of `Field: value` separated by blank lines. */
export function parseDeb822(text: string): AptSource[] {
  const out: AptSource[] = [];
  for (const stanza of text.split(/\n[ \t]*\n/)) {
    const fields = new Map<string, string>();
    let last: string | undefined;
    for (const line of stanza.split('\n')) {
      if (line.startsWith('#') || !line.trim()) continue;
      if (/^[ \t]/.test(line)) {
        if (last !== undefined) fields.set(last, `${fields.get(last) ?? ''}\n${line.trim()}`);
        continue;
      }
      const m = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(line);
      if (!m?.[1]) continue;
      last = m[1].toLowerCase();
      fields.set(last, (m[2] ?? '').trim());
    }
    if (/^(no|false|0)$/i.test(fields.get('enabled') ?? '')) continue;
    const words = (k: string): string[] => (fields.get(k) ?? '').split(/\s+/).filter(Boolean);
    const s: AptSource = { types: words('types'), uris: words('uris'), suites: words('suites'), components: words('components') };
    if (s.types.length && s.uris.length && s.suites.length) out.push(s);
  }
  return out;
}

/** Parses one-line-style sources.list text: `deb [options] uri suite [component…]`. */
export function parseSourcesList(text: string): AptSource[] {
  const out: AptSource[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').replace(/\[[^\]]*\]/, ' ').trim();
    const [type, uri, suite, ...components] = line.split(/\s+/);
    if (!type || !uri || !suite || !/^deb(-src)?$/.test(type)) continue;
    out.push({ types: [type], uris: [uri], suites: [suite], components });
  }
  return out;
}

/** The host's apt sources: /etc/apt/sources.list, sources.list.d/*.list and *.sources. */
export function readAptSources(aptDir = '/etc/apt'): AptSource[] {
  const read = (f: string): string => {
    try {
      return readFileSync(f, 'utf8');
    } catch {
      return '';
    }
  };
  const out = parseSourcesList(read(join(aptDir, 'sources.list')));
  const d = join(aptDir, 'sources.list.d');
  for (const f of safeList(d).sort()) {
    if (f.endsWith('.list')) out.push(...parseSourcesList(read(join(d, f))));
    else if (f.endsWith('.sources')) out.push(...parseDeb822(read(join(d, f))));
  }
  return out;
}

const isHttp = (u: string): boolean => /^https?:\/\//.test(u);
const isRelease = (suite: string): boolean => !/[-/](security|updates|backports|proposed-updates)$/.test(suite);

/**
 * The mirror to debootstrap bookworm from: the URI of a `deb` source for bookworm if the host
 * has one, else of the first `deb` source for a Debian release suite (a Debian mirror carries
 * every release). Undefined when the host names no http(s) mirror.
 */
export function debianMirror(sources: readonly AptSource[]): string | undefined {
  const debs = sources.filter((s) => s.types.includes('deb'));
  const pick = (ok: (s: AptSource) => boolean): string | undefined =>
    debs.filter(ok).flatMap((s) => s.uris).find(isHttp);
  return (
    pick((s) => s.suites.includes(SUITE) && s.components.includes('main')) ??
    pick((s) => s.suites.some(isRelease) && s.components.includes('main') && s.uris.some((u) => /debian/.test(u)))
  );
}

/**
 * The sources.list for the image: the host's `deb` sources for bookworm and its -updates and
 * -security suites (as the host names them, its mirrors), or just `<mirror> bookworm main`.
 */
export function aptSourcesFor(sources: readonly AptSource[], mirror: string): string {
  const wanted = new Set([SUITE, `${SUITE}-updates`, `${SUITE}-security`, `${SUITE}/updates`]);
  const lines: string[] = [];
  for (const s of sources) {
    if (!s.types.includes('deb')) continue;
    for (const uri of s.uris.filter(isHttp)) {
      for (const suite of s.suites.filter((x) => wanted.has(x))) {
        const line = `deb ${uri} ${suite} ${(s.components.length ? s.components : ['main']).join(' ')}`;
        if (!lines.includes(line)) lines.push(line);
      }
    }
  }
  if (!lines.some((l) => l.split(' ')[2] === SUITE)) lines.unshift(`deb ${mirror} ${SUITE} main`);
  return lines.join('\n') + '\n';
}

/** The host's Acquire::Check-Valid-Until / Check-Date settings, as apt.conf text ('' when unset). */
function hostAptValidity(): string {
  const r = spawnSync('apt-config', ['dump'], { encoding: 'utf8' });
  return (r.stdout ?? '')
    .split('\n')
    .filter((l) => /^Acquire::(Check-Valid-Until|Check-Date) "/.test(l))
    .map((l) => l + '\n')
    .join('');
}

function firstLine(s: string): string {
  return s.trim().split('\n')[0] ?? '';
}

// ---------------------------------------------------------------------------------------------
// the node image

export interface NodeImageOptions {
  onProgress?: ProgressFn;
  /** an engine (this machine's) to copy the image from instead of building it on `docker` */
  copyFrom?: Dockerode;
  /** The build context; images/node by default. */
  contextDir?: string;
}

/**
 * The node image's tag, kdl-node:<context hash>. An image with that tag is reused without a
 * build; otherwise the base is ensured and the image built (a failed step throws with the last
 * lines of the build's output).
 */
export async function ensureNodeImage(docker: Dockerode, opts: NodeImageOptions = {}): Promise<string> {
  const onProgress = opts.onProgress ?? (() => undefined);
  const context = opts.contextDir ?? NODE_CONTEXT;
  await requireEngine(docker);
  const hash = contextHash(context);
  const tag = `${NODE_REPO}:${hash}`;
  if (await imageExists(docker, tag)) {
    onProgress(`image: ${tag} exists, reused`);
    return tag;
  }
  const started = Date.now();
  if (opts.copyFrom) {
    // Another machine's engine: ship the image from here (docker save | docker load through the
    // two APIs), so that machine needs neither a registry nor a Debian mirror.
    await ensureNodeImage(opts.copyFrom, { onProgress, contextDir: context });
    const load = await docker.loadImage(await opts.copyFrom.getImage(tag).get(), { quiet: true });
    await new Promise<void>((resolve, reject) => docker.modem.followProgress(load, (err) => (err ? reject(err) : resolve())));
    if (!(await imageExists(docker, tag))) throw new LabError(`copying ${tag} to another engine: it is not there after the load`);
    onProgress(`image: ${tag} copied from this machine in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return tag;
  }
  const base = await ensureBaseImage(docker, onProgress);
  await buildImage(docker, { context, tag, buildargs: { BASE: base }, labels: { [LABEL_CONTEXT]: hash }, onProgress });
  onProgress(`image: ${tag} built FROM ${base} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return tag;
}

export interface BuildOptions {
  context: string;
  tag: string;
  buildargs?: Record<string, string>;
  labels?: Record<string, string>;
  onProgress?: ProgressFn;
}

/**
 * Builds `context` as `tag` with the engine's builder. The build's network is the host's: the
 * engine may run without a bridge (dockerd --bridge=none), and the host's network is the one
 * that reaches its mirror.
 */
export async function buildImage(docker: Dockerode, o: BuildOptions): Promise<string> {
  const onProgress = o.onProgress ?? (() => undefined);
  const tail: string[] = [];
  const keep = (line: string): void => {
    tail.push(line);
    if (tail.length > 25) tail.shift();
  };
  try {
    const stream = await docker.buildImage(tarStream(tarFs.pack(o.context)), {
      t: o.tag,
      buildargs: o.buildargs ?? {},
      labels: o.labels ?? {},
      networkmode: 'host',
      rm: true,
      forcerm: true,
    });
    await follow(docker, stream, (m) => {
      // the classic builder colours a step's stderr with ANSI escapes
      for (const raw of (m.stream ?? m.status ?? '').replace(/\x1b\[[0-9;]*m/g, '').split(/\r?\n/)) {
        const line = raw.trimEnd();
        if (!line.trim()) continue;
        keep(line);
        onProgress(`build: ${line.trim()}`);
      }
      if (m.error) keep(m.error);
    });
  } catch (e) {
    const out = tail.filter((l) => l !== message(e));
    throw new LabError(`building ${o.tag} failed: ${message(e)}${out.length ? `\n  ${out.join('\n  ')}` : ''}`);
  }
  if (!(await imageExists(docker, o.tag))) throw new LabError(`building ${o.tag} ended without the image:\n  ${tail.join('\n  ')}`);
  return o.tag;
}

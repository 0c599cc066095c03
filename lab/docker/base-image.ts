import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import type { Readable } from 'node:stream';
import type Dockerode from 'dockerode';
import * as tarFs from 'tar-fs';
import { LabError } from '../errors';
import { aptSourcesFor, debianMirror, hostAptValidity, readAptSources, SUITE } from './apt-sources';
import { follow, imageExists, message, type ProgressFn, requireEngine, tarStream } from './engine';

// The Debian base the node image is built FROM: debian:bookworm-slim when the engine has it or
// can pull it, otherwise kdl-base:bookworm, which is made here once from a debootstrap'ed root
// filesystem fetched from the host's own Debian mirror (the one its apt sources name), so that
// no image registry is needed.

export const BASE_IMAGE = 'kdl-base:bookworm';
export const UPSTREAM_BASE = 'debian:bookworm-slim';
export const LABEL_IMAGE = 'io.k8s-dataplane-lab.image';
/** How long a pull may go without any progress before it is given up (no registry reachable). */
const PULL_IDLE_MS = 15_000;

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
        e.code === 'ENOENT' ? new LabError(`cannot make ${BASE_IMAGE}: debootstrap is not installed (apt-get install debootstrap)`, 2) : e,
      ),
    );
    child.on('close', (code, signal) => {
      if (code === 0) return resolve();
      const log = join(rootfs, 'debootstrap', 'debootstrap.log');
      const logTail = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').slice(-10) : [];
      reject(new LabError(`debootstrap ${argv.join(' ')} exited ${code ?? signal}:\n  ${[...tail, ...logTail].join('\n  ')}`));
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
  for (const e of safeList(join(rootfs, 'var/cache/apt')))
    if (e.endsWith('.bin')) rmSync(join(rootfs, 'var/cache/apt', e), { force: true });
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

function firstLine(s: string): string {
  return s.trim().split('\n')[0] ?? '';
}

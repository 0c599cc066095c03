import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import type Dockerode from 'dockerode';
import * as tarFs from 'tar-fs';
import { LabError } from '../errors';
import { inRepo } from '../paths';
import { ensureBaseImage } from './base-image';
import { follow, imageExists, message, type ProgressFn, requireEngine, tarStream } from './engine';

// The node image for the docker runtime. Its tag carries a hash of its build context
// (kdl-node:<12 hex>), so an image that exists is the image the context describes and is reused
// as it is; a changed context builds a new one. The build starts FROM a Debian base
// (lab/docker/base-image.ts).

export type { ProgressFn } from './engine';

export const NODE_CONTEXT = inRepo('images', 'node');
export const NODE_REPO = 'kdl-node';
export const LABEL_CONTEXT = 'io.k8s-dataplane-lab.context';

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
      // eslint-disable-next-line no-control-regex -- ESC starts the ANSI colour codes stripped here
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

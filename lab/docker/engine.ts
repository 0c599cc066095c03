import { PassThrough } from 'node:stream';
import Dockerode from 'dockerode';
import type * as tarFs from 'tar-fs';
import { LabError } from '../errors';
import { LOCAL_SOCKET } from '../topology/hosts';

// A Docker engine: this machine's on its unix socket, whether one answers, and the helpers every
// image operation uses (an image's presence, the engine's progress streams, archives sent to it).

export { LOCAL_SOCKET } from '../topology/hosts';

/** One line of progress for a spinner, e.g. "debootstrap: Retrieving libc6" or "build: Step 3/6 : RUN …". */
export type ProgressFn = (line: string) => void;

export function connectLocal(): Dockerode {
  return new Dockerode({ socketPath: LOCAL_SOCKET });
}

/** Pings the engine: undefined when it answers within ms, else why not. */
async function ping(docker: Dockerode, ms: number): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<string>((r) => (timer = setTimeout(() => r(`no answer within ${ms / 1000} s`), ms)));
  try {
    return await Promise.race([docker.ping().then(() => undefined), late]);
  } catch (e) {
    return message(e);
  } finally {
    clearTimeout(timer);
  }
}

/** True when an engine answers a ping within 3 s. */
export async function engineAvailable(docker: Dockerode = connectLocal()): Promise<boolean> {
  return (await ping(docker, 3000)) === undefined;
}

/** Throws a LabError (exit 2) telling how to get an engine when none answers within 5 s. */
export async function requireEngine(docker: Dockerode): Promise<void> {
  const why = await ping(docker, 5000);
  if (why === undefined) return;
  throw new LabError(
    `the docker runtime needs a Docker engine, and none answers on ${LOCAL_SOCKET} (${why}): ` +
      'install one (apt-get install docker.io) and start dockerd (systemctl start docker, or run dockerd), then retry',
    2,
  );
}

export function statusCode(e: unknown): number | undefined {
  if (typeof e === 'object' && e !== null && 'statusCode' in e) {
    const c = e.statusCode;
    return typeof c === 'number' ? c : undefined;
  }
  return undefined;
}

export function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
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
export interface EngineMessage {
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
export function follow(docker: Dockerode, stream: NodeJS.ReadableStream, onMessage: (m: EngineMessage) => void): Promise<EngineMessage[]> {
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

/**
 * tar-fs 3 packs into a streamx stream; the engine's client wants a Node stream, so the archive
 * goes through a PassThrough (an error while packing ends it with that error).
 */
export function tarStream(pack: tarFs.Pack, onError?: (e: Error) => void): PassThrough {
  const body = new PassThrough();
  pack.on('error', (e: Error) => {
    onError?.(e);
    body.destroy(e);
  });
  pack.pipe(body);
  return body;
}

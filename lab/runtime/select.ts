import { connectLocal, engineAvailable } from '../docker/engine';
import { ensureNodeImage, type ProgressFn } from '../docker/image';
import { parseNamespace } from '../network/names';
import { readRecord } from '../state/store';
import type { RuntimeKind } from '../topology/types';
import { DockerRuntime, LABEL_LAB } from './docker';
import { NetnsRuntime } from './netns';
import type { Runtime } from './runtime';

// Which runtime a lab is built or found with: the topology says for `up`; for a lab that is up
// its state record says, and without one the engine's labels do (a container labelled with the
// lab means docker), so `down` works after a crash either way.

export interface RuntimeHooks {
  /** progress lines while the node image is built (once; cached by its content hash) */
  onImageProgress?: ProgressFn;
  onNotice?: (text: string) => void;
}

export function runtimeFor(kind: RuntimeKind, hooks: RuntimeHooks = {}): Runtime {
  if (kind === 'netns') return new NetnsRuntime();
  const docker = connectLocal();
  let image: Promise<string> | undefined;
  return new DockerRuntime({
    docker,
    image: () => (image ??= ensureNodeImage(docker, { ...(hooks.onImageProgress ? { onProgress: hooks.onImageProgress } : {}) })),
    ...(hooks.onNotice ? { onNotice: hooks.onNotice } : {}),
  });
}

/** Labs that have containers on the local engine (none when no engine answers). */
export async function dockerLabs(): Promise<string[]> {
  const docker = connectLocal();
  if (!(await engineAvailable(docker))) return [];
  const list = await docker.listContainers({ all: true, filters: JSON.stringify({ label: [LABEL_LAB] }) });
  return [...new Set(list.map((c) => c.Labels[LABEL_LAB]!))].sort();
}

export async function runtimeOfLab(lab: string, hooks: RuntimeHooks = {}): Promise<Runtime> {
  const kind = readRecord(lab)?.runtime ?? ((await dockerLabs()).includes(lab) ? 'docker' : 'netns');
  return runtimeFor(kind, hooks);
}

/** Lab names a namespace list mentions (the netns runtime's view of this host). */
export function labsIn(namespaces: readonly string[]): string[] {
  return [...new Set(namespaces.map((n) => parseNamespace(n)?.lab).filter((l): l is string => !!l))].sort();
}

import { connectLocal } from '../docker/engine';
import { ensureNodeImage } from '../docker/node-image';

// `lab image`: the docker runtime's node image (images/node), built when its content changed.

export async function nodeImage(onProgress: (line: string) => void): Promise<string> {
  return ensureNodeImage(connectLocal(), { onProgress });
}

import Dockerode from 'dockerode';
import { LOCAL_SOCKET } from '../topology/hosts';

// The local Docker engine, reached on its unix socket.

export { LOCAL_SOCKET } from '../topology/hosts';

export function connectLocal(): Dockerode {
  return new Dockerode({ socketPath: LOCAL_SOCKET });
}

/** True when an engine answers a ping within 3 s. */
export async function engineAvailable(docker: Dockerode = connectLocal()): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((r) => (timer = setTimeout(() => r(false), 3000)));
  try {
    return await Promise.race([docker.ping().then(() => true), late]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

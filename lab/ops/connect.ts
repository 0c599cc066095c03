import { InputError } from '../errors';
import { connect, type ConnectResult } from '../probe/connect';
import type { RuntimeHooks } from '../runtime/select';
import { resolveTarget } from './select';
import { labRuntime } from './target';

// `lab connect <from> <ip:port>`: connections from a node or pod, and which pod answered each.

export type { ConnectResult } from '../probe/connect';

export async function connectFrom(
  req: { name?: string; from: string; address: string; count: number; udp?: boolean },
  hooks: RuntimeHooks = {},
): Promise<ConnectResult> {
  const m = /^([\d.]+):(\d+)$/.exec(req.address);
  if (!m) throw InputError.of('address', '', `expected ip:port, got '${req.address}'`);
  const { lab, rt } = await labRuntime(req.name, 'connect', hooks);
  return connect(rt, await resolveTarget(rt, lab, req.from), m[1]!, Number(m[2]), { count: req.count, protocol: req.udp ? 'UDP' : 'TCP' });
}

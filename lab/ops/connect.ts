import { InputError, LabError } from '../errors';
import { LabNames } from '../model/names';
import { connect, type ConnectResult } from '../probe/connect';
import { checkResolved, nameTarget, resolveInPod } from '../probe/resolve';
import type { RuntimeHooks } from '../runtime/select';
import { readRecord } from '../state/store';
import { resolveTarget } from './select';
import { labRuntime } from './target';

// `lab connect <from> <ip:port | name:port>`: connections from a node or pod, and which pod
// answered each. A name (`web.default.svc.cluster.local:80`, `web.default:80`, `web:80`) is
// resolved first by the pod's own resolver, as a client in a pod does, then connected to.

export type { ConnectResult } from '../probe/connect';

export async function connectFrom(
  req: { name?: string; from: string; address: string; count: number; udp?: boolean },
  hooks: RuntimeHooks = {},
): Promise<ConnectResult & { resolved?: { name: string; address: string; canonical?: string } }> {
  const m = /^(.+):(\d+)$/.exec(req.address);
  if (!m) throw InputError.of('address', '', `expected ip:port or name:port, got '${req.address}'`);
  const { lab, rt } = await labRuntime(req.name, 'connect', hooks);
  const ns = await resolveTarget(rt, lab, req.from);
  const protocol = req.udp ? 'UDP' : 'TCP';
  if (/^[\d.]+$/.test(m[1]!)) return connect(rt, ns, m[1]!, Number(m[2]), { count: req.count, protocol });
  const rec = readRecord(lab);
  if (!rec) throw new LabError(`lab '${lab}' has no state record (is it up? 'lab status' shows what is)`, 2);
  const t = nameTarget(new LabNames(rec.topology), req.from, req.address, protocol);
  // a node or pod name given with a port: its address, as ever
  if (t === undefined) {
    const ip = new LabNames(rec.topology).ip(m[1]!);
    if (!ip) throw InputError.of('address', '', `'${m[1]}' is not an address, a node or pod, nor a DNS name`);
    return connect(rt, ns, ip, Number(m[2]), { count: req.count, protocol });
  }
  // what the lab's data says comes second: a name it does not know is still asked for real
  // (the pod's resolver says NXDOMAIN, clearly), a node is refused before anything is sent
  if (typeof t === 'string' && !/does not resolve/.test(t)) throw InputError.of('address', '', t);
  const got = await resolveInPod(rt, ns, m[1]!);
  const address = typeof t === 'string' ? got.addresses[0]! : checkResolved(t, got);
  const r = await connect(rt, ns, address, Number(m[2]), { count: req.count, protocol });
  return { ...r, resolved: { name: m[1]!, address, ...(got.canonical ? { canonical: got.canonical } : {}) } };
}

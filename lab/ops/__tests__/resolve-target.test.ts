import { InputError } from '../../errors';
import type { Runtime } from '../../runtime/runtime';
import { resolveTarget } from '../select';

// exec/connect targets: nodes, pods of namespace default by name, other pods as <ns>/<name>.
const namespaces = ['kdl.t', 'kdl.t.node1', 'kdl.t.node1.client', 'kdl.t.node1.x.a', 'kdl.other.node1.x.a'];
const rt = { listNamespaces: () => Promise.resolve(namespaces) } as Pick<Runtime, 'listNamespaces'> as Runtime;

describe('resolveTarget', () => {
  it('finds a node, a default pod, a pod of another namespace, and @lab', async () => {
    expect(await resolveTarget(rt, 't', 'node1')).toBe('kdl.t.node1');
    expect(await resolveTarget(rt, 't', 'client')).toBe('kdl.t.node1.client');
    expect(await resolveTarget(rt, 't', 'x/a')).toBe('kdl.t.node1.x.a');
    expect(await resolveTarget(rt, 't', '@lab')).toBe('kdl.t');
  });

  it('refuses what is no name, and lists the known ones for a name that is not there', async () => {
    for (const bad of ['../x', 'x/a/b', 'X', 'a b', '/a'])
      await expect(resolveTarget(rt, 't', bad)).rejects.toThrow(/is not a node or pod name/);
    await expect(resolveTarget(rt, 't', 'y/a')).rejects.toThrow(InputError);
    await expect(resolveTarget(rt, 't', 'y/a')).rejects.toThrow(/known: node1, client, x\/a, @lab/);
  });
});

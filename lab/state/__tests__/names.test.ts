import { mkdirSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError } from '../../errors';
import type { Runtime } from '../../runtime/runtime';

// Lab names that reach the code from a flag or a state file pass the lab-name rule before
// anything is touched: `down --name kind.kind-worker` once removed a node of lab `kind`, and
// `down --name ../../x/v` the file /x/v.json. A stand-in runtime records what down would remove.

const root = mkdtempSync(join(tmpdir(), 'kdl-names-'));
const stateDir = join(root, 'state');
process.env.KDL_STATE_DIR = stateDir;
// loaded after the environment is set: STATE_DIR is read once, at load
// eslint-disable-next-line @typescript-eslint/no-require-imports
const store = require('../../state/store') as typeof import('../../state/store');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { down } = require('../../ops/down') as typeof import('../../ops/down');

const BAD = ['kind.kind-worker', '../../some/dir/v', '..', '.', '/etc', 'UPPER', 'a'.repeat(64), '', 'a;rm -rf x', '$(id)', 'a b', '-a'];

function standIn(namespaces: string[]): { rt: Runtime; deleted: string[][] } {
  const deleted: string[][] = [];
  const rt = {
    listNamespaces: () => Promise.resolve(namespaces),
    deleteNamespaces: (ns: readonly string[]) => (deleted.push([...ns]), Promise.resolve()),
  } as unknown as Runtime;
  return { rt, deleted };
}

describe('lab names from flags and state files', () => {
  const decoy = join(root, 'some', 'dir', 'v.json');
  beforeAll(() => {
    mkdirSync(join(root, 'some', 'dir'), { recursive: true });
    writeFileSync(decoy, '{"not":"a record"}');
    mkdirSync(stateDir, { recursive: true });
    writeFileSync(
      join(stateDir, 'kind.json'),
      JSON.stringify({ lab: 'kind', runtime: 'netns', status: 'up', pid: 1, createdAt: '', topology: {} }),
    );
  });

  test.each(BAD)('down --name %j: exit 2, nothing removed, no file outside the state folder touched', async (name) => {
    const { rt, deleted } = standIn(['kdl.kind', 'kdl.kind.kind-worker', 'kdl.kind.kind-worker.web-1', 'kdl.kind.node2']);
    const err = await down(rt, name).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).exitCode).toBe(2);
    expect((err as InputError).message).toMatch(/^--name: /);
    expect(deleted).toEqual([]);
    expect(existsSync(decoy)).toBe(true);
    expect(existsSync(join(stateDir, 'kind.json'))).toBe(true);
  });

  test('the state store refuses the same names itself, whoever calls it', () => {
    for (const name of BAD) {
      expect(() => store.readRecord(name)).toThrow(InputError);
      expect(() => store.removeRecord(name)).toThrow(InputError);
    }
    expect(existsSync(decoy)).toBe(true);
  });

  test('a symlink planted in the state folder is neither read, listed nor followed on removal', () => {
    symlinkSync(decoy, join(stateDir, 'planted.json'));
    expect(store.readRecord('planted')).toBeUndefined();
    expect(store.listRecords()).not.toContain('planted');
    store.removeRecord('planted');
    expect(existsSync(decoy)).toBe(true);
  });

  test('a record file of another shape is no record (was a TypeError further on)', () => {
    writeFileSync(join(stateDir, 'other.json'), '[1,2,3]');
    expect(store.readRecord('other')).toBeUndefined();
    expect(store.readRecord('kind')?.lab).toBe('kind');
    expect(readdirSync(stateDir).sort()).toEqual(['kind.json', 'other.json', 'planted.json']);
  });

  test('a valid name goes through: down removes that lab only, pods before nodes', async () => {
    const { rt, deleted } = standIn(['kdl.kind', 'kdl.kind.node1', 'kdl.kind.node1.web-1', 'kdl.kind2', 'kdl.kind2.node1']);
    expect(await down(rt, 'kind')).toBe(3);
    expect(deleted).toEqual([['kdl.kind.node1.web-1', 'kdl.kind.node1', 'kdl.kind']]);
    expect(existsSync(join(stateDir, 'kind.json'))).toBe(false);
  });
});

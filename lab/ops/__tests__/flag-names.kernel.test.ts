import { stripVTControlCharacters } from 'node:util';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, describeKernel, labNamespaces, topologyFile } from '../../testing/kernel';
import { uniqueLabName } from '../../testing/names';

// Every name-bearing flag on the command line, against a real lab that must survive it: --name on
// each verb, the targets of exec/connect/capture/trace and --results. `down --name kind.kind-worker`
// once removed a node of lab `kind`, `down --name ../../x/v` the file /x/v.json. After every
// refused command the decoy lab's namespaces and record, and every file around its state folder
// (a decoy beside it, one further up), are exactly as before.

const root = mkdtempSync(join(tmpdir(), 'kdl-flags-'));
const stateDir = join(root, 'state');
process.env.KDL_STATE_DIR = stateDir; // this process's (main, in-process) and the CLI children's
const env = { KDL_STATE_DIR: stateDir };
// loaded after the environment is set: STATE_DIR is read once, at load
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { main } = require('../../cli') as typeof import('../../cli');

const LAB = uniqueLabName('t-flag');
const results = join(root, 'results');
const decoyFile = join(root, 'v.json'); // what `--name ../v` would reach from the state folder
const deepDecoy = join(root, 'some', 'dir', 'v.json');
const plainFile = join(root, 'a-file');

/** Names refused everywhere a lab name is taken. */
const BAD_NAMES = [
  '..',
  '../v',
  '../some/dir/v',
  '/',
  '.',
  'UPPER',
  'a'.repeat(64),
  '',
  `a;touch ${root}/pwned`,
  `$(touch ${root}/pwned)`,
  '`id`',
  `${LAB}.node1`, // a node of the decoy lab, as a namespace prefix
];

/** Each verb that takes --name, with the rest of a command line that would otherwise go ahead. */
const VERBS: Record<string, (name: string) => string[]> = {
  up: (n) => ['up', '-f', topologyFile('host-gw.yaml'), '--name', n],
  down: (n) => ['down', '--name', n],
  status: (n) => ['status', '--name', n],
  exec: (n) => ['exec', '--name', n, 'node1', 'true'],
  apply: (n) => ['apply', '-f', topologyFile('host-gw.yaml'), '--name', n],
  connect: (n) => ['connect', '--name', n, 'client', '10.42.1.9:80'],
  run: (n) => ['run', join(root, 'none.yaml'), '--name', n, '--results', results],
  capture: (n) => ['capture', '--name', n, 'node1:eth0', '-c', '1', '--results', results],
  trace: (n) => ['trace', '--name', n, 'client', 'web-2:80', '--results', results],
  plan: (n) => ['plan', '-f', topologyFile('host-gw.yaml'), '--name', n],
  graph: (n) => ['graph', '-f', topologyFile('host-gw.yaml'), '--name', n, '--out', join(root, 'graph')],
};

/** Targets refused by exec/connect/trace (from) and capture (point). */
const BAD_TARGETS = ['..', '../v', `../../${LAB}`, '/', '.', 'NODE1', 'a'.repeat(64), '', 'node1;true', '$(id)', `kdl.${LAB}.node1`];
const BAD_POINTS = ['@lab:..', '@lab:../../v', `@lab:${'a'.repeat(16)}`, 'node1:../x', '../v:eth0', ':eth0', '@lab:a;b', 'NODE1:eth0'];
const BAD_RESULTS = ['', 'a;b', '$HOME/x', '`id`', 'x\ny', '/', plainFile];

/** Every file under the test's folder (state folder included) with its content and mtime. */
function files(dir = root): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) Object.assign(out, files(p));
    else out[p] = `${lstatSync(p).mtimeMs} ${e.isSymbolicLink() ? 'link' : readFileSync(p, 'utf8')}`;
  }
  return out;
}

const snapshot = () => ({ namespaces: labNamespaces(LAB), files: files() });

describeKernel('names from flags, against a decoy lab', () => {
  let before: ReturnType<typeof snapshot>;
  let stderr: string[];

  beforeAll(async () => {
    mkdirSync(join(root, 'some', 'dir'), { recursive: true });
    writeFileSync(decoyFile, JSON.stringify({ lab: 'v', topology: {} }));
    writeFileSync(deepDecoy, '{"not":"a record"}');
    writeFileSync(plainFile, 'a file, not a folder\n');
    const u = await cli(['up', '-f', topologyFile('host-gw.yaml'), '--name', LAB], { env });
    if (u.code !== 0) throw new Error(`up exited ${u.code}: ${u.stderr}`);
    before = snapshot();
    expect(before.namespaces.length).toBeGreaterThanOrEqual(7);
    expect(Object.keys(before.files)).toContain(join(stateDir, `${LAB}.json`));
  }, 60000);

  afterAll(async () => {
    await cli(['down', '--name', LAB], { env });
    rmSync(root, { recursive: true, force: true });
  });

  beforeEach(() => {
    stderr = [];
    jest.spyOn(console, 'error').mockImplementation((s: unknown) => void stderr.push(String(s)));
    jest.spyOn(console, 'log').mockImplementation(() => undefined);
  });
  afterEach(() => {
    jest.restoreAllMocks();
    process.exitCode = undefined; // a command's exit code must not leak into the next, or into jest's
  });

  /** Runs a command line in this process; it must exit 2 saying `said`, and leave everything as it was. */
  async function refused(argv: string[], said: string | RegExp): Promise<void> {
    process.exitCode = undefined;
    const code = await main(argv);
    expect({ argv, code }).toEqual({ argv, code: 2 });
    // CI=true turns picocolors' colours on: compare the text without them
    const text = stripVTControlCharacters(stderr.join('\n'));
    if (typeof said === 'string') expect(text).toContain(said);
    else expect(text).toMatch(said);
    expect(snapshot()).toEqual(before);
    expect(existsSync(results)).toBe(false);
  }

  describe.each(Object.keys(VERBS))('%s --name', (verb) => {
    test.each(BAD_NAMES)('%j: exit 2, the decoy lab and files untouched', async (name) => {
      await refused(VERBS[verb]!(name), `--name: '${name}': `);
    });
  });

  test.each([
    ['exec', (t: string) => ['exec', '--name', LAB, t, 'touch', join(root, 'pwned')]],
    ['connect', (t: string) => ['connect', '--name', LAB, t, '10.42.1.9:80']],
    ['trace', (t: string) => ['trace', '--name', LAB, t, 'web-2:80', '--results', results]],
  ])('%s: bad targets are exit 2, nothing run', async (_verb, argv) => {
    for (const t of BAD_TARGETS) await refused(argv(t), /^invalid input:\n(target|from): /);
  });

  test.each(BAD_POINTS)('capture %j: exit 2, no pcap written anywhere', async (point) => {
    await refused(['capture', '--name', LAB, point, '-c', '1', '--results', results], /^invalid input:\npoint: /);
  });

  test.each([
    ['run', (r: string) => ['run', join(root, 'none.yaml'), '--name', LAB, '--results', r]],
    ['capture', (r: string) => ['capture', '--name', LAB, 'node1:eth0', '-c', '1', '--results', r]],
    ['trace', (r: string) => ['trace', '--name', LAB, 'client', 'web-2:80', '--results', r]],
  ])('%s --results: the refused folders are exit 2', async (_verb, argv) => {
    for (const r of BAD_RESULTS) await refused(argv(r), `--results: '${r}': `);
  });

  test('through the real CLI: down --name ../v and <lab>.node1, status/down --name "" are exit 2; nothing removed', async () => {
    for (const argv of [
      ['down', '--name', '../v'],
      ['down', '--name', '../some/dir/v'],
      ['down', '--name', `${LAB}.node1`],
      ['down', '--name', ''],
      ['status', '--name', ''],
      ['exec', '--name', LAB, '../x', 'true'],
      ['capture', '--name', LAB, '@lab:../../v', '-c', '1', '--results', results],
    ]) {
      const r = await cli(argv, { env });
      expect({ argv, code: r.code, stdout: r.stdout }).toEqual({ argv, code: 2, stdout: '' });
      expect(r.stderr).toMatch(/^invalid input:\n(--name|target|point): /);
      expect(snapshot()).toEqual(before);
    }
  }, 120000);

  test('a lab that is not there: status exits 3 (text and JSON), exec 3; down says so and exits 0 (idempotent)', async () => {
    const nosuch = uniqueLabName('t-nosuch');
    const s = await cli(['status', '--name', nosuch], { env });
    expect(s).toEqual({ code: 3, stdout: `no lab '${nosuch}' here\n`, stderr: '' });
    const j = await cli(['status', '--name', nosuch, '--json'], { env });
    expect({ code: j.code, json: JSON.parse(j.stdout) as unknown }).toEqual({ code: 3, json: { labs: [] } });
    const e = await cli(['exec', '--name', nosuch, 'node1', 'true'], { env });
    expect({ code: e.code, stderr: e.stderr }).toEqual({
      code: 3,
      stderr: `no lab '${nosuch}' here ('lab status' lists the labs that are up)\n`,
    });
    const d = await cli(['down', '--name', nosuch], { env });
    expect(d).toEqual({ code: 0, stdout: `no lab '${nosuch}' here; nothing to remove\n`, stderr: '' });
    expect(snapshot()).toEqual(before);
    // and the decoy itself answers: the refusals above were not for want of a lab
    expect((await cli(['status', '--name', LAB], { env })).code).toBe(0);
    expect((await cli(['exec', '--name', LAB, 'node1', 'true'], { env })).code).toBe(0);
  }, 120000);

  test('--results may be any folder path: the run folder is made inside it, with .. resolved, and nothing else', async () => {
    const r = await cli(['capture', '--name', LAB, 'node1:eth0', '-s', '1', '--results', join(root, 'x', '..', 'out')], { env });
    expect(r.code).toBe(0);
    const runs = readdirSync(join(root, 'out'));
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatch(/^\d{8}-\d{6}-[a-z0-9]+$/);
    expect(readdirSync(join(root, 'out', runs[0]!))).toEqual(['node1-eth0.pcap']);
    expect(existsSync(join(root, 'x'))).toBe(false);
    rmSync(join(root, 'out'), { recursive: true });
    expect(snapshot()).toEqual(before);
  }, 60000);

  test('down --name <lab> still works afterwards: the decoy lab goes, the decoy files stay', async () => {
    const d = await cli(['down', '--name', LAB], { env });
    expect(d.code).toBe(0);
    expect(labNamespaces(LAB)).toEqual([]);
    expect(existsSync(join(stateDir, `${LAB}.json`))).toBe(false);
    for (const f of [decoyFile, deepDecoy, plainFile]) expect(readFileSync(f, 'utf8')).toBe(before.files[f]!.replace(/^\S+ /, ''));
    expect(existsSync(join(root, 'pwned'))).toBe(false);
  }, 60000);
});

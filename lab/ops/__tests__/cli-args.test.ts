import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { main } from '../../cli';
import { REPO, TSX_NODE } from '../../testing/kernel';

// Counts and durations on the command line: 0 used to mean "no limit" to capture (tcpdump -c 0)
// and a connect of no connections; both are refused before anything runs, exit 2 with the flag.

describe('counts and durations given on the command line', () => {
  let errors: string[];
  beforeEach(() => {
    errors = [];
    jest.spyOn(console, 'error').mockImplementation((s: unknown) => void errors.push(String(s)));
  });
  afterEach(() => jest.restoreAllMocks());

  test.each([
    [['capture', 'node1:eth0', '-c', '0'], '--count: must be at least 1'],
    [['capture', 'node1:eth0', '--seconds', '0'], '--seconds: must be at least 1'],
    [['capture', 'node1:eth0', '-c', '-3'], "--count: not a whole number: '-3'"],
    [['connect', 'client', '10.43.0.20:80', '-c', '0'], '--count: must be at least 1'],
  ])('%j: exit 2, %s', async (argv, said) => {
    expect(await main(argv)).toBe(2);
    expect(errors.join('\n')).toContain(said);
  });
});

/**
 * The CLI as `npm run lab` starts it from a subfolder: in the repository's root, with the caller's
 * folder in INIT_CWD. Not through npm itself: `npm run lab` runs scripts/ensure-deps first, which
 * runs `npm ci` when package-lock.json is newer than node_modules — in a git worktree whose
 * node_modules is a symlink that emptied the shared node_modules (seen).
 */
const fromSubfolder = (args: string[]) =>
  spawnSync(TSX_NODE[0], [...TSX_NODE.slice(1), join(REPO, 'lab', 'cli.ts'), ...args], {
    cwd: REPO,
    env: { ...process.env, INIT_CWD: join(REPO, 'scenarios'), NO_COLOR: '1' },
    encoding: 'utf8',
    timeout: 60000,
  });

describe('relative paths on the command line', () => {
  test('npm run lab from a subfolder reads -f from there (was ENOENT: resolved against the repository)', () => {
    const r = fromSubfolder(['validate', '-f', 'topologies/default.yaml']);
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
  });

  test('a path that does not exist from there is exit 2 naming the resolved file', () => {
    const r = fromSubfolder(['validate', '-f', 'default.yaml']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`${join(REPO, 'scenarios', 'default.yaml')}: cannot read: ENOENT`);
  });
});

describe('a lab that is not there', () => {
  let out: string[];
  beforeEach(() => {
    out = [];
    jest.spyOn(console, 'log').mockImplementation((s: unknown) => void out.push(String(s)));
    jest.spyOn(console, 'error').mockImplementation((s: unknown) => void out.push(String(s)));
  });
  afterEach(() => {
    jest.restoreAllMocks();
    process.exitCode = undefined;
  });

  // read-only: the lab registry is asked, nothing is changed (see flag-names.kernel.test.ts for a real lab beside)
  test('status --name exits 3 (no such lab); down --name says so and exits 0 (idempotent)', async () => {
    expect(await main(['status', '--name', 'kdl-no-such-lab-here'])).toBe(3);
    expect(out).toEqual(["no lab 'kdl-no-such-lab-here' here"]);
    process.exitCode = undefined;
    out.length = 0;
    expect(await main(['status', '--name', 'kdl-no-such-lab-here', '--json'])).toBe(3);
    expect(JSON.parse(out.join('\n'))).toEqual({ labs: [] });
    process.exitCode = undefined;
    out.length = 0;
    expect(await main(['down', '--name', 'kdl-no-such-lab-here'])).toBe(0);
    expect(out).toEqual(["no lab 'kdl-no-such-lab-here' here; nothing to remove"]);
  });

  test.each([
    [['exec', '--name', 'kdl-no-such-lab-here', 'node1', 'true']],
    [['connect', '--name', 'kdl-no-such-lab-here', 'client', '10.43.0.20:80']],
    [['trace', '--name', 'kdl-no-such-lab-here', 'client', 'web-2']],
    [['capture', '--name', 'kdl-no-such-lab-here', 'node1:eth0', '-c', '1']],
  ])('%j: exit 3', async (argv) => {
    expect(await main(argv)).toBe(3);
    expect(out.join('\n')).toContain("no lab 'kdl-no-such-lab-here' here");
  });
});

import { mkdirSync, mkdtempSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError } from '../../errors';
import { linkLatest } from '../../scenario/results';
import { resultsRoot } from '../results-dir';

// --results: any folder path of the user's, resolved from where they typed it; refused before
// anything runs when it is empty, has control characters or shell metacharacters, is the
// filesystem root or an existing file. Inside it only <run-id>/ and our own `latest` link change.

const base = mkdtempSync(join(tmpdir(), 'kdl-results-'));

describe('resultsRoot', () => {
  test.each([
    ['results', join(base, 'results')],
    ['../out', join(base, '..', 'out')],
    ['Results With Space', join(base, 'Results With Space')],
    ['a'.repeat(64), join(base, 'a'.repeat(64))],
    ['.', base],
    ['/tmp/ci', '/tmp/ci'],
  ])('%j is a folder: %s', (dir, abs) => {
    expect(resultsRoot(dir, base)).toBe(abs);
  });

  const file = join(base, 'a-file');
  writeFileSync(file, 'x');
  test.each([
    ['', 'empty'],
    ['x\ny', 'control characters'],
    ['$HOME/x', 'shell metacharacters'],
    ['a;b', 'shell metacharacters'],
    ['`id`', 'shell metacharacters'],
    ['out/*', 'shell metacharacters'],
    ['/', 'the filesystem root'],
    ['/tmp/..', 'the filesystem root'],
    [file, 'exists and is not a folder'],
  ])('%j is refused (exit 2): %s', (dir, why) => {
    let err: unknown;
    try {
      resultsRoot(dir, base);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).exitCode).toBe(2);
    expect((err as InputError).message).toContain(`--results: '${dir}': `);
    expect((err as InputError).message).toContain(why);
  });
});

describe('the latest link', () => {
  test('our own link is moved to the newest run', () => {
    const root = mkdtempSync(join(base, 'r-'));
    linkLatest(root, 'run-1');
    linkLatest(root, 'run-2');
    expect(readlinkSync(join(root, 'latest'))).toBe('run-2');
  });

  test('a file or folder of the user named latest is left alone (was: removed)', () => {
    const root = mkdtempSync(join(base, 'r-'));
    writeFileSync(join(root, 'latest'), 'mine');
    linkLatest(root, 'run-1');
    expect(readFileSync(join(root, 'latest'), 'utf8')).toBe('mine');
    const other = mkdtempSync(join(base, 'r-'));
    mkdirSync(join(other, 'latest'));
    writeFileSync(join(other, 'latest', 'keep'), 'k');
    linkLatest(other, 'run-1');
    expect(readFileSync(join(other, 'latest', 'keep'), 'utf8')).toBe('k');
  });
});

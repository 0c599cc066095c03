import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { InputError } from '../../errors';
import { suiteFiles } from '../suites';

const SCENARIOS = join(__dirname, '../../../scenarios');

describe('lab run --exclude', () => {
  it('leaves out the named scenario files and keeps the others', () => {
    const all = suiteFiles(SCENARIOS);
    const some = suiteFiles(SCENARIOS, ['netpol-e2e']);
    expect(all.some((f) => f.endsWith('/netpol-e2e.yaml'))).toBe(true);
    expect(some.some((f) => f.endsWith('/netpol-e2e.yaml'))).toBe(false);
    expect(some.length).toBe(all.length - 1);
  });

  it('refuses a name that matches no file (a typo would silently run everything)', () => {
    expect(() => suiteFiles(SCENARIOS, ['netpol-e2x'])).toThrow(InputError);
    expect(() => suiteFiles(SCENARIOS, ['netpol-e2x'])).toThrow(/--exclude.*'netpol-e2x' names no scenario file/);
  });

  it('finds only scenario files under scenarios/ (topologies and dumps live under topologies/)', () => {
    // `lab run scenarios/` loads every other .yaml as a scenario: a Kubernetes dump there fails CI's runs
    for (const f of suiteFiles(SCENARIOS)) {
      const docs = parseAllDocuments(readFileSync(f, 'utf8'));
      expect([f, docs.length]).toEqual([f, 1]);
      const top = docs[0]!.toJS() as Record<string, unknown>;
      expect([f, 'steps' in top && !('apiVersion' in top)]).toEqual([f, true]);
    }
  });
});

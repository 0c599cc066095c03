import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError } from '../../errors';
import { LocalExecutor } from '../../runtime/executor';
import { loadScenarios } from '../../scenario/load';
import { loadTopology } from '../resolve';

// A billion-laughs file (each alias level nine times the last) in a topology, in pod labels or
// in a scenario: exit 2 naming the file with a one-line reason, not the yaml package's
// ReferenceError stack.

const dir = mkdtempSync(join(tmpdir(), 'kdl-bomb-'));
const levels = (indent: string) => {
  const out = [`${indent}l0: &l0 ["x","x","x","x","x","x","x","x","x"]`];
  for (let i = 1; i < 9; i++)
    out.push(
      `${indent}l${i}: &l${i} [${Array(9)
        .fill(`*l${i - 1}`)
        .join(',')}]`,
    );
  return out.join('\n');
};

const files = {
  topology: `name: bomb\n${levels('x')}\n`,
  labels: `name: bomb\nnodes:\n  - name: node1\npods:\n  - name: web-1\n    node: node1\n    labels:\n${levels('      ')}\n`,
  scenario: `name: bomb\ntopology: ../none.yaml\nsteps:\n  - name: s\n    x:\n${levels('      ')}\n`,
};

describe('YAML bombs', () => {
  test.each(['topology', 'labels'] as const)('in a %s file: InputError naming the file', (kind) => {
    const file = join(dir, `${kind}.yaml`);
    writeFileSync(file, files[kind]);
    let err: unknown;
    try {
      loadTopology(file);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).exitCode).toBe(2);
    expect((err as InputError).message).toBe(`${file}: refused: its aliases expand too far (more than 100 alias uses; a YAML bomb?)`);
  });

  test('in a scenario: InputError naming the file', async () => {
    const file = join(dir, 'scenario.yaml');
    writeFileSync(file, files.scenario);
    const err = await loadScenarios([file], new LocalExecutor()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).message).toContain(`${file}: refused: its aliases expand too far`);
  });
});

import { stripVTControlCharacters } from 'node:util';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../cli';
import { formatIssues, InputError, MAX_PRINTED_ISSUES } from '../../errors';
import { loadScenario } from '../../scenario/load';
import { REPO } from '../../testing/kernel';
import { loadTopology } from '../resolve';

// All errors at once: a type error in a topology or a scenario used to hide every semantic error
// of the file (zod failed first, nothing else ran). Now the parts that parsed are still checked —
// a value of the wrong type is left out, a list element that does not parse is left out whole
// (and the indices of the rest stay the file's) — and everything is reported, in the file's
// order, with file:line:col. And a file with thousands of errors prints the first 50 and a count.

const dir = mkdtempSync(join(tmpdir(), 'kdl-all-errors-'));
function file(name: string, lines: string[]): string {
  const f = join(dir, name);
  writeFileSync(f, lines.join('\n') + '\n');
  return f;
}

function linesOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof InputError) return e.message.split('\n');
    throw e;
  }
  throw new Error('expected an InputError');
}

describe('a topology: type errors and semantic errors together', () => {
  test('unknown key, wrong types, a pod that is not an object, with the duplicate name, unknown node and bad address after them', () => {
    const f = file('topology.yaml', [
      'name: errs', // 1
      'cluster:',
      '  podCIDR: 10.42.0.0/16',
      '  bogus: 1', // 4
      'nodes:',
      '  - { name: node1 }',
      '  - { name: node2, ip: 5 }', // 7
      'pods:',
      '  - 5', // 9
      '  - { name: web, node: node1 }',
      '  - { name: web, node: nosuch }', // 11
      '  - { name: 7, node: node1 }', // 12
      '  - { name: late, node: node2, ip: 10.42.7.7 }', // 13
    ]);
    expect(linesOf(() => loadTopology(f))).toEqual([
      `${f}:4:3: cluster.bogus: unknown key 'bogus'`,
      `${f}:7:24: nodes[1].ip: Invalid input: expected string, received number`,
      `${f}:9:5: pods[0]: Invalid input: expected object, received number`,
      // pods[0] and pods[3] were left out for the checks: the others keep the file's indices and lines
      `${f}:11:13: pods[2].name: duplicate name 'web' (also pods[1].name at line 10)`,
      `${f}:11:24: pods[2].node: no node named 'nosuch' (nodes: node1, node2)`,
      `${f}:12:13: pods[3].name: Invalid input: expected string, received number`,
      `${f}:13:36: pods[4].ip: 10.42.7.7 is not in node2's pod subnet 10.42.1.0/24`,
    ]);
  });

  test('a semantic error where a type error already is, is not repeated', () => {
    const f = file('restate.yaml', [
      'name: errs',
      `topology: ${join(REPO, 'scenarios', 'topologies', 'default.yaml')}`,
      'steps:',
      '  - name: one',
      '    probes:',
      '      - pingg: { from: client, to: web-2 }', // 6: not also "a probe is exactly one of …" at probes[0]
    ]);
    expect(linesOf(() => loadScenario(f))).toEqual([`${f}:6:9: steps[0].probes[0].pingg: unknown key 'pingg'`]);
  });

  test('a required field outside any list: only the type errors (nothing to check the rest against)', () => {
    const f = file('no-name.yaml', ['name: [x]', 'nodes:', '  - { name: node1 }', '  - { name: node1 }']);
    expect(linesOf(() => loadTopology(f))).toEqual([`${f}:1:7: name: Invalid input: expected string, received array`]);
    const list = file('list.yaml', ['- a', '- b']);
    expect(linesOf(() => loadTopology(list))).toEqual([`${list}:1:1: Invalid input: expected object, received array`]);
  });

  test('a valid file loads as before', () => {
    expect(loadTopology(join(REPO, 'scenarios', 'topologies', 'default.yaml')).pods).toHaveLength(8); // 6 and the DNS's 2
  });
});

describe('a scenario: type errors and semantic errors together', () => {
  const topology = join(REPO, 'scenarios', 'topologies', 'default.yaml');

  test("a step's wrong type does not hide the other steps' unknown names; a broken step is left out with its indices kept", () => {
    const f = file('scenario.yaml', [
      'name: errs', // 1
      `topology: ${topology}`,
      'steps:',
      '  - name: one', // 4
      '    probes:',
      '      - ping: { from: client, to: web-2, count: many }', // 6
      '      - ping: { from: clinet, to: web-2 }', // 7
      '  - name: 5', // 8
      '    probes: [{ ping: { from: nosuch, to: web-2 } }]',
      '  - name: three', // 10
      '    captures: [{ at: node9:eth0 }]', // 11
      '    bogus: 1', // 12
    ]);
    expect(linesOf(() => loadScenario(f))).toEqual([
      `${f}:6:49: steps[0].probes[0].ping.count: Invalid input: expected number, received string`,
      `${f}:7:23: steps[0].probes[1].ping.from: no node or pod 'clinet' in topology default (or @lab)`,
      `${f}:8:11: steps[1].name: Invalid input: expected string, received number`,
      `${f}:11:22: steps[2].captures[0].at: no node or pod 'node9' (write <node|pod>:<interface>, e.g. node1:eth0, client:eth0, node2:flannel.1, or @lab:<interface>)`,
      `${f}:12:5: steps[2].bogus: unknown key 'bogus'`,
    ]);
  });

  test("an inline topology's type error hides neither its semantic errors nor, once it resolves, the steps'", () => {
    const g = file('inline-ok.yaml', [
      'name: errs',
      'topology:',
      '  name: inl',
      '  nodes:',
      '    - { name: node1, ip: true }', // 5
      '  pods:',
      '    - { name: web, node: node1 }',
      'steps:',
      '  - name: one',
      '    probes: [{ ping: { from: nobody, to: web } }]', // 10
    ]);
    expect(linesOf(() => loadScenario(g))).toEqual([
      `${g}:5:26: topology.nodes[0].ip: Invalid input: expected string, received boolean`,
      `${g}:10:30: steps[0].probes[0].ping.from: no node or pod 'nobody' in topology inl (or @lab)`,
    ]);
    // with a semantic error the topology does not resolve: the steps, which name its nodes and pods, wait for it
    const f = file('inline.yaml', [
      'name: errs',
      'topology:',
      '  name: inl',
      '  nodes:',
      '    - { name: node1, ip: true }', // 5
      '  pods:',
      '    - { name: client, node: node7 }', // 7
      '    - { name: web, node: node1 }',
      'steps:',
      '  - name: one',
      '    probes: [{ ping: { from: nobody, to: web } }]', // 11
    ]);
    expect(linesOf(() => loadScenario(f))).toEqual([
      `${f}:5:26: topology.nodes[0].ip: Invalid input: expected string, received boolean`,
      `${f}:7:29: topology.pods[0].node: no node named 'node7' (nodes: node1)`,
    ]);
  });
});

describe('thousands of errors', () => {
  test('the first 50 are printed and the rest counted', () => {
    const issues = Array.from({ length: 120 }, (_, i) => ({ file: 'f.yaml', path: `pods[${i}]`, message: i % 3 ? 'a' : 'b', line: i + 1 }));
    const lines = formatIssues(issues).split('\n');
    expect(lines).toHaveLength(MAX_PRINTED_ISSUES + 1);
    expect(lines[0]).toBe('f.yaml:1:1: pods[0]: b');
    expect(lines[50]).toBe('… and 70 more errors (120 in all, 2 distinct messages)');
    expect(formatIssues(issues.slice(0, 50)).split('\n')).toHaveLength(50);
    expect(new InputError(issues).issues).toHaveLength(120); // every issue is kept, only the message is short
  });

  test('a 5 MB topology with about 15,000 errors: exit 2, the first 50 and a count printed (was every one)', async () => {
    const lines = ['name: huge', 'nodes:', '  - { name: node1 }', 'pods:'];
    const pad = 'x'.repeat(300);
    let size = 0;
    for (let i = 0; size < 5 * 1024 * 1024; i++) {
      const line = `  - { name: p${i}, node: nosuch, ${i % 100 ? '' : 'ip: 5, '}labels: { note: ${pad} } }`;
      lines.push(line);
      size += line.length + 1;
    }
    const f = file('huge.yaml', lines);
    const pods = lines.length - 4;
    const err: string[] = [];
    jest.spyOn(console, 'error').mockImplementation((s: unknown) => void err.push(String(s)));
    try {
      expect(await main(['validate', '-f', f])).toBe(2);
    } finally {
      jest.restoreAllMocks();
    }
    const printed = stripVTControlCharacters(err.join('\n')).split('\n'); // CI=true colours it
    expect(printed[0]).toBe('invalid input:');
    expect(printed.slice(1)).toHaveLength(51);
    expect(printed[1]).toBe(`${f}:5:23: pods[0].node: no node named 'nosuch' (nodes: node1)`);
    expect(printed[2]).toBe(`${f}:5:35: pods[0].ip: Invalid input: expected string, received number`);
    const all = pods + Math.ceil(pods / 100); // every pod's node, and every 100th pod's ip
    expect(all).toBeGreaterThan(14000);
    expect(printed[51]).toBe(`… and ${all - 50} more errors (${all} in all, 2 distinct messages)`);
  }, 60000);
});

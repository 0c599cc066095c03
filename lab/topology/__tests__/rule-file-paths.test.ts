import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../cli';
import type { InputIssue } from '../../errors';
import { loadTopology } from '../resolve';

// proxy.rules[].file may name any path on the machine, and `plan` prints what it reads: a file
// outside the topology's folder loads, with a warning naming the topology's file:line:col and
// the resolved path (a symlink inside the folder that leads out counts as outside).

const root = mkdtempSync(join(tmpdir(), 'kdl-rules-'));
const dir = join(root, 'topo');
mkdirSync(join(dir, 'rules'), { recursive: true });
const RULES = '*filter\n-A FORWARD -m comment --comment from-the-rule-file -j ACCEPT\nCOMMIT\n';
writeFileSync(join(root, 'outside.rules'), RULES);
writeFileSync(join(dir, 'rules', 'inside.rules'), RULES);
symlinkSync(join(root, 'outside.rules'), join(dir, 'rules', 'link.rules'));

function topology(files: string[]): string {
  const f = join(dir, 'lab.yaml');
  const lines = ['name: rules', 'nodes:', '  - { name: node1 }', 'proxy:', '  rules:'];
  for (const file of files) lines.push(`    - { tool: iptables-restore, file: ${JSON.stringify(file)} }`);
  writeFileSync(f, lines.join('\n') + '\n');
  return f;
}

describe('rule files outside the topology folder', () => {
  test('inside: no warning', () => {
    const warnings: InputIssue[] = [];
    loadTopology(topology(['rules/inside.rules', './rules/../rules/inside.rules']), {}, (i) => warnings.push(i));
    expect(warnings).toEqual([]);
  });

  test('../, an absolute path and a symlink leading out: one warning each, at the file: line, with the resolved path', () => {
    const warnings: InputIssue[] = [];
    const file = topology(['../outside.rules', join(root, 'outside.rules'), 'rules/link.rules', 'rules/inside.rules']);
    const topo = loadTopology(file, {}, (i) => warnings.push(i));
    expect(topo.proxy.rules.map((r) => r.text)).toEqual([RULES, RULES, RULES, RULES]); // still read: a warning, not a refusal
    expect(warnings.map((w) => [w.file, w.line, w.path])).toEqual([
      [file, 6, 'proxy.rules[0].file'],
      [file, 7, 'proxy.rules[1].file'],
      [file, 8, 'proxy.rules[2].file'],
    ]);
    expect(warnings[0]!.message).toBe(
      `${join(root, 'outside.rules')} is outside the topology's folder ${dir}: it is read, installed on the nodes and printed by plan`,
    );
    expect(warnings[2]!.message).toContain(join(dir, 'rules', 'link.rules'));
  });

  test('lab plan prints the plan (exit 0) and the warning on stderr', async () => {
    const file = topology(['../outside.rules']);
    const out: string[] = [];
    const err: string[] = [];
    jest.spyOn(process.stdout, 'write').mockImplementation((s) => (out.push(String(s)), true));
    jest.spyOn(console, 'error').mockImplementation((s: unknown) => void err.push(String(s)));
    try {
      expect(await main(['plan', '-f', file])).toBe(0);
    } finally {
      jest.restoreAllMocks();
    }
    expect(out.join('')).toContain('from-the-rule-file');
    expect(err).toEqual([
      `warning: ${file}:6:39: proxy.rules[0].file: ${join(root, 'outside.rules')} is outside the topology's folder ${dir}: it is read, installed on the nodes and printed by plan`,
    ]);
  });
});

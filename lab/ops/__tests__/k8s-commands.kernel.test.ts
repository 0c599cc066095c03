import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, describeKernel, nsRun, withLab } from '../../testing/kernel';
import { uniqueLabName } from '../../testing/names';

// The k8s verbs on a running lab (--name: its state record). `lab diff-rules` against what the
// kernel holds: its own dumps are identical to what the lab generates (exit 0), and a rule
// changed on the kernel behind the lab's back is found (exit 1), in iptables and nftables mode;
// `lab get` counts AGE from when the lab came up; `lab export` prints it. The default lab; node2
// (a node-port endpoint's node).

const dir = mkdtempSync(join(tmpdir(), 'kdl-diffrules-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const dump = async (ns: string, argv: string[], name: string) => {
  const f = join(dir, name);
  writeFileSync(f, await nsRun(ns, argv));
  return f;
};

describeKernel('diff-rules: iptables mode, against the kernel', () => {
  const lab = uniqueLabName('k8scmd-dr');
  const node = `kdl.${lab}.node2`;
  withLab(lab);

  test('iptables-save of node2 is identical; a stale chain and a deleted rule are then reported', async () => {
    const same = await cli(['diff-rules', 'node2', await dump(node, ['iptables-save'], 'ipt.txt'), '--name', lab]);
    expect({ code: same.code, stderr: same.stderr }).toEqual({ code: 0, stderr: '' });
    expect(same.stdout).toContain('compared filter, nat (iptables)');
    expect(same.stdout.trimEnd().endsWith('identical')).toBe(true);

    await nsRun(node, ['iptables', '-t', 'nat', '-N', 'KUBE-SEP-STALE0000000000']);
    await nsRun(node, [
      'iptables',
      '-t',
      'nat',
      '-A',
      'KUBE-SEP-STALE0000000000',
      '-p',
      'tcp',
      '-j',
      'DNAT',
      '--to-destination',
      '10.42.1.77:80',
    ]);
    await nsRun(node, ['iptables', '-t', 'filter', '-D', 'KUBE-FORWARD', '-m', 'conntrack', '--ctstate', 'INVALID', '-j', 'DROP']);
    const r = await cli(['diff-rules', 'node2', await dump(node, ['iptables-save', '-c'], 'ipt-c.txt'), '--name', lab, '--json']);
    expect(r.code).toBe(1);
    const d = JSON.parse(r.stdout) as { onlyReal: { where: string }[]; onlyLab: { where: string; text: string }[]; different: unknown[] };
    expect(d.onlyReal.map((i) => i.where)).toEqual(['nat chain KUBE-SEP-STALE0000000000']);
    expect(d.onlyLab.map((i) => `${i.where}: ${i.text}`)).toEqual([
      'filter KUBE-FORWARD rule 1: -A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP',
    ]);
    expect(d.different).toEqual([]);
  }, 60_000);

  test('get pods --name: AGE from the state record; export --name: the running lab', async () => {
    const r = await cli(['get', 'pods', '--name', lab, '-o', 'wide']);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    const [header, ...rows] = r.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^NAME +READY +STATUS +RESTARTS +AGE +IP +NODE +NOMINATED NODE +READINESS GATES$/);
    expect(rows.find((l) => l.startsWith('web-2 '))).toMatch(/^web-2 +1\/1 +Running +0 +\d+s +10\.42\.1\.9 +node2 +<none> +<none>$/);
    const e = await cli(['export', '--name', lab, '-o', 'json']);
    const list = JSON.parse(e.stdout) as { items: { kind: string; metadata: { name: string; creationTimestamp?: string } }[] };
    expect(list.items.filter((i) => i.kind === 'Node').map((i) => i.metadata.name)).toEqual(['node1', 'node2', 'node3']);
    expect(list.items.every((i) => typeof i.metadata.creationTimestamp === 'string')).toBe(true);
  }, 60_000);
});

describeKernel('diff-rules: nftables mode, against the kernel', () => {
  const lab = uniqueLabName('k8scmd-dn');
  const node = `kdl.${lab}.node2`;
  withLab(lab, ['--proxy', 'nftables']);

  test('nft list table and nft list ruleset of node2 are identical; an element deleted on the kernel is reported', async () => {
    for (const argv of [
      ['nft', 'list', 'table', 'ip', 'kube-proxy'],
      ['nft', 'list', 'ruleset'],
    ]) {
      const r = await cli(['diff-rules', 'node2', await dump(node, argv, 'nft.txt'), '--name', lab]);
      expect({ argv, code: r.code, stderr: r.stderr }).toEqual({ argv, code: 0, stderr: '' });
    }
    await nsRun(node, ['nft', 'delete', 'element', 'ip', 'kube-proxy', 'cluster-ips', '{ 10.43.0.10 }']);
    const r = await cli(['diff-rules', 'node2', await dump(node, ['nft', 'list', 'table', 'ip', 'kube-proxy'], 'nft2.txt'), '--name', lab]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('only in the lab (1):\n  set cluster-ips: element 10.43.0.10\n');
  }, 60_000);
});

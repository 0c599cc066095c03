import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '../../probe/connect';
import { probeIpvs } from '../../runtime/kernel-features';
import { cli, describeKernel, labNamespaces, nsRun, rt } from '../../testing/kernel';
import { uniqueLabName } from '../../testing/names';
import { loadTopology } from '../../topology/resolve';
import { down } from '../down';
import { up } from '../up';

// A user's own rule files, installed instead of (replace) or after (append) the generated
// ones; a broken one is refused as bad input with its file and line; IPVS mode is refused on a
// kernel without IPVS before anything is created.

const LAB = uniqueLabName('t-rules');
const REFUSED_LAB = uniqueLabName('t-ipvs-refused');
const ns = (node: string, pod?: string) => `kdl.${LAB}.${node}${pod ? `.${pod}` : ''}`;

describeKernel('user rule files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kdl-rules-'));
  const file = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    return name;
  };
  // n1 gets a hand-written "service" instead of kube-proxy's rules: 10.43.9.9:80 -> web-a
  file(
    'own.rules',
    [
      '*nat',
      ':PREROUTING ACCEPT [0:0]',
      '-A PREROUTING -d 10.43.9.9/32 -p tcp --dport 80 -j DNAT --to-destination 10.42.0.3:80',
      'COMMIT',
      '',
    ].join('\n'),
  );
  // every node: a chain of one's own after the generated rules (--noflush keeps them)
  file(
    'audit.rules',
    [
      '*filter',
      ':LAB-AUDIT - [0:0]',
      '-A INPUT -p tcp --dport 9999 -j LAB-AUDIT',
      '-A LAB-AUDIT -p tcp -j REJECT --reject-with tcp-reset',
      'COMMIT',
      '',
    ].join('\n'),
  );
  // n2: an nft table of one's own
  file(
    'user.nft',
    'table inet lab-user {\n\tchain input {\n\t\ttype filter hook input priority 0; policy accept;\n\t\ttcp dport 9998 reject with tcp reset\n\t}\n}\n',
  );
  file('broken.rules', ['*filter', '-A INPUT -p tcp --dport 9999 -j NO-SUCH-CHAIN', 'COMMIT', ''].join('\n'));
  const topo = (rules: string) => `
name: ${LAB}
nodes: [{ name: n1 }, { name: n2 }]
pods:
  - { name: c1, node: n1 }
  - { name: web-a, node: n1, labels: { app: web }, ports: [80] }
  - { name: c2, node: n2 }
  - { name: web-b, node: n2, labels: { app: web }, ports: [80] }
services:
  - { name: web, clusterIP: 10.43.0.20, selector: { app: web }, ports: [{ port: 80 }] }
proxy:
  rules:
${rules}`;
  const good = join(dir, 'lab.yaml');
  writeFileSync(
    good,
    topo(`    - { nodes: [n1], tool: iptables-restore, file: own.rules, mode: replace }
    - { tool: iptables-restore, file: audit.rules }
    - { nodes: [n2], tool: nft, file: user.nft }`),
  );

  afterAll(async () => {
    await down(rt, LAB);
    rmSync(dir, { recursive: true, force: true });
  });

  test('replace on n1, append everywhere, nft on n2: each node holds exactly that, and traffic follows it', async () => {
    await up(loadTopology(good), rt);
    const n1 = await nsRun(ns('n1'), ['iptables-save']);
    const n2 = await nsRun(ns('n2'), ['iptables-save']);
    expect(n1).not.toContain('KUBE-SVC-'); // replaced
    expect(n1).toContain('-A PREROUTING -d 10.43.9.9/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.42.0.3:80');
    expect(n2).toContain('KUBE-SVC-');
    for (const saved of [n1, n2]) expect(saved).toContain('-A LAB-AUDIT -p tcp -j REJECT --reject-with tcp-reset');
    expect(await nsRun(ns('n2'), ['nft', 'list', 'tables'])).toContain('table inet lab-user');
    expect(await nsRun(ns('n1'), ['nft', 'list', 'tables'])).not.toContain('lab-user');

    const own = await connect(rt, ns('n1', 'c1'), '10.43.9.9', 80, { count: 3 });
    expect(own.byPod).toEqual({ 'web-a': 3 });
    const kube = await connect(rt, ns('n2', 'c2'), '10.43.0.20', 80, { count: 20 });
    expect(kube.failed).toBe(0);
    expect(Object.keys(kube.byPod).sort()).toEqual(['web-a', 'web-b']);
    // the appended chain answers port 9999 with a reset; the nft table port 9998, on n2 only
    const refused = async (from: string, ip: string, port: number) =>
      (await connect(rt, from, ip, port, { timeoutS: 2 })).attempts[0]?.error ?? '';
    expect(await refused(ns('n1', 'c1'), '10.42.0.1', 9999)).toMatch(/Connection refused|reset/i);
    expect(await refused(ns('n2', 'c2'), '10.42.1.1', 9998)).toMatch(/Connection refused|reset/i);
    await down(rt, LAB);
  }, 60_000);

  test('a rule file the kernel refuses: exit 2 naming the file and line, nothing left behind', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, topo('    - { tool: iptables-restore, file: broken.rules }'));
    const r = await cli(['up', '-f', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${join(dir, 'broken.rules')}: proxy.rules[0]`);
    expect(r.stderr).toContain("Chain 'NO-SUCH-CHAIN' does not exist");
    // iptables-nft finds it when the table is committed, and says so: the line is COMMIT's
    expect(r.stderr).toContain(`${join(dir, 'broken.rules')}:3: COMMIT`);
    expect(labNamespaces(LAB)).toEqual([]);
  }, 60_000);
});

describeKernel('IPVS mode on a kernel without IPVS', () => {
  // only a kernel without IPVS refuses (decided at collection: a skip, never a vacuous pass)
  (existsSync('/proc/net/ip_vs') ? test.skip : test)(
    'up is refused before anything is created, naming CONFIG_IP_VS and what to do',
    async () => {
      expect((await probeIpvs()).ok).toBe(false);
      const r = await cli(['up', '--proxy', 'ipvs', '--name', REFUSED_LAB]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('CONFIG_IP_VS');
      expect(r.stderr).toMatch(/proxy\.mode: iptables or nftables/);
      expect(labNamespaces(REFUSED_LAB)).toEqual([]);
    },
    30_000,
  );
});

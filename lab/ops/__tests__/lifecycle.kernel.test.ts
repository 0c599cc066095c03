import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { down } from '../down';
import { up } from '../up';
import { parsePing } from '../../probe/ping';
import { STATE_DIR } from '../../state/store';
import { loadTopology, loadTopologyText } from '../../topology/resolve';
import { killUpHalfWay } from '../../testing/detached';
import { cli, describeKernel, host, labNamespaces, nsRun, rt, topologyFile } from '../../testing/kernel';
import { uniqueLabName } from '../../testing/names';

// Lifecycle on the real kernel: the host's own namespace never changes, down leaves nothing
// (also after SIGKILL half-way through up), labs are isolated, bad input creates nothing.

/** The host namespace as text; only counters and timestamps, which host traffic moves, are masked. */
async function hostSnapshot(): Promise<Record<string, string>> {
  const cmds: Record<string, string[]> = {
    link: ['ip', '-j', 'link', 'show'],
    addr: ['ip', '-j', 'addr', 'show'],
    route: ['ip', '-j', 'route', 'show', 'table', 'all'],
    rule: ['ip', '-j', 'rule', 'show'],
    iptables: ['iptables-save'],
    'iptables-legacy': ['iptables-legacy-save'],
    nft: ['nft', 'list', 'ruleset'],
    sysctl: [
      'sysctl',
      'net.ipv4.ip_forward',
      'net.ipv4.conf.all.forwarding',
      'net.ipv4.conf.all.rp_filter',
      'net.ipv4.conf.default.rp_filter',
    ],
  };
  const out: Record<string, string> = {};
  for (const [k, argv] of Object.entries(cmds)) {
    const r = await host.run(argv, { check: false });
    out[k] = r.stdout
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .join('\n')
      .replace(/\[\d+:\d+\]/g, '[]')
      .replace(/counter packets \d+ bytes \d+/g, 'counter')
      .replace(/"(valid|preferred)_life_time":\d+/g, '"$1_life_time":_');
  }
  return out;
}

// Names of this run's own (lab/testing/names.ts), so that two runs on one machine do not collide.
const CLI_LAB = uniqueLabName('t-cli');
const LAB_A = uniqueLabName('t-a');
const LAB_B = uniqueLabName('t-b');
const KILL_LAB = uniqueLabName('t-kill');

const stateFile = (lab: string) => join(STATE_DIR, `${lab}.json`);

describeKernel('lab lifecycle', () => {
  let hostBefore: Record<string, string>;
  const tmp = mkdtempSync(join(tmpdir(), 'kdl-test-'));

  beforeAll(async () => {
    hostBefore = await hostSnapshot();
  });
  afterAll(async () => {
    for (const lab of [CLI_LAB, LAB_A, LAB_B, KILL_LAB]) await down(rt, lab);
  });

  test('CLI: up prints a table with addresses and MACs; status --json reads the kernel; exec; down twice', async () => {
    const u = await cli(['up', '--name', CLI_LAB]);
    expect(u.stderr).not.toMatch(/Error/);
    expect(u.code).toBe(0);
    for (const stage of ['namespaces', 'links', 'configure', 'verify']) expect(u.stdout).toContain(`${stage}:`);
    expect(u.stdout).toMatch(/node1\s.*eth0\s.*192\.168\.205\.4\/24\s.*[0-9a-f]{2}(:[0-9a-f]{2}){5}/);

    const s = await cli(['status', '--name', CLI_LAB, '--json']);
    expect(s.code).toBe(0);
    const lab = JSON.parse(s.stdout).labs[0];
    expect(lab).toMatchObject({ name: CLI_LAB, runtime: 'netns', state: 'up' });
    expect(lab.nodes.map((n: { name: string }) => n.name)).toEqual(['node1', 'node2', 'node3']);
    const node2 = lab.nodes[1];
    const [kernelFlannel] = JSON.parse(await nsRun(`kdl.${CLI_LAB}.node2`, ['ip', '-j', 'link', 'show', 'flannel.1']));
    expect(node2.interfaces).toContainEqual(
      expect.objectContaining({
        name: 'flannel.1',
        mac: kernelFlannel.address,
        addresses: ['10.42.1.0/32'],
        vxlan: expect.objectContaining({ vni: 1, port: 8472 }),
      }),
    );
    expect(node2.interfaces).toContainEqual(expect.objectContaining({ name: 'cni0', addresses: ['10.42.1.1/24'] }));
    expect(lab.pods).toContainEqual(expect.objectContaining({ name: 'web-2', node: 'node2', namespace: `kdl.${CLI_LAB}.node2.web-2` }));

    const e = await cli(['exec', '--name', CLI_LAB, 'client', '--', 'ping', '-c', '1', '-W', '2', '10.42.1.9']);
    expect(e.code).toBe(0);
    expect(parsePing(e.stdout).replies[0]?.ttl).toBe(62);
    expect((await cli(['exec', '--name', CLI_LAB, 'node1', '--', 'false'])).code).toBe(1); // exit codes pass through
    const bad = await cli(['exec', '--name', CLI_LAB, 'nosuchpod', '--', 'true']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/no node or pod named 'nosuchpod'.*known: node1, client/);

    expect((await cli(['up', '--name', CLI_LAB])).stdout).toContain('already up'); // idempotent
    expect((await cli(['down', '--name', CLI_LAB])).code).toBe(0);
    expect(labNamespaces(CLI_LAB)).toEqual([]);
    expect(existsSync(stateFile(CLI_LAB))).toBe(false);
    expect((await cli(['down', '--name', CLI_LAB])).code).toBe(0);
  });

  test('two labs up at once do not see each other', async () => {
    await up(loadTopology(topologyFile('default.yaml'), { name: LAB_A }), rt);
    const b = loadTopology(topologyFile('default.yaml'), { name: LAB_B });
    b.pods.push({ name: 'only-b', node: 'node2', ip: '10.42.1.50', labels: {}, ports: [] });
    await up(b, rt);
    const ping = async (ns: string, dst: string) => parsePing(await nsRun(ns, ['ping', '-c', '2', '-i', '0.2', '-W', '1', dst], false));
    // Same addresses in both labs, each answered inside its own lab.
    expect((await ping(`kdl.${LAB_A}.node1.client`, '10.42.1.9')).received).toBe(2);
    expect((await ping(`kdl.${LAB_B}.node1.client`, '10.42.1.9')).received).toBe(2);
    // A pod that exists only in lab b is unreachable from lab a.
    expect((await ping(`kdl.${LAB_B}.node1.client`, '10.42.1.50')).received).toBe(2);
    expect((await ping(`kdl.${LAB_A}.node1.client`, '10.42.1.50')).received).toBe(0);
    // Removing one leaves the other whole.
    const bNamespaces = labNamespaces(LAB_B);
    await down(rt, LAB_A);
    expect(labNamespaces(LAB_A)).toEqual([]);
    expect(labNamespaces(LAB_B)).toEqual(bNamespaces);
    expect((await ping(`kdl.${LAB_B}.node1.client`, '10.42.1.50')).received).toBe(2);
    await down(rt, LAB_B);
  });

  test('down after SIGKILL of up half-way leaves no namespace, link, process or file', async () => {
    const nodes = Array.from({ length: 20 }, (_, i) => `  - { name: n${i} }`).join('\n');
    const pods = Array.from({ length: 40 }, (_, i) => `  - { name: p${i}, node: n${i % 20} }`).join('\n');
    const file = join(tmp, 'big.yaml');
    writeFileSync(file, `name: ${KILL_LAB}\nnodes:\n${nodes}\npods:\n${pods}\n`);
    expect(loadTopologyText(`name: ${KILL_LAB}\nnodes:\n${nodes}\n`).nodes).toHaveLength(20);

    // Held after the links stage, killed once node eth0s exist inside node namespaces.
    await killUpHalfWay(['-f', file], 'links', async () => {
      if (labNamespaces(KILL_LAB).length !== 63) return false; // 1 + 20 nodes + 40 pods + 2 DNS pods
      return (await rt.run(`kdl.${KILL_LAB}.n19`, ['ip', '-j', 'link', 'show', 'eth0'], { check: false })).code === 0;
    });
    expect(labNamespaces(KILL_LAB)).toHaveLength(63); // really left half-built

    const s = await cli(['status', '--name', KILL_LAB, '--json']);
    expect(JSON.parse(s.stdout).labs[0].state).toBe('interrupted');

    const d = await cli(['down', '--name', KILL_LAB]);
    expect(d.code).toBe(0);
    expect(labNamespaces(KILL_LAB)).toEqual([]);
    expect(existsSync(stateFile(KILL_LAB))).toBe(false);
    expect((await cli(['down', '--name', KILL_LAB])).code).toBe(0);

    // And up after a crash cleans the leftovers itself.
    await killUpHalfWay(['-f', file], 'namespaces', () => labNamespaces(KILL_LAB).length === 63);
    const u = await cli(['up', '-f', file, '--json']);
    expect(u.code).toBe(0);
    expect(JSON.parse(u.stdout)).toMatchObject({ name: KILL_LAB, state: 'up' });
    await down(rt, KILL_LAB);
    expect(labNamespaces(KILL_LAB)).toEqual([]);
  });

  test('bad topology input: exit 2, file:line:col in the message, nothing created', async () => {
    const cases: Record<string, [string, RegExp]> = {
      'unknown-key.yaml': [
        'name: bad1\nnodes:\n  - name: node1\n    colour: blue\n',
        /unknown-key\.yaml:4:5: nodes\[0\]\.colour: unknown key 'colour'/,
      ],
      'broken.yaml': ['name: bad2\nnodes: [ { name: node1 }\n', /broken\.yaml:\d+:\d+: broken YAML/],
      'missing-node.yaml': [
        'name: bad3\nnodes:\n  - name: node1\npods:\n  - { name: p, node: node9 }\n',
        /missing-node\.yaml:5:22: pods\[0\]\.node: no node named 'node9'/,
      ],
      'bad-name.yaml': ['name: bad4\nnodes:\n  - name: Node_1\n', /bad-name\.yaml:3:11: nodes\[0\]\.name: not a valid node name/],
      'dup-ip.yaml': [
        'name: bad5\nnodes:\n  - { name: a, ip: 192.168.205.4 }\n  - { name: b, ip: 192.168.205.4 }\n',
        /dup-ip\.yaml:4:20: nodes\[1\]\.ip: duplicate IP 192\.168\.205\.4 \(node b; also nodes\[0\]\.ip at line 3\)/,
      ],
      'overlap.yaml': [
        'name: bad6\nnodes:\n  - { name: a, podSubnet: 10.42.0.0/24 }\n  - { name: b, podSubnet: 10.42.0.0/23 }\n',
        /overlap\.yaml:4:27: nodes\[1\]\.podSubnet: 10\.42\.0\.0\/23 overlaps a's pod subnet/,
      ],
    };
    const before = labNamespaces();
    await Promise.all(
      Object.entries(cases).map(async ([name, [text, re]]) => {
        const f = join(tmp, name);
        writeFileSync(f, text);
        const r = await cli(['up', '-f', f]);
        expect({ name, code: r.code }).toEqual({ name, code: 2 });
        expect(r.stderr).toMatch(re);
      }),
    );
    expect(labNamespaces()).toEqual(before);
    for (const lab of ['bad1', 'bad2', 'bad3', 'bad4', 'bad5', 'bad6']) expect(existsSync(stateFile(lab))).toBe(false);
    const missing = await cli(['up', '-f', join(tmp, 'nope.yaml')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('nope.yaml: cannot read: ENOENT');
    expect((await cli(['up', '--bogus'])).code).toBe(2);
  });

  test("the host's own namespace is the same after all of the above", async () => {
    expect(await hostSnapshot()).toEqual(hostBefore);
  });
});

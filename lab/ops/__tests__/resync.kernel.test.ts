import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '../../probe/connect';
import { describeKernel, nsRun, rt, topologyFile } from '../../testing/kernel';
import { uniqueLabName } from '../../testing/names';
import { loadTopology } from '../../topology/resolve';
import type { ProxyMode, Topology } from '../../topology/types';
import { apply } from '../apply';
import { down } from '../down';
import { up } from '../up';

// The incremental re-sync on the real kernel: a lab goes from topology A to B by `apply` (only
// what changed written), its kernel state is dumped; then the lab is taken down and B brought up
// from scratch (every rule written), and dumped again. The two dumps must be the same, apart
// from the order the kernel lists what it was given in (normalised below) and counters.

const DEFAULT_YAML = readFileSync(topologyFile('default.yaml'), 'utf8');
const WEB = '10.43.0.20';

const withMode = (yaml: string, mode: ProxyMode) => yaml.replace(/^(\s+mode:) iptables\b/m, `$1 ${mode}`);
const OLD = '  - { name: old, clusterIP: 10.43.0.77, selector: { app: nginx-test }, ports: [{ port: 8080, targetPort: 80 }] }';
const STICKY =
  '  - { name: sticky, clusterIP: 10.43.0.78, sessionAffinity: ClientIP, selector: { app: web }, ports: [{ name: http, port: 80, targetPort: 80 }] }';

/**
 * A: the default lab and a service `old`. B: web-3 replaced by web-4 at another address (one
 * endpoint changed), `old` removed, `sticky` added. (Not web-3 readdressed: apply re-creates a
 * readdressed pod's veth under the same name, and the kernel may not have finished destroying
 * the old one, seen once on a loaded machine: "RTNETLINK answers: File exists".)
 */
const topologies = (mode: ProxyMode): [string, string] => {
  const base = withMode(DEFAULT_YAML, mode).trimEnd();
  const a = `${base}\n${OLD}\n`;
  const b = `${base.replace('name: web-3, node: node3, ip: 10.42.2.9,', 'name: web-4, node: node3, ip: 10.42.2.19,')}\n${STICKY}\n`;
  if (a === b || !b.includes('10.42.2.19')) throw new Error('the edit of the topology did not apply');
  return [a, b];
};

/** iptables-save, with counters zeroed, chains declared in sorted order and each chain's rules together (their order kept). */
function normaliseIptablesSave(text: string): string {
  const out: string[] = [];
  let decl: string[] = [];
  let rules = new Map<string, string[]>();
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\[\d+:\d+\]/g, '[0:0]');
    if (!line || line.startsWith('#')) continue;
    if (line.startsWith('*')) {
      out.push(line);
      decl = [];
      rules = new Map();
    } else if (line.startsWith(':')) decl.push(line);
    else if (line.startsWith('-A ')) {
      const chain = line.split(' ')[1]!;
      rules.set(chain, [...(rules.get(chain) ?? []), line]);
    } else if (line === 'COMMIT') {
      out.push(...decl.sort(), ...[...rules.keys()].sort().flatMap((c) => rules.get(c)!), 'COMMIT');
    } else out.push(line);
  }
  return out.join('\n');
}

/** `nft list table`: its chains, sets and maps in sorted order, each set's elements sorted. */
function normaliseNftTable(text: string): string {
  const blocks: string[] = [];
  let cur: string[] | undefined;
  const head: string[] = [];
  for (const line of text.split('\n')) {
    if (/^\t(chain|set|map) /.test(line)) cur = [line];
    else if (cur && line === '\t}') {
      cur.push(line);
      blocks.push(normaliseElements(cur.join('\n')));
      cur = undefined;
    } else if (cur) cur.push(line);
    else if (line.trim()) head.push(line);
  }
  return [...head, ...blocks.sort()].join('\n');
}

function normaliseElements(block: string): string {
  const m = /elements = \{([^}]*)\}/s.exec(block);
  if (!m) return block;
  const elements = m[1]!
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e)
    .sort();
  return block.replace(m[0], `elements = { ${elements.join(', ')} }`);
}

describe.each<[ProxyMode]>([['iptables'], ['nftables']])('incremental re-sync in %s mode', (mode) => {
  const lab = uniqueLabName(`resync-${mode.slice(0, 3)}`);
  const dir = mkdtempSync(join(tmpdir(), 'kdl-resync-'));
  const [a, b] = topologies(mode);
  writeFileSync(join(dir, 'a.yaml'), a);
  writeFileSync(join(dir, 'b.yaml'), b);
  const topoA = loadTopology(join(dir, 'a.yaml'), { name: lab });
  const topoB = loadTopology(join(dir, 'b.yaml'), { name: lab });

  const dump = async (t: Topology): Promise<Record<string, string>> => {
    const out: Record<string, string> = {};
    for (const n of t.nodes) {
      const ns = `kdl.${lab}.${n.name}`;
      out[n.name] =
        mode === 'iptables'
          ? normaliseIptablesSave(await nsRun(ns, ['iptables-save']))
          : normaliseNftTable(await nsRun(ns, ['nft', 'list', 'table', 'ip', 'kube-proxy']));
    }
    return out;
  };

  describeKernel(`${mode} mode on the real kernel`, () => {
    afterAll(async () => {
      await down(rt, lab);
      rmSync(dir, { recursive: true, force: true });
    });

    test('A, then apply B (only what changed), is what B brought up from scratch holds', async () => {
      await up(topoA, rt);
      const res = await apply(topoB, rt);
      expect(res.resync).toBe('incremental');
      expect(res.endpoints['default/sticky:http']).toBe(3);
      expect(res.endpoints['default/old']).toBeUndefined();
      // real traffic: the new endpoint web-4 answers through the cluster IP
      const r = await connect(rt, `kdl.${lab}.node1.client`, WEB, 80, { count: 45 });
      expect(r.failed).toBe(0);
      expect(Object.keys(r.byPod).sort()).toEqual(['web-1', 'web-2', 'web-4']);
      const incremental = await dump(topoB);
      await down(rt, lab);

      await up(topoB, rt);
      const full = await dump(topoB);
      for (const n of topoB.nodes) expect(incremental[n.name]).toEqual(full[n.name]);
      // the control: A's rules differ from B's where the change is
      expect(full.node1).toContain(mode === 'iptables' ? '10.42.2.19' : 'affinity-');
      expect(full.node1).not.toContain('10.43.0.77');
    }, 120_000);

    test('apply with nothing changed writes nothing; apply --full writes everything and ends the same', async () => {
      const before = await dump(topoB);
      const same = await apply(topoB, rt);
      expect(same.resync).toBe('incremental');
      expect(await dump(topoB)).toEqual(before);
      const full = await apply(topoB, rt, undefined, { full: true });
      expect(full.resync).toBe('full');
      expect(await dump(topoB)).toEqual(before);
      expect((await connect(rt, `kdl.${lab}.node1.client`, WEB, 80, { count: 6 })).failed).toBe(0);
    }, 60_000);
  });
});

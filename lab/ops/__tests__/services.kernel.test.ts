import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ConnectResult, chiSquareUniform, connect } from '../../probe/connect';
import { iptablesRules } from '../../proxy/iptables';
import { parseTables, ruleKey } from '../../proxy/iptables-parse';
import { proxyModel } from '../../model/proxy';
import { nftablesRules } from '../../proxy/nftables';
import { nftSummary, nftSummaryOfText } from '../../proxy/nftables-readback';
import { cli, describeKernel, nsRun, rt, topologyFile } from '../../testing/kernel';
import { uniqueLabName } from '../../testing/names';
import { loadTopology } from '../../topology/resolve';
import type { ProxyMode, Topology } from '../../topology/types';
import { apply } from '../apply';
import { down } from '../down';
import { up } from '../up';

// Services on the real kernel, in each mode that this kernel can run: what the kernel holds
// after install, and where real connections land, as the serving pod reports it (its name and
// the peer address it saw). Addresses are the default lab's (scenarios/topologies/default.yaml).

const WEB = '10.43.0.20'; // default/web:http, endpoints web-1 (node1), web-2 (node2), web-3 (node3)
const NGINX = '10.43.6.58'; // default/nginx-test:80-80, NodePort 32506, endpoints on node2 and node3
const DEFAULT_YAML = readFileSync(topologyFile('default.yaml'), 'utf8');

const withMode = (yaml: string, mode: ProxyMode) => yaml.replace(/^(\s+mode:) iptables\b/m, `$1 ${mode}`);
const peers = (r: ConnectResult, pod: string) => new Set(r.attempts.filter((a) => a.pod === pod).map((a) => a.peer?.split(':')[0]));

/** iptables-save of one node as ordered rule keys per table/chain: order matters (probabilities). */
function chainsOf(text: string, tables = ['filter', 'nat']): Record<string, string[]> {
  const t = parseTables(text);
  const out: Record<string, string[]> = {};
  for (const table of tables) for (const c of t.chains.get(table) ?? []) out[`${table}/${c}`] = [];
  for (const r of t.rules) if (tables.includes(r.table)) (out[`${r.table}/${r.chain}`] ??= []).push(ruleKey(r));
  // an empty built-in chain is the same as none (iptables-nft lists some, the restore text none)
  for (const k of Object.keys(out)) if (/\/[A-Z]+$/.test(k) && !out[k]!.length) delete out[k];
  return out;
}

describe.each<[ProxyMode]>([['iptables'], ['nftables']])('services in %s mode', (mode) => {
  const lab = uniqueLabName(`t-svc-${mode.slice(0, 3)}`);
  const ns = (node: string, pod?: string) => `kdl.${lab}.${node}${pod ? `.${pod}` : ''}`;
  const CLIENT = ns('node1', 'client');
  const dir = mkdtempSync(join(tmpdir(), 'kdl-svc-'));
  const file = join(dir, 'lab.yaml');
  // plus a service whose selector matches no pod: kube-proxy rejects it at once
  const EMPTY = '10.43.0.40';
  // and a UDP service over the web pods (their listeners on 5353/udp follow from it)
  const DNS = '10.43.0.53';
  const yaml = [
    withMode(DEFAULT_YAML, mode).trimEnd(),
    `  - { name: empty, clusterIP: ${EMPTY}, selector: { app: none }, ports: [{ port: 80 }] }`,
    `  - { name: dns, clusterIP: ${DNS}, selector: { app: web }, ports: [{ name: dns, port: 53, targetPort: 5353, protocol: UDP }] }`,
    '',
  ].join('\n');
  writeFileSync(file, yaml);
  const topo = loadTopology(file, { name: lab });

  describeKernel(`${mode} mode on the real kernel`, () => {
    beforeAll(async () => {
      await up(topo, rt);
    }, 60_000);
    afterAll(async () => {
      await down(rt, lab);
      rmSync(dir, { recursive: true, force: true });
    });

    /** What every node's kernel holds, read back, equals the rules generated for `t`. */
    const expectNodesHold = async (t: Topology) => {
      const model = proxyModel(t);
      for (const node of t.nodes) {
        const saved = await nsRun(ns(node.name), ['iptables-save']);
        if (mode === 'iptables') expect(chainsOf(saved)).toEqual(chainsOf(iptablesRules(model)));
        else {
          const held = nftSummary(JSON.parse(await nsRun(ns(node.name), ['nft', '-j', 'list', 'table', 'ip', 'kube-proxy'])));
          expect(held).toEqual(nftSummaryOfText(nftablesRules(model, node)));
          // and nothing was installed through iptables
          expect(saved).not.toContain('KUBE-');
        }
      }
    };

    test('every node holds exactly the rules that were generated', async () => {
      await expectNodesHold(topo);
    });

    test('pod → ClusterIP: 300 connections reach all 3 endpoints, plausibly uniform (chi-square, α = 0.001), source kept', async () => {
      const r = await connect(rt, CLIENT, WEB, 80, { count: 300 });
      expect(r.failed).toBe(0);
      const counts = ['web-1', 'web-2', 'web-3'].map((p) => r.byPod[p] ?? 0);
      expect(Object.keys(r.byPod).sort()).toEqual(['web-1', 'web-2', 'web-3']);
      // α = 0.001: for df = 2 the chi-square tail is exp(-x/2), so the critical value is
      // -2 ln 0.001 = 13.816 (the table in probe/connect.ts). A truly uniform spread fails this
      // check in 0.1 % of runs; the two modes here make ~0.2 % of runs of this file (α = 0.01
      // failed ~2 %). Still fails a real skew: 150/150/0 gives χ² = 150.
      const chi = chiSquareUniform(counts, 0.001);

      console.log(
        `${mode}: spread over web-1/2/3 = ${counts.join('/')}, chi-square ${chi.statistic.toFixed(2)} (critical ${chi.critical}, df ${chi.df})`,
      );
      expect(chi.uniform).toBe(true);
      // the endpoint saw the client pod's own address: no SNAT for pod → service
      for (const p of ['web-1', 'web-2', 'web-3']) expect(peers(r, p)).toEqual(new Set(['10.42.0.65']));
      // and it was reached on its own address and port (DNAT)
      expect(new Set(r.attempts.map((a) => a.local))).toEqual(new Set(['10.42.0.66:80', '10.42.1.9:80', '10.42.2.9:80']));
    });

    test('node → ClusterIP: the endpoint sees the node (MASQUERADE to the address of the way out)', async () => {
      const r = await connect(rt, ns('node1'), WEB, 80, { count: 45 });
      expect(r.failed).toBe(0);
      // web-1 is on node1 itself: out through cni0 (10.42.0.1); the others over flannel.1 (10.42.0.0)
      expect(peers(r, 'web-1')).toEqual(new Set(['10.42.0.1']));
      expect(peers(r, 'web-2')).toEqual(new Set(['10.42.0.0']));
      expect(peers(r, 'web-3')).toEqual(new Set(['10.42.0.0']));
    });

    test('NodePort: a client on node2 connects to node1:32506 and is served by an nginx-test pod', async () => {
      const r = await connect(rt, ns('node2'), '192.168.205.4', 32506, { count: 30 });
      expect(r.failed).toBe(0);
      expect(Object.keys(r.byPod).sort()).toEqual(['nginx-test-1', 'nginx-test-2']);
      // KUBE-EXT marks node-port traffic: the endpoints see node1's flannel address, not node2's
      expect(new Set(r.attempts.map((a) => a.peer?.split(':')[0]))).toEqual(new Set(['10.42.0.0']));
      // the cluster IP of the same service answers too
      expect((await connect(rt, CLIENT, NGINX, 80, { count: 4 })).failed).toBe(0);
    });

    test('a node port on the node the client pod runs on is served as well', async () => {
      const r = await connect(rt, CLIENT, '192.168.205.4', 32506, { count: 10 });
      expect(r.failed).toBe(0);
    });

    test('hairpin: web-1 reaching its own service is served by itself, masqueraded by the endpoint mark', async () => {
      const r = await connect(rt, ns('node1', 'web-1'), WEB, 80, { count: 45 });
      expect(r.failed).toBe(0);
      // to itself: source rewritten to cni0's address, else the reply would bypass the un-DNAT
      expect(peers(r, 'web-1')).toEqual(new Set(['10.42.0.1']));
      // to the other endpoints: no mark, the pod's own address
      expect(peers(r, 'web-2')).toEqual(new Set(['10.42.0.66']));
    });

    test('hairpin needs the bridge port in hairpin mode: with it off, the self-served connections fail', async () => {
      type Port = { ifname: string; ifindex: number; linkinfo?: { info_slave_data?: { hairpin?: boolean } } };
      const veth = (JSON.parse(await nsRun(ns('node1'), ['ip', '-j', '-d', 'link', 'show', 'master', 'cni0'])) as Port[]).filter((l) =>
        l.ifname.startsWith('veth'),
      );
      expect(veth.every((l) => l.linkinfo?.info_slave_data?.hairpin === true)).toBe(true);
      // br_netfilter hands bridged frames to iptables/nft in the node: after the DNAT the frame
      // goes back out of the port it came in on, which a bridge only does in hairpin mode
      expect((await nsRun(ns('node1'), ['sysctl', '-n', 'net.bridge.bridge-nf-call-iptables'])).trim()).toBe('1');
      const webVeth = (await nsRun(ns('node1', 'web-1'), ['ip', '-j', 'link', 'show', 'eth0'])).match(/"link_index":(\d+)/)?.[1];
      const port = veth.find((l) => String(l.ifindex) === webVeth)?.ifname ?? '';
      expect(port).toMatch(/^veth/);
      await nsRun(ns('node1'), ['ip', 'link', 'set', port, 'type', 'bridge_slave', 'hairpin', 'off']);
      try {
        // 18 attempts: each picks web-1 with p = 1/3, so none does in (2/3)^18 = 0.07 % of runs
        // (a false failure below 0.1 %; 12 attempts failed 0.77 % of runs)
        const r = await connect(rt, ns('node1', 'web-1'), WEB, 80, { count: 18, timeoutS: 1 });
        expect(r.byPod['web-1'] ?? 0).toBe(0); // never served by itself
        expect(r.failed).toBeGreaterThan(0); // the attempts DNATed to itself were lost
        expect(r.failed + (r.byPod['web-2'] ?? 0) + (r.byPod['web-3'] ?? 0)).toBe(18);
      } finally {
        await nsRun(ns('node1'), ['ip', 'link', 'set', port, 'type', 'bridge_slave', 'hairpin', 'on']);
      }
    });

    test('UDP: datagrams to a UDP cluster IP reach every endpoint on its target port', async () => {
      const r = await connect(rt, CLIENT, DNS, 53, { count: 30, protocol: 'UDP' });
      expect(r.failed).toBe(0);
      expect(Object.keys(r.byPod).sort()).toEqual(['web-1', 'web-2', 'web-3']);
      expect(new Set(r.attempts.map((a) => a.local))).toEqual(new Set(['10.42.0.66:5353', '10.42.1.9:5353', '10.42.2.9:5353']));
      expect(new Set(r.attempts.map((a) => a.peer?.split(':')[0]))).toEqual(new Set(['10.42.0.65']));
    });

    test('a service without endpoints is refused at once (ICMP port unreachable), not left to time out', async () => {
      const t0 = performance.now();
      const r = await connect(rt, CLIENT, EMPTY, 80, { count: 3, timeoutS: 3 });
      expect(r.failed).toBe(3);
      expect(r.attempts.every((a) => /Connection refused/.test(a.error ?? ''))).toBe(true);
      expect(performance.now() - t0).toBeLessThan(2000); // 3 refusals, not 3 timeouts of 3 s
    });

    test('control: without the rules on node1 the cluster IP leads nowhere; a full re-sync (apply --full) brings them back', async () => {
      const flush = mode === 'iptables' ? ['iptables', '-t', 'nat', '-F'] : ['nft', 'delete', 'table', 'ip', 'kube-proxy'];
      await nsRun(ns('node1'), flush);
      const without = await connect(rt, CLIENT, WEB, 80, { count: 2, timeoutS: 1 });
      expect(without.failed).toBe(2);
      // nothing changed in the topology: an incremental re-sync writes nothing, a full one everything
      expect((await apply(topo, rt)).resync).toBe('incremental');
      expect((await connect(rt, CLIENT, WEB, 80, { count: 2, timeoutS: 1 })).failed).toBe(2);
      await apply(topo, rt, undefined, { full: true });
      expect((await connect(rt, CLIENT, WEB, 80, { count: 6 })).failed).toBe(0);
    });

    test('endpoint change: removing web-3 and applying re-syncs every node while traffic flows; adding it back restores 3', async () => {
      const smaller = join(dir, 'smaller.yaml');
      writeFileSync(smaller, yaml.replace(/^.*name: web-3.*\n/m, ''));
      // connections run during the re-sync: none may fail
      const during = connect(rt, CLIENT, WEB, 80, { count: 150 });
      const res = await apply(loadTopology(smaller, { name: lab }), rt);
      const flowing = await during;
      expect(res.removed).toEqual(['web-3']);
      expect(res.endpoints['default/web:http']).toBe(2);
      expect(flowing.failed).toBe(0);
      const after = await connect(rt, CLIENT, WEB, 80, { count: 60 });
      expect(after.failed).toBe(0);
      expect(Object.keys(after.byPod).sort()).toEqual(['web-1', 'web-2']);
      await expectNodesHold(loadTopology(smaller, { name: lab }));
      // back through the CLI, as a user would
      const back = await cli(['apply', '-f', file, '--name', lab]);
      expect(back.stderr).toBe('');
      expect(back.code).toBe(0);
      expect(back.stdout).toContain('1 pod(s) added');
      const again = await connect(rt, CLIENT, WEB, 80, { count: 45 });
      expect(again.failed).toBe(0);
      expect(Object.keys(again.byPod).sort()).toEqual(['web-1', 'web-2', 'web-3']);
    }, 60_000);
  });
});

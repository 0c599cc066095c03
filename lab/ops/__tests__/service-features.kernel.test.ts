import { labNamespace } from '../../model/kernel-names';
import { connect } from '../../probe/connect';
import { describeKernel, nsRun, rt } from '../../testing/kernel';
import { uniqueLabName } from '../../testing/names';
import { waitFor } from '../../testing/wait';
import { loadTopologyText } from '../../topology/resolve';
import type { ProxyMode } from '../../topology/types';
import { down } from '../down';
import { up } from '../up';

// Issue 18's Service features on the real kernel, in the two modes this kernel runs: endpoint
// conditions (kube-proxy's fallback to serving-terminating endpoints), a named targetPort that
// is a different number on each pod, the Local traffic policies (client address kept, nodes
// without a local endpoint drop) and sessionAffinity: ClientIP with a short timeout.

const STICKY = '10.43.0.20'; // ClientIP affinity, timeoutSeconds 2, over web-1..3
const DRAIN = '10.43.0.21'; // only terminating (serving) endpoints: old-1, old-2, and old-3 (not serving)
const MIXED = '10.43.0.22'; // one ready endpoint (new-1) and one terminating (old-1)
const NAMED = '10.43.0.23'; // targetPort: web (80 on web-1, 8080 on web-2), and a second port
const LOCAL = '10.43.0.24'; // externalTrafficPolicy Local, node port 30024, one endpoint: loc-1 on node1
const CLUSTER = '10.43.0.25'; // the same endpoint with externalTrafficPolicy Cluster, node port 30025
const ITP = '10.43.0.26'; // internalTrafficPolicy Local over loc-1 (node1)
const NODE1 = '192.168.205.4';
const NODE2 = '192.168.205.3';
const GATEWAY = '192.168.205.1'; // the lab's own namespace (@lab) on the underlay

const topologyYaml = (lab: string, mode: ProxyMode) => `
name: ${lab}
cluster: { podCIDR: 10.42.0.0/16, serviceCIDR: 10.43.0.0/16, underlay: 192.168.205.0/24 }
proxy: { mode: ${mode} }
nodes:
  - { name: node1, ip: 192.168.205.4, podSubnet: 10.42.0.0/24 }
  - { name: node2, ip: 192.168.205.3, podSubnet: 10.42.1.0/24 }
pods:
  - { name: client-a, node: node1, ip: 10.42.0.65 }
  - { name: client-b, node: node2, ip: 10.42.1.65 }
  - { name: web-1, node: node1, ip: 10.42.0.66, labels: { app: web, sticky: 'yes' }, ports: [{ port: 80, name: web }, 81] }
  - { name: web-2, node: node2, ip: 10.42.1.9, labels: { app: web, sticky: 'yes' }, ports: [{ port: 8080, name: web }, 81] }
  - { name: web-3, node: node2, ip: 10.42.1.10, labels: { app: web3, sticky: 'yes' }, ports: [80] }
  - { name: old-1, node: node1, ip: 10.42.0.70, labels: { app: old, gone: 'yes' }, ports: [80], conditions: { terminating: true } }
  - { name: old-2, node: node2, ip: 10.42.1.70, labels: { app: old, gone: 'yes' }, ports: [80], conditions: { terminating: true, serving: true } }
  - { name: old-3, node: node2, ip: 10.42.1.71, labels: { app: old, gone: 'yes' }, ports: [80], conditions: { terminating: true, serving: false } }
  - { name: new-1, node: node2, ip: 10.42.1.72, labels: { app: old, ready: 'yes' }, ports: [80] }
  - { name: loc-1, node: node1, ip: 10.42.0.80, labels: { app: loc }, ports: [80] }
services:
  - name: sticky
    clusterIP: ${STICKY}
    selector: { sticky: 'yes' }
    ports: [{ port: 80 }]
    sessionAffinity: ClientIP
    sessionAffinityConfig: { clientIP: { timeoutSeconds: 2 } }
  - { name: drain, clusterIP: ${DRAIN}, selector: { app: old, gone: 'yes' }, ports: [{ port: 80 }] }
  - { name: mixed, clusterIP: ${MIXED}, selector: { app: old }, ports: [{ port: 80 }] }
  - { name: local, type: NodePort, externalTrafficPolicy: Local, clusterIP: ${LOCAL}, selector: { app: loc }, ports: [{ port: 80, nodePort: 30024 }] }
  - { name: cluster, type: NodePort, clusterIP: ${CLUSTER}, selector: { app: loc }, ports: [{ port: 80, nodePort: 30025 }] }
  - { name: itp, internalTrafficPolicy: Local, clusterIP: ${ITP}, selector: { app: loc }, ports: [{ port: 80 }] }
  - name: named
    clusterIP: ${NAMED}
    selector: { app: web }
    ports: [{ name: http, port: 80, targetPort: web }, { name: other, port: 81, targetPort: 81 }]
`;

describe.each<[ProxyMode]>([['iptables'], ['nftables']])('Service features in %s mode', (mode) => {
  const lab = uniqueLabName(`t-feat-${mode.slice(0, 3)}`);
  const ns = (node: string, pod?: string) => `kdl.${lab}.${node}${pod ? `.${pod}` : ''}`;
  const topo = loadTopologyText(topologyYaml(lab, mode), `${lab}.yaml`);

  describeKernel(`${mode} mode on the real kernel`, () => {
    beforeAll(async () => {
      await up(topo, rt);
    }, 60_000);
    afterAll(async () => {
      await down(rt, lab);
    });

    test('only terminating endpoints: traffic still flows, to the serving ones only (kube-proxy falls back to them)', async () => {
      const r = await connect(rt, ns('node1', 'client-a'), DRAIN, 80, { count: 40 });
      expect(r.failed).toBe(0);
      // old-3 is terminating and not serving: never used; (1/2)^40 that one of the two is missed
      expect(Object.keys(r.byPod).sort()).toEqual(['old-1', 'old-2']);
    });

    test('one ready endpoint beside a terminating one: only the ready one is used', async () => {
      const r = await connect(rt, ns('node1', 'client-a'), MIXED, 80, { count: 30 });
      expect(r.failed).toBe(0);
      expect(r.byPod).toEqual({ 'new-1': 30 });
    });

    test('a named targetPort is each pod its own number: web-1 on 80, web-2 on 8080; the second port on 81', async () => {
      const r = await connect(rt, ns('node1', 'client-a'), NAMED, 80, { count: 30 });
      if (r.failed) console.log(JSON.stringify(r.attempts.filter((a) => !a.ok).slice(0, 3)));
      expect(r.failed).toBe(0);
      expect(new Set(r.attempts.map((a) => a.local))).toEqual(new Set(['10.42.0.66:80', '10.42.1.9:8080']));
      const other = await connect(rt, ns('node1', 'client-a'), NAMED, 81, { count: 20 });
      expect(other.failed).toBe(0);
      expect(new Set(other.attempts.map((a) => a.local))).toEqual(new Set(['10.42.0.66:81', '10.42.1.9:81']));
    });

    test('externalTrafficPolicy Local: from @lab to the node with the endpoint, the endpoint sees the client itself', async () => {
      const r = await connect(rt, labNamespace(lab), NODE1, 30024, { count: 10 });
      expect(r.failed).toBe(0);
      expect(r.byPod).toEqual({ 'loc-1': 10 });
      expect(new Set(r.attempts.map((a) => a.peer?.split(':')[0]))).toEqual(new Set([GATEWAY]));
    });

    test('externalTrafficPolicy Local: node2 has no local endpoint, so its node port drops (no answer, no refusal)', async () => {
      const r = await connect(rt, labNamespace(lab), NODE2, 30024, { count: 2, timeoutS: 1 });
      expect(r.failed).toBe(2);
      expect(r.attempts.every((a) => !/refused/i.test(a.error ?? ''))).toBe(true);
    });

    test('externalTrafficPolicy Cluster, same endpoint: node2 forwards it, masqueraded (the endpoint sees node2)', async () => {
      const r = await connect(rt, labNamespace(lab), NODE2, 30025, { count: 6 });
      expect(r.failed).toBe(0);
      expect(r.byPod).toEqual({ 'loc-1': 6 });
      // masqueraded to node2's address towards node1's pod network (flannel.1: 10.42.1.0)
      expect(new Set(r.attempts.map((a) => a.peer?.split(':')[0]))).toEqual(new Set(['10.42.1.0']));
    });

    test('internalTrafficPolicy Local: a pod on node1 reaches the endpoint there; a pod on node2 (none local) is dropped', async () => {
      const a = await connect(rt, ns('node1', 'client-a'), ITP, 80, { count: 6 });
      expect(a.failed).toBe(0);
      expect(a.byPod).toEqual({ 'loc-1': 6 });
      const b = await connect(rt, ns('node2', 'client-b'), ITP, 80, { count: 2, timeoutS: 1 });
      expect(b.failed).toBe(2);
    });

    test('ClientIP affinity: 50 connections from one pod reach one endpoint; after the timeout the choice can change', async () => {
      const a = await connect(rt, ns('node1', 'client-a'), STICKY, 80, { count: 50 });
      expect(a.failed).toBe(0);
      expect(Object.keys(a.byPod)).toHaveLength(1);
      const first = Object.keys(a.byPod)[0]!;
      // another client has its own entry: it sticks too, to whichever endpoint it drew
      const b = await connect(rt, ns('node2', 'client-b'), STICKY, 80, { count: 50 });
      expect(b.failed).toBe(0);
      expect(Object.keys(b.byPod)).toHaveLength(1);
      console.log(`${mode}: client-a stuck to ${first}, client-b to ${Object.keys(b.byPod)[0]}`);
      // the kernel remembers client-a: in the endpoint's recent list (iptables) or affinity set (nft)
      const remembered =
        mode === 'iptables'
          ? await nsRun(ns('node1'), ['sh', '-c', 'cat /proc/net/xt_recent/KUBE-SEP-*'])
          : await nsRun(ns('node1'), ['nft', 'list', 'table', 'ip', 'kube-proxy']);
      expect(remembered).toContain('10.42.0.65');
      // One connection every 3 s (longer than the 2 s timeout, so each is a fresh choice): one
      // lands elsewhere with p = 2/3 each time; none in 12 tries is (1/3)^12 = 2e-6.
      const moved = await waitFor(
        async () => {
          const r = await connect(rt, ns('node1', 'client-a'), STICKY, 80, { count: 1 });
          const pod = r.attempts[0]?.pod;
          return pod && pod !== first ? pod : undefined;
        },
        { timeoutMs: 40_000, intervalMs: 3_000, what: `client-a to leave ${first} once the affinity timed out` },
      );
      expect(moved).not.toBe(first);
    }, 60_000);
  });
});

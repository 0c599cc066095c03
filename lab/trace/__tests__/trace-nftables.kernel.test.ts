import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, describeKernel, withLab } from '../../testing/kernel';
import { uniqueLabName } from '../../testing/names';
import type { Walk } from '../types';

// `lab trace` in nftables mode: the chains `nft monitor trace` sees on the node that rewrites
// are kube-proxy's (the firewall check before DNAT, the nat chains, the filter checks at
// priority 0, masquerading), in the order the lab expects (lab/trace/chains.ts).

const LAB = uniqueLabName('trnft');
const walkOf = (stdout: string) => JSON.parse(stdout) as Walk;

describeKernel('lab trace, nftables mode', () => {
  withLab(LAB, ['--proxy', 'nftables']);
  let results: string;
  beforeAll(() => (results = mkdtempSync(join(tmpdir(), 'kdl-trace-nft-'))));
  afterAll(() => rmSync(results, { recursive: true, force: true }));
  const trace = (...args: string[]) => cli(['trace', '--name', LAB, '--results', results, ...args]);
  const node1Of = (w: Walk) => w.rules.find((n) => n.node === 'node1')!;
  /** the expected chains, in order, within what was seen (the kernel may add chains) */
  const inOrder = (seen: string[], want: string[]) => {
    let i = 0;
    for (const c of seen) if (c === want[i]) i++;
    return i === want.length;
  };

  it('pod to a cluster IP: pre-DNAT firewall check, nat, then the filter checks after the DNAT', async () => {
    const r = await trace('client', 'service:nginx-test', '--json');
    expect(r.code).toBe(0);
    const w = walkOf(r.stdout);
    expect(w.differences).toEqual([]);
    const node1 = node1Of(w);
    expect(node1.hooks).toEqual(['prerouting', 'forward', 'postrouting']);
    expect(node1.chains.filter((c) => c.startsWith('kube-proxy '))).toEqual([
      'kube-proxy filter-prerouting-pre-dnat',
      'kube-proxy nat-prerouting',
      'kube-proxy filter-forward',
      'kube-proxy nat-postrouting',
    ]);
    expect(node1.expectedChains?.slice(0, 2)).toEqual(['kube-proxy filter-prerouting-pre-dnat', 'firewall-check']);
    expect(inOrder(node1.chains, node1.expectedChains ?? ['(none)'])).toBe(true);
  }, 30000);

  it('node to a cluster IP: the output hook, filter-output-pre-dnat before nat-output, then filter-output', async () => {
    const r = await trace('node1', 'service:nginx-test', '--json');
    expect(r.code).toBe(0);
    const w = walkOf(r.stdout);
    expect(w.differences).toEqual([]);
    const node1 = node1Of(w);
    expect(node1.chains.filter((c) => c.startsWith('kube-proxy '))).toEqual([
      'kube-proxy filter-output-pre-dnat',
      'kube-proxy nat-output',
      'kube-proxy filter-output',
      'kube-proxy nat-postrouting',
    ]);
    expect(inOrder(node1.chains, node1.expectedChains ?? ['(none)'])).toBe(true);
    expect(node1.expectedChains).toContain('mark-for-masquerade');
  }, 30000);

  it('pod to a node port on its own node: services → external- → mark → service- → endpoint-, through @nodeport-ips', async () => {
    const r = await trace('client', 'nodeport:nginx-test@node1', '--json');
    const w = walkOf(r.stdout);
    const node1 = node1Of(w);
    const ext = node1.chains.findIndex((c) => c.startsWith('external-'));
    expect(ext).toBeGreaterThan(node1.chains.indexOf('services'));
    expect(node1.chains[ext + 1]).toBe('mark-for-masquerade');
    expect(inOrder(node1.chains, node1.expectedChains ?? ['(none)'])).toBe(true);
    // the walk's chains agree; (its packet expectations for this path are the same in every mode)
    expect(w.differences.filter((d) => /chain/.test(d))).toEqual([]);
  }, 30000);
});

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { topologySchema } from '../../topology/schema';
import { itIf } from '../../testing/skip';
import { reachabilityExpectation } from '../kinds/expectations/reachability';
import { reachabilityProbe } from '../kinds/probes/reachability';
import { loadScenario } from '../load';

// scenarios/netpol-e2e.yaml, the network-policy e2e suite's cases as data: its topology is the
// model's file, every case names its upstream test, every probe and table parses, and the suite
// covers what the upstream suite exercises. It loads in full once the topology has
// networkPolicies (the policy work); until then that check is skipped, saying so.

const REPO = join(__dirname, '..', '..', '..');
const SUITE = join(REPO, 'scenarios', 'netpol-e2e.yaml');
const MODEL = join(REPO, 'scenarios', 'topologies', 'netpol-e2e.yaml');

interface Step {
  name: string;
  topology?: { networkPolicies?: unknown[] };
  probes: { reachability?: unknown }[];
  expect: { name?: string; reachability?: unknown }[];
}
const text = readFileSync(SUITE, 'utf8');
const suite = parse(text) as { topology: unknown; steps: Step[] };
const upstreamNames = [...text.matchAll(/^ {2}# upstream: (.+)$/gm)].map((m) => m[1]!);

describe('scenarios/netpol-e2e.yaml', () => {
  it('runs on the e2e model: its topology is scenarios/topologies/netpol-e2e.yaml', () => {
    expect(suite.topology).toEqual(parse(readFileSync(MODEL, 'utf8')));
  });

  it('has at least 25 upstream cases, each naming its test, and pins the commit it was read at', () => {
    expect(text).toMatch(/network_policy\.go, read at commit\n# [0-9a-f]{40}/);
    expect(new Set(upstreamNames).size).toBeGreaterThanOrEqual(25);
    for (const n of upstreamNames) expect(n).toMatch(/^Netpol .*NetworkPolicy between server and client.* should /);
  });

  it('every step probes the 9 pods and checks a table: each probe and expectation parses', () => {
    for (const s of suite.steps) {
      expect(s.probes.length).toBe(1);
      const p = reachabilityProbe.schema.safeParse(s.probes[0]!.reachability);
      expect(p.success).toBe(true);
      expect(s.expect.length).toBeGreaterThanOrEqual(1);
      for (const e of s.expect) expect(reachabilityExpectation.schema.safeParse(e.reachability).success).toBe(true);
    }
  });

  it('covers what the upstream suite exercises', () => {
    const policies = JSON.stringify(suite.steps.map((s) => s.topology?.networkPolicies ?? []));
    for (const what of [
      '"policyTypes":["Ingress","Egress"]', // deny all
      '"policyTypes":["Egress"]',
      '"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"y"}}',
      '"operator":"NotIn"',
      '"operator":"In"',
      '"port":"serve-80-tcp"', // named
      '"port":81', // numeric
      '"endPort":81',
      '"except":["10.42.1.2/32"]',
      '"protocol":"UDP"',
      '"ingress":[{}]', // allow all
      '"namespace":"y"', // policies in two namespaces at once
    ])
      expect(policies).toContain(what);
    const udp = suite.steps.filter((s) => JSON.stringify(s.expect).includes('"protocol":"UDP"'));
    expect(udp.length).toBeGreaterThanOrEqual(4);
  });

  const hasPolicies = 'networkPolicies' in topologySchema.shape;
  itIf(hasPolicies, 'the topology has no networkPolicies field yet (the NetworkPolicy work brings it)')(
    'loads: every name, selector and table checked',
    () => {
      const s = loadScenario(SUITE);
      expect(s.steps.length).toBe(suite.steps.length);
    },
  );
});

import { junitXml } from '../junit';
import { summarize, type RunReport, type ScenarioReport } from '../types';

const scenario: ScenarioReport = {
  name: 'demo',
  file: 'scenarios/demo.yaml',
  lab: 'default',
  proxy: 'iptables',
  status: 'failed',
  durationS: 1.5,
  steps: [
    {
      index: 0,
      name: 'ttl <check> & "quotes"',
      status: 'failed',
      durationS: 0.5,
      captures: [{ name: 'u', at: 'node1:eth0', namespace: 'kdl.default.node1', interface: 'eth0', pcap: 'demo/01/u.pcap', packets: 4, empty: false, warnings: [] }],
      probes: [{ name: 'ping', kind: 'ping', from: 'client', to: '10.42.1.9', argv: ['ping', '-c', '2', '10.42.1.9'], output: 'demo/01/ping.txt', durationS: 0.2 }],
      expectations: [
        { kind: 'ping', line: 12, status: 'failed', expected: 'reply ttl 63', observed: 'reply ttl 62, 62' },
        { kind: 'packets', status: 'passed', expected: 'x', observed: '2 of 4 matched\u0001' },
      ],
    },
    { index: 1, name: 'ipvs', status: 'skipped', reason: 'no CONFIG_IP_VS', durationS: 0, captures: [], probes: [], expectations: [] },
    { index: 2, name: 'fine', status: 'passed', durationS: 0.1, captures: [], probes: [], expectations: [] },
  ],
};

describe('junit.xml', () => {
  const report: RunReport = {
    runId: 'r1',
    dir: '/tmp/r1',
    startedAt: '',
    finishedAt: '',
    durationS: 2,
    status: 'failed',
    summary: summarize([scenario]),
    scenarios: [scenario],
  };
  const xml = junitXml(report);

  it('has a testsuite per scenario and a testcase per step, with counts', () => {
    expect(report.summary).toEqual({ scenarios: 1, steps: 3, passed: 1, failed: 1, skipped: 1, expectations: { passed: 1, failed: 1 } });
    expect(xml).toMatch(/<testsuites name="k8s-dataplane-lab r1" tests="3" failures="1" skipped="1" time="2.000">/);
    expect(xml).toMatch(/<testsuite name="demo" file="scenarios\/demo.yaml" tests="3" failures="1" skipped="1" time="1.500">/);
    expect(xml.match(/<testcase /g)).toHaveLength(3);
  });

  it('carries failures with expected and observed, skips with their reason, all escaped', () => {
    expect(xml).toContain('name="1 ttl &lt;check&gt; &amp; &quot;quotes&quot;"');
    expect(xml).toContain('<failure message="ping (line 12): expected reply ttl 63; observed reply ttl 62, 62" type="expectation">');
    expect(xml).toContain('<skipped message="no CONFIG_IP_VS"/>');
    expect(xml).toContain('capture u at node1:eth0: 4 packets -&gt; demo/01/u.pcap');
    expect(xml).not.toMatch(/\u0001/);
  });
});

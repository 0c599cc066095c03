import { junitXml } from '../junit';
import type { RunReport, ScenarioReport } from '../types';
import { captureOf, failedTtlStep, runReportOf, scenarioOf, skippedStep } from './fixtures/report';

const scenario: ScenarioReport = scenarioOf('demo', [
  failedTtlStep(
    [captureOf('u', 'node1:eth0', 'demo/01/u.pcap')],
    [{ kind: 'packets', status: 'passed', expected: 'x', observed: '2 of 4 matched\u0001' }],
    'demo/01',
  ),
  skippedStep(1),
  { index: 2, name: 'fine', status: 'passed', durationS: 0.1, captures: [], probes: [], expectations: [] },
]);

describe('junit.xml', () => {
  const report: RunReport = runReportOf([scenario]);
  const xml = junitXml(report);

  it('has a testsuite per scenario and a testcase per step, with counts', () => {
    expect(report.summary).toEqual({
      scenarios: 1,
      steps: 3,
      passed: 1,
      failed: 1,
      skipped: 1,
      interrupted: 0,
      expectations: { passed: 1, failed: 1 },
    });
    expect(xml).toMatch(/<testsuites name="k8s-dataplane-lab r1" tests="3" failures="1" errors="0" skipped="1" time="2.000">/);
    expect(xml).toMatch(/<testsuite name="demo" file="scenarios\/demo.yaml" tests="3" failures="1" errors="0" skipped="1" time="1.500">/);
    expect(xml.match(/<testcase /g)).toHaveLength(3);
  });

  it('carries failures with expected and observed, skips with their reason, all escaped', () => {
    expect(xml).toContain('name="1 ttl &lt;check&gt; &amp; &quot;quotes&quot;"');
    expect(xml).toContain('<failure message="ping (line 12): expected reply ttl 63; observed reply ttl 62, 62" type="expectation">');
    expect(xml).toContain('<skipped message="no CONFIG_IP_VS"/>');
    expect(xml).toContain('capture u at node1:eth0: 4 packets -&gt; demo/01/u.pcap');
    expect(xml).not.toContain('\u0001');
  });
});

import { stripVTControlCharacters } from 'node:util';
import { eventLines, summaryLine } from '../console';
import { reportHtml } from '../html';
import { junitXml } from '../junit';
import { overall, type RunReport, type StepReport, summarize } from '../types';
import { captureOf, pingProbe, runReportOf, scenarioOf } from './fixtures/report';

// A run stopped by Ctrl-C during its second step: how report.json's summary, the console,
// junit.xml and index.html show the step that was interrupted and the one that was not run.

const passed: StepReport = { index: 0, name: 'first', status: 'passed', durationS: 0.1, captures: [], probes: [], expectations: [] };
const interrupted: StepReport = {
  index: 1,
  name: 'long <ping>',
  status: 'interrupted',
  reason: 'interrupted (SIGINT) while this step ran: its probes and captures were stopped, nothing was checked',
  durationS: 1.25,
  captures: [captureOf('eth', 'node1:eth0', 'demo/02/eth.pcap')],
  probes: [{ ...pingProbe('demo/02'), argv: [], error: 'interrupted (SIGINT): the run was stopped' }],
  expectations: [],
};
const notRun: StepReport = {
  index: 2,
  name: 'trace',
  status: 'skipped',
  reason: 'not run: the run was interrupted (SIGINT)',
  durationS: 0,
  captures: [],
  probes: [],
  expectations: [],
};
const scenario = scenarioOf('demo', [passed, interrupted, notRun], { status: 'interrupted' });
const report: RunReport = runReportOf([scenario], { status: 'interrupted', interrupted: 'SIGINT' });
const plain = (lines: string[]) => lines.map(stripVTControlCharacters);

describe('an interrupted run', () => {
  it('counts the interrupted step apart from the skipped ones; interrupted outranks failed', () => {
    expect(summarize([scenario])).toMatchObject({ steps: 3, passed: 1, failed: 0, skipped: 1, interrupted: 1 });
    expect(overall(['passed', 'failed', 'interrupted', 'skipped'])).toBe('interrupted');
    expect(overall(['passed', 'failed', 'skipped'])).toBe('failed');
  });

  it('prints the step as interrupted with its reason, and a summary that says the run was interrupted', () => {
    const step = (st: StepReport) =>
      plain(eventLines({ type: 'step', scenario: { file: 'f', name: 'demo', topology: {} as never }, step: st, total: 3 }, 'r'));
    expect(step(interrupted)).toEqual([
      '  ■ 2/3 long <ping>: interrupted (SIGINT) while this step ran: its probes and captures were stopped, nothing was checked (1.25 s)',
    ]);
    expect(step(notRun)).toEqual(['  - 3/3 trace: skipped: not run: the run was interrupted (SIGINT)']);
    const start = plain(
      eventLines(
        { type: 'step-start', scenario: { file: 'f', name: 'demo', topology: {} as never }, index: 1, name: 'long <ping>', total: 3 },
        'r',
      ),
    );
    expect(start).toEqual(['  ❯ 2/3 long <ping>']);
    expect(stripVTControlCharacters(summaryLine(report, 'results/r1'))).toMatch(
      /^interrupted \(SIGINT\), not all steps ran: 1 scenario\(s\), 3 step\(s\): 1 passed, 0 failed, 1 interrupted, 1 skipped /,
    );
    // a run that was not interrupted says nothing of it
    expect(stripVTControlCharacters(summaryLine(runReportOf([scenarioOf('ok', [passed])]), 'r'))).toMatch(
      /^1 scenario\(s\), 1 step\(s\): 1 passed, 0 failed, 0 skipped /,
    );
  });

  it('junit.xml: the interrupted step is an error of type interrupted, the step not run is skipped with its reason', () => {
    const xml = junitXml(report);
    expect(xml).toMatch(/<testsuites name="k8s-dataplane-lab r1" tests="3" failures="0" errors="1" skipped="1" /);
    expect(xml).toMatch(/<testsuite name="demo" [^>]*tests="3" failures="0" errors="1" skipped="1" /);
    expect(xml).toContain(
      '<testcase classname="demo" name="2 long &lt;ping&gt;" time="1.250">\n      <error message="interrupted (SIGINT) while this step ran: its probes and captures were stopped, nothing was checked" type="interrupted"/>',
    );
    expect(xml).toContain('<skipped message="not run: the run was interrupted (SIGINT)"/>');
    expect(xml).toContain('probe ping:  (error: interrupted (SIGINT): the run was stopped)');
  });

  it('index.html: an interrupted badge and border for the step and the run, a card and a note', () => {
    const html = reportHtml(report, []);
    expect(html).toContain('<h1>Run r1 <span class="badge interrupted">interrupted</span></h1>');
    expect(html).toContain('<div class="card interrupted"><b>1</b>steps interrupted</div>');
    expect(html).toContain('Interrupted by SIGINT: the step that was running is marked <b>interrupted</b>');
    const steps = [
      ...html.matchAll(/<details class="step" data-status="(\w+)"[^>]*>\n<summary><span class="badge (\w+)">(\w+)<\/span>/g),
    ].map((m) => `${m[1]} ${m[2]} ${m[3]}`);
    expect(steps).toEqual(['passed passed pass', 'interrupted interrupted interrupted', 'skipped skipped skipped']);
    expect(html).toContain('details.step[data-status=interrupted] { border-left-color: var(--stop); }');
    // a run that was not interrupted has no such card
    expect(reportHtml(runReportOf([scenarioOf('ok', [passed])]), [])).not.toContain('steps interrupted');
  });
});

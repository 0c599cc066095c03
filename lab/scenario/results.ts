import { lstatSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { comparisonMarkdown } from '../report/compare';
import { reportHtml } from '../report/html';
import { junitXml } from '../report/junit';
import type { RunReport, ScenarioTopology } from '../report/types';

// Writes a run's results into its folder with the report's renderers: report.json, junit.xml,
// comparison.md (when proxy modes traced the same packets) and index.html; and points
// results/latest at the run.

export function writeResults(report: RunReport, scenarios: ScenarioTopology[], resultsRoot: string): void {
  const dir = report.dir;
  writeFileSync(join(dir, 'report.json'), JSON.stringify(report, null, 2) + '\n');
  writeFileSync(join(dir, 'junit.xml'), junitXml(report));
  const comparison = comparisonMarkdown(report);
  if (comparison) writeFileSync(join(dir, 'comparison.md'), comparison);
  writeFileSync(join(dir, 'index.html'), reportHtml(report, scenarios));
  linkLatest(resultsRoot, report.runId);
}

/** results/latest → the newest run, for people opening pcaps by hand. */
export function linkLatest(root: string, runId: string): void {
  const link = join(root, 'latest');
  try {
    // only our own link is replaced: a file or folder the user named `latest` stays as it is
    if (lstatSync(link, { throwIfNoEntry: false })?.isSymbolicLink()) rmSync(link);
    symlinkSync(runId, link);
  } catch {
    /* a convenience only */
  }
}

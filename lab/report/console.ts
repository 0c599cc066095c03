import pc from 'picocolors';
import type { RunEvent, RunReport, StepReport } from './types';

// What a run prints while it goes: one line per step, and under a failed step each failed
// expectation as expected against observed, the packets that were checked and the pcap to open.

const secs = (s: number) => pc.dim(`(${s.toFixed(2)} s)`);

export function stepLines(step: StepReport, total: number, resultsDir: string): string[] {
  const n = `${step.index + 1}/${total}`;
  const exps = step.expectations;
  const passed = exps.filter((e) => e.status === 'passed').length;
  const lines: string[] = [];
  if (step.status === 'skipped') return [`  ${pc.yellow('-')} ${n} ${step.name}: ${pc.yellow('skipped')}: ${step.reason ?? ''}`];
  if (step.status === 'interrupted')
    return [`  ${pc.magenta('■')} ${n} ${step.name}: ${pc.magenta(step.reason ?? 'interrupted')} ${secs(step.durationS)}`];
  const mark = step.status === 'passed' ? pc.green('✔') : pc.red('✘');
  const what = exps.length ? `${passed}/${exps.length} expectations passed` : pc.yellow('nothing checked');
  lines.push(`  ${mark} ${n} ${step.name}: ${what} ${secs(step.durationS)}`);
  for (const c of step.captures)
    if (c.empty || c.error) lines.push(`      ${pc.yellow('!')} capture ${c.name}: ${c.error ?? 'saw no packets'} (${c.pcap})`);
  if (step.reason) lines.push(`      ${pc.red(step.reason)}`);
  for (const e of exps) {
    if (e.status === 'passed') continue;
    lines.push(`      ${pc.red('✘')} ${e.name ?? e.kind}${e.line ? pc.dim(` (line ${e.line})`) : ''}`);
    // a multi-line value (a truth table, a walk's differences) stays under its label
    const more = (t: string) => t.replace(/\n(?!$)/g, '\n            ');
    lines.push(`          expected: ${more(e.expected)}`);
    lines.push(`          observed: ${more(e.observed)}`);
    for (const c of e.checked ?? []) lines.push(pc.dim(`            ${c}`));
    if (e.pcap) lines.push(`          pcap: ${resultsDir}/${e.pcap}`);
  }
  return lines;
}

export function eventLines(e: RunEvent, resultsDir: string): string[] {
  switch (e.type) {
    case 'lab-up':
      return [pc.dim(e.reused ? `lab ${e.lab}: reusing the lab that is up` : `lab ${e.lab}: up in ${e.seconds.toFixed(2)} s`)];
    case 'lab-down':
      return [pc.dim(`lab ${e.lab}: down`)];
    case 'lab-applied':
      return [pc.dim(`lab ${e.lab}: ${e.source} applied in ${e.seconds.toFixed(2)} s`)];
    case 'scenario':
      return [
        `scenario ${pc.bold(e.scenario.name)} ${pc.dim(`(${e.scenario.file}, lab ${e.scenario.topology.name}, proxy ${e.scenario.topology.proxy.mode})`)}`,
      ];
    case 'step-start':
      return [pc.dim(`  ❯ ${e.index + 1}/${e.total} ${e.name}`)];
    case 'step':
      return stepLines(e.step, e.total, resultsDir);
    case 'interrupted':
      return [pc.magenta(`${e.signal}: stopping the step that runs, skipping the rest, taking the labs down (results are still written)`)];
  }
}

export function summaryLine(r: RunReport, resultsDir: string): string {
  const s = r.summary;
  const parts = [
    `${s.passed} passed`,
    `${s.failed} failed`,
    ...(r.interrupted ? [`${s.interrupted} interrupted`] : []),
    `${s.skipped} skipped`,
  ];
  const colour = r.interrupted ? pc.magenta : s.failed ? pc.red : s.skipped ? pc.yellow : pc.green;
  const stopped = r.interrupted ? `interrupted (${r.interrupted}), not all steps ran: ` : '';
  return `${colour(`${stopped}${s.scenarios} scenario(s), ${s.steps} step(s): ${parts.join(', ')}`)} (${s.expectations.passed}/${s.expectations.passed + s.expectations.failed} expectations) in ${r.durationS.toFixed(1)} s; results in ${resultsDir}/ (report.json, junit.xml, pcaps)`;
}

import type { RunReport } from './types';

// junit.xml as CI tools read it (Jenkins, GitLab, GitHub test reporters): one <testsuite> per
// scenario, one <testcase> per step; a failed step carries each failed expectation, a skipped
// one its reason, the step a signal interrupted an <error type="interrupted">; probe and
// capture facts go to <system-out>.

const esc = (s: string) =>
  s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    // characters XML 1.0 cannot hold at all
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '?');

export function junitXml(r: RunReport): string {
  const out: string[] = ['<?xml version="1.0" encoding="UTF-8"?>'];
  const s = r.summary;
  out.push(
    `<testsuites name="k8s-dataplane-lab ${esc(r.runId)}" tests="${s.steps}" failures="${s.failed}" errors="${s.interrupted}" skipped="${s.skipped}" time="${r.durationS.toFixed(3)}">`,
  );
  for (const sc of r.scenarios) {
    const failures = sc.steps.filter((t) => t.status === 'failed').length;
    const skipped = sc.steps.filter((t) => t.status === 'skipped').length;
    const errors = sc.steps.filter((t) => t.status === 'interrupted').length;
    out.push(
      `  <testsuite name="${esc(sc.name)}" file="${esc(sc.file)}" tests="${sc.steps.length}" failures="${failures}" errors="${errors}" skipped="${skipped}" time="${sc.durationS.toFixed(3)}">`,
    );
    for (const st of sc.steps) {
      out.push(`    <testcase classname="${esc(sc.name)}" name="${esc(`${st.index + 1} ${st.name}`)}" time="${st.durationS.toFixed(3)}">`);
      if (st.status === 'skipped') out.push(`      <skipped message="${esc(st.reason ?? 'skipped')}"/>`);
      if (st.status === 'interrupted') out.push(`      <error message="${esc(st.reason ?? 'interrupted')}" type="interrupted"/>`);
      if (st.status === 'failed') {
        const failed = st.expectations.filter((e) => e.status === 'failed');
        const lines = failed.map(
          (e) =>
            `${e.kind}${e.line ? ` (line ${e.line})` : ''}: expected ${e.expected}; observed ${e.observed}${e.pcap ? `; pcap ${e.pcap}` : ''}`,
        );
        if (st.reason) lines.unshift(st.reason);
        out.push(`      <failure message="${esc(lines[0] ?? 'failed')}" type="expectation">${esc(lines.join('\n'))}</failure>`);
      }
      const facts = [
        ...st.probes.map((p) => `probe ${p.name}: ${p.argv.join(' ')}${p.error ? ` (error: ${p.error})` : ''} -> ${p.output}`),
        ...st.captures.map((c) => `capture ${c.name} at ${c.at}${c.filter ? ` '${c.filter}'` : ''}: ${c.packets} packets -> ${c.pcap}`),
        ...st.expectations.map((e) => `${e.status === 'passed' ? 'PASS' : 'FAIL'} ${e.kind}: ${e.observed}`),
      ];
      if (facts.length) out.push(`      <system-out>${esc(facts.join('\n'))}</system-out>`);
      out.push('    </testcase>');
    }
    out.push('  </testsuite>');
  }
  out.push('</testsuites>');
  return out.join('\n') + '\n';
}

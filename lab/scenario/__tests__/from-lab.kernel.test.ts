import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunReport } from '../../report/types';
import { cli, describeKernel, labNamespaces } from '../../testing/kernel';
import { uniqueLabName } from '../../testing/names';

// A scenario whose probes start in @lab (a client outside the cluster): connect to a node port,
// ping a node, trace one SYN — run for real, each expectation met, the lab down afterwards.

const LAB = uniqueLabName('t-fromlab');

describeKernel('scenario probes from @lab', () => {
  const results = mkdtempSync(join(tmpdir(), 'kdl-fromlab-'));
  afterAll(async () => {
    await cli(['down', '--name', LAB]);
    rmSync(results, { recursive: true, force: true });
  });

  it('connect, ping and trace from @lab pass, as lab connect @lab does', async () => {
    const r = await cli(['run', join(__dirname, 'fixtures', 'from-lab.yaml'), '--name', LAB, '--json', '--results', results]);
    const report = JSON.parse(r.stdout) as RunReport;
    const steps = report.scenarios[0]!.steps;
    const failed = steps.flatMap((s) =>
      s.expectations.filter((e) => e.status !== 'passed').map((e) => `${s.name}: ${e.kind}: ${e.observed}`),
    );
    expect(failed).toEqual([]);
    expect(steps.map((s) => s.expectations.map((e) => e.kind))).toEqual([['connect', 'nat', 'ping'], ['walk']]);
    expect(r.code).toBe(0);
    expect(labNamespaces(LAB)).toEqual([]);
  }, 180000);
});

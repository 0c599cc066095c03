import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunReport } from '../../report/types';
import { cli, cliStarted, describeKernel, REPO } from '../../testing/kernel';
import { uniqueLabName } from '../../testing/names';
import { waitFor } from '../../testing/wait';
import { runningVms } from '../machine';

// `--kernel vm` as a user types it: the lab comes up inside its own VM, the other commands find
// it there, `run` takes a whole suite into a VM and its results come back to results/ here.

// the lab's (and its VM's) name, of this run's own
const KVM_LAB = uniqueLabName('kvm');

describeKernel('--kernel vm through the CLI', () => {
  afterAll(async () => {
    await cli(['down', '--name', KVM_LAB]);
  }, 60_000);

  it('refuses bad input before booting anything', async () => {
    const r = await cli(['up', '--kernel', 'vm', '-f', join(__dirname, '..', '..', 'scenario', '__tests__', 'fixtures', 'bad.yaml')]);
    expect(r.code).toBe(2);
    expect(runningVms()).toEqual([]);
  });

  it('up --kernel vm --proxy ipvs; status, exec and down find the lab in its VM', async () => {
    const up = await cli(['up', '--kernel', 'vm', '--proxy', 'ipvs', '--name', KVM_LAB]);
    if (up.code !== 0) throw new Error(`up exited ${up.code}:\n${up.stdout}\n${up.stderr}`);
    expect(up.stderr).toMatch(/vm: 6\.\d+\.\d+-\d+-amd64 booted in [\d.]+ s/);
    expect(up.stdout).toMatch(/kube-proxy ipvs mode/);
    expect(runningVms()).toEqual([KVM_LAB]);
    const st = JSON.parse((await cli(['status', '--name', KVM_LAB, '--json'])).stdout).labs[0];
    expect(st).toMatchObject({ name: KVM_LAB, state: 'up' });
    const ipvs = await cli(['exec', '--name', KVM_LAB, 'node1', '--', 'ipvsadm', '-Ln']);
    expect(ipvs.stdout).toMatch(/^TCP {2}10\.43\.0\.20:80 rr$/m);
    const d = await cli(['down', '--name', KVM_LAB]);
    expect(d.code).toBe(0);
    expect(d.stdout).toContain(`lab ${KVM_LAB}: VM powered off`);
    expect(runningVms()).toEqual([]);
  }, 300_000);

  it('run --kernel vm: an IPVS suite that is skipped on this kernel passes in the VM, results here', async () => {
    const r = await cli(['run', '--kernel', 'vm', join(REPO, 'lab', 'scenario', '__tests__', 'fixtures', 'ipvs.yaml'), '--json']);
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.stdout) as RunReport;
    expect(rep.summary).toMatchObject({ passed: 1, failed: 0, skipped: 0 });
    expect(rep.dir.startsWith(join(REPO, 'results'))).toBe(true);
    expect(JSON.parse(readFileSync(join(rep.dir, 'report.json'), 'utf8')).runId).toBe(rep.runId);
    expect(runningVms()).toEqual([]);
  }, 300_000);

  it('run --kernel vm stopped by SIGTERM while its VM runs: QEMU is powered off, exit 143', async () => {
    let pid = 0;
    const run = cliStarted(['run', '--kernel', 'vm', join(REPO, 'lab', 'scenario', '__tests__', 'fixtures', 'ipvs.yaml')], {
      onSpawn: (p) => (pid = p),
    });
    await waitFor(() => runningVms().length === 1, { timeoutMs: 120_000, what: 'the run to boot its VM' });
    process.kill(pid, 'SIGTERM');
    const r = await run.done;
    expect(r.code).toBe(143);
    expect(r.stderr).toMatch(/interrupted \(SIGTERM\): the VM of 'run-\w+' was powered off/);
    expect(runningVms()).toEqual([]);
  }, 300_000);
});

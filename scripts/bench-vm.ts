// npm run bench -- vm [--runs 3] [--json]
//
// An IPVS-mode 3-node lab inside the VM kernel (lab/vm): boot (QEMU start to the agent's
// "ready"), then the lab's CLI inside the guest for up, the services-ipvs suite on that lab
// (--reuse), down, and the power-off — each timed apart, median of the runs.
import { join } from 'node:path';
import { ensureVmAssets } from '../lab/vm/assets';
import { guestCli } from '../lab/vm/guest-cli';
import { Vm } from '../lab/vm/machine';
import { median, round, time } from './measure';

const REPO = join(__dirname, '..');

export interface VmRow {
  bootSeconds: number;
  upSeconds: number;
  runSeconds: number;
  downSeconds: number;
  poweroffSeconds: number;
  runs: number;
}

export async function benchVm(runs: number, log: (s: string) => void): Promise<VmRow> {
  const assets = await ensureVmAssets(log);
  const cols: Record<Exclude<keyof VmRow, 'runs'>, number[]> = {
    bootSeconds: [],
    upSeconds: [],
    runSeconds: [],
    downSeconds: [],
    poweroffSeconds: [],
  };
  // the same command line `--kernel vm` forwards: the CLI bundle (lab/vm/guest-cli.ts)
  const bundle = await guestCli();
  const cli = (args: string) => `cd ${REPO} && node ${bundle} ${args} >/dev/null`;
  for (let r = 0; r < runs; r++) {
    let vm: Vm | undefined;
    cols.bootSeconds.push(
      await time(async () => (vm = await Vm.boot(assets, { name: 'bench', results: join(REPO, 'results', 'bench-vm') }))),
    );
    const step = async (args: string) => {
      const res = await vm!.script(cli(args), 600_000);
      if (res.code !== 0) throw new Error(`${args} in the VM exited ${res.code}: ${res.stderr}`);
    };
    cols.upSeconds.push(await time(() => step('up --proxy ipvs --name bench')));
    cols.runSeconds.push(
      await time(() => step(`run scenarios/services-ipvs.yaml --reuse --name bench --results ${join(REPO, 'results', 'bench-vm')}`)),
    );
    cols.downSeconds.push(await time(() => step('down --name bench')));
    cols.poweroffSeconds.push(await time(() => vm!.poweroff()));
    log(
      `  run ${r + 1}/${runs}: boot ${cols.bootSeconds.at(-1)!.toFixed(1)} s, up ${cols.upSeconds.at(-1)!.toFixed(1)} s, run ${cols.runSeconds.at(-1)!.toFixed(1)} s, down ${cols.downSeconds.at(-1)!.toFixed(1)} s, power-off ${cols.poweroffSeconds.at(-1)!.toFixed(1)} s`,
    );
  }
  return {
    bootSeconds: round(median(cols.bootSeconds)),
    upSeconds: round(median(cols.upSeconds)),
    runSeconds: round(median(cols.runSeconds)),
    downSeconds: round(median(cols.downSeconds)),
    poweroffSeconds: round(median(cols.poweroffSeconds)),
    runs,
  };
}

import { main } from '../cli';
import { PAUSE_AFTER_ENV, PAUSE_AFTER_STEP_ENV } from './detached';

// The lab CLI for tests that stop a command half-way. With KDL_TEST_PAUSE_AFTER=<stage> it holds
// a minute after that stage of `up` (injected as `up`'s afterStage), so that a kill lands
// between two stages. With KDL_TEST_PAUSE_AFTER_STEP=<n> it holds `run` after its n-th step
// (1-based, any scenario) until a SIGINT or SIGTERM comes (or a minute passes), so that the
// signal lands between two steps. Production code reads no such variable.

const stage = process.env[PAUSE_AFTER_ENV];
const afterStage = async (s: string) => {
  if (s === stage) await new Promise((r) => setTimeout(r, 60_000));
};

const step = process.env[PAUSE_AFTER_STEP_ENV];
const afterStep = async (_scenario: string, index: number) => {
  if (String(index + 1) !== step) return;
  console.log(`(held after step ${step})`);
  await new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    const timer = setTimeout(done, 60_000);
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
};

void main(process.argv.slice(2), { afterStage, afterStep }).then((code) => process.exit(code));

import { main } from '../cli';
import { PAUSE_AFTER_ENV } from './detached';

// The lab CLI for tests that kill `up` half-way: with KDL_TEST_PAUSE_AFTER=<stage> it holds a
// minute after that stage (injected as `up`'s afterStage), so that the kill lands between two
// stages. Production code reads no such variable.

const stage = process.env[PAUSE_AFTER_ENV];
const afterStage = async (s: string) => {
  if (s === stage) await new Promise((r) => setTimeout(r, 60_000));
};

void main(process.argv.slice(2), { afterStage }).then((code) => process.exit(code));

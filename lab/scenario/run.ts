// Transition only: the runner moved. runScenarios is in lab/ops/run.ts (labs lifecycle), step
// execution in ./steps.ts, writing results in ./results.ts, newRunId in lab/report/run-id.ts.
// Remove this file once lab/ops/vm-forward.ts imports newRunId from lab/report/run-id.
export { newRunId } from '../report/run-id';

import { join } from 'node:path';
import { STATE_DIR } from './store';

// Where a lab's health check servers (lab/pods/healthcheck.ts) keep their state: one file per
// node and port under <state>/healthcheck/<lab>/. `down` removes them.

export const healthCheckDir = (lab: string) => join(STATE_DIR, 'healthcheck', lab);
export const healthCheckFile = (lab: string, node: string, port: number) => join(healthCheckDir(lab), `${node}.${port}`);

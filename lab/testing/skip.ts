import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

// Tests that cannot run here are reported as skipped, with the reason in their title, so that
// Jest's counts (and .ci/run's, from numPendingTests) tell the truth; a test that returned
// early would count as passed. In CI (CI=true) a prerequisite that CI installs must be there:
// `requireInCi` fails instead of skipping.

type TestFn = (name: string, fn: jest.ProvidesCallback, timeout?: number) => void;

/** `it` when `cond`, else `it.skip` with ` — skipped: <reason>` appended to the test's name. */
export function itIf(cond: boolean, reason: string): TestFn {
  if (cond) return it;
  return (name, fn, timeout) => it.skip(`${name} — skipped: ${reason}`, fn, timeout);
}

/** `describe` when `cond`, else `describe.skip` with the reason in its title (and printed once). */
export function describeIf(
  cond: boolean,
  reason: string,
  base: (name: string, fn: () => void) => void = describe,
): (name: string, fn: () => void) => void {
  if (cond) return base;
  return (name, fn) => {
    console.warn(`skipping '${name}': ${reason}`);
    describe.skip(`${name} — skipped: ${reason}`, fn);
  };
}

/** Throws when CI=true and `ok` is false: CI installs the prerequisite, so missing it is a failure there. */
export function requireInCi(ok: boolean, what: string): void {
  if (!ok && process.env.CI) throw new Error(`CI=true and ${what}`);
}

export interface Prerequisite {
  ok: boolean;
  /** why not, when !ok */
  reason: string;
}

const LOCAL_SOCKET = '/var/run/docker.sock';
let engine: Prerequisite | undefined;

/**
 * Whether the local Docker engine answers GET /_ping within 3 s (what engineAvailable() asks),
 * decided synchronously so that tests can be registered as skipped. Asked once per test file.
 */
export function dockerEngine(): Prerequisite {
  if (engine) return engine;
  const script = `require('http').get({ socketPath: ${JSON.stringify(LOCAL_SOCKET)}, path: '/_ping', timeout: 3000 }, (r) => process.exit(r.statusCode === 200 ? 0 : 3)).on('error', (e) => { console.error(e.message); process.exit(4); }).on('timeout', () => { console.error('no answer within 3 s'); process.exit(5); });`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10000 });
  engine =
    r.status === 0
      ? { ok: true, reason: '' }
      : { ok: false, reason: `no Docker engine answers on ${LOCAL_SOCKET} (${(r.stderr || `exit ${r.status}`).trim()})` };
  return engine;
}

let ipvs: Prerequisite | undefined;

/**
 * probeIpvs() (lab/runtime/kernel-features.ts) asked in a child process, so that its async
 * answer is there while the tests are registered: ok when this kernel has IPVS.
 */
export function ipvsProbe(): Prerequisite {
  if (ipvs) return ipvs;
  const repo = join(__dirname, '..', '..');
  const script = `import { probeIpvs } from ${JSON.stringify(join(repo, 'lab', 'runtime', 'kernel-features'))}; probeIpvs().then((r) => console.log(JSON.stringify(r)), (e) => { console.error(e.message); process.exit(3); });`;
  const r = spawnSync(join(repo, 'node_modules', '.bin', 'tsx'), ['-e', script], { encoding: 'utf8', timeout: 60000 });
  // not answered (no root, say): not ok, and the test that needs the answer fails visibly
  if (r.status !== 0) return (ipvs = { ok: false, reason: `probeIpvs exited ${r.status}: ${r.stderr.trim()}` });
  const p = JSON.parse(r.stdout.trim().split('\n').pop()!) as { ok: boolean; detail?: string };
  ipvs = { ok: p.ok, reason: p.ok ? '' : (p.detail ?? 'no IPVS') };
  return ipvs;
}

let nodeImage: Prerequisite | undefined;

/** Whether the local engine holds a node image (kdl-node:<hash>, made by `lab image`); asked synchronously like dockerEngine(). */
export function nodeImagePresent(): Prerequisite {
  if (nodeImage) return nodeImage;
  const e = dockerEngine();
  if (!e.ok) return (nodeImage = e);
  const script = `require('http').get({ socketPath: ${JSON.stringify(LOCAL_SOCKET)}, path: '/images/json', timeout: 5000 }, (r) => { let b = ''; r.on('data', (d) => (b += d)); r.on('end', () => process.exit(JSON.parse(b).some((i) => (i.RepoTags || []).some((t) => t.startsWith('kdl-node:'))) ? 0 : 1)); }).on('error', () => process.exit(4));`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10000 });
  nodeImage = r.status === 0 ? { ok: true, reason: '' } : { ok: false, reason: 'no node image yet (kdl-node:*; `lab image` builds it)' };
  return nodeImage;
}

import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { LabError } from '../errors';
import { inRepo, REPO } from '../paths';
import { LocalExecutor } from '../runtime/executor';

// The lab's CLI as one CommonJS file for the VM's guest. Under TCG, tsx spends ~4 s of a
// command's start transpiling the sources (and its wasm lexer is where node crashed now and
// then); the bundle is built once here by esbuild (tsx's own, in node_modules) and reused until
// a source changes. npm packages stay outside (require'd from the repo's node_modules), and
// files the lab runs by path are found from the repo root (lab/paths.ts).

const CACHE = inRepo('node_modules', '.cache', 'k8s-dataplane-lab');

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== '__tests__') out.push(...sources(p));
    } else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out.sort();
}

/** A hash of what the bundle is made of: every source of lab/ and the locked package versions. */
export function sourcesHash(): string {
  const h = createHash('sha256');
  for (const f of [...sources(inRepo('lab')), inRepo('package-lock.json')])
    h.update(relative(REPO, f)).update('\0').update(readFileSync(f)).update('\0');
  return h.digest('hex').slice(0, 16);
}

/** The bundle's path, built first when the sources changed since the last one. */
export async function guestCli(): Promise<string> {
  const out = join(CACHE, `cli-${sourcesHash()}.cjs`);
  if (existsSync(out)) return out;
  mkdirSync(CACHE, { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  const r = await new LocalExecutor().run(
    [
      inRepo('node_modules', '.bin', 'esbuild'),
      inRepo('lab', 'cli.ts'),
      '--bundle',
      '--platform=node',
      '--format=cjs',
      '--target=node20',
      '--packages=external',
      `--outfile=${tmp}`,
      '--log-level=error',
    ],
    { check: false },
  );
  if (r.code !== 0) throw new LabError(`bundling the CLI for the VM failed: ${r.stderr.trim()}`);
  renameSync(tmp, out); // whole or not at all: another command may be reading the cache
  return out;
}

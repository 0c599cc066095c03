import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { REPO } from '../../paths';
import { guestCli, sourcesHash } from '../guest-cli';

// The CLI bundle the VM's guest runs: built by esbuild, reused while the sources are the same,
// and a working CLI from where it lies (files it names by path found from the repo root).

describe('the guest CLI bundle', () => {
  let bundle: string;
  beforeAll(async () => {
    bundle = await guestCli();
  }, 60000);

  it('lies in the repo cache, named by the hash of the sources, and is reused', async () => {
    expect(bundle).toBe(`${REPO}/node_modules/.cache/k8s-dataplane-lab/cli-${sourcesHash()}.cjs`);
    const mtime = statSync(bundle).mtimeMs;
    expect(await guestCli()).toBe(bundle);
    expect(statSync(bundle).mtimeMs).toBe(mtime);
  });

  it('runs as the CLI: its verbs, and the default topology found from the repo root', () => {
    const help = execFileSync('node', [bundle, '--help'], { encoding: 'utf8' });
    for (const verb of ['up', 'down', 'run', 'trace', 'graph', 'capture']) expect(help).toMatch(new RegExp(`^  ${verb}\\b`, 'm'));
    const plan = execFileSync('node', [bundle, 'plan', '--name', 'bundled'], { encoding: 'utf8', cwd: '/' });
    expect(plan).toContain('netns add kdl.bundled.node1');
    expect(plan).toContain('-d 10.43.0.20 --dport 80 -j KUBE-SVC-');
  });
});

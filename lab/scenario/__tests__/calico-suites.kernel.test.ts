import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, describeKernel, REPO } from '../../testing/kernel';
import { uniqueLabName } from '../../testing/names';

// The services suites on Calico (bgp, then vxlan by a step's topology move) in iptables and
// nftables modes, and the cross-CNI walk (flannel vxlan, host-gw, Calico bgp, vxlan) whose
// comparison.md docs/calico.md shows. Each run brings its labs up and down itself.

describeKernel('scenario suites on Calico', () => {
  let results: string;
  beforeAll(() => (results = mkdtempSync(join(tmpdir(), 'kdl-calico-suites-'))));
  afterAll(() => rmSync(results, { recursive: true, force: true }));
  const run = async (file: string) => {
    const out = join(results, file.replace(/\.yaml$/, ''));
    const r = await cli(['run', join(REPO, 'scenarios', file), '--results', out, '--name', uniqueLabName('cs')]);
    expect({ file, code: r.code, out: r.stdout + r.stderr }).toEqual({ file, code: 0, out: expect.stringMatching(/ 0 failed, 0 skipped/) });
    return join(
      out,
      readdirSync(out).find((d) => d !== 'latest')!,
    );
  };

  it.each(['services-calico-iptables.yaml', 'services-calico-nftables.yaml'])(
    '%s passes on bgp and on vxlan',
    async (file) => {
      await run(file);
    },
    180_000,
  );

  it('cni-comparison.yaml: the same walks on four pod networks, each as expected, set side by side', async () => {
    const dir = await run('cni-comparison.yaml');
    const md = readFileSync(join(dir, 'comparison.md'), 'utf8');
    expect(md).toContain("# Where the CNIs' paths differ");
    expect(md).toContain('| | flannel vxlan | flannel host-gw | calico bgp | calico vxlan | differs |');
    expect(md).toContain(
      "| on the underlay | VXLAN udp/8472 vni 1 | the pod's own packet | the pod's own packet | VXLAN udp/4789 vni 4096 | **yes** |",
    );
    expect(md.match(/\| observed = expected \| yes \| yes \| yes \| yes \|/g)).toHaveLength(2);
  }, 180_000);
});

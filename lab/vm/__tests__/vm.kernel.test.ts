import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { proxyModel, proxyNodes } from '../../model/proxy';
import { ipvsadmRestore, parseIpvsadm } from '../../proxy/ipvs';
import { describeKernel, REPO, topologyFile } from '../../testing/kernel';
import { loadTopologyText } from '../../topology/resolve';
import { ensureVmAssets } from '../assets';
import { cliInVm } from '../forward';
import { Vm } from '../machine';

// IPVS for real on a kernel that has it: a QEMU guest with Debian's stock kernel over this
// machine's own files (lab/vm/), the lab's CLI run inside it. This machine's kernel has no
// IP_VS and no dummy; the guest's has both as modules.

const LAB = 'vmipvs';
/** The lab's CLI in the guest; its output, or the test fails with what it printed. */
async function lab(vm: Vm, args: string): Promise<string> {
  const r = await cliInVm(vm, args.split(' '), 300_000);
  if (r.code !== 0) throw new Error(`lab ${args} in the VM exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

describeKernel('IPVS mode inside the VM kernel', () => {
  let vm: Vm | undefined;
  beforeAll(async () => {
    const assets = await ensureVmAssets((l) => console.log(l));
    vm = await Vm.boot(assets, { name: 'test-ipvs', results: join(REPO, 'results', 'vm') });
    console.log(`VM ${vm.kernel} booted in ${vm.bootSeconds.toFixed(1)} s`);
  }, 180_000);
  afterAll(async () => {
    await vm?.poweroff();
  }, 30_000);

  it('boots the stock kernel with IPVS and dummy', async () => {
    const r = await vm!.script(
      'uname -r; cat /proc/net/ip_vs | head -1; ip link add t0 type dummy && ip -d -j link show t0 && ip link del t0',
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^6\.\d+\.\d+-\d+-amd64\nIP Virtual Server version/);
    expect(r.stdout).toMatch(/"info_kind":"dummy"/);
  }, 60_000);

  it('brings an IPVS-mode lab up: kube-ipvs0 a dummy holding the cluster IPs, ipsets, rr virtual services with Masq real servers of weight 1', async () => {
    await lab(vm!, `up --proxy ipvs --name ${LAB}`);
    const ns = `kdl.${LAB}.node1`;
    const dev = JSON.parse((await vm!.run(['ip', '-n', ns, '-d', '-j', 'addr', 'show', 'kube-ipvs0'])).stdout)[0];
    expect(dev.linkinfo.info_kind).toBe('dummy');
    expect(dev.addr_info.map((a: { local: string }) => a.local).sort()).toEqual(['10.43.0.10', '10.43.0.20', '10.43.6.58']); // kube-dns, web, nginx-test
    const set = (await vm!.run(['ip', 'netns', 'exec', ns, 'ipset', 'list', 'KUBE-CLUSTER-IP'])).stdout;
    expect(set).toMatch(/Type: hash:ip,port/);
    expect(set).toMatch(/^10\.43\.0\.20,tcp:80$/m);
    expect(set).toMatch(/^10\.43\.0\.10,udp:53$/m);
    const list = (await vm!.run(['ip', 'netns', 'exec', ns, 'ipvsadm', '-Ln'])).stdout;
    expect(list).toMatch(
      /^TCP {2}10\.43\.0\.20:80 rr\n {2}-> 10\.42\.0\.66:80 +Masq +1 .*\n {2}-> 10\.42\.1\.9:80 +Masq +1 .*\n {2}-> 10\.42\.2\.9:80 +Masq +1 /m,
    );
    const saved = parseIpvsadm((await vm!.run(['ip', 'netns', 'exec', ns, 'ipvsadm', '-Sn'])).stdout);
    const web = [...saved.services.values()].find((s) => s.address === '10.43.0.20:80');
    expect(web).toMatchObject({ protocol: 'TCP', scheduler: 'rr' });
    expect(web!.reals.map((r) => [r.address, r.forward, r.weight])).toEqual([
      ['10.42.0.66:80', 'masq', 1],
      ['10.42.1.9:80', 'masq', 1],
      ['10.42.2.9:80', 'masq', 1],
    ]);
  }, 360_000);

  it('pod → cluster IP reaches every endpoint in turn (rr) with the client kept; node → cluster IP is SNATed', async () => {
    const pod = JSON.parse(await lab(vm!, `connect --name ${LAB} client 10.43.0.20:80 -c 6 --json`)) as {
      attempts: { pod: string; peer: string }[];
      failed: number;
    };
    expect(pod.failed).toBe(0);
    const order = pod.attempts.map((a) => a.pod);
    // round robin: each endpoint once in every 3 consecutive connections
    expect(new Set(order.slice(0, 3)).size).toBe(3);
    expect(order.slice(3)).toEqual(order.slice(0, 3));
    expect(new Set(pod.attempts.map((a) => a.peer.split(':')[0]))).toEqual(new Set(['10.42.0.65']));
    const node = JSON.parse(await lab(vm!, `connect --name ${LAB} node1 10.43.0.20:80 -c 3 --json`)) as {
      attempts: { peer: string }[];
      failed: number;
    };
    expect(node.failed).toBe(0);
    for (const a of node.attempts) expect(a.peer.split(':')[0]).not.toBe('192.168.205.4'); // masqueraded
  }, 300_000);

  it('apply re-syncs only what changed: web-3 gone, a service added; the kernel holds what a full install of it writes', async () => {
    // the topology file is written here and read in the guest, which sees this machine's files
    const file = join(REPO, 'results', 'vm', `${LAB}-apply.yaml`);
    mkdirSync(dirname(file), { recursive: true });
    const yaml = readFileSync(topologyFile('default.yaml'), 'utf8')
      .replace(/^.*name: web-3.*\n/m, '')
      .concat('  - { name: more, clusterIP: 10.43.0.80, selector: { app: web }, ports: [{ port: 8080, targetPort: 80 }] }\n');
    writeFileSync(file, yaml);
    const out = await lab(vm!, `apply -f ${file} --proxy ipvs --name ${LAB}`);
    expect(out).toContain('1 removed');
    expect(out).not.toContain('(full)');
    const topo = loadTopologyText(yaml, file, { proxyMode: 'ipvs', name: LAB }, () => undefined);
    const model = proxyModel(topo);
    for (const [i, n] of topo.nodes.entries()) {
      const ns = `kdl.${LAB}.${n.name}`;
      const node = proxyNodes(topo)[i]!;
      const held = parseIpvsadm((await vm!.run(['ip', 'netns', 'exec', ns, 'ipvsadm', '-Sn'])).stdout).services;
      const want = parseIpvsadm(ipvsadmRestore(model, node)).services;
      const sorted = (m: typeof held) =>
        [...m.values()].map((v) => ({ ...v, reals: [...v.reals].sort((a, b) => a.address.localeCompare(b.address)) }));
      expect(sorted(held).sort((a, b) => a.address.localeCompare(b.address))).toEqual(
        sorted(want).sort((a, b) => a.address.localeCompare(b.address)),
      );
      const set = (await vm!.run(['ip', 'netns', 'exec', ns, 'ipset', 'list', 'KUBE-CLUSTER-IP'])).stdout;
      expect(set).toMatch(/^10\.43\.0\.80,tcp:8080$/m);
      const dev = JSON.parse((await vm!.run(['ip', '-n', ns, '-j', 'addr', 'show', 'kube-ipvs0'])).stdout)[0];
      expect(dev.addr_info.map((a: { local: string }) => a.local).sort()).toEqual(['10.43.0.10', '10.43.0.20', '10.43.0.80', '10.43.6.58']);
    }
    const pod = JSON.parse(await lab(vm!, `connect --name ${LAB} client 10.43.0.80:8080 -c 4 --json`)) as {
      failed: number;
      attempts: { pod: string }[];
    };
    expect(pod.failed).toBe(0);
    expect(new Set(pod.attempts.map((a) => a.pod))).toEqual(new Set(['web-1', 'web-2']));
  }, 300_000);

  it('down removes the lab inside the guest', async () => {
    await lab(vm!, `down --name ${LAB}`);
    expect((await vm!.run(['ip', 'netns', 'list'])).stdout.trim()).toBe('');
  }, 180_000);
});

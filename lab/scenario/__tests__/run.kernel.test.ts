import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readPcapFile } from '../../pcap';
import { startCapture } from '../../probe/capture';
import type { RunReport } from '../../report/types';
import { cli, cliStarted, describeKernel, labNamespaces, REPO, rt, withLab } from '../../testing/kernel';
import { uniqueLabName } from '../../testing/names';
import { ipvsProbe, itIf } from '../../testing/skip';
import { waitFor } from '../../testing/wait';

// `lab run` for real: labs built, tcpdump listening before traffic, pcaps decoded, expectations
// checked. Every kind of expectation has a case that passes and one that must fail, on the same
// captured traffic (fixtures/expectations.yaml).

const fixture = (f: string) => join(__dirname, 'fixtures', f);
const LAB = uniqueLabName('scn');
const IPVS_LAB = uniqueLabName('scnipvs');
const HOSTGW_LAB = uniqueLabName('hostgw');
const escaped = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const report = (stdout: string): RunReport => JSON.parse(stdout) as RunReport;

describeKernel('lab run', () => {
  withLab(LAB);

  let failing: RunReport;
  it('checks every kind of expectation: each -pass case passes and each -fail case fails', async () => {
    const r = await cli(['run', fixture('expectations.yaml'), '--reuse', '--name', LAB, '--json']);
    expect(r.code).toBe(1); // an expectation failed
    failing = report(r.stdout);
    const results = failing.scenarios[0]!.steps.flatMap((s) => s.expectations);
    const byName = Object.fromEntries(results.map((e) => [e.name!, e]));
    const names = Object.keys(byName);
    expect(names.filter((n) => n.endsWith('-pass')).length).toBeGreaterThanOrEqual(12);
    expect(names.filter((n) => n.endsWith('-fail')).length).toBeGreaterThanOrEqual(20);
    const wrong = results.filter((e) => (e.name!.endsWith('-pass') ? e.status !== 'passed' : e.status !== 'failed'));
    expect(wrong.map((e) => `${e.name}: expected ${e.expected}; observed ${e.observed}`)).toEqual([]);

    // what a failure says: expected against observed, the packets checked, the pcap to open
    expect(byName['ttl-fail']).toMatchObject({ expected: 'reply ttl 63', observed: expect.stringMatching(/^reply ttl 62, 62/) });
    const ttl = byName['ip-ttl-fail']!;
    expect(ttl.expected).toMatch(/ip\.ttl = 63/);
    expect(ttl.observed).toBe('2 of 4 captured packets matched; ip.ttl = 64 in 2 of 2'); // 2 requests, 2 replies
    expect(ttl.checked?.[0]).toMatch(/192\.168\.205\.4 → 192\.168\.205\.3 .*vni=1.*10\.42\.0\.65 → 10\.42\.1\.9/);
    expect(ttl.pcap).toMatch(/^expectations\/01-ping-and-vxlan-across-nodes\/underlay\.pcap$/);
    expect(existsSync(join(failing.dir, ttl.pcap!))).toBe(true);
    expect(byName['eth-src-fail']!.observed).toMatch(/eth\.src = [0-9a-f:]{17} \(node1\.eth0\) in 2 of 2/);
    expect(byName['hops-fail']).toMatchObject({
      expected: 'hops 10.42.0.1 (node1.cni0) → 192.168.205.3 (node2.eth0) → 10.42.1.9 (pod:web-2)',
      observed: 'hops 10.42.0.1 (node1.cni0) → 10.42.1.0 (node2.flannel.1) → 10.42.1.9 (pod:web-2)',
    });
    expect(byName['empty-capture-fail']!.observed).toBe('the capture saw no packets');
    expect(byName['dnat-fail']!.observed).toMatch(/^reached on .*\(pod:web-\d\)/);
    expect(byName['source-kept-fail']!.observed).toBe('source seen 10.42.0.65 (pod:client) ×30');
    expect(byName['snat-fail']!.observed).toBe('source seen 10.42.0.0 (node1.flannel.1) ×6');
    expect(byName['chi-square-fail']!.observed).toMatch(/^web-2 12/);
    expect(byName['output-fail']!.observed).toMatch(
      /^no '10\.42\.1\.0\/24 via 192\.168\.205\.3 dev eth0' in:\n {4}default via 192\.168\.205\.1 dev eth0/,
    );
    expect(byName['output-exit-fail']).toMatchObject({ expected: 'exit code 1', observed: 'exit code 0' });
    // the empty capture is reported as such
    const quiet = failing.scenarios[0]!.steps[0]!.captures.find((c) => c.name === 'quiet')!;
    expect(quiet).toMatchObject({ packets: 0, empty: true, tcpdump: { captured: 0 } });
  }, 120000);

  it('writes report.json, junit.xml, the pcaps and the probe outputs under results/<run-id>/', () => {
    const dir = failing.dir;
    expect(JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8'))).toMatchObject({ runId: failing.runId, status: 'failed' });
    const junit = readFileSync(join(dir, 'junit.xml'), 'utf8');
    expect(junit).toMatch(/<testsuite name="expectations" [^>]*tests="7" failures="7"/);
    expect(junit).toMatch(/<failure message="ping \(line \d+\): expected reply ttl 63; observed reply ttl 62, 62/);
    const step = failing.scenarios[0]!.steps[0]!;
    expect(readFileSync(join(dir, step.probes[0]!.output), 'utf8')).toMatch(/^\$ ping -n -c 2 .*10\.42\.1\.9\n[\s\S]*ttl=62/);
    const underlay = step.captures.find((c) => c.name === 'underlay')!;
    expect(underlay).toMatchObject({ namespace: `kdl.${LAB}.node1`, interface: 'eth0', filter: 'udp port 8472', empty: false });
    expect(underlay.tcpdump?.captured).toBe(underlay.packets);
  });

  it('passes the shipped suites on a lab that is up (--reuse leaves it up)', async () => {
    for (const f of ['pod-network.yaml', 'services-iptables.yaml']) {
      const r = await cli(['run', join(REPO, 'scenarios', f), '--reuse', '--name', LAB]);
      expect({ f, code: r.code, out: r.stdout + r.stderr }).toEqual({ f, code: 0, out: expect.stringMatching(/0 failed, 0 skipped/) });
    }
    expect(labNamespaces(LAB).length).toBeGreaterThan(0);
  }, 120000);

  it("a capture that cannot start says why, and one that did gets tcpdump's own counts", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kdl-cap-'));
    await expect(startCapture(rt, { ns: `kdl.${LAB}.node1`, iface: 'nope0', file: join(dir, 'x.pcap') })).rejects.toThrow(
      new RegExp(`tcpdump on kdl\\.${escaped(LAB)}\\.node1:nope0 exited before listening: .*nope0.*(No such device|doesn't exist)`),
    );
    const cap = await startCapture(rt, { ns: `kdl.${LAB}.node1`, iface: 'any', file: join(dir, 'any.pcap'), filter: 'icmp' });
    expect(cap.linkType).toBe('LINUX_SLL2');
    await rt.run(`kdl.${LAB}.node1.client`, ['ping', '-c', '2', '-i', '0.2', '10.42.1.9']);
    const stats = await cap.stop();
    const { packets } = readPcapFile(stats.file);
    // -i any in node1 sees each request and reply on the pod's veth, on cni0 and on flannel.1
    expect(stats.captured).toBe(12);
    expect(packets).toHaveLength(12);
    expect(new Set(packets.map((p) => p.sll?.ifindex)).size).toBe(3);
    rmSync(dir, { recursive: true });
  });

  it('lab capture: by hand at a point, until a packet count, printed with the decoder', async () => {
    const capture = cliStarted(['capture', 'node2:eth0', 'udp', 'port', '8472', '--count', '2', '--seconds', '20', '--name', LAB]);
    // traffic once the CLI says tcpdump is listening (or it has exited: the checks below say why)
    let exited = false;
    void capture.done.then(() => (exited = true));
    await waitFor(() => exited || /^listening on /m.test(capture.stdout()), {
      timeoutMs: 20000,
      what: "lab capture's 'listening on' line",
    });
    await rt.run(`kdl.${LAB}.node1.client`, ['ping', '-c', '4', '-i', '0.3', '10.42.1.9'], { check: false });
    const r = await capture.done;
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^listening on node2:eth0 \(EN10MB\), writing results\/[\w-]+\/node2-eth0\.pcap$/);
    expect(lines[1]).toMatch(
      /^#1 .*192\.168\.205\.4 → 192\.168\.205\.3 UDP \d+→8472 VXLAN vni=1 \[10\.42\.0\.65 → 10\.42\.1\.9 ICMP echo-request/,
    );
    expect(lines[3]).toMatch(/^2 packet\(s\) in results\/.*node2-eth0\.pcap$/);
    const bad = await cli(['capture', 'node2:eth9', '--name', LAB]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/'node2' has no interface 'eth9' \(it has any, eth0, cni0, flannel\.1/);
  }, 30000);

  it('refuses a lab that is up without --reuse, and bad files, with exit 2 and nothing created', async () => {
    const up = await cli(['run', join(REPO, 'scenarios', 'pod-network.yaml'), '--name', LAB]);
    expect(up.code).toBe(2);
    expect(up.stderr).toMatch(new RegExp(`lab '${escaped(LAB)}' is already up: pass --reuse`));
    const before = labNamespaces();
    const bad = await cli(['run', fixture('bad.yaml')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/bad\.yaml:6:\d+: steps\[0\]\.captures\[0\]\.at: no node or pod 'node9'/);
    expect(labNamespaces()).toEqual(before);
  });

  it('builds its own lab when none is up and tears it down after', async () => {
    const r = await cli(['run', join(REPO, 'scenarios', 'host-gw.yaml'), '--name', HOSTGW_LAB, '--json']);
    expect(r.code).toBe(0);
    const rep = report(r.stdout);
    expect(rep.summary).toMatchObject({ steps: 2, passed: 2, failed: 0, skipped: 0 });
    expect(labNamespaces(HOSTGW_LAB)).toEqual([]);
  }, 60000);

  // Decided when the tests are collected (probeIpvs in a child process), so that on a kernel with
  // IPVS Jest reports this as skipped, with the reason, instead of as passed.
  const ipvs = ipvsProbe();
  itIf(!ipvs.ok, 'this kernel has IPVS: the skip path is not reachable here')(
    'skips the steps of a scenario the kernel cannot run, with the reason, exit 2 (0 with --allow-skip)',
    async () => {
      const r = await cli(['run', fixture('ipvs.yaml'), '--name', IPVS_LAB]);
      expect(r.code).toBe(2);
      expect(r.stdout).toMatch(/skipped: .*IP_VS/);
      expect(r.stdout).toMatch(/0 passed, 0 failed, 1 skipped/);
      const allowed = await cli(['run', fixture('ipvs.yaml'), '--name', IPVS_LAB, '--allow-skip']);
      expect(allowed.code).toBe(0);
      expect(labNamespaces(IPVS_LAB)).toEqual([]);
    },
  );
});

import { join } from 'node:path';
import { connect } from '../../probe/connect';
import { cli, describeKernel, labNamespaces, nsRun, REPO, rt } from '../../testing/kernel';
import { uniqueLabName } from '../../testing/names';

// Clusters given as `kubectl get -o yaml` dumps alone (`lab up -f dump.yaml`), on the real
// kernel: the articles' chain names in what the nodes hold, and real connections reaching the
// pods through them. A malformed dump: exit 2, nothing created.

const dump = (name: string) => join(REPO, 'scenarios', 'topologies', 'manifests', name);

describeKernel('labs from Kubernetes dumps', () => {
  describe('article 004: kind ithome-2024', () => {
    const lab = uniqueLabName('mf-004');
    beforeAll(async () => {
      const r = await cli(['up', '-f', dump('004-kind-ithome-2024.yaml'), '--name', lab]);
      if (r.code !== 0) throw new Error(`up exited ${r.code}: ${r.stderr}`);
    }, 90_000);
    afterAll(async () => void (await cli(['down', '--name', lab])), 60_000);

    it('every node holds KUBE-SVC-V6MXQNFYUC7YNW7B for ithome/nginx on 10.96.191.108:8080', async () => {
      for (const node of ['ithome-2024-control-plane', 'ithome-2024-worker', 'ithome-2024-worker2']) {
        const saved = await nsRun(`kdl.${lab}.${node}`, ['iptables-save', '-t', 'nat']);
        expect(saved).toContain(
          '-A KUBE-SERVICES -d 10.96.191.108/32 -p tcp -m comment --comment "ithome/nginx cluster IP" -m tcp --dport 8080 -j KUBE-SVC-V6MXQNFYUC7YNW7B',
        );
        expect(saved.match(/^-A KUBE-SVC-V6MXQNFYUC7YNW7B .*-j KUBE-SEP-/gm)).toHaveLength(3);
      }
    });

    it("the client's connections to the cluster IP reach the three ithome pods", async () => {
      const r = await connect(rt, `kdl.${lab}.ithome-2024-control-plane.client`, '10.96.191.108', 8080, { count: 30 });
      expect(r.failed).toBe(0);
      expect(Object.keys(r.byPod).sort()).toEqual([
        'ithome/nginx-7584b6f84c-2z6z9',
        'ithome/nginx-7584b6f84c-pjbkm',
        'ithome/nginx-7584b6f84c-wcq92',
      ]);
    }, 60_000);
  });

  describe('article 003: the k3s three nodes', () => {
    const lab = uniqueLabName('mf-003');
    beforeAll(async () => {
      const r = await cli(['up', '-f', dump('003-k3s-three-nodes.yaml'), '--name', lab]);
      if (r.code !== 0) throw new Error(`up exited ${r.code}: ${r.stderr}`);
    }, 90_000);
    afterAll(async () => void (await cli(['down', '--name', lab])), 60_000);

    it('KUBE-SVC-7CWUT4JBGBRVUN2L and KUBE-EXT for node port 32506; traffic reaches both endpoints', async () => {
      const saved = await nsRun(`kdl.${lab}.master`, ['iptables-save', '-t', 'nat']);
      expect(saved).toContain('--comment "default/nginx-test:80-80 cluster IP" -m tcp --dport 80 -j KUBE-SVC-7CWUT4JBGBRVUN2L');
      expect(saved).toContain('-m tcp --dport 32506 -j KUBE-EXT-7CWUT4JBGBRVUN2L');
      const viaIp = await connect(rt, `kdl.${lab}.master`, '10.43.6.58', 80, { count: 20 });
      expect(viaIp.failed).toBe(0);
      expect(Object.keys(viaIp.byPod).sort()).toEqual(['nginx-test-1', 'nginx-test-2']);
      const viaNodePort = await connect(rt, `kdl.${lab}.node2`, '192.168.205.4', 32506, { count: 10 });
      expect(viaNodePort.failed).toBe(0);
    }, 90_000);
  });

  describe('a small kind cluster: kube-dns, the API server, controllers expanded', () => {
    const lab = uniqueLabName('mf-kind');
    beforeAll(async () => {
      const r = await cli(['up', '-f', dump('kind-small-cluster.yaml'), '--name', lab]);
      if (r.code !== 0) throw new Error(`up exited ${r.code}: ${r.stderr}`);
    }, 120_000);
    afterAll(async () => void (await cli(['down', '--name', lab])), 60_000);

    it("holds real clusters' chain names; DNS over UDP and TCP, the NodePort reach the pods", async () => {
      const saved = await nsRun(`kdl.${lab}.kind-worker`, ['iptables-save', '-t', 'nat']);
      for (const chain of [
        'KUBE-SVC-NPX46M4PTMTKRN6Y',
        'KUBE-SVC-TCOU7JCQXEZGVUNU',
        'KUBE-SVC-ERIFXISQEP7F7OF4',
        'KUBE-SVC-JD5MR3NA4I4DYORP',
      ])
        expect(saved).toContain(`:${chain} - [0:0]`);
      // default/kubernetes → the control plane's address, 6443 (nothing listens there: rules only)
      expect(saved).toMatch(
        /-A KUBE-SEP-\w+ -p tcp -m comment --comment "default\/kubernetes:https" -m tcp -j DNAT --to-destination 172\.18\.0\.2:6443/,
      );
      const udp = await connect(rt, `kdl.${lab}.kind-worker2`, '10.96.0.10', 53, { count: 10, protocol: 'UDP' });
      expect(udp.failed).toBe(0);
      expect(Object.keys(udp.byPod).every((p) => p.startsWith('kube-system/coredns-'))).toBe(true);
      const tcp = await connect(rt, `kdl.${lab}.kind-worker2`, '10.96.0.10', 53, { count: 4 });
      expect(tcp.failed).toBe(0);
      const web = await connect(rt, `kdl.${lab}.kind-control-plane`, '172.18.0.3', 30080, { count: 15 });
      expect(web.failed).toBe(0);
      expect(Object.keys(web.byPod)).toHaveLength(3);
    }, 90_000);
  });

  it('a malformed dump: exit 2, every problem named with file:line:col and object, nothing created', async () => {
    const lab = uniqueLabName('mf-bad');
    const bad = join(REPO, 'lab', 'topology', '__tests__', 'fixtures', 'manifests-malformed.yaml');
    const r = await cli(['up', '-f', bad, '--name', lab]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${bad}:16:13: Pod default/lost: spec.nodeName: no node named 'n9' (nodes: n1)`);
    expect(r.stderr).toContain(
      `${bad}:23:13: Deployment default/web: apiVersion: extensions/v1beta1 is not how a Deployment is served: use apps/v1`,
    );
    expect(labNamespaces(lab)).toEqual([]);
  }, 60_000);
});

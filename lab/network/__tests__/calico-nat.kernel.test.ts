import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { down } from '../../ops/down';
import { up } from '../../ops/up';
import { readPcapFile } from '../../pcap';
import { startCapture } from '../../probe/capture';
import { describeKernel, nsRun, rt, topologyFile } from '../../testing/kernel';
import { uniqueLabName } from '../../testing/names';
import { loadTopologyText } from '../../topology/resolve';

// Calico's natOutgoing on the real kernel: the client pod (10.42.0.0 on node1, 192.168.205.4)
// pings the lab's own namespace (192.168.205.1, outside the pool and the cluster); a capture on
// the lab's underlay bridge sees the node's address as the source with natOutgoing on (Felix's
// cali-nat-outgoing), the pod's own with it off. (Pod to pod and to a cluster IP keep theirs:
// scenarios/services-calico-*.yaml check it with natOutgoing on.)

const FILE = topologyFile('calico.yaml');
const lab = (natOutgoing: boolean) => {
  const name = uniqueLabName(natOutgoing ? 'cnat-on' : 'cnat-off');
  const text = readFileSync(FILE, 'utf8').replace('asNumber: 64512 }', `asNumber: 64512, natOutgoing: ${natOutgoing} }`);
  return { name, topo: loadTopologyText(text, FILE, { name }) };
};

/** the sources of the echo requests the lab's namespace saw while `from` pinged `to` */
async function sourcesSeen(labName: string, from: string, to: string): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'kdl-calico-nat-'));
  try {
    const cap = await startCapture(rt, {
      ns: `kdl.${labName}`,
      iface: 'underlay0',
      filter: 'icmp[icmptype] = icmp-echo',
      file: join(dir, 'lab.pcap'),
      count: 2,
    });
    await nsRun(from, ['ping', '-c', '2', '-i', '0.2', '-W', '1', to], false);
    await cap.stop();
    return readPcapFile(join(dir, 'lab.pcap')).packets.map((p) => p.ip!.src);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

for (const natOutgoing of [true, false]) {
  const { name, topo } = lab(natOutgoing);
  const ns = (...parts: string[]) => ['kdl', name, ...parts].join('.');
  describeKernel(`Calico natOutgoing ${natOutgoing ? 'on (the default)' : 'off'}`, () => {
    beforeAll(async () => {
      await up(topo, rt);
    }, 60_000);
    afterAll(async () => {
      await down(rt, name);
    });

    test(`cali-nat-outgoing in nat POSTROUTING, first, ${natOutgoing ? 'masquerading' : 'empty'}`, async () => {
      const post = await nsRun(ns('node1'), ['iptables', '-t', 'nat', '-S', 'POSTROUTING']);
      expect(post.split('\n').filter((l) => l.startsWith('-A'))[0]).toBe('-A POSTROUTING -j cali-POSTROUTING');
      const out = await nsRun(ns('node1'), ['iptables', '-t', 'nat', '-S', 'cali-nat-outgoing']);
      const rule =
        '-A cali-nat-outgoing -m set --match-set cali40masq-ipam-pools src -m set ! --match-set cali40all-ipam-pools dst -j MASQUERADE --random-fully';
      if (natOutgoing) expect(out).toContain(rule);
      else expect(out).not.toContain('MASQUERADE');
      const masq = await nsRun(ns('node1'), ['ipset', 'list', 'cali40masq-ipam-pools']);
      expect(masq.includes('10.42.0.0/16')).toBe(natOutgoing);
    });

    test(`a pod's packet to the lab's namespace leaves with ${natOutgoing ? "the node's address" : "the pod's own"}`, async () => {
      expect(await sourcesSeen(name, ns('node1', 'client'), '192.168.205.1')).toEqual(
        natOutgoing ? ['192.168.205.4', '192.168.205.4'] : ['10.42.0.0', '10.42.0.0'],
      );
    }, 20_000);
  });
}

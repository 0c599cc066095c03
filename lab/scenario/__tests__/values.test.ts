import { join } from 'node:path';
import { REPO } from '../../testing/kernel';
import { loadTopology } from '../../topology/resolve';
import { LabNames } from '../../model/names';
import { compileMatcher, fieldKind, type Matcher, parseComparison } from '../values';

const names = new LabNames(loadTopology(join(REPO, 'scenarios/topologies/default.yaml')));
const m = (path: string, v: Parameters<typeof compileMatcher>[1]): Matcher => {
  const r = compileMatcher(path, v, names);
  if (typeof r === 'string') throw new Error(r);
  return r;
};

describe('expected values', () => {
  it('reads comparisons', () => {
    expect(parseComparison('>= 3')).toEqual({ op: '>=', value: 3 });
    expect(parseComparison(' != 64 ')).toEqual({ op: '!=', value: 64 });
    expect(parseComparison(7)).toEqual({ op: '==', value: 7 });
    expect(parseComparison('about 3')).toBeUndefined();
    expect(m('ip.ttl', '< 64').test(63)).toBe(true);
    expect(m('ip.ttl', '< 64').test(64)).toBe(false);
    expect(m('ip.ttl', 62).test(62)).toBe(true);
    expect(m('ip.ttl', 62).test(undefined)).toBe(false);
  });

  it('knows what kind of value a field holds, also inside VXLAN and ICMP quotes', () => {
    expect(['eth.src', 'inner.eth.dst', 'arp.senderMac'].map(fieldKind)).toEqual(['mac', 'mac', 'mac']);
    expect(['ip.src', 'inner.ip.dst', 'icmp.quoted.ip.dst', 'arp.targetIp'].map(fieldKind)).toEqual(['ip', 'ip', 'ip', 'ip']);
    expect(['ip.proto', 'inner.icmp.type', 'tcp.flags', 'udp.dstport'].map(fieldKind)).toEqual(['proto', 'icmpType', 'tcpFlags', 'number']);
  });

  it('resolves names to addresses and says both', () => {
    const flannel = m('ip.src', 'node2.flannel.1');
    expect(flannel.text).toBe('10.42.1.0 (node2.flannel.1)');
    expect(flannel.test('10.42.1.0')).toBe(true);
    expect(m('ip.dst', 'node2:cni0').test('10.42.1.1')).toBe(true);
    expect(m('ip.dst', 'pod:web-2').test('10.42.1.9')).toBe(true);
    expect(m('ip.dst', 'web-2').test('10.42.1.9')).toBe(true);
    expect(m('ip.src', 'node1').test('192.168.205.4')).toBe(true);
    expect(m('ip.dst', 'service:web').text).toBe('10.43.0.20 (service:web)');
    expect(m('ip.dst', ['pod:web-1', 'pod:web-2']).test('10.42.0.66')).toBe(true);
    expect(m('ip.dst', '!pod:web-1').test('10.42.0.66')).toBe(false);
    expect(compileMatcher('ip.dst', 'node7', names)).toMatch(/'node7' is not an address or a name of this lab/);
    expect(compileMatcher('ip.dst', 'pod:node1', names)).toMatch(/not an address/); // a node is not a pod
  });

  it('takes protocol and ICMP type names and TCP flag sets', () => {
    expect(m('ip.proto', 'udp').test(17)).toBe(true);
    expect(m('inner.icmp.type', 'echo-request').test(8)).toBe(true);
    expect(m('icmp.type', 'time-exceeded').test(11)).toBe(true);
    const synAck = m('tcp.flags', 'SYN,ACK');
    expect(synAck.test(['ACK', 'SYN'])).toBe(true);
    expect(synAck.test(['SYN'])).toBe(false);
    expect(m('tcp.flags', 'SYN').test(['SYN', 'ACK'])).toBe(false);
    expect(compileMatcher('tcp.flags', 'SYNACK', names)).toMatch(/'SYNACK' is not a TCP flag/);
  });

  it('needs the kernel for MACs: a known interface passes loading, an unknown one never', () => {
    expect(compileMatcher('eth.src', 'node1.eth0', names)).toMatch(/is not a MAC or an interface/); // no MACs without the lab
    expect(typeof compileMatcher('eth.src', 'node1.eth0', names, false)).toBe('object');
    expect(compileMatcher('eth.src', 'node1.eth9', names, false)).toMatch(/is not a MAC or an interface/);
    expect(m('eth.src', '02:AA:bb:cc:dd:ee').test('02:aa:bb:cc:dd:ee')).toBe(true);
  });

  it('names what was seen', () => {
    expect(names.nameOf('10.42.1.0')).toBe('node2.flannel.1');
    expect(names.nameOf('10.42.0.1')).toBe('node1.cni0');
    expect(names.nameOf('10.42.2.9')).toBe('pod:web-3');
    expect(names.nameOf('192.168.205.1')).toBe('@lab.gateway');
    expect(names.nameOf('10.43.6.58')).toBe('service:nginx-test');
    expect(names.nameOf('8.8.8.8')).toBeUndefined();
  });
});

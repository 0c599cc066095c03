import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { baseChainHooks, nodeRules, packetFields, parseMonitor, traceTableScript } from '../nftrace';

// `nft monitor` output as nft 1.0.6 printed it here for a SYN from client to the web service's
// cluster IP in iptables mode (iptables-nft rules), and the node's `nft -j list chains`.
const fixture = (f: string) => readFileSync(join(__dirname, 'fixtures', f), 'utf8');

describe('trace table', () => {
  it('marks only the probe kind at the first hooks, before conntrack and NAT', () => {
    expect(traceTableScript('tcp')).toBe(
      [
        'table ip kdl_trace {',
        '\tchain prerouting { type filter hook prerouting priority -350; policy accept; tcp flags & (syn | ack) == syn meta nftrace set 1; }',
        '\tchain output { type filter hook output priority -350; policy accept; tcp flags & (syn | ack) == syn meta nftrace set 1; }',
        '}',
        '',
      ].join('\n'),
    );
    expect(traceTableScript('icmp')).toContain('icmp type echo-request meta nftrace set 1');
    expect(traceTableScript('udp')).toContain('meta l4proto udp meta nftrace set 1');
  });
});

describe('nft monitor output', () => {
  const events = parseMonitor(`add table ip kdl_trace\n${fixture('monitor-iptables.txt')}\ndelete table ip kdl_trace\n`);

  it('reads every trace line and nothing else', () => {
    expect(events).toHaveLength(fixture('monitor-iptables.txt').trim().split('\n').length);
    expect(events.filter((e) => e.kind === 'packet').map((e) => `${e.table} ${e.chain}`)).toEqual([
      'kdl_trace prerouting',
      'nat PREROUTING',
      'filter FORWARD',
      'nat POSTROUTING',
    ]);
    const dnat = events.find((e) => e.text?.includes('dnat to'))!;
    expect(dnat).toMatchObject({
      table: 'nat',
      chain: 'KUBE-SEP-BMMOTP4BCFRPG23V',
      kind: 'rule',
      verdict: 'accept',
      text: 'meta l4proto tcp counter packets 0 bytes 0 dnat to 10.42.0.66:80',
    });
    expect(events.find((e) => e.kind === 'policy' && e.chain === 'FORWARD')).toMatchObject({ verdict: 'policy accept' });
  });

  it('takes the addresses, ports, TTL and IP id from a packet line', () => {
    const first = events.find((e) => e.table === 'nat' && e.kind === 'packet')!;
    expect(packetFields(first.text!)).toEqual({
      src: '10.42.0.65',
      dst: '10.43.0.10',
      id: 23779,
      ttl: 64,
      srcport: 40001,
      dstport: 80,
      iif: 'cni0',
    });
    expect(
      packetFields('oif "eth0" ip saddr 1.2.3.4 ip daddr 5.6.7.8 ip id 7 icmp type echo-request icmp id 99 meta mark 0x00004000'),
    ).toMatchObject({ icmpId: 99, mark: '0x00004000', oif: 'eth0' });
  });

  it('reads base chains and their hooks from nft -j list chains', () => {
    const hooks = baseChainHooks(fixture('chains-iptables.json'));
    expect(hooks.get('ip nat PREROUTING')).toBe('prerouting');
    expect(hooks.get('ip filter FORWARD')).toBe('forward');
    expect(hooks.get('ip nat POSTROUTING')).toBe('postrouting');
    expect(hooks.has('ip nat KUBE-SERVICES')).toBe(false); // a regular chain has no hook
  });

  it('turns the events of one packet into hooks and chains, leaving out the trace table', () => {
    const r = nodeRules('node1', events, baseChainHooks(fixture('chains-iptables.json')), 23779);
    expect(r.hooks).toEqual(['prerouting', 'forward', 'postrouting']);
    expect(r.chains).toEqual([
      'nat PREROUTING',
      'KUBE-SERVICES',
      'KUBE-SVC-CDGGSHYLG3RE2FKL',
      'KUBE-SEP-BMMOTP4BCFRPG23V',
      'filter FORWARD',
      'KUBE-SERVICES',
      'KUBE-EXTERNAL-SERVICES',
      'KUBE-FORWARD',
      'nat POSTROUTING',
      'KUBE-POSTROUTING',
    ]);
    expect(r.events.some((e) => e.table === 'kdl_trace')).toBe(false);
    // the packet as each base chain saw it: DNAT between prerouting and forward
    expect(r.events.filter((e) => e.packet).map((e) => e.packet!.dst)).toEqual(['10.43.0.10', '10.42.0.66', '10.42.0.66']);
  });

  it('keeps nothing for another IP id', () => {
    expect(nodeRules('node1', events, new Map(), 1).events).toEqual([]);
  });
});

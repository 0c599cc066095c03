import { join } from 'node:path';
import { LabNames } from '../../model/names';
import { lookupName, searchNames } from '../../pods/dns';
import { loadTopology, loadTopologyText } from '../../topology/resolve';
import { checkResolved, type NamedTarget, nameTarget, parseAhosts } from '../resolve';

// Names as connect and trace targets: what the lab's cluster DNS answers a pod, as glibc walks
// kubelet's search list with ndots:5 (the kernel test dns-names.kernel.test.ts sees it on the wire).

const topo = loadTopology(join(__dirname, '../../../scenarios/topologies/dns.yaml'));
const names = new LabNames(topo);
const client = topo.pods.find((p) => p.name === 'client')!;

describe('the search list (ndots:5)', () => {
  it.each([
    ['web', ['web.default.svc.cluster.local', 'web.svc.cluster.local', 'web.cluster.local', 'web']],
    ['web.default', ['web.default.default.svc.cluster.local', 'web.default.svc.cluster.local', 'web.default.cluster.local', 'web.default']],
    // five dots: the name as given first, then the search list
    ['a.b.c.d.e.f', ['a.b.c.d.e.f', 'a.b.c.d.e.f.default.svc.cluster.local', 'a.b.c.d.e.f.svc.cluster.local', 'a.b.c.d.e.f.cluster.local']],
    // a final dot: that name only
    ['web.default.svc.cluster.local.', ['web.default.svc.cluster.local']],
  ])('%s tries %j', (name, tried) => {
    expect(searchNames(topo, client, name)).toEqual(tried);
  });

  it('stops at the first name that answers; a name the DNS does not have tries them all', () => {
    expect(lookupName(topo, client, 'web.default')).toEqual({
      tried: ['web.default.default.svc.cluster.local', 'web.default.svc.cluster.local'],
      answered: 'web.default.svc.cluster.local',
      addresses: ['10.43.0.20'],
    });
    expect(lookupName(topo, client, 'db').addresses).toEqual(['10.42.1.20', '10.42.2.20']);
    expect(lookupName(topo, client, 'nosuch')).toEqual({ tried: searchNames(topo, client, 'nosuch'), addresses: [] });
  });
});

describe('a name as the target of connect and trace', () => {
  it('resolves to the service port behind the name, and leaves addresses and pod names to LabNames', () => {
    const t = nameTarget(names, 'client', 'web:80') as NamedTarget;
    expect([t.ip, t.port, t.protocol, t.service?.id, t.dns?.expected.answered]).toEqual([
      '10.43.0.20',
      80,
      'TCP',
      'default/web:http',
      'web.default.svc.cluster.local',
    ]);
    expect(nameTarget(names, 'client', '10.43.0.20:80')).toBeUndefined();
    expect(nameTarget(names, 'client', 'web-1:80')).toBeUndefined();
    expect(nameTarget(names, 'client', 'service:web')).toBeUndefined();
  });

  it('refuses what no pod resolver could do, saying why', () => {
    expect(nameTarget(names, 'client', 'nosuch:80')).toBe(
      "'nosuch' does not resolve from client: the cluster DNS has no such name (tried nosuch.default.svc.cluster.local, nosuch.svc.cluster.local, nosuch.cluster.local, nosuch)",
    );
    expect(nameTarget(names, 'node1', 'web:80')).toMatch(
      /^'web' is a name for the cluster DNS, resolved by a pod's resolv.conf: node1 has none/,
    );
    const off = new LabNames(loadTopologyText('name: t\ncluster: { dns: false }\nnodes: [{ name: a }]\npods: [{ name: p, node: a }]\n'));
    expect(nameTarget(off, 'p', 'web:80')).toMatch(/no cluster DNS to resolve it \(cluster.dns: false\)/);
  });

  it("reads getent ahostsv4, and takes the pod's answer only when the lab's data has it", () => {
    const got = parseAhosts(
      '10.42.2.20      STREAM db.default.svc.cluster.local\n10.42.2.20      DGRAM  \n10.42.2.20      RAW    \n10.42.1.20      STREAM \n10.42.1.20      DGRAM  \n',
    );
    expect(got).toEqual({ addresses: ['10.42.2.20', '10.42.1.20'], canonical: 'db.default.svc.cluster.local' });
    const db = nameTarget(names, 'client', 'db:5432') as NamedTarget;
    expect(checkResolved(db, got)).toBe('10.42.2.20');
    expect(() => checkResolved(db, { addresses: ['10.9.9.9'] })).toThrow(
      "'db' resolved to 10.9.9.9, but the lab's cluster DNS data answers db.default.svc.cluster.local with 10.42.1.20, 10.42.2.20",
    );
  });
});

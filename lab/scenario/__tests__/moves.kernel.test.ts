import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunReport } from '../../report/types';
import { cli, describeKernel, labNamespaces } from '../../testing/kernel';
import { uniqueLabName } from '../../testing/names';

// A scenario that moves through topologies (steps[].topology), for real: a pod fewer on the same
// lab is re-synced as `lab apply` does (the pod's namespace goes, the chain drops to two
// endpoints with 0.5), another backend rebuilds the lab under its name, another lab name
// replaces the lab; every lab run brought up is down at the end.

const A = uniqueLabName('mva');
const B = uniqueLabName('mvb');

/** An inline topology, indented for a step's `topology:` (6 spaces) or the scenario's (2). */
function topo(indent: number, name: string, backend: 'vxlan' | 'host-gw', pods: string[]): string[] {
  const pad = ' '.repeat(indent);
  return [
    `${pad}name: ${name}`,
    `${pad}cluster: { podCIDR: 10.42.0.0/16, backend: ${backend} }`,
    `${pad}nodes: [{ name: n1, ip: 192.168.205.4, podSubnet: 10.42.0.0/24 }, { name: n2, ip: 192.168.205.3, podSubnet: 10.42.1.0/24 }]`,
    `${pad}pods:`,
    `${pad}  - { name: client, node: n1, ip: 10.42.0.5 }`,
    ...pods.map((p) => `${pad}  - ${p}`),
    `${pad}services: [{ name: web, clusterIP: 10.43.0.20, selector: { app: web }, ports: [{ port: 80 }] }]`,
  ];
}
const web1 = '{ name: web-1, node: n2, ip: 10.42.1.2, labels: { app: web }, ports: [80] }';
const web2 = '{ name: web-2, node: n2, ip: 10.42.1.3, labels: { app: web }, ports: [80] }';
const web3 = '{ name: web-3, node: n1, ip: 10.42.0.7, labels: { app: web }, ports: [80] }';

const scenario = [
  'name: moves',
  'topology:',
  ...topo(2, A, 'vxlan', [web1, web2, web3]),
  'steps:',
  '  - name: three endpoints',
  '    probes: [{ name: svc, command: { on: n1, run: [iptables-save, -t, nat] } }]',
  '    expect:',
  "      - output: { contains: ['-> 10.42.1.2:80', '-> 10.42.1.3:80', '-> 10.42.0.7:80', 'probability 0.33333333349'] }",
  '  - name: web-3 deleted, applied',
  '    topology:',
  ...topo(6, A, 'vxlan', [web1, web2]),
  '    probes:',
  '      - { name: svc, command: { on: n1, run: [iptables-save, -t, nat] } }',
  "      - { name: netns, command: { on: '@lab', run: [ip, netns, list] } }",
  '      - connect: { from: client, to: service:web, count: 20 }',
  '    expect:',
  "      - output: { probe: svc, contains: ['-> 10.42.1.2:80', '-> 10.42.1.3:80', 'probability 0.50000000000'], lacks: ['10.42.0.7'] }",
  `      - output: { probe: netns, contains: ['kdl.${A}.n2.web-1'], lacks: ['kdl.${A}.n1.web-3'] }`,
  '      - connect: { succeeded: 20, servedBy: [web-1, web-2] }',
  '  - name: host-gw, rebuilt under the same name',
  '    topology:',
  ...topo(6, A, 'host-gw', [web1]),
  '    probes: [{ command: { on: n1, run: [ip, route] } }, { ping: { from: client, to: web-1, count: 2 } }]',
  "    expect: [{ output: { contains: ['10.42.1.0/24 via 192.168.205.3 dev eth0'], lacks: [flannel.1] } }, { ping: { ttl: 62, received: 2 } }]",
  '  - name: another lab',
  '    topology:',
  ...topo(6, B, 'vxlan', [web1]),
  "    probes: [{ command: { on: '@lab', run: [ip, netns, list] } }, { ping: { from: client, to: web-1, count: 2 } }]",
  `    expect: [{ output: { contains: ['kdl.${B}.n1'], lacks: ['kdl.${A}.'] } }, { ping: { ttl: 62, received: 2 } }]`,
];

describeKernel('a scenario moving through topologies', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kdl-moves-'));
  const file = join(dir, 'moves.yaml');
  writeFileSync(file, scenario.join('\n') + '\n');
  afterAll(async () => {
    // a failed run may leave a lab up: take both down whatever happened
    for (const lab of [A, B]) if (labNamespaces(lab).length) await cli(['down', '--name', lab]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('applies a pod fewer on the same lab, rebuilds for another backend or lab, and leaves nothing up', async () => {
    const r = await cli(['run', file, '--json']);
    const rep = JSON.parse(r.stdout) as RunReport;
    const steps = rep.scenarios[0]!.steps;
    const failed = steps.flatMap((s) => s.expectations.filter((e) => e.status === 'failed').map((e) => `${s.name}: ${e.observed}`));
    expect({ code: r.code, failed, reasons: steps.flatMap((s) => s.reason ?? []) }).toEqual({ code: 0, failed: [], reasons: [] });
    expect(rep.summary).toMatchObject({ scenarios: 1, steps: 4, passed: 4 });
    expect(steps.map((s) => s.topology)).toEqual([
      { lab: A, source: file },
      { lab: A, source: file, change: 'applied' },
      { lab: A, source: file, change: 'rebuilt' },
      { lab: B, source: file, change: 'rebuilt' },
    ]);
    expect(labNamespaces(A)).toEqual([]);
    expect(labNamespaces(B)).toEqual([]);
  }, 120000);

  it('says on the console what it did to the lab', async () => {
    const r = await cli(['run', file]);
    expect(r.code).toBe(0);
    const out = r.stdout;
    expect(out).toMatch(new RegExp(`lab ${A}: up in [\\d.]+ s`));
    expect(out).toMatch(new RegExp(`lab ${A}: .*moves\\.yaml applied in [\\d.]+ s`));
    // rebuilt: down, then up (twice: the same name, then the other lab)
    expect(out.match(new RegExp(`lab ${A}: down`, 'g'))).toHaveLength(2);
    expect(out).toMatch(new RegExp(`lab ${B}: up in [\\d.]+ s[\\s\\S]*lab ${B}: down`));
    expect(out).toMatch(/1 scenario\(s\), 4 step\(s\): 4 passed/);
  }, 120000);

  it('refuses --reuse for a scenario that moves, with exit 2 and nothing created', async () => {
    const r = await cli(['run', file, '--reuse']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/scenario moves .* moves between topologies, which --reuse cannot do/);
    expect(labNamespaces(A)).toEqual([]);
  });
});

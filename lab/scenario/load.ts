import { readdirSync, statSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { InputError, type InputIssue } from '../errors';
import { isFieldPath } from '../pcap/fields';
import { checkFilters } from '../probe/capture';
import type { Executor } from '../runtime/executor';
import { loadTopology, resolveSource } from '../topology/resolve';
import type { Topology } from '../topology/types';
import { YamlSource } from '../topology/yaml-source';
import {
  type CommandProbe,
  type ConnectProbe,
  EXPECTATION_KINDS,
  type ExpectationInput,
  type Expectations,
  type ExpectationKind,
  type PingProbe,
  PROBE_KINDS,
  type ProbeKind,
  type ScenarioInput,
  scenarioSchema,
  type TraceProbe,
  type TracerouteProbe,
} from './schema';
import { LabNames, resolvePoint, type ServiceTarget } from '../model/names';
import { compileMatcher } from './values';
import { resolveTrace } from '../trace/walk';

// Loads scenario files and checks everything that can be checked before a lab exists: names
// against the topology, probe and capture references, field paths, expected values, BPF
// filters. A file that loads has no reference left to fail at run time.

type Path = (string | number)[];

export interface CapturePlan {
  name: string;
  /** as written: node1:eth0 */
  at: string;
  owner: string;
  iface: string;
  ns: string;
  filter?: string;
  path: Path;
}

export type ProbePlan = { name: string; from: string; ns: string; path: Path } & (
  | { kind: 'ping'; spec: PingProbe; to: string }
  | { kind: 'traceroute'; spec: TracerouteProbe; to: string }
  | { kind: 'connect'; spec: ConnectProbe; target: ServiceTarget }
  | { kind: 'command'; spec: CommandProbe; to: string }
  | { kind: 'trace'; spec: TraceProbe; to: string }
);

export type ExpectationPlan = {
  [K in ExpectationKind]: { kind: K; spec: Expectations[K]; name?: string; path: Path; line?: number; probe?: ProbePlan; capture?: CapturePlan };
}[ExpectationKind];

export interface StepPlan {
  index: number;
  name: string;
  captures: CapturePlan[];
  probes: ProbePlan[];
  expect: ExpectationPlan[];
}

export interface Scenario {
  file: string;
  name: string;
  description?: string;
  topology: Topology;
  steps: StepPlan[];
}

export interface LoadOptions {
  /** lab name (overrides the topology's) */
  labName?: string;
  /** netns or docker (overrides the topology's) */
  runtime?: string;
}

const PROBE_OF: Record<ExpectationKind, ProbeKind | undefined> = {
  ping: 'ping',
  hops: 'traceroute',
  packets: undefined,
  nat: 'connect',
  spread: 'connect',
  connect: 'connect',
  output: 'command',
  walk: 'trace',
};

export function loadScenario(file: string, opts: LoadOptions = {}): Scenario {
  const src = YamlSource.fromFile(file);
  const input = src.parse(scenarioSchema);
  const overrides = {
    ...(opts.labName ? { name: opts.labName } : {}),
    ...(opts.runtime ? { runtime: opts.runtime } : {}),
    ...(input.proxy ? { proxyMode: input.proxy } : {}),
  };
  const topology =
    typeof input.topology === 'string'
      ? loadTopology(resolve(dirname(file), input.topology), overrides)
      : resolveSource(src.sub(['topology']), overrides);
  const issues: InputIssue[] = [];
  const fail = (path: Path, message: string, key?: string) => issues.push(src.issue(path, message, key));
  const names = new LabNames(topology);
  const steps = input.steps.map((s, i) => checkStep(input, i, names, fail));
  if (issues.length) throw new InputError(issues);
  return {
    file,
    name: input.name ?? basename(file, extname(file)),
    ...(input.description ? { description: input.description } : {}),
    topology,
    steps: steps.map((s) => {
      for (const e of s.expect) e.line = src.locate(e.path)?.line;
      return s;
    }),
  };
}

function checkStep(input: ScenarioInput, index: number, names: LabNames, fail: (p: Path, m: string, k?: string) => void): StepPlan {
  const step = input.steps[index]!;
  const base: Path = ['steps', index];
  const topo = names.topo;

  const captures: CapturePlan[] = [];
  step.captures.forEach((c, ci) => {
    const path = [...base, 'captures', ci];
    const point = resolvePoint(names, c.at);
    if (typeof point === 'string') return fail([...path, 'at'], point);
    const { owner, iface, ns } = point;
    const name = c.name ?? c.at;
    if (captures.some((o) => o.name === name)) return fail(path, `two captures named '${name}' in this step: give them names`);
    captures.push({ name, at: c.at, owner, iface, ns, ...(c.filter ? { filter: c.filter } : {}), path });
  });

  const probes: ProbePlan[] = [];
  step.probes.forEach((p, pi) => {
    const path = [...base, 'probes', pi];
    const kinds = PROBE_KINDS.filter((k) => p[k] !== undefined);
    if (kinds.length !== 1) return fail(path, `a probe is exactly one of ${PROBE_KINDS.join(', ')} (found ${kinds.join(', ') || 'none'})`);
    const kind = kinds[0]!;
    if (kind === 'command') {
      const c = p.command!;
      const ns = names.namespaceOf(c.on);
      if (!ns) return fail([...path, kind, 'on'], `no node or pod '${c.on}' in topology ${topo.name} (or @lab)`);
      const name = p.name ?? (step.probes.filter((q) => q.command).length > 1 ? `command-${pi + 1}` : 'command');
      if (probes.some((o) => o.name === name)) return fail(path, `two probes named '${name}' in this step`);
      probes.push({ name, kind, from: c.on, ns, path, spec: c, to: c.run.join(' ') });
      return;
    }
    if (kind === 'trace') {
      const t = p.trace!;
      const name = p.name ?? (step.probes.filter((q) => q.trace).length > 1 ? `trace-${pi + 1}` : 'trace');
      if (probes.some((o) => o.name === name)) return fail(path, `two probes named '${name}' in this step`);
      try {
        const r = resolveTrace(topo, names, { from: t.from, to: t.to, ...(t.protocol ? { protocol: t.protocol } : {}) });
        probes.push({ name, kind, from: t.from, ns: r.fromNs, path, spec: t, to: t.to });
      } catch (e) {
        if (!(e instanceof InputError)) throw e;
        fail([...path, kind, e.issues[0]?.file === 'from' ? 'from' : 'to'], e.issues.map((i) => i.message).join('; '));
      }
      return;
    }
    const spec = p[kind]!;
    const ns = names.namespaceOf(spec.from);
    if (!ns || spec.from.startsWith('@')) return fail([...path, kind, 'from'], `no node or pod '${spec.from}' in topology ${topo.name}`);
    const sameKind = step.probes.filter((q) => q[kind] !== undefined).length;
    const name = p.name ?? (sameKind > 1 ? `${kind}-${pi + 1}` : kind);
    if (probes.some((o) => o.name === name)) return fail(path, `two probes named '${name}' in this step`);
    if (kind === 'connect') {
      const target = names.target(spec.to, (spec as ConnectProbe).protocol);
      if (typeof target === 'string') return fail([...path, kind, 'to'], target);
      probes.push({ name, kind, from: spec.from, ns, path, spec: p.connect!, target });
    } else {
      const to = names.ip(spec.to);
      if (!to) return fail([...path, kind, 'to'], `'${spec.to}' is not an address or a name of this lab (e.g. web-2, node2.flannel.1, service:web)`);
      if (kind === 'ping') probes.push({ name, kind, from: spec.from, ns, path, spec: p.ping!, to });
      else probes.push({ name, kind, from: spec.from, ns, path, spec: p.traceroute!, to });
    }
  });

  const expect: ExpectationPlan[] = [];
  step.expect.forEach((e, ei) => {
    const path = [...base, 'expect', ei];
    const kinds = EXPECTATION_KINDS.filter((k) => e[k] !== undefined);
    if (kinds.length !== 1) return fail(path, `an expectation is exactly one of ${EXPECTATION_KINDS.join(', ')} (found ${kinds.join(', ') || 'none'})`);
    const plan = checkExpectation(e, kinds[0]!, [...path, kinds[0]!], probes, captures, names, fail);
    if (plan) expect.push({ ...plan, path, ...(e.name ? { name: e.name } : {}) } as ExpectationPlan);
  });
  return { index, name: step.name, captures, probes, expect };
}

function checkExpectation(
  e: ExpectationInput,
  kind: ExpectationKind,
  path: Path,
  probes: ProbePlan[],
  captures: CapturePlan[],
  names: LabNames,
  fail: (p: Path, m: string, k?: string) => void,
): Omit<ExpectationPlan, 'path'> | undefined {
  const spec = e[kind]!;
  let probe: ProbePlan | undefined;
  const wantProbe = PROBE_OF[kind];
  if (wantProbe) {
    const ref = (spec as { probe?: string }).probe;
    const candidates = probes.filter((p) => p.kind === wantProbe && (ref === undefined || p.name === ref));
    if (candidates.length !== 1) {
      const msg =
        ref !== undefined
          ? `no ${wantProbe} probe named '${ref}' in this step (${probes.map((p) => `${p.name}: ${p.kind}`).join(', ') || 'no probes'})`
          : candidates.length
            ? `several ${wantProbe} probes in this step: say which with probe: <name>`
            : `a '${kind}' expectation needs a ${wantProbe} probe in the same step`;
      fail(path, msg);
      return undefined;
    }
    probe = candidates[0]!;
  }
  const pods = new Set(names.topo.pods.map((p) => p.name));
  const checkPods = (list: string[], at: Path) =>
    list.forEach((p, i) => pods.has(p) || fail([...at, i], `no pod '${p}' (pods: ${[...pods].join(', ')})`));
  switch (kind) {
    case 'hops': {
      const s = e.hops!;
      s.equals?.forEach((h, i) => {
        if (h !== '*' && !names.ip(h)) fail([...path, 'equals', i], `'${h}' is not an address, '*', or a name of this lab (e.g. node1.cni0, node2.flannel.1, pod:web-1)`);
      });
      if (!s.equals && s.count === undefined) fail(path, 'say what the hops must be: equals: [...] or count');
      break;
    }
    case 'ping': {
      if (e.ping!.ttl === undefined && e.ping!.received === undefined) fail(path, 'say what to check: ttl and/or received');
      break;
    }
    case 'packets': {
      const s = e.packets!;
      let capture: CapturePlan | undefined;
      if (s.at === undefined) {
        if (captures.length !== 1) fail(path, `say which capture with at: (${captures.map((c) => c.name).join(', ') || 'this step has none'})`);
        capture = captures[0];
      } else {
        capture = captures.find((c) => c.name === s.at);
        if (!capture) fail([...path, 'at'], `no capture '${s.at}' in this step (${captures.map((c) => c.name).join(', ') || 'none'})`);
      }
      for (const part of ['where', 'fields'] as const)
        for (const [f, v] of Object.entries(s[part])) {
          if (!isFieldPath(f)) {
            fail([...path, part], `unknown field '${f}' (e.g. eth.src, ip.ttl, ip.src, udp.dstport, vxlan.vni, inner.ip.src, tcp.flags, icmp.type)`, f);
            continue;
          }
          const m = compileMatcher(f, v, names, false);
          if (typeof m === 'string') fail([...path, part, f], m);
        }
      return { kind, spec: s, ...(capture ? { capture } : {}) } as Omit<ExpectationPlan, 'path'>;
    }
    case 'nat': {
      const s = e.nat!;
      if (s.destination === undefined && s.source === undefined) fail(path, 'say what to check: destination and/or source');
      if (s.destination !== undefined && s.destination !== 'endpoint' && !names.ip(s.destination))
        fail([...path, 'destination'], `'${s.destination}': expected 'endpoint', an address or a name of this lab`);
      if (s.source !== undefined && !['client', 'snat', 'node'].includes(s.source) && !names.ip(s.source) && !names.namespaceOf(s.source))
        fail([...path, 'source'], `'${s.source}': expected client, snat, node, an address or a name of this lab`);
      break;
    }
    case 'spread': {
      const s = e.spread!;
      if (s.endpoints === 'all' && probe?.kind === 'connect' && !probe.target.service)
        fail([...path, 'endpoints'], `'all' needs a probe to a service; ${probe.spec.to} is not one: list the pods`);
      if (Array.isArray(s.endpoints)) checkPods(s.endpoints, [...path, 'endpoints']);
      break;
    }
    case 'output': {
      const s = e.output!;
      s.matches?.forEach((re, i) => {
        try {
          new RegExp(re, 'm');
        } catch (err) {
          fail([...path, 'matches', i], `not a regular expression: ${(err as Error).message}`);
        }
      });
      if (!s.contains && !s.matches && !s.lacks) fail(path, 'say what the output must hold: contains, lacks and/or matches');
      break;
    }
    case 'walk': {
      const s = e.walk!;
      if (s.reached !== undefined) checkPods([s.reached].flat(), [...path, 'reached']);
      for (const part of ['hooks', 'chains'] as const)
        for (const node of Object.keys(s[part] ?? {}))
          if (!names.isNode(node)) fail([...path, part], `no node '${node}' (nodes: ${names.topo.nodes.map((n) => n.name).join(', ')})`, node);
      break;
    }
    case 'connect': {
      const s = e.connect!;
      if (s.servedBy) checkPods(s.servedBy, [...path, 'servedBy']);
      if (s.succeeded === undefined && s.failed === undefined && !s.servedBy) fail(path, 'say what to check: succeeded, failed and/or servedBy');
      break;
    }
  }
  return { kind, spec, ...(probe ? { probe } : {}) } as Omit<ExpectationPlan, 'path'>;
}

/** Scenario files under a path: the file itself, or every .yaml/.yml below a folder except topologies/. */
export function scenarioFiles(path: string): string[] {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw InputError.of(path, '', 'no such file or folder');
  }
  if (!st.isDirectory()) return [resolve(path)];
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (e.isDirectory()) {
        if (e.name !== 'topologies' && !e.name.startsWith('.')) walk(join(dir, e.name));
      } else if (/\.ya?ml$/.test(e.name)) out.push(resolve(dir, e.name));
    }
  };
  walk(path);
  if (!out.length) throw InputError.of(path, '', 'no scenario files (*.yaml) in this folder');
  return out;
}

/** Loads every file, collecting all their problems, then checks every BPF filter with tcpdump. */
export async function loadScenarios(files: string[], host: Executor, opts: LoadOptions = {}): Promise<Scenario[]> {
  const issues: InputIssue[] = [];
  const scenarios: Scenario[] = [];
  for (const f of files) {
    try {
      scenarios.push(loadScenario(f, opts));
    } catch (e) {
      if (e instanceof InputError) issues.push(...e.issues);
      else throw e;
    }
  }
  const filters = scenarios.flatMap((s) => s.steps.flatMap((st) => st.captures.flatMap((c) => (c.filter ? [c.filter] : []))));
  const errors = await checkFilters(host, filters);
  for (const s of scenarios)
    for (const step of s.steps)
      for (const c of step.captures) {
        const err = c.filter && errors.get(c.filter);
        if (err) issues.push(YamlSource.fromFile(s.file).issue([...c.path, 'filter'], `tcpdump cannot use this filter: ${err}`));
      }
  if (issues.length) throw new InputError(issues);
  const byName = new Map<string, string>();
  for (const s of scenarios) {
    const other = byName.get(s.name);
    if (other) throw InputError.of(s.file, 'name', `scenario name '${s.name}' is also used by ${other}: results would overwrite each other`);
    byName.set(s.name, s.file);
  }
  return scenarios;
}

import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { InputError, type InputIssue } from '../errors';
import { checkFilters } from '../probe/capture';
import type { Executor } from '../runtime/executor';
import { loadTopology, loadTopologyAll, resolveSource, resolveSourceAll } from '../topology/resolve';
import type { Topology } from '../topology/types';
import { mergeIssues, YamlSource } from '../topology/yaml-source';
import { LabNames, resolvePoint } from '../model/names';
import { EXPECTATIONS, type ExpectationPlan, PROBES, type ProbePlan } from './kinds';
import type { AnyExpectationKind, AnyProbeKind, CapturePlan, Path } from './kinds/types';
import { type ScenarioInput, scenarioSchema } from './schema';

// Loads scenario files and checks everything that can be checked before a lab exists: names
// against the topology, probe and capture references, field paths, expected values, BPF
// filters. A file that loads has no reference left to fail at run time. Each probe and
// expectation is compiled by its kind (kinds/); what is common to all kinds is here.

export type { CapturePlan, ExpectationPlan, ProbePlan };

export interface StepPlan {
  index: number;
  name: string;
  captures: CapturePlan[];
  probes: ProbePlan[];
  expect: ExpectationPlan[];
  /** set on a step that moves the scenario to another topology: it and the steps after run there */
  topology?: Topology;
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

type FailAt = (p: Path, m: string, k?: string) => void;

/** The one kind an object names (`{ name?, <kind>: ... }`), or a message saying it does not. */
function kindOf<K extends { kind: string }>(kinds: readonly K[], input: Record<string, unknown>, what: string): K | string {
  const found = kinds.filter((k) => input[k.kind] !== undefined);
  if (found.length === 1 && found[0]) return found[0];
  const names = kinds.map((k) => k.kind);
  return `${what} is exactly one of ${names.join(', ')} (found ${found.map((k) => k.kind).join(', ') || 'none'})`;
}

export function loadScenario(file: string, opts: LoadOptions = {}): Scenario {
  const whole = YamlSource.fromFile(file);
  // type errors do not hide the rest: the topology and the steps that parsed are still checked
  const parsed = whole.parseAll(scenarioSchema);
  const input = parsed.value;
  if (!input) throw new InputError(parsed.issues);
  const src = parsed.src;
  const overrides = {
    ...(opts.labName !== undefined ? { name: opts.labName } : {}),
    ...(opts.runtime ? { runtime: opts.runtime } : {}),
    ...(input.proxy ? { proxyMode: input.proxy } : {}),
  };
  const issues: InputIssue[] = [];
  let topology: Topology | undefined;
  try {
    const t =
      typeof input.topology === 'string'
        ? loadTopologyAll(resolve(dirname(file), input.topology), overrides)
        : resolveSourceAll(src.sub(['topology']), overrides);
    topology = t.topology;
    issues.push(...t.issues);
  } catch (e) {
    if (!(e instanceof InputError)) throw e; // an unreadable file, broken YAML, a bad --name
    issues.push(...e.issues);
  }
  if (!topology) throw new InputError(mergeIssues(parsed.issues, issues)); // the steps name its nodes and pods
  const fail = (path: Path, message: string, key?: string) => issues.push(src.issue(path, message, key));
  // A step's `topology:` (a file or inline, with the scenario's overrides) holds from that step
  // on: its names and every later step's are checked against it. After one that does not load,
  // the later steps are not checked (their names would be checked against the wrong lab).
  const stepTopology = (ref: string | Record<string, unknown>, at: Path): Topology | undefined => {
    try {
      if (typeof ref !== 'string') return resolveSource(src.sub(at), overrides);
      const path = resolve(dirname(file), ref);
      if (existsSync(path)) return loadTopology(path, overrides);
      fail(at, `no topology file '${ref}' (${path})`);
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      issues.push(...e.issues);
    }
    return undefined;
  };
  let current: Topology | undefined = topology;
  let names = new LabNames(topology);
  const steps: StepPlan[] = [];
  input.steps.forEach((s, i) => {
    let moved: Topology | undefined;
    if (s.topology !== undefined && current) {
      const next = stepTopology(s.topology, ['steps', i, 'topology']);
      if (!next) current = undefined;
      else if (sameTopology(next, current))
        fail(['steps', i, 'topology'], `the same topology as the step before runs on (lab ${current.name}): leave it out`);
      else {
        moved = current = next;
        names = new LabNames(next);
      }
    }
    if (!current) return;
    const plan = checkStep(input, i, names, fail);
    steps.push(moved ? { ...plan, topology: moved } : plan);
  });
  if (issues.length || parsed.issues.length) throw new InputError(mergeIssues(parsed.issues, issues));
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

/** Two topologies that build the same lab (where they were read from aside). */
export const sameTopology = (a: Topology, b: Topology) => isDeepStrictEqual({ ...a, source: '' }, { ...b, source: '' });

/** The topologies a scenario runs on, in order: its own, then each step's that moves it. */
export const scenarioTopologies = (s: Scenario): Topology[] => [s.topology, ...s.steps.flatMap((st) => (st.topology ? [st.topology] : []))];

function checkStep(input: ScenarioInput, index: number, names: LabNames, fail: FailAt): StepPlan {
  const step = input.steps[index];
  if (!step) throw new Error(`no step ${index}`);
  const base: Path = ['steps', index];

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
    const input = p as Record<string, unknown>;
    const kind: AnyProbeKind | string = kindOf(PROBES, input, 'a probe');
    if (typeof kind === 'string') return fail(path, kind);
    const at = [...path, kind.kind];
    const spec = input[kind.kind];
    const compiled = kind.compile(spec, { names, fail: (sub, m, k) => fail([...at, ...sub], m, k) });
    if (!compiled) return;
    const sameKind = step.probes.filter((q) => (q as Record<string, unknown>)[kind.kind] !== undefined).length;
    const name = p.name ?? (sameKind > 1 ? `${kind.kind}-${pi + 1}` : kind.kind);
    if (probes.some((o) => o.name === name)) return fail(path, `two probes named '${name}' in this step`);
    // the kind compiled it from its own spec: the plan is that kind's
    probes.push({ name, kind: kind.kind, path, spec, ...compiled } as ProbePlan);
  });

  const expect: ExpectationPlan[] = [];
  step.expect.forEach((e, ei) => {
    const path = [...base, 'expect', ei];
    const input = e as Record<string, unknown>;
    const kind: AnyExpectationKind | string = kindOf(EXPECTATIONS, input, 'an expectation');
    if (typeof kind === 'string') return fail(path, kind);
    const plan = checkExpectation(kind, input[kind.kind], [...path, kind.kind], probes, captures, names, fail);
    if (plan) expect.push({ ...plan, path, ...(e.name ? { name: e.name } : {}) } as ExpectationPlan);
  });
  return { index, name: step.name, captures, probes, expect };
}

function checkExpectation(
  kind: AnyExpectationKind,
  spec: unknown,
  path: Path,
  probes: ProbePlan[],
  captures: CapturePlan[],
  names: LabNames,
  fail: FailAt,
): { kind: string; spec: unknown; probe?: ProbePlan } | undefined {
  let probe: ProbePlan | undefined;
  const wantProbe = kind.probe?.kind;
  if (wantProbe) {
    const ref = (spec as { probe?: string }).probe;
    const candidates = probes.filter((p) => p.kind === wantProbe && (ref === undefined || p.name === ref));
    if (candidates.length !== 1 || !candidates[0]) {
      const msg =
        ref !== undefined
          ? `no ${wantProbe} probe named '${ref}' in this step (${probes.map((p) => `${p.name}: ${p.kind}`).join(', ') || 'no probes'})`
          : candidates.length
            ? `several ${wantProbe} probes in this step: say which with probe: <name>`
            : `a '${kind.kind}' expectation needs a ${wantProbe} probe in the same step`;
      fail(path, msg);
      return undefined;
    }
    probe = candidates[0];
  }
  const pods = new Set(names.topo.pods.map((p) => p.name));
  const at: FailAt = (sub, m, k) => fail([...path, ...sub], m, k);
  const checkPods = (list: string[], sub: Path) =>
    list.forEach((p, i) => pods.has(p) || at([...sub, i], `no pod '${p}' (pods: ${[...pods].join(', ')})`));
  const extra = kind.compile(spec, { names, probe, captures, fail: at, checkPods });
  return { kind: kind.kind, spec, ...(probe ? { probe } : {}), ...extra };
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
    if (other)
      throw InputError.of(s.file, 'name', `scenario name '${s.name}' is also used by ${other}: results would overwrite each other`);
    byName.set(s.name, s.file);
  }
  return scenarios;
}

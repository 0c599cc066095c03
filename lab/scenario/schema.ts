import { z } from 'zod';
import { EXPECTATIONS, PROBES } from './kinds';
import { name } from './kinds/fields';

// A scenario file as written by a user: a topology (file or inline) and steps; each step starts
// captures, runs probes, stops the captures and checks expectations. A probe or an expectation
// is an object with one key, its kind, whose schema is that kind's (kinds/, listed in
// kinds/index.ts). Semantic checks (names that must exist in the topology, probe and capture
// references) happen in load.ts.

export { COMPARISON_RE } from './kinds/fields';
export type { FieldMap } from './kinds/fields';

/** `{ name?, <kind>?: <kind's schema> }` for every kind of a registry list, in its order. */
function oneOfKinds<T extends readonly { kind: string; schema: z.ZodType }[]>(kinds: T) {
  const shape = Object.fromEntries(kinds.map((k) => [k.kind, k.schema.optional()])) as {
    [E in T[number] as E['kind']]: z.ZodOptional<E['schema']>;
  };
  return z.strictObject({ name: name.optional(), ...shape });
}

const probe = oneOfKinds(PROBES);

const capture = z.strictObject({
  name: name.optional(),
  /** <node|pod>:<interface|any>, or @lab:<interface> for the underlay namespace */
  at: z.string(),
  filter: z.string().optional(),
});

const expectation = oneOfKinds(EXPECTATIONS);

/** a topology file (relative to the scenario file) or the topology itself, inline */
const topologyRef = z.union([z.string(), z.record(z.string(), z.unknown())]);

const step = z.strictObject({
  name: z.string().min(1),
  /** from this step on, the scenario runs on this topology (re-synced if `lab apply` can, else rebuilt) */
  topology: topologyRef.optional(),
  captures: z.array(capture).default([]),
  probes: z.array(probe).default([]),
  expect: z.array(expectation).default([]),
});

export const scenarioSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, { error: 'scenario names are lowercase letters, digits and -' })
    .optional(),
  description: z.string().optional(),
  /** a topology file (relative to this file) or the topology itself */
  topology: topologyRef,
  /** kube-proxy mode for this scenario, overriding the topology's */
  proxy: z.enum(['iptables', 'ipvs', 'nftables', 'none']).optional(),
  steps: z.array(step).min(1, { error: 'a scenario needs at least one step' }),
});

export type ScenarioInput = z.infer<typeof scenarioSchema>;
export type StepInput = z.infer<typeof step>;
export type ProbeInput = z.infer<typeof probe>;
export type CaptureInput = z.infer<typeof capture>;
export type ExpectationInput = z.infer<typeof expectation>;
export type { PingProbe } from './kinds/probes/ping';
export type { TracerouteProbe } from './kinds/probes/traceroute';
export type { ConnectProbe } from './kinds/probes/connect';
export type { CommandProbe } from './kinds/probes/command';
export type { TraceProbe } from './kinds/probes/trace';
export type { PacketsExpectation } from './kinds/expectations/packets';

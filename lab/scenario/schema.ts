import { z } from 'zod';

// A scenario file as written by a user: a topology (file or inline) and steps; each step starts
// captures, runs probes, stops the captures and checks expectations. Semantic checks (names that
// must exist in the topology, probe and capture references) happen in load.ts.

/** `3`, or a comparison written as text: `>= 3`, `< 64`, `!= 0` */
export const COMPARISON_RE = /^\s*(>=|<=|>|<|==|!=)\s*(-?\d+(\.\d+)?)\s*$/;
const countLike = z.union([
  z.number().int().min(0),
  z.string().regex(COMPARISON_RE, { error: "expected a number or a comparison such as '>= 3'" }),
]);
const seconds = z.number().positive().max(60);
const name = z.string().regex(/^[A-Za-z0-9][\w.:-]*$/, { error: 'names are letters, digits and . _ : -' });

const pingProbe = z.strictObject({
  from: z.string(),
  to: z.string(),
  count: z.number().int().min(1).max(1000).default(3),
  interval: z.number().min(0.01).max(10).default(0.2),
  timeout: seconds.default(2),
});

const tracerouteProbe = z.strictObject({
  from: z.string(),
  to: z.string(),
  method: z.enum(['udp', 'icmp', 'tcp']).default('udp'),
  port: z.number().int().min(1).max(65535).optional(),
  maxHops: z.number().int().min(1).max(30).default(10),
  queries: z.number().int().min(1).max(5).default(1),
  wait: seconds.default(1),
});

const connectProbe = z.strictObject({
  from: z.string(),
  /** ip:port, <pod>:port, service:<name>[:<port>], nodeport:<service>[:<port>]@<node> */
  to: z.string(),
  count: z.number().int().min(1).max(100_000).default(1),
  protocol: z.enum(['TCP', 'UDP']).optional(),
  timeout: z.number().int().min(1).max(60).default(2),
});

/** A command run in a node, a pod or the lab namespace, its output checked by `output` expectations
 *  (what an article shows with ip route, iptables -L, ipset list, ipvsadm -Ln, bridge fdb...). */
const commandProbe = z.strictObject({
  on: z.string(),
  // YAML reads `-4` or `80` as numbers: an argument is text either way
  run: z.array(z.union([z.string(), z.number().transform(String)])).min(1),
  timeout: seconds.default(30),
});

/** One probe packet followed point by point and through each node's netfilter hooks (lab/trace). */
const traceProbe = z.strictObject({
  from: z.string(),
  /** `<pod>` (ICMP echo), `<pod|ip>:<port>`, `service:<name>[:<port>]`, `nodeport:<service>@<node>` */
  to: z.string(),
  protocol: z.enum(['tcp', 'udp', 'icmp']).optional(),
});

export const PROBE_KINDS = ['ping', 'traceroute', 'connect', 'command', 'trace'] as const;
export type ProbeKind = (typeof PROBE_KINDS)[number];

const probe = z.strictObject({
  name: name.optional(),
  ping: pingProbe.optional(),
  traceroute: tracerouteProbe.optional(),
  connect: connectProbe.optional(),
  command: commandProbe.optional(),
  trace: traceProbe.optional(),
});

const capture = z.strictObject({
  name: name.optional(),
  /** <node|pod>:<interface|any>, or @lab:<interface> for the underlay namespace */
  at: z.string(),
  filter: z.string().optional(),
});

const scalar = z.union([z.string(), z.number(), z.boolean()]);
/** field path → expected value: a value, a comparison ('>= 60'), a symbolic name, or a list of allowed values */
const fieldMap = z.record(z.string(), z.union([scalar, z.array(scalar).min(1)]));
const probeRef = { probe: name.optional() };

const expectations = {
  ping: z.strictObject({ ...probeRef, ttl: countLike.optional(), received: countLike.optional() }),
  hops: z.strictObject({
    ...probeRef,
    /** the exact hop list: symbolic names (node2.flannel.1, pod:web-1), addresses, or '*' for a hop that did not answer */
    equals: z.array(z.string()).optional(),
    count: countLike.optional(),
  }),
  packets: z.strictObject({
    /** a capture name of this step (the capture's `at` when it has no name) */
    at: z.string().optional(),
    where: fieldMap.default({}),
    count: countLike.default('>= 1'),
    fields: fieldMap.default({}),
  }),
  nat: z.strictObject({
    ...probeRef,
    /** `endpoint`: the endpoint saw itself reached on its own pod IP (DNAT); or a name/address */
    destination: z.string().optional(),
    /** `client` (source kept), `snat` (rewritten), `node` (an address of a node), or a name/address */
    source: z.string().optional(),
  }),
  spread: z.strictObject({
    ...probeRef,
    /** `all`: every endpoint of the service the probe reached; or the pods that must each serve */
    endpoints: z.union([z.literal('all'), z.array(z.string()).min(1)]).default('all'),
    /** significance of a chi-square test against a uniform spread */
    chiSquare: z.union([z.literal(0.05), z.literal(0.01), z.literal(0.001)]).optional(),
  }),
  output: z.strictObject({
    ...probeRef,
    /** each must appear in the output (runs of spaces count as one: column layouts vary) */
    contains: z.array(z.string()).optional(),
    /** each must not appear */
    lacks: z.array(z.string()).optional(),
    /** regular expressions (multiline), each must match */
    matches: z.array(z.string()).optional(),
    exitCode: z.number().int().default(0),
  }),
  walk: z.strictObject({
    ...probeRef,
    /** the observed walk equals the one the lab computed from the topology and rules */
    asExpected: z.boolean().default(true),
    /** the pod the packet ended in (one of these) */
    reached: z.union([z.string(), z.array(z.string()).min(1)]).optional(),
    /** node → the netfilter hooks the packet met there, exactly, in order */
    hooks: z.record(z.string(), z.array(z.enum(['prerouting', 'input', 'forward', 'output', 'postrouting'])).min(1)).optional(),
    /** node → chains the packet entered there, in this order (others may come between) */
    chains: z.record(z.string(), z.array(z.string()).min(1)).optional(),
    /** texts that must appear among the changes along the way ("DNAT 10.43.0.10:80", "ttl 63 → 62") */
    changes: z.array(z.string()).optional(),
  }),
  connect: z.strictObject({
    ...probeRef,
    succeeded: countLike.optional(),
    failed: countLike.optional(),
    /** every successful attempt was served by one of these pods */
    servedBy: z.array(z.string()).min(1).optional(),
  }),
};

export const EXPECTATION_KINDS = Object.keys(expectations) as (keyof typeof expectations)[];
export type ExpectationKind = keyof typeof expectations;

const expectation = z.strictObject({
  name: name.optional(),
  ping: expectations.ping.optional(),
  hops: expectations.hops.optional(),
  packets: expectations.packets.optional(),
  nat: expectations.nat.optional(),
  spread: expectations.spread.optional(),
  connect: expectations.connect.optional(),
  output: expectations.output.optional(),
  walk: expectations.walk.optional(),
});

const step = z.strictObject({
  name: z.string().min(1),
  captures: z.array(capture).default([]),
  probes: z.array(probe).default([]),
  expect: z.array(expectation).default([]),
});

export const scenarioSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, { error: 'scenario names are lowercase letters, digits and -' }).optional(),
  description: z.string().optional(),
  /** a topology file (relative to this file) or the topology itself */
  topology: z.union([z.string(), z.record(z.string(), z.unknown())]),
  /** kube-proxy mode for this scenario, overriding the topology's */
  proxy: z.enum(['iptables', 'ipvs', 'nftables', 'none']).optional(),
  steps: z.array(step).min(1, { error: 'a scenario needs at least one step' }),
});

export type ScenarioInput = z.infer<typeof scenarioSchema>;
export type StepInput = z.infer<typeof step>;
export type ProbeInput = z.infer<typeof probe>;
export type CaptureInput = z.infer<typeof capture>;
export type ExpectationInput = z.infer<typeof expectation>;
export type PingProbe = z.infer<typeof pingProbe>;
export type TracerouteProbe = z.infer<typeof tracerouteProbe>;
export type ConnectProbe = z.infer<typeof connectProbe>;
export type CommandProbe = z.infer<typeof commandProbe>;
export type TraceProbe = z.infer<typeof traceProbe>;
export type FieldMap = z.infer<typeof fieldMap>;
export type PacketsExpectation = z.infer<typeof expectations.packets>;
export type Expectations = { [K in ExpectationKind]: z.infer<(typeof expectations)[K]> };

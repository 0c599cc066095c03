import { EXPECTATION_KINDS, EXPECTATIONS, expectationKind, PROBE_KINDS, PROBES, probeKind } from '../kinds';
import { scenarioSchema } from '../schema';

// The kinds registry: a new kind is one module and one line in kinds/index.ts. Every entry
// implements its interface, names are unique, and the scenario schema takes each kind.

const stepSchema = scenarioSchema.shape.steps.element;
const probeSchema = stepSchema.shape.probes.unwrap().element;
const expectationSchema = stepSchema.shape.expect.unwrap().element;

/** The issues of parsing `{ <kind>: {} }`: none at the top (the key is known), maybe some inside. */
const topLevelIssues = (schema: typeof probeSchema | typeof expectationSchema, kind: string) => {
  const r = schema.safeParse({ [kind]: {} });
  return r.success ? [] : r.error.issues.filter((i) => i.path.length === 0);
};

describe('kinds registry', () => {
  it('lists each probe kind once, each with a schema, compile and run', () => {
    expect(new Set(PROBE_KINDS).size).toBe(PROBES.length);
    expect(PROBE_KINDS).toEqual(['ping', 'traceroute', 'connect', 'command', 'trace', 'dns', 'reachability']);
    for (const k of PROBES) {
      expect(typeof k.kind).toBe('string');
      expect(typeof k.schema.safeParse).toBe('function');
      expect(typeof k.compile).toBe('function');
      expect(typeof k.run).toBe('function');
      expect(probeKind(k.kind)).toBe(k);
    }
  });

  it('lists each expectation kind once, each with a schema, compile, evaluate and a known probe kind', () => {
    expect(new Set(EXPECTATION_KINDS).size).toBe(EXPECTATIONS.length);
    expect(EXPECTATION_KINDS).toEqual(['ping', 'hops', 'packets', 'nat', 'spread', 'output', 'walk', 'connect', 'dns', 'reachability']);
    for (const k of EXPECTATIONS) {
      expect(typeof k.schema.safeParse).toBe('function');
      expect(typeof k.compile).toBe('function');
      expect(typeof k.evaluate).toBe('function');
      if (k.probe) expect(PROBE_KINDS).toContain(k.probe.kind);
      expect(expectationKind(k.kind)).toBe(k);
    }
  });

  it('the scenario schema takes every kind under its own key, and nothing else', () => {
    for (const k of PROBE_KINDS) {
      expect(Object.keys(probeSchema.shape)).toContain(k);
      expect(topLevelIssues(probeSchema, k)).toEqual([]);
    }
    for (const k of EXPECTATION_KINDS) {
      expect(Object.keys(expectationSchema.shape)).toContain(k);
      expect(topLevelIssues(expectationSchema, k)).toEqual([]);
    }
    expect(topLevelIssues(probeSchema, 'nope').map((i) => i.code)).toEqual(['unrecognized_keys']);
    expect(Object.keys(probeSchema.shape).sort()).toEqual(['name', ...PROBE_KINDS].sort());
    expect(Object.keys(expectationSchema.shape).sort()).toEqual(['name', ...EXPECTATION_KINDS].sort());
  });

  it('a packets expectation with defaults parses through the assembled schema', () => {
    expect(expectationSchema.parse({ packets: {} })).toEqual({ packets: { where: {}, count: '>= 1', fields: {} } });
  });
});

/**
 * The layer map of lab/ and the rules that keep it true. Check with `npm run deps`
 * (depcruise lab --config .dependency-cruiser.cjs); docs/architecture.md tells the why.
 *
 * Layers, bottom → top. A module may import from its own layer or from layers BELOW it, never above.
 *
 *  1. util      lab/errors.ts, lab/paths.ts    LabError and the repo's paths; imports nothing of ours
 *  2. pcap      lab/pcap/                      pure pcap/pcapng readers and packet decoders
 *  3. topology  lab/topology/, lab/k8s/        our topology YAML in, validated (ssh-url parsing too);
 *                                              the lab as Kubernetes objects and kubectl's views of them
 *  4. model     lab/model/                     the resolved lab, made once: names, services → endpoints
 *  5. plan      lab/plan/, lab/network/,       pure planning: Steps for network, kube-proxy modes
 *               lab/proxy/, lab/pods/,         (and their read-back parsers), pod servers;
 *               lab/graph/, lab/policy/        graph renderers of the model, the NetworkPolicy compiler
 *  6. runtime   lab/runtime/, lab/docker/,     where steps are applied: executors, namespaces, docker,
 *               lab/remote/, lab/vm/,          ssh hosts, the QEMU machine, kernel feature probes,
 *               lab/state/                     saved lab state
 *  7. observe   lab/probe/, lab/trace/,        looking at a running lab: probes, packet/netfilter
 *               lab/status/                    traces, status read-back
 *  8. report    lab/report/                    result types and their renderings (console, json, junit, html)
 *  9. scenario  lab/scenario/                  scenario load/compile, probe and expectation kinds, step execution
 * 10. ops       lab/ops/                       one verb each: up, down, apply, run, trace, capture, select
 * 11. cli       lab/cli.ts                     parse flags, call one ops function, hand its result to a reporter
 *
 * Outside the layer rule: tests (any __tests__/ folder), lab/testing/ (test helpers) and scripts/
 * may import anything in lab/. Production code never imports lab/testing/.
 *
 * allowedExceptions (an import that goes up on purpose; each needs its reason here and a
 * pathNot entry in the rule below):
 *   - none yet.
 */

/** [name, path regex] bottom → top; the index is the layer's height. */
const LAYERS = [
  ['util', '^lab/(errors|paths)\\.ts$'],
  ['pcap', '^lab/pcap/'],
  ['topology', '^lab/(topology|k8s)/'],
  ['model', '^lab/model/'],
  ['plan', '^lab/(plan|network|proxy|pods|graph|policy)/'],
  ['runtime', '^lab/(runtime|docker|remote|vm|state)/'],
  ['observe', '^lab/(probe|trace|status)/'],
  ['report', '^lab/report/'],
  ['scenario', '^lab/scenario/'],
  ['ops', '^lab/ops/'],
  ['cli', '^lab/cli\\.ts$'],
];

/** Files the layer rule does not judge as importers. */
const OUTSIDE = ['(^|/)__tests__/', '^lab/testing/', '^scripts/'];

/** One rule per layer: nothing in it imports a layer above it. */
const noUpward = LAYERS.slice(0, -1).map(([name, path], i) => ({
  name: `no-upward-import-from-${name}`,
  comment: `layer ${i + 1} (${name}) may import only: ${LAYERS.slice(0, i + 1).map(([n]) => n)}`,
  severity: 'error',
  from: { path, pathNot: OUTSIDE },
  to: { path: LAYERS.slice(i + 1).map(([, p]) => p) },
}));

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'a cycle makes two modules one; break it by moving the shared part down a layer',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    ...noUpward,
    {
      name: 'no-testing-in-production',
      comment: 'lab/testing/ holds test helpers: only tests and scripts/ import it',
      severity: 'error',
      from: { path: '^lab/', pathNot: OUTSIDE },
      to: { path: '^lab/testing/' },
    },
    {
      name: 'in-a-layer',
      comment: 'every production module under lab/ belongs to a layer: add its folder to LAYERS above',
      severity: 'warn',
      from: { path: '^lab/', pathNot: [...OUTSIDE, ...LAYERS.map(([, p]) => p)] },
      to: {},
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: ['(^|/)__tests__/golden/', '(^|/)node_modules/'] },
    // type-only imports count: a layer must not even name a type from above it
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.json'] },
    reporterOptions: { text: { highlightFocused: true } },
  },
};

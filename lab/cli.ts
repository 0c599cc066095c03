import { resolve } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { Listr } from 'listr2';
import pc from 'picocolors';
import { InputError, LabError } from './errors';
import { inRepo } from './paths';
import { checkLabName } from './topology/schema';
import { applyFile } from './ops/apply';
import { captureLab } from './ops/capture';
import { connectFrom } from './ops/connect';
import { diffRulesOf } from './ops/diff-rules';
import { downLabs } from './ops/down';
import { execIn } from './ops/exec';
import { exportLab, getObjects } from './ops/k8s';
import { nodeImage } from './ops/image';
import { labStatus } from './ops/status';
import { resultsRoot } from './ops/results-dir';
import { runSuites } from './ops/suites';
import type { RuntimeHooks } from './ops/target';
import { graphFile, planFile, validateFile } from './ops/topology';
import { traceFrom } from './ops/trace';
import { type StageRunner, upFromFile } from './ops/up';
import { KERNEL_VERBS, REAL_VMS, type VmSeam, vmForward } from './ops/vm-forward';
import { diffText, isIdentical } from './proxy/diff';
import { eventLines } from './report/console';
import {
  applyLine,
  captureLines,
  connectLines,
  downLine,
  listeningLine,
  NOTHING_TO_REMOVE,
  nothingToRemove,
  planText,
  runEndLines,
  statusText,
  traceLines,
  upLines,
  wroteLines,
} from './report/verbs';

// Commander verbs only: each one parses its arguments, calls one function of lab/ops and hands
// what it returned to a renderer of lab/report.

const DEFAULT_TOPOLOGY = inRepo('scenarios', 'topologies', 'default.yaml');

/** What the program is given from outside; the defaults are the real ones. */
export interface CliDeps {
  /** the VMs labs with `--kernel vm` live in */
  vms?: VmSeam;
  /** awaited after each stage of `up` (lab/testing holds `up` there so that a kill lands between two stages) */
  afterStage?: (stage: string) => Promise<void>;
  /** awaited after each step of `run` (lab/testing holds a run there so that a signal lands between two steps) */
  afterStep?: (scenario: string, index: number) => Promise<void>;
}

/** Progress for the docker runtime's one-time image build, and its notices, on stderr. */
const hooks: RuntimeHooks = {
  onImageProgress: (line) => console.error(pc.dim(line)),
  onNotice: (text) => console.error(pc.yellow(text)),
};

/**
 * A path the user typed, from where they typed it: `npm run lab` runs in the repository's root,
 * and npm keeps the caller's directory in INIT_CWD.
 */
const callerDir = () => process.env.INIT_CWD ?? process.cwd();
const fromCaller = (path: string) => resolve(callerDir(), path);
/** --results: checked before anything runs (lab/ops/results-dir.ts says the rule); the default stays the repository's results/ */
const resultsArg = (dir: string) => resultsRoot(dir, callerDir());

const fileOption = () =>
  new Option('-f, --file <topology>', 'topology file (YAML), or Kubernetes objects (a `kubectl get -o yaml` dump)')
    .default(DEFAULT_TOPOLOGY, 'scenarios/topologies/default.yaml')
    .argParser(fromCaller);
const nameOption = () => new Option('-n, --name <lab>', 'lab name (overrides the topology name)');
const proxyOption = () =>
  new Option('--proxy <mode>', "kube-proxy mode (overrides the topology's proxy.mode): iptables, nftables, ipvs or none");
const runtimeOption = () => new Option('--runtime <kind>', "where nodes live (overrides the topology's runtime): netns or docker");
/** the read-only k8s verbs (get, export, diff-rules): a lab that is up, or a topology file */
const labOption = (flags = '-n, --name <lab>') =>
  new Option(flags, 'a lab that is up: its topology as it was brought up (else --topology)');
const topologyOption = () =>
  new Option('-t, --topology <file>', 'topology file (YAML), when no lab is named')
    .default(DEFAULT_TOPOLOGY, 'scenarios/topologies/default.yaml')
    .argParser(fromCaller);
/** the lab verbs take --kernel only to say that it is not theirs (the same messages as ever) */
const hiddenKernelOption = () => new Option('--kernel <where>').hideHelp();
const overrides = (o: { name?: string; proxy?: string; runtime?: string }) => ({
  ...(o.name !== undefined ? { name: o.name } : {}),
  ...(o.proxy !== undefined ? { proxyMode: o.proxy } : {}),
  ...(o.runtime !== undefined ? { runtime: o.runtime } : {}),
});

/** One line per stage with its time, via listr2 (plain lines when not on a terminal). */
const listrRunner: StageRunner = async (stages) => {
  const tty = process.stdout.isTTY === true && !process.env.CI;
  await new Listr(
    stages.map((s) => ({
      title: s.title,
      task: async (_ctx: unknown, task: { title: string }) => {
        const t0 = performance.now();
        const detail = await s.run();
        task.title = `${s.title}: ${detail ?? 'done'} ${pc.dim(`(${((performance.now() - t0) / 1000).toFixed(2)} s)`)}`;
      },
    })),
    // listr2's own signal listener would exit the process at once: up's handler must undo the work first
    { renderer: tty ? 'default' : 'simple', exitOnError: true, registerSignalListeners: false, rendererOptions: {} },
  ).run();
};

function intArg(name: string, v: string): number {
  if (!/^\d+$/.test(v)) throw InputError.of(name, '', `not a whole number: '${v}'`);
  return Number(v);
}

/** A count or a duration: 0 would read as "no limit" to tcpdump or mean nothing at all, so it is refused. */
function positiveArg(name: string, v: string): number {
  const n = intArg(name, v);
  if (n === 0) throw InputError.of(name, '', 'must be at least 1');
  return n;
}

const print = (lines: string[]) => lines.forEach((l) => console.log(l));

interface ForwardOpts {
  kernel?: string;
  name?: string;
  file?: string;
  all?: boolean;
  results?: string;
}

/**
 * A verb whose command line may go into a VM (a lab with --kernel vm): decided from the options
 * commander parsed, before the verb's own action; the guest's output is passed on as it was.
 */
function forwardable<A extends unknown[]>(vms: VmSeam, action: (...args: A) => void | Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    const cmd = args[args.length - 1] as Command;
    const o = args[args.length - 2] as ForwardOpts;
    const verb = cmd.name();
    // before anything reads it (the VMs, the state folder, the kernel): `..`, `/`, '' and the like are exit 2
    if (o.name !== undefined) checkLabName(o.name);
    if (!KERNEL_VERBS.has(verb) && o.kernel === 'host') cmd.error("error: unknown option '--kernel'", { code: 'commander.unknownOption' });
    const forwarding = await vmForward(
      {
        verb,
        argv: cmd.parent?.args ?? [],
        ...(o.kernel !== undefined ? { kernel: o.kernel } : {}),
        ...(o.name !== undefined ? { name: o.name } : {}),
        ...(o.file !== undefined ? { file: o.file } : {}),
        ...(o.all ? { all: true } : {}),
        ...(o.results !== undefined ? { results: o.results, resultsGiven: cmd.getOptionValueSource('results') === 'cli' } : {}),
      },
      (line) => console.error(pc.dim(line)),
      vms,
    );
    for (const r of forwarding.outputs) {
      process.stdout.write(r.stdout);
      process.stderr.write(r.stderr);
    }
    if (forwarding.code !== undefined) return void (process.exitCode = forwarding.code);
    await action(...args);
  };
}

/** The lab CLI's commands, options and actions; `main` runs it, tests and docs read it. */
export function program(deps: CliDeps = {}): Command {
  const vms = deps.vms ?? REAL_VMS;
  const program = new Command('lab')
    .description('k8s-dataplane-lab: a Kubernetes-like dataplane from real kernel objects')
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({ outputError: (s, write) => write(pc.red(s)) });
  /** a verb: its --kernel (hidden where it is not the verb's) and its VM forwarding */
  const verb = (name: string) => {
    const cmd = program.command(name);
    if (!KERNEL_VERBS.has(name) && name !== 'image') cmd.addOption(hiddenKernelOption());
    return cmd;
  };

  verb('up')
    .description('bring a lab up from a topology file (the default lab without -f)')
    .addOption(fileOption())
    .addOption(nameOption())
    .addOption(proxyOption())
    .addOption(runtimeOption())
    .option('--kernel <where>', "host (default) or vm: bring the lab up inside a QEMU guest with Debian's stock kernel (IPVS, dummy)")
    .option('--reconfigure', 'replace a lab of the same name that is up with another topology')
    .option('--json', 'print the resulting lab as JSON instead of a table')
    .action(
      forwardable(
        vms,
        async (o: { file: string; name?: string; proxy?: string; runtime?: string; reconfigure?: boolean; json?: boolean }) => {
          const r = await upFromFile({
            file: o.file,
            overrides: overrides(o),
            reconfigure: o.reconfigure === true,
            hooks,
            ...(o.json ? {} : { runStages: listrRunner }),
            ...(deps.afterStage ? { afterStage: deps.afterStage } : {}),
          });
          if (o.json) return void console.log(JSON.stringify(r.view, null, 2));
          print(upLines(r));
        },
      ),
    );

  verb('down')
    .description('remove every object of a lab (found in the kernel by its prefix)')
    .addOption(nameOption())
    .option('-f, --file <topology>', 'take the lab name from this topology file', fromCaller)
    .option('--all', 'remove every lab')
    .action(
      forwardable(vms, async (o: { name?: string; file?: string; all?: boolean }) => {
        const removed = await downLabs({ ...o, hooks }, (lab, n) => console.log(downLine(lab, n)));
        if (!removed.length) console.log(o.name !== undefined ? nothingToRemove(o.name) : NOTHING_TO_REMOVE);
      }),
    );

  verb('status')
    .description('what is up, read from the kernel')
    .addOption(nameOption())
    .option('--json', 'print as JSON: { labs: [...] }')
    .action(
      forwardable(vms, async (o: { name?: string; json?: boolean }) => {
        const labs = await labStatus(o.name, hooks);
        console.log(o.json ? JSON.stringify({ labs }, null, 2) : statusText(labs, o.name));
        if (o.name !== undefined && !labs.length) process.exitCode = 3; // no such lab: a script can ask `status --name x`
      }),
    );

  verb('exec')
    .description("run a command inside a node's or pod's namespace ('@lab' for the underlay namespace)")
    .addOption(nameOption())
    .argument('<target>', 'node or pod name')
    .argument('<command...>', 'the command and its arguments')
    .passThroughOptions()
    .action(
      forwardable(vms, async (target: string, command: string[], o: { name?: string }) => {
        const r = await execIn({ ...o, target, command }, hooks);
        if (r.output) {
          // a node on another machine: through the runtime's exec, output passed on afterwards
          process.stdout.write(r.output.stdout);
          process.stderr.write(r.output.stderr);
        }
        process.exitCode = r.code;
      }),
    );

  verb('apply')
    .description('change a running lab to match its topology file: pods added/removed, services and rules re-synced')
    .addOption(fileOption())
    .addOption(nameOption())
    .addOption(proxyOption())
    .option('--full', 'write every rule again (a full re-sync), not only what changed since the last sync')
    .action(
      forwardable(vms, async (o: { file: string; name?: string; proxy?: string; full?: boolean }) => {
        console.log(
          applyLine(await applyFile({ file: o.file, overrides: overrides(o), runStages: listrRunner, hooks, full: o.full === true })),
        );
      }),
    );

  verb('connect')
    .description(
      'connect from a node or pod to ip:port (a pod, a cluster IP, a node port) or name:port (resolved in the pod) and show which pod answered',
    )
    .addOption(nameOption())
    .argument('<from>', 'node or pod name')
    .argument('<address>', 'ip:port, <node|pod>:port, or a DNS name:port (web.default.svc.cluster.local:80, web:80) resolved by the pod')
    .option('-c, --count <n>', 'connections to make', (v) => positiveArg('--count', v), 1)
    .option('--udp', 'send UDP datagrams instead of TCP connects')
    .option('--json', 'print every attempt as JSON')
    .action(
      forwardable(vms, async (from: string, address: string, o: { name?: string; count: number; udp?: boolean; json?: boolean }) => {
        const r = await connectFrom({ ...o, from, address }, hooks);
        if (o.json) return void console.log(JSON.stringify(r, null, 2));
        print(connectLines(r));
        process.exitCode = r.failed ? 1 : 0;
      }),
    );

  verb('run')
    .description('run scenario suites: bring the lab up, capture, probe, check expectations, tear down; results in results/<run-id>/')
    .argument('<path>', 'a scenario file, or a folder of them (topologies/ folders are skipped)', fromCaller)
    .addOption(nameOption())
    .addOption(runtimeOption())
    .option('--kernel <where>', 'host (default) or vm: run the suites inside a QEMU guest with a stock kernel')
    .option('--reuse', 'run against a lab that is already up with the same topology (and leave it up)')
    .option('--keep', 'leave the labs up after the run')
    .option('--results <dir>', 'where run folders are made', resultsArg, 'results')
    .option('--allow-skip', 'exit 0 when steps were skipped for a missing kernel feature (nothing failed)')
    .option('--exclude <names...>', 'leave out these scenario files (base names without .yaml, e.g. netpol-e2e)')
    .option('--json', 'print report.json to stdout instead of progress lines')
    .action(
      forwardable(
        vms,
        async (
          path: string,
          o: {
            name?: string;
            runtime?: string;
            reuse?: boolean;
            keep?: boolean;
            results: string;
            allowSkip?: boolean;
            exclude?: string[];
            json?: boolean;
          },
        ) => {
          const { report, shown } = await runSuites({
            path,
            ...o,
            hooks,
            ...(o.json ? {} : { onEvent: (e, dir) => print(eventLines(e, dir)) }),
            ...(deps.afterStep ? { afterStep: deps.afterStep } : {}),
          });
          if (o.json) console.log(JSON.stringify(report, null, 2));
          else print(runEndLines(report, shown));
          // stopped by a signal: 128 + its number, as a shell reports it, whatever had passed
          if (report.interrupted) process.exitCode = report.interrupted === 'SIGINT' ? 130 : 143;
          else process.exitCode = report.summary.failed ? 1 : report.summary.skipped && !o.allowSkip ? 2 : 0;
        },
      ),
    );

  verb('capture')
    .description(
      'tcpdump at a point of a lab that is up (node1:eth0, node2:flannel.1, client:eth0, node1:any), until Ctrl-C, --seconds or --count; prints what it caught',
    )
    .addOption(nameOption())
    .argument('<point>', '<node|pod|@lab>[:<interface|any>]')
    .argument('[filter...]', 'BPF filter, e.g. udp port 8472')
    .option('-s, --seconds <n>', 'stop after this many seconds', (v) => positiveArg('--seconds', v))
    .option('-c, --count <n>', 'stop after this many packets', (v) => positiveArg('--count', v))
    .option('--results <dir>', 'where run folders are made', resultsArg, 'results')
    .option('--show <n>', 'packets to print (0: none)', (v) => intArg('--show', v), 50)
    .action(
      forwardable(
        vms,
        async (
          point: string,
          filterWords: string[],
          o: { name?: string; seconds?: number; count?: number; results: string; show: number },
        ) => {
          const filter = filterWords.join(' ');
          const interrupted = new Promise<void>((r) => process.once('SIGINT', () => r()));
          const done = await captureLab(
            { ...o, at: point, filter },
            (file, linkType) => console.log(listeningLine(point, file, linkType, !!(o.seconds || o.count))),
            interrupted,
            hooks,
          );
          print(captureLines(done, { point, filter, show: o.show }));
        },
      ),
    );

  verb('trace')
    .description(
      "send one probe and follow it: the packet at every point on its way (what changed), each node's netfilter hooks and chains (nft monitor trace), against the walk the lab expects",
    )
    .addOption(nameOption())
    .argument('<from>', 'pod or node name')
    .argument(
      '<to>',
      '<pod> (ICMP echo), <pod|ip>:<port>, service:<name>[:<port>], nodeport:<service>@<node>, <DNS name>:<port> (resolved in the pod)',
    )
    .option('--udp', 'a UDP datagram instead of a TCP SYN')
    .option('--results <dir>', 'where run folders are made', resultsArg, 'results')
    .option('--json', 'print the walk as JSON')
    .action(
      forwardable(vms, async (from: string, to: string, o: { name?: string; udp?: boolean; results: string; json?: boolean }) => {
        const { walk, dir } = await traceFrom({ ...o, from, to }, hooks);
        if (o.json) console.log(JSON.stringify(walk, null, 2));
        else print(traceLines(walk, dir));
        process.exitCode = walk.ok ? 0 : 1;
      }),
    );

  verb('image')
    .description("build the docker runtime's node image (images/node) if its content changed, and print its tag")
    .action(
      forwardable(vms, async () => {
        console.log(await nodeImage((line) => console.error(pc.dim(line))));
      }),
    );

  verb('get')
    .description("kubectl get of the lab: pods, services, endpointslices, nodes, networkpolicies (po, svc, no, netpol), kubectl's columns")
    .argument('<resource>', "pods, services, endpointslices, nodes or networkpolicies (or kubectl's short names)")
    .argument('[names...]', 'only these objects')
    .addOption(labOption('--name <lab>'))
    .addOption(topologyOption())
    .option('-n, --namespace <ns>', 'the Kubernetes namespace', 'default')
    .option('-A, --all-namespaces', 'every namespace (a NAMESPACE column first)')
    .option('-o, --output <format>', 'wide (more columns), yaml or json (the Kubernetes objects)')
    .action(
      forwardable(
        vms,
        (
          resource: string,
          names: string[],
          o: { name?: string; topology: string; namespace: string; allNamespaces?: boolean; output?: string },
        ) => {
          const r = getObjects({ ...o, file: o.topology, resource, names });
          process.stdout.write(r.stdout);
          r.stderr.forEach((l) => console.error(l));
          process.exitCode = r.code;
        },
      ),
    );

  verb('export')
    .description(
      'the lab as Kubernetes objects (Namespaces, Nodes, Pods, Services, EndpointSlices): a List, as kubectl get -o yaml prints it',
    )
    .addOption(labOption())
    .addOption(topologyOption())
    .option('-o, --output <format>', 'yaml or json', 'yaml')
    .action(
      forwardable(vms, (o: { name?: string; topology: string; output: string }) => {
        process.stdout.write(exportLab({ ...o, file: o.topology }));
      }),
    );

  verb('diff-rules')
    .description(
      "compare what the lab generates for a node with a real node's dump: iptables-save, nft list table|ruleset, ipset save, ipvsadm -Sn",
    )
    .argument('<node>', 'the lab node whose rules are compared')
    .argument('<file>', "the real node's dump (its format is read from its content)", fromCaller)
    .addOption(labOption())
    .addOption(topologyOption())
    .addOption(proxyOption())
    .option('--json', 'print the differences as JSON')
    .action(
      forwardable(vms, (node: string, file: string, o: { name?: string; topology: string; proxy?: string; json?: boolean }) => {
        const r = diffRulesOf({
          node,
          dump: file,
          file: o.topology,
          overrides: overrides({ ...(o.proxy ? { proxy: o.proxy } : {}) }),
          ...(o.name !== undefined ? { name: o.name } : {}),
        });
        const same = isIdentical(r.diff);
        if (o.json) console.log(JSON.stringify({ lab: r.lab, node: r.node, file: r.file, identical: same, ...r.diff }, null, 2));
        else process.stdout.write(diffText(r.diff, { real: file, lab: `lab ${r.lab}` }));
        process.exitCode = same ? 0 : 1;
      }),
    );

  verb('plan')
    .description('print the commands `up` would run, without running them')
    .addOption(fileOption())
    .addOption(nameOption())
    .addOption(proxyOption())
    .action(
      forwardable(vms, (o: { file: string; name?: string; proxy?: string }) => {
        process.stdout.write(planText(planFile(o.file, overrides(o))));
      }),
    );

  verb('validate')
    .description('check a topology file and print it resolved (every address decided)')
    .addOption(fileOption())
    .action(
      forwardable(vms, (o: { file: string }) => {
        console.log(JSON.stringify(validateFile(o.file), null, 2));
      }),
    );

  verb('graph')
    .description('draw a topology as a graph: SVG (our own layout), Graphviz DOT and Mermaid; <out>/<lab>.svg, .dot, .mmd')
    .addOption(fileOption())
    .addOption(nameOption())
    .addOption(proxyOption())
    .option('--out <dir>', 'where the files go (default results/graph/); without it --format dot|mermaid prints to stdout')
    .option('--format <format>', 'svg, dot, mermaid or all', 'all')
    .action(
      forwardable(vms, (o: { file: string; name?: string; proxy?: string; out?: string; format: string }) => {
        const r = graphFile({ file: o.file, overrides: overrides(o), format: o.format, ...(o.out !== undefined ? { out: o.out } : {}) });
        if ('text' in r) process.stdout.write(r.text);
        else print(wroteLines(r.files));
      }),
    );

  return program;
}

/** The commander program (kept under its former name). */
export const buildProgram = program;

/** Runs one command line; resolves to the exit code (2: bad input). */
export async function main(argv: string[], deps: CliDeps = {}): Promise<number> {
  try {
    await program(deps).parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2; // usage errors: commander printed them
    if (e instanceof InputError) {
      console.error(pc.red(`invalid input:\n${e.message}`));
      return 2;
    }
    if (e instanceof LabError) {
      console.error(pc.red(e.message));
      return e.exitCode;
    }
    console.error(pc.red(e instanceof Error ? (e.stack ?? e.message) : String(e)));
    return 1;
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => process.exit(code));
}

import { spawnSync } from 'node:child_process';
import { join, relative, resolve } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { Listr } from 'listr2';
import pc from 'picocolors';
import { InputError, LabError } from './errors';
import { renderPlan, planLab } from './plan';
import { apply } from './ops/apply';
import { down } from './ops/down';
import { connect } from './probe/connect';
import { labNames, resolveTarget, selectLab } from './ops/select';
import { type StageRunner, up } from './ops/up';
import type { Runtime } from './runtime/runtime';
import { type RuntimeHooks, runtimeFor, runtimeOfLab } from './runtime/select';
import { inspectLabs } from './status/inspect';
import { modelOf } from './model/lab';
import { renderLab, renderServices } from './report/lab-table';
import { loadTopology } from './topology/resolve';
import { eventLines, summaryLine } from './report/console';
import { LocalExecutor } from './runtime/executor';
import { captureAt } from './ops/capture';
import { vmDispatch } from './ops/vm-forward';
import { connectLocal } from './docker/engine';
import { ensureNodeImage } from './docker/node-image';
import { summarize } from './pcap';
import { checkFilters } from './probe/capture';
import { loadScenarios, scenarioFiles } from './scenario/load';
import { newRunId, runScenarios } from './ops/run';
import { renderGraph } from './graph';
import { graphFormats, writeGraphs } from './graph/files';
import { traceLab } from './ops/trace';
import { walkText } from './trace/text';
import { comparisonMarkdown } from './report/compare';
import { inRepo } from './paths';

// Commander verbs only: each one parses its arguments and calls into lab/ops.

const DEFAULT_TOPOLOGY = inRepo('scenarios', 'topologies', 'default.yaml');

/** Progress for the docker runtime's one-time image build, and its notices, on stderr. */
const hooks: RuntimeHooks = {
  onImageProgress: (line) => console.error(pc.dim(line)),
  onNotice: (text) => console.error(pc.yellow(text)),
};

/** The lab a command means (named, or the only one up) and the runtime it was built with. */
async function labRuntime(name: string | undefined, what: string): Promise<{ lab: string; rt: Runtime }> {
  const lab = await selectLab(name, what);
  if (!lab) throw new LabError('no lab is up', 2);
  return { lab, rt: await runtimeOfLab(lab, hooks) };
}

const fileOption = () => new Option('-f, --file <topology>', 'topology file (YAML)').default(DEFAULT_TOPOLOGY, 'scenarios/topologies/default.yaml');
const nameOption = () => new Option('-n, --name <lab>', 'lab name (overrides the topology name)');
const proxyOption = () => new Option('--proxy <mode>', "kube-proxy mode (overrides the topology's proxy.mode): iptables, nftables, ipvs or none");
const runtimeOption = () => new Option('--runtime <kind>', "where nodes live (overrides the topology's runtime): netns or docker");
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
    { renderer: tty ? 'default' : 'simple', exitOnError: true, rendererOptions: {} },
  ).run();
};

function intArg(name: string, v: string): number {
  if (!/^\d+$/.test(v)) throw InputError.of(name, '', `not a whole number: '${v}'`);
  return Number(v);
}

export function buildProgram(): Command {
  const program = new Command('lab')
    .description('k8s-dataplane-lab: a Kubernetes-like dataplane from real kernel objects')
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({ outputError: (s, write) => write(pc.red(s)) });

  program
    .command('up')
    .description('bring a lab up from a topology file (the default lab without -f)')
    .addOption(fileOption())
    .addOption(nameOption())
    .addOption(proxyOption())
    .addOption(runtimeOption())
    .option('--kernel <where>', "host (default) or vm: bring the lab up inside a QEMU guest with Debian's stock kernel (IPVS, dummy)")
    .option('--reconfigure', 'replace a lab of the same name that is up with another topology')
    .option('--json', 'print the resulting lab as JSON instead of a table')
    .action(async (o: { file: string; name?: string; proxy?: string; runtime?: string; reconfigure?: boolean; json?: boolean }) => {
      const topo = loadTopology(o.file, overrides(o));
      const t0 = performance.now();
      const res = await up(topo, runtimeFor(topo, hooks), { reconfigure: o.reconfigure === true, runStages: o.json ? undefined : listrRunner });
      if (o.json) return void console.log(JSON.stringify(res.view, null, 2));
      if (!res.created) console.log(`lab '${topo.name}' is already up with this topology; nothing changed`);
      console.log(renderLab(res.view));
      const services = renderServices(modelOf(topo).proxy);
      if (services) console.log(services);
      if (res.created) console.log(pc.dim(`up in ${((performance.now() - t0) / 1000).toFixed(2)} s`));
    });

  program
    .command('down')
    .description('remove every object of a lab (found in the kernel by its prefix)')
    .addOption(nameOption())
    .option('-f, --file <topology>', 'take the lab name from this topology file')
    .option('--all', 'remove every lab')
    .action(async (o: { name?: string; file?: string; all?: boolean }) => {
      const name = o.name ?? (o.file ? loadTopology(o.file).name : undefined);
      const labs = o.all ? await labNames() : [await selectLab(name, 'down')].filter((x): x is string => !!x);
      if (!labs.length) return void console.log('no lab is up; nothing to remove');
      for (const lab of labs) console.log(`lab ${lab}: removed ${await down(await runtimeOfLab(lab, hooks), lab)} namespace(s) and everything in them`);
    });

  program
    .command('status')
    .description('what is up, read from the kernel')
    .addOption(nameOption())
    .option('--json', 'print as JSON: { labs: [...] }')
    .action(async (o: { name?: string; json?: boolean }) => {
      const names = o.name ? [o.name] : await labNames();
      const labs = (await Promise.all(names.map(async (lab) => inspectLabs(await runtimeOfLab(lab, hooks), lab)))).flat();
      if (o.json) return void console.log(JSON.stringify({ labs }, null, 2));
      if (!labs.length) return void console.log(o.name ? `lab '${o.name}' is not up` : 'no lab is up');
      console.log(labs.map(renderLab).join('\n\n'));
    });

  program
    .command('exec')
    .description("run a command inside a node's or pod's namespace ('@lab' for the underlay namespace)")
    .addOption(nameOption())
    .argument('<target>', 'node or pod name')
    .argument('<command...>', 'the command and its arguments')
    .passThroughOptions()
    .action(async (target: string, command: string[], o: { name?: string }) => {
      const { lab, rt } = await labRuntime(o.name, 'exec');
      const ns = await resolveTarget(rt, lab, target);
      const argv = command[0] === '--' ? command.slice(1) : command; // passThroughOptions keeps a '--'
      if (!argv.length) throw InputError.of('command', '', 'nothing to run: give a command after the target');
      const interactive = rt.interactiveArgv(ns, argv);
      if (!interactive) {
        // a node on another machine: through the runtime's exec, output passed on afterwards
        const r = await rt.run(ns, argv, { check: false });
        process.stdout.write(r.stdout);
        process.stderr.write(r.stderr);
        return void (process.exitCode = r.code ?? 1);
      }
      const [cmd, ...args] = interactive;
      const r = spawnSync(cmd!, args, { stdio: 'inherit' });
      process.exitCode = r.status ?? 1;
    });

  program
    .command('apply')
    .description('change a running lab to match its topology file: pods added/removed, services and rules re-synced')
    .addOption(fileOption())
    .addOption(nameOption())
    .addOption(proxyOption())
    .action(async (o: { file: string; name?: string; proxy?: string }) => {
      const topo = loadTopology(o.file, overrides(o));
      const r = await apply(topo, runtimeFor(topo, hooks), listrRunner);
      const eps = Object.entries(r.endpoints).map(([id, n]) => `${id}: ${n}`).join(', ');
      console.log(`lab ${topo.name}: ${r.added.length} pod(s) added, ${r.removed.length} removed; rules re-synced on ${r.nodes} node(s)${eps ? `; endpoints ${eps}` : ''}`);
    });

  program
    .command('connect')
    .description('connect from a node or pod to ip:port (a pod, a cluster IP, a node port) and show which pod answered')
    .addOption(nameOption())
    .argument('<from>', 'node or pod name')
    .argument('<address>', 'ip:port')
    .option('-c, --count <n>', 'connections to make', (v) => intArg('--count', v), 1)
    .option('--udp', 'send UDP datagrams instead of TCP connects')
    .option('--json', 'print every attempt as JSON')
    .action(async (from: string, address: string, o: { name?: string; count: number; udp?: boolean; json?: boolean }) => {
      const m = /^([\d.]+):(\d+)$/.exec(address);
      if (!m) throw InputError.of('address', '', `expected ip:port, got '${address}'`);
      const { lab, rt } = await labRuntime(o.name, 'connect');
      const r = await connect(rt, await resolveTarget(rt, lab, from), m[1]!, Number(m[2]), { count: o.count, protocol: o.udp ? 'UDP' : 'TCP' });
      if (o.json) return void console.log(JSON.stringify(r, null, 2));
      const peers = new Map<string, Set<string>>();
      for (const a of r.attempts) if (a.pod) peers.set(a.pod, (peers.get(a.pod) ?? new Set()).add(a.peer?.split(':')[0] ?? '?'));
      for (const [pod, n] of Object.entries(r.byPod).sort())
        console.log(`${pod.padEnd(20)} ${String(n).padStart(6)}  peer seen: ${[...peers.get(pod)!].join(', ')}`);
      if (r.failed) console.log(pc.red(`${r.failed} of ${r.attempts.length} failed: ${r.attempts.find((a) => !a.ok)?.error ?? ''}`));
      process.exitCode = r.failed ? 1 : 0;
    });

  program
    .command('run')
    .description('run scenario suites: bring the lab up, capture, probe, check expectations, tear down; results in results/<run-id>/')
    .argument('<path>', 'a scenario file, or a folder of them (topologies/ folders are skipped)')
    .addOption(nameOption())
    .addOption(runtimeOption())
    .option('--kernel <where>', 'host (default) or vm: run the suites inside a QEMU guest with a stock kernel')
    .option('--reuse', 'run against a lab that is already up with the same topology (and leave it up)')
    .option('--keep', 'leave the labs up after the run')
    .option('--results <dir>', 'where run folders are made', 'results')
    .option('--allow-skip', 'exit 0 when steps were skipped for a missing kernel feature (nothing failed)')
    .option('--json', 'print report.json to stdout instead of progress lines')
    .action(async (path: string, o: { name?: string; runtime?: string; reuse?: boolean; keep?: boolean; results: string; allowSkip?: boolean; json?: boolean }) => {
      const scenarios = await loadScenarios(scenarioFiles(path), new LocalExecutor(), { ...(o.name ? { labName: o.name } : {}), ...(o.runtime ? { runtime: o.runtime } : {}) });
      const resultsRoot = resolve(o.results);
      const runId = newRunId();
      const shown = relative(process.cwd(), join(resultsRoot, runId)) || '.';
      const report = await runScenarios(scenarios, {
        runtimeFor: (topo) => runtimeFor(topo, hooks),
        resultsRoot,
        runId,
        reuse: o.reuse === true,
        keep: o.keep === true,
        onEvent: o.json ? undefined : (e) => eventLines(e, shown).forEach((l) => console.log(l)),
      });
      if (o.json) console.log(JSON.stringify(report, null, 2));
      else {
        const comparison = comparisonMarkdown(report);
        if (comparison) console.log(`\n${comparison}`);
        console.log(summaryLine(report, shown));
      }
      process.exitCode = report.summary.failed ? 1 : report.summary.skipped && !o.allowSkip ? 2 : 0;
    });

  program
    .command('capture')
    .description('tcpdump at a point of a lab that is up (node1:eth0, node2:flannel.1, client:eth0, node1:any), until Ctrl-C, --seconds or --count; prints what it caught')
    .addOption(nameOption())
    .argument('<point>', '<node|pod|@lab>[:<interface|any>]')
    .argument('[filter...]', 'BPF filter, e.g. udp port 8472')
    .option('-s, --seconds <n>', 'stop after this many seconds', (v) => intArg('--seconds', v))
    .option('-c, --count <n>', 'stop after this many packets', (v) => intArg('--count', v))
    .option('--results <dir>', 'where run folders are made', 'results')
    .option('--show <n>', 'packets to print (0: none)', (v) => intArg('--show', v), 50)
    .action(async (point: string, filterWords: string[], o: { name?: string; seconds?: number; count?: number; results: string; show: number }) => {
      const { lab, rt } = await labRuntime(o.name, 'capture');
      const filter = filterWords.join(' ').trim();
      const err = filter ? (await checkFilters(new LocalExecutor(), [filter])).get(filter) : undefined;
      if (err) throw InputError.of('filter', '', `tcpdump cannot use '${filter}': ${err}`);
      const dir = join(resolve(o.results), newRunId());
      const interrupted = new Promise<void>((r) => process.once('SIGINT', () => r()));
      const done = await captureAt(rt, { lab, at: point, dir, ...(filter ? { filter } : {}), ...(o.seconds ? { seconds: o.seconds } : {}), ...(o.count ? { count: o.count } : {}) }, (file, linkType) =>
        console.log(`listening on ${point} (${linkType}), writing ${relative(process.cwd(), file)}${o.seconds || o.count ? '' : '; Ctrl-C to stop'}`),
        interrupted,
      );
      for (const p of done.packets.slice(0, o.show)) console.log(summarize(p));
      if (done.packets.length > o.show) console.log(pc.dim(`... ${done.packets.length - o.show} more`));
      const dropped = done.stats.droppedByKernel ? `, ${done.stats.droppedByKernel} dropped by the kernel` : '';
      console.log(done.packets.length ? `${done.packets.length} packet(s) in ${relative(process.cwd(), done.file)}${dropped}` : pc.yellow(`no packets seen at ${point}${filter ? ` matching '${filter}'` : ''} (${relative(process.cwd(), done.file)})`));
    });

  program
    .command('trace')
    .description("send one probe and follow it: the packet at every point on its way (what changed), each node's netfilter hooks and chains (nft monitor trace), against the walk the lab expects")
    .addOption(nameOption())
    .argument('<from>', 'pod or node name')
    .argument('<to>', '<pod> (ICMP echo), <pod|ip>:<port>, service:<name>[:<port>], nodeport:<service>@<node>')
    .option('--udp', 'a UDP datagram instead of a TCP SYN')
    .option('--results <dir>', 'where run folders are made', 'results')
    .option('--json', 'print the walk as JSON')
    .action(async (from: string, to: string, o: { name?: string; udp?: boolean; results: string; json?: boolean }) => {
      const { lab, rt } = await labRuntime(o.name, 'trace');
      const dir = join(resolve(o.results), newRunId());
      const walk = await traceLab(rt, lab, { from, to, ...(o.udp ? { protocol: 'udp' as const } : {}) }, dir);
      console.log(o.json ? JSON.stringify(walk, null, 2) : walkText(walk));
      if (!o.json) console.log(pc.dim(`pcaps, walk.json and index.html in ${relative(process.cwd(), dir)}`));
      process.exitCode = walk.ok ? 0 : 1;
    });

  program
    .command('image')
    .description("build the docker runtime's node image (images/node) if its content changed, and print its tag")
    .action(async () => {
      const docker = connectLocal();
      console.log(await ensureNodeImage(docker, { onProgress: (line) => console.error(pc.dim(line)) }));
    });

  program
    .command('plan')
    .description('print the commands `up` would run, without running them')
    .addOption(fileOption())
    .addOption(nameOption())
    .addOption(proxyOption())
    .action((o: { file: string; name?: string; proxy?: string }) => {
      process.stdout.write(renderPlan(planLab(loadTopology(o.file, overrides(o)))));
    });

  program
    .command('validate')
    .description('check a topology file and print it resolved (every address decided)')
    .addOption(fileOption())
    .action((o: { file: string }) => {
      console.log(JSON.stringify(loadTopology(o.file), null, 2));
    });

  program
    .command('graph')
    .description('draw a topology as a graph: SVG (our own layout), Graphviz DOT and Mermaid; <out>/<lab>.svg, .dot, .mmd')
    .addOption(fileOption())
    .addOption(nameOption())
    .addOption(proxyOption())
    .option('--out <dir>', 'where the files go (default results/graph/); without it --format dot|mermaid prints to stdout')
    .option('--format <format>', 'svg, dot, mermaid or all', 'all')
    .action((o: { file: string; name?: string; proxy?: string; out?: string; format: string }) => {
      const formats = graphFormats(o.format);
      const topo = loadTopology(o.file, overrides(o));
      const [only] = formats;
      if (!o.out && formats.length === 1 && only !== 'svg') return void process.stdout.write(renderGraph(topo, only!));
      for (const f of writeGraphs(topo, formats, resolve(o.out ?? 'results/graph'))) console.log(`wrote ${relative(process.cwd(), f).startsWith('..') ? f : relative(process.cwd(), f)}`);
    });

  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    // labs on the VM kernel (--kernel vm): the same CLI, run inside the guest
    const inVm = await vmDispatch(argv, (line) => console.error(pc.dim(line)));
    if (inVm !== undefined) return inVm;
    await buildProgram().parseAsync(argv, { from: 'user' });
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

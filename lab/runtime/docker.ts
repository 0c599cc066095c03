import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type Dockerode from 'dockerode';
import { DockerExecutor } from '../docker/exec';
import { CommandError, LabError } from '../errors';
import { inLab, labNamespace, parseNamespace, PREFIX } from '../network/names';
import { type Step, toolCommand } from '../network/plan';
import { type Daemon, REPLY_SCRIPT } from '../pods/servers';
import { type ExecResult, LocalExecutor, type RunOptions, type Started } from './executor';
import { isListening, NetnsRuntime } from './netns';
import type { Runtime, RuntimeFile } from './runtime';

// Nodes as containers on a Docker engine (NetworkMode none, one per node), pods as network
// namespaces inside their node's container (`ip netns add` there). The lab's own underlay
// namespace stays on this host; each node's eth0 is a veth made there with its other end put
// into the container's namespace, which `ip netns attach` names kdl.<lab>.<node> on this host
// for the time the lab is up. Everything a node or pod runs — the plan's batches, kube-proxy's
// rules, the pods' servers, probes, tcpdump — runs inside the container through the engine's
// exec, with the node image's own tools.

export const LABEL_LAB = 'io.k8s-dataplane-lab.lab';
export const LABEL_NODE = 'io.k8s-dataplane-lab.node';
/** lab/pods/: the pods' server and connect scripts, mounted read-only at the same path */
const PODS_DIR = dirname(REPLY_SCRIPT);
const FAN_OUT = 8;
/** the local engine refused --privileged once: later nodes (and labs) start without asking again */
let privilegedRefused = false;

export interface DockerRuntimeOptions {
  docker: Dockerode;
  /** the node image (lab/docker/image.ts builds it) */
  image: () => Promise<string>;
  /** said once when the engine refuses --privileged and the capability fallback is used */
  onNotice?: (text: string) => void;
}

export class DockerRuntime implements Runtime {
  readonly kind = 'docker' as const;
  /** the lab's underlay namespace and the attached node names live on this host */
  private readonly host = new NetnsRuntime();
  private readonly local = new LocalExecutor();
  private readonly execs = new Map<string, DockerExecutor>();

  constructor(private readonly opts: DockerRuntimeOptions) {}

  private exec(container: string): DockerExecutor {
    let e = this.execs.get(container);
    if (!e) this.execs.set(container, (e = new DockerExecutor(this.opts.docker, container)));
    return e;
  }

  /** Where a namespace lives: this host (the lab's own), a node container, or a pod inside one. */
  private where(ns: string): { kind: 'host' } | { kind: 'node'; container: string } | { kind: 'pod'; container: string; pod: string } {
    const r = parseNamespace(ns);
    if (!r || r.role === 'lab') return { kind: 'host' };
    const container = `${PREFIX}.${r.lab}.${r.node}`;
    return r.role === 'node' ? { kind: 'node', container } : { kind: 'pod', container, pod: ns };
  }

  /** argv that runs inside ns: as it is in a node, through `ip netns exec` in a pod. */
  private inside(ns: string, argv: readonly string[]): { container?: string; argv: string[] } {
    const w = this.where(ns);
    if (w.kind === 'host') return { argv: [...argv] };
    return { container: w.container, argv: w.kind === 'pod' ? ['ip', 'netns', 'exec', w.pod, ...argv] : [...argv] };
  }

  private async labContainers(lab?: string): Promise<Dockerode.ContainerInfo[]> {
    const filters = { label: [lab ? `${LABEL_LAB}=${lab}` : LABEL_LAB] };
    return this.opts.docker.listContainers({ all: true, filters: JSON.stringify(filters) });
  }

  async listNamespaces(): Promise<string[]> {
    const names = new Set((await this.host.listNamespaces()).filter((n) => !parseNamespace(n) || parseNamespace(n)!.role === 'lab'));
    await Promise.all(
      (await this.labContainers()).map(async (c) => {
        const lab = c.Labels[LABEL_LAB]!;
        const node = c.Labels[LABEL_NODE]!;
        names.add(labNamespace(lab));
        names.add(`${PREFIX}.${lab}.${node}`);
        if (c.State !== 'running') return;
        const r = await this.exec(c.Id).run(['ip', 'netns', 'list'], { check: false });
        for (const line of r.stdout.split('\n')) {
          const pod = line.split(' ')[0];
          if (pod && inLab(pod, lab)) names.add(pod);
        }
      }),
    );
    return [...names].sort();
  }

  async createNamespaces(names: readonly string[]): Promise<void> {
    const hostNames = names.filter((n) => this.where(n).kind === 'host');
    await this.host.createNamespaces(hostNames);
    const nodes = names.filter((n) => this.where(n).kind === 'node');
    if (nodes.length) {
      const image = await this.opts.image();
      await pool(nodes, (ns) => this.createNode(ns, image));
    }
    const pods = names.filter((n) => this.where(n).kind === 'pod');
    const byNode = group(pods, (p) => this.inside(p, []).container!);
    await pool([...byNode], ([container, list]) =>
      this.exec(container).run(['ip', '-batch', '-'], { input: list.map((p) => `netns add ${p}\n`).join(''), where: `creating pod namespaces in ${container}` }),
    );
  }

  private async createNode(ns: string, image: string): Promise<void> {
    const r = parseNamespace(ns)!;
    if (r.role !== 'node') return;
    const docker = this.opts.docker;
    const base: Dockerode.ContainerCreateOptions = {
      name: ns,
      Image: image,
      Hostname: r.node,
      Labels: { [LABEL_LAB]: r.lab, [LABEL_NODE]: r.node },
      Cmd: ['sleep', 'infinity'],
      HostConfig: { NetworkMode: 'none', Binds: [`${PODS_DIR}:${PODS_DIR}:ro`], Privileged: true },
    };
    const privileged = !privilegedRefused;
    let c = await docker.createContainer(privileged ? base : withCapabilities(base));
    try {
      await c.start();
    } catch (e) {
      // Seen on these machines: the capability bounding set lacks CAP_SYS_RESOURCE, so
      // --privileged fails with "unable to apply caps"; every other capability works.
      if (!privileged || !/apply caps/i.test(String(e))) throw e;
      if (!privilegedRefused) {
        privilegedRefused = true; // said once, also when nodes start in parallel
        const missing = CAPABILITIES.map((x) => `CAP_${x}`).filter((x) => !hostCapabilities().includes(x));
        this.opts.onNotice?.(
          `the engine refused --privileged (${firstLine(e)}): nodes run with every capability this host has (all but ${missing.join(', ') || 'none'}), seccomp and apparmor unconfined, systempaths unconfined`,
        );
      }
      await c.remove({ force: true });
      c = await docker.createContainer(withCapabilities(base));
      await c.start();
    }
    const pid = (await c.inspect()).State.Pid;
    // The node's netns under its lab name on this host, so the lab namespace's batch can put
    // each eth0 veth end into it by name, as it does for the netns runtime.
    await this.local.run(['ip', 'netns', 'attach', ns, String(pid)], { where: `naming ${ns}'s network namespace` });
  }

  async deleteNamespaces(names: readonly string[]): Promise<void> {
    const labs = new Set(names.map((n) => parseNamespace(n)?.lab).filter((l): l is string => !!l));
    const nodes = new Set(names.filter((n) => this.where(n).kind === 'node'));
    const pods = names.filter((n) => this.where(n).kind === 'pod' && !nodes.has(this.inside(n, []).container!));
    // Pods alone (apply removed them): their processes, then the namespaces, inside the node.
    for (const [container, list] of group(pods, (p) => this.inside(p, []).container!)) {
      await this.stopProcesses(list);
      await this.exec(container).run(['ip', '-force', '-batch', '-'], { input: list.map((p) => `netns del ${p}\n`).join(''), check: false });
    }
    const containers = (await Promise.all([...labs].map((l) => this.labContainers(l)))).flat().filter((c) => nodes.has(`${PREFIX}.${c.Labels[LABEL_LAB]}.${c.Labels[LABEL_NODE]}`));
    await pool(containers, (c) => this.opts.docker.getContainer(c.Id).remove({ force: true }).catch((e: unknown) => (/no such container/i.test(String(e)) ? undefined : Promise.reject(e))));
    await this.host.deleteNamespaces(names.filter((n) => this.where(n).kind === 'host' || nodes.has(n)));
  }

  async applySteps(steps: readonly Step[]): Promise<void> {
    await this.host.applySteps(steps.filter((s) => this.where(s.ns).kind === 'host'));
    const errors: string[] = [];
    const userErrors: string[] = [];
    await pool(
      steps.filter((s) => this.where(s.ns).kind !== 'host'),
      async (s) => {
        const argv = s.tool === 'sysctl' ? ['sysctl', '-q', '-w', ...s.lines] : toolCommand(s);
        const { container, argv: full } = this.inside(s.ns, argv);
        const r = await this.exec(container!).run(full, { ...(s.tool === 'sysctl' ? {} : { input: s.lines.join('\n') + '\n' }), check: false, timeoutMs: 120_000 });
        if (r.code === 0) return;
        const what = `${argv.join(' ')} in ${s.ns} failed: ${r.stderr.trim().split('\n').slice(0, 4).join('; ')}`;
        (s.origin ? userErrors : errors).push(s.origin ? `${s.origin.file}: ${s.origin.path}: ${what}` : what);
      },
    );
    if (userErrors.length) throw new LabError(`a rule file of yours was refused:\n${userErrors.join('\n')}`, 2);
    if (errors.length) throw new CommandError(['docker', 'exec', '...'], 1, errors.join('\n'), 'applying batches in node containers');
  }

  async readAddresses(names: readonly string[]): Promise<Map<string, string>> {
    const out = await this.host.readAddresses(names.filter((n) => this.where(n).kind === 'host'));
    // one exec per node container: its own namespace, then each pod's, one JSON line each
    const byNode = group(
      names.filter((n) => this.where(n).kind !== 'host'),
      (n) => this.inside(n, []).container!,
    );
    await pool([...byNode], async ([container, list]) => {
      const script = list.map((n) => (this.where(n).kind === 'pod' ? `ip -n ${n} -j -d addr show || echo` : 'ip -j -d addr show || echo')).join('\n');
      const r = await this.exec(container).run(['sh', '-c', script], { check: false }).catch(() => undefined);
      if (!r) return;
      const lines = r.stdout.split('\n').filter((l) => l === '' || l.startsWith('['));
      list.forEach((n, i) => {
        const l = lines[i];
        if (l?.startsWith('[')) out.set(n, l);
      });
    });
    return out;
  }

  async startDaemons(daemons: readonly Daemon[], timeoutMs = 10_000): Promise<void> {
    await pool(daemons, async (d) => {
      const { container, argv } = this.inside(d.ns, d.argv);
      const exec = await this.opts.docker.getContainer(container!).exec({ Cmd: argv, Env: Object.entries(d.env).map(([k, v]) => `${k}=${v}`), AttachStdout: false, AttachStderr: false });
      await exec.start({ Detach: true });
    });
    // ready once every port is bound: one look per node container at its pods' socket tables
    const deadline = Date.now() + timeoutMs;
    let waiting = [...daemons];
    while (waiting.length) {
      const bound = new Set<Daemon>();
      for (const [container, list] of group(waiting, (d) => this.inside(d.ns, []).container!)) {
        const script = list.map((d) => `ip netns exec ${d.ns} cat /proc/net/${d.ready.protocol.toLowerCase()}; echo --`).join('\n');
        const r = await this.exec(container).run(['sh', '-c', script], { check: false });
        r.stdout.split('--\n').forEach((table, i) => {
          const d = list[i];
          if (d && isListening(table, d.ready.port, d.ready.protocol)) bound.add(d);
        });
      }
      waiting = waiting.filter((d) => !bound.has(d));
      if (!waiting.length) break;
      if (Date.now() > deadline) throw new Error(`not listening after ${timeoutMs} ms: ${waiting.map((d) => `${d.ready.protocol}/${d.ready.port} in ${d.ns}`).join(', ')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stopProcesses(names: readonly string[]): Promise<void> {
    for (const [container, list] of group(names.filter((n) => this.where(n).kind === 'pod'), (n) => this.inside(n, []).container!)) {
      const script = list.map((n) => `for p in $(ip netns pids ${n}); do kill -9 $p; done`).join('\n');
      await this.exec(container).run(['sh', '-c', script], { check: false });
    }
    await this.host.stopProcesses(names.filter((n) => this.where(n).kind === 'host'));
  }

  run(ns: string, argv: readonly string[], opts?: RunOptions): Promise<ExecResult> {
    const { container, argv: full } = this.inside(ns, argv);
    return container ? this.exec(container).run(full, opts) : this.host.run(ns, argv, opts);
  }

  start(ns: string, argv: readonly string[]): Started {
    const { container, argv: full } = this.inside(ns, argv);
    return container ? this.exec(container).start(full) : this.host.start(ns, argv);
  }

  interactiveArgv(ns: string, argv: readonly string[]): string[] {
    const { container, argv: full } = this.inside(ns, argv);
    return container ? ['docker', 'exec', '-i', ...(process.stdin.isTTY ? ['-t'] : []), container, ...full] : this.host.interactiveArgv(ns, argv);
  }

  async fileFor(ns: string, hostPath: string): Promise<RuntimeFile> {
    const { container } = this.inside(ns, []);
    if (!container) return this.host.fileFor(ns, hostPath);
    const inside = `/tmp/kdl-${randomBytes(6).toString('hex')}-${basename(hostPath)}`;
    const exec = this.exec(container);
    return {
      path: inside,
      // base64 over exec: the engine's exec output is text; a pcap of a few MB is fine this way
      collect: async () => {
        const r = await exec.run(['base64', '-w0', inside]);
        await writeFile(hostPath, Buffer.from(r.stdout, 'base64'));
        await exec.run(['rm', '-f', inside], { check: false });
      },
    };
  }
}

/** Linux capability names by bit number, as /proc/<pid>/status numbers them. */
const CAPABILITIES = [
  'CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID', 'SETPCAP', 'LINUX_IMMUTABLE',
  'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_ADMIN', 'NET_RAW', 'IPC_LOCK', 'IPC_OWNER', 'SYS_MODULE', 'SYS_RAWIO', 'SYS_CHROOT',
  'SYS_PTRACE', 'SYS_PACCT', 'SYS_ADMIN', 'SYS_BOOT', 'SYS_NICE', 'SYS_RESOURCE', 'SYS_TIME', 'SYS_TTY_CONFIG', 'MKNOD', 'LEASE',
  'AUDIT_WRITE', 'AUDIT_CONTROL', 'SETFCAP', 'MAC_OVERRIDE', 'MAC_ADMIN', 'SYSLOG', 'WAKE_ALARM', 'BLOCK_SUSPEND', 'AUDIT_READ',
  'PERFMON', 'BPF', 'CHECKPOINT_RESTORE',
];

/** The capabilities this process may hand on: its bounding set (CapBnd in /proc/self/status). */
export function hostCapabilities(status = readFileSync('/proc/self/status', 'utf8')): string[] {
  const hex = /^CapBnd:\s*([0-9a-f]+)/m.exec(status)?.[1] ?? '0';
  const bits = BigInt(`0x${hex}`);
  return CAPABILITIES.filter((_, i) => (bits >> BigInt(i)) & 1n).map((c) => `CAP_${c}`);
}

function withCapabilities(base: Dockerode.ContainerCreateOptions): Dockerode.ContainerCreateOptions {
  return {
    ...base,
    HostConfig: {
      ...base.HostConfig,
      Privileged: false,
      // every capability but those this host's bounding set lacks (runc cannot grant them)
      CapAdd: ['ALL'],
      CapDrop: CAPABILITIES.map((c) => `CAP_${c}`).filter((c) => !hostCapabilities().includes(c)),
      SecurityOpt: ['seccomp=unconfined', 'apparmor=unconfined'],
      // what the CLI's --security-opt systempaths=unconfined means in the API: /proc/sys and
      // friends writable, so sysctl works in the node's and its pods' namespaces
      MaskedPaths: [],
      ReadonlyPaths: [],
    },
  };
}

const firstLine = (e: unknown) => (e instanceof Error ? e.message : String(e)).split('\n')[0]!.slice(0, 160);

function group<T>(items: readonly T[], key: (t: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const i of items) m.set(key(i), [...(m.get(key(i)) ?? []), i]);
  return m;
}

/** Runs fn over items with at most FAN_OUT at once; the first error wins after all settle. */
async function pool<T>(items: Iterable<T>, fn: (t: T) => Promise<unknown>): Promise<void> {
  const queue = [...items];
  const failures: unknown[] = [];
  const worker = async () => {
    for (let t = queue.shift(); t !== undefined; t = queue.shift()) await fn(t).catch((e: unknown) => failures.push(e));
  };
  await Promise.all(Array.from({ length: Math.min(FAN_OUT, queue.length) }, worker));
  if (failures.length) throw failures[0];
}


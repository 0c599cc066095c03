import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type Dockerode from 'dockerode';
import { HOST_SHELL, LABEL_HOST, LABEL_LAB, LABEL_NODE, LABEL_ROLE, startPrivileged } from '../docker/container';
import { DockerExecutor } from '../docker/exec';
import { CommandError, LabError } from '../errors';
import { labNamespace, parseNamespace, PREFIX } from '../model/kernel-names';
import { type Step, toolCommand } from '../plan/types';
import { type Daemon, REPLY_SCRIPT } from '../pods/servers';
import type { Executor, ExecResult, RunOptions, Started } from './executor';
import { copiedFile, HostSide } from './host-side';
import { isListening } from './listening';
import type { Runtime, RuntimeFile } from './runtime';

// Nodes as containers on Docker engines (NetworkMode none, one per node), pods as network
// namespaces inside their node's container (`ip netns add` there). Each host the lab uses (this
// machine, or machines reached over ssh) holds the lab's underlay namespace kdl.<lab>; a node's
// eth0 is a veth made there with its other end put into the container's namespace, which
// `ip netns attach` names kdl.<lab>.<node> on that host while the lab is up. With several hosts
// the underlay segment is stretched between them by a VXLAN tunnel (lab/network/plan.ts).
// Everything a node or pod runs — the plan's batches, kube-proxy's rules, the pods' servers,
// probes, tcpdump — runs inside the container through the engine's exec, with the node image's
// own tools.

export { HOST_SHELL, LABEL_HOST, LABEL_LAB, LABEL_NODE, LABEL_ROLE } from '../docker/container';
/** lab/pods/: the pods' server and connect scripts, mounted read-only at the same path */
const PODS_DIR = dirname(REPLY_SCRIPT);
const FAN_OUT = 8;
/** kills every process in the pod namespaces named as arguments, then waits until none is left (40 × 50 ms) */
const STOP_SCRIPT = [
  'pids() { for n; do ip netns pids "$n"; done; }',
  'p=$(pids "$@"); [ -z "$p" ] || kill -9 $p',
  'i=0; while [ -n "$(pids "$@")" ] && [ $i -lt 40 ]; do sleep 0.05; i=$((i + 1)); done',
].join('\n');

/** A machine the lab uses: its engine, and a shell on it. */
export interface DockerHost {
  name: string;
  docker: Dockerode;
  shell: Executor;
  /** this machine (files written there are already here; `docker exec -it` works) */
  local: boolean;
}

export interface DockerRuntimeOptions {
  /** the hosts, connected when first needed; the first is the default for anything not placed */
  hosts: () => Promise<DockerHost[]>;
  /** which host runs a node (undefined: the first) */
  placement: (node: string) => string | undefined;
  /** several hosts: their underlay namespaces are told apart as kdl.<lab>@<host> */
  multiHost: boolean;
  /** is this host (undefined: the first) another machine? */
  remote: (host: string | undefined) => boolean;
  /** the node image on a host's engine (lab/docker/node-image.ts builds it) */
  image: (host: DockerHost) => Promise<string>;
  /** said once when the engine refuses --privileged and the capability fallback is used */
  onNotice?: (text: string) => void;
}

type Where =
  | { kind: 'self'; host: string }
  | { kind: 'host'; host: string; ns: string }
  | { kind: 'node'; host: string; container: string }
  | { kind: 'pod'; host: string; container: string; pod: string };

export class DockerRuntime implements Runtime {
  readonly kind = 'docker' as const;
  private readonly execs = new Map<string, DockerExecutor>();
  private connected?: Promise<Map<string, { host: DockerHost; side: HostSide }>>;

  constructor(private readonly opts: DockerRuntimeOptions) {}

  private hosts(): Promise<Map<string, { host: DockerHost; side: HostSide }>> {
    this.connected ??= this.opts
      .hosts()
      .then((list) => new Map(list.map((h) => [h.name, { host: h, side: new HostSide(h.name, h.shell, h.local) }])));
    return this.connected;
  }

  private async firstHost(): Promise<string> {
    return [...(await this.hosts()).keys()][0]!;
  }

  private async on(host: string): Promise<{ host: DockerHost; side: HostSide }> {
    const h = (await this.hosts()).get(host);
    if (!h) throw new LabError(`no host '${host}' in this lab`, 2);
    return h;
  }

  /** Where a namespace lives: a host itself, a host's underlay namespace, a node container, a pod in one. */
  private async where(ns: string): Promise<Where> {
    if (ns.startsWith('@')) return { kind: 'self', host: ns.slice(1) };
    const r = parseNamespace(ns);
    if (!r) return { kind: 'host', host: await this.firstHost(), ns };
    if (r.role === 'lab') return { kind: 'host', host: r.host ?? (await this.firstHost()), ns: labNamespace(r.lab) };
    const host = this.opts.placement(r.node) ?? (await this.firstHost());
    const container = `${PREFIX}.${r.lab}.${r.node}`;
    return r.role === 'node' ? { kind: 'node', host, container } : { kind: 'pod', host, container, pod: ns };
  }

  private async exec(host: string, container: string): Promise<DockerExecutor> {
    let e = this.execs.get(container);
    if (!e) this.execs.set(container, (e = new DockerExecutor((await this.on(host)).host.docker, container)));
    return e;
  }

  /** argv as it runs inside a node container: as it is in a node, through `ip netns exec` in a pod. */
  private static argvIn(w: Where, argv: readonly string[]): string[] {
    return w.kind === 'pod' ? ['ip', 'netns', 'exec', w.pod, ...argv] : [...argv];
  }

  private async labContainers(lab?: string): Promise<(Dockerode.ContainerInfo & { host: string })[]> {
    const filters = JSON.stringify({ label: [lab ? `${LABEL_LAB}=${lab}` : LABEL_LAB] });
    const seen = new Set<string>();
    const out: (Dockerode.ContainerInfo & { host: string })[] = [];
    for (const [name, { host }] of await this.hosts()) {
      for (const c of await host.docker.listContainers({ all: true, filters })) {
        // hosts may share an engine (tests do): a container is counted on the host it is labelled
        // with; a lab's helper containers (host shells) are no nodes
        if (seen.has(c.Id) || (c.Labels[LABEL_HOST] ?? name) !== name || !c.Labels[LABEL_NODE]) continue;
        seen.add(c.Id);
        out.push({ ...c, host: name });
      }
    }
    return out;
  }

  async listNamespaces(): Promise<string[]> {
    const names = new Set<string>();
    for (const [name, { side }] of await this.hosts())
      for (const ns of await side.list()) {
        const r = parseNamespace(ns);
        if (r?.role === 'lab') names.add(this.opts.multiHost ? `${ns}@${name}` : ns);
      }
    await pool(await this.labContainers(), async (c) => {
      const lab = c.Labels[LABEL_LAB]!;
      names.add(`${PREFIX}.${lab}.${c.Labels[LABEL_NODE]}`);
      if (c.State !== 'running') return;
      const r = await (await this.exec(c.host, c.Id)).run(['ip', 'netns', 'list'], { check: false });
      for (const line of r.stdout.split('\n')) {
        const pod = line.split(' ')[0];
        if (pod?.startsWith(`${PREFIX}.${lab}.`)) names.add(pod);
      }
    });
    return [...names].sort();
  }

  async createNamespaces(names: readonly string[]): Promise<void> {
    const wheres = await Promise.all(names.map(async (n) => ({ n, w: await this.where(n) })));
    for (const [host, list] of group(
      wheres.filter((x) => x.w.kind === 'host'),
      (x) => x.w.host,
    ))
      await (await this.on(host)).side.create(list.map((x) => (x.w as { ns: string }).ns));
    await pool(
      wheres.filter((x) => x.w.kind === 'node'),
      (x) => this.createNode(x.n, x.w.host),
    );
    const pods = wheres.filter((x): x is { n: string; w: Extract<Where, { kind: 'pod' }> } => x.w.kind === 'pod');
    await pool([...group(pods, (p) => p.w.container)], async ([container, list]) =>
      (await this.exec(list[0]!.w.host, container)).run(['ip', '-batch', '-'], {
        input: list.map((p) => `netns add ${p.n}\n`).join(''),
        where: `creating pod namespaces in ${container}`,
      }),
    );
  }

  private async createNode(ns: string, hostName: string): Promise<void> {
    const r = parseNamespace(ns)!;
    if (r.role !== 'node') return;
    const { host, side } = await this.on(hostName);
    const image = await this.opts.image(host);
    const docker = host.docker;
    const base: Dockerode.ContainerCreateOptions = {
      name: ns,
      Image: image,
      Hostname: r.node,
      Labels: { [LABEL_LAB]: r.lab, [LABEL_NODE]: r.node, [LABEL_HOST]: hostName },
      Cmd: ['sleep', 'infinity'],
      HostConfig: { NetworkMode: 'none', ...(host.local ? { Binds: [`${PODS_DIR}:${PODS_DIR}:ro`] } : {}) },
    };
    const c = await startPrivileged(docker, base, this.opts.onNotice);
    if (!host.local) await this.copyPodScripts(hostName, c.id);
    // The node's netns under its lab name on its host, so the underlay namespace's batch there
    // can put the eth0 veth end into it by name, as it does for the netns runtime.
    await side.attach(ns, (await c.inspect()).State.Pid);
  }

  /** On another machine lab/pods/ is not there to mount: its scripts are copied in instead. */
  private async copyPodScripts(host: string, container: string): Promise<void> {
    const exec = await this.exec(host, container);
    for (const f of ['reply.sh', 'connect-loop.sh', 'reach.sh']) {
      const path = `${PODS_DIR}/${f}`;
      await exec.run(['sh', '-c', 'mkdir -p "$(dirname "$1")" && base64 -d > "$1" && chmod 755 "$1"', 'sh', path], {
        input: readFileSync(path).toString('base64'),
      });
    }
  }

  async deleteNamespaces(names: readonly string[]): Promise<void> {
    const wheres = await Promise.all(names.map(async (n) => ({ n, w: await this.where(n) })));
    const nodes = new Set(wheres.filter((x) => x.w.kind === 'node').map((x) => x.n));
    // Pods alone (apply removed them): their processes, then the namespaces, inside the node.
    const lonePods = wheres.filter(
      (x): x is { n: string; w: Extract<Where, { kind: 'pod' }> } => x.w.kind === 'pod' && !nodes.has(x.w.container),
    );
    for (const [container, list] of group(lonePods, (p) => p.w.container)) {
      await this.stopProcesses(list.map((p) => p.n));
      await (
        await this.exec(list[0]!.w.host, container)
      ).run(['ip', '-force', '-batch', '-'], { input: list.map((p) => `netns del ${p.n}\n`).join(''), check: false });
    }
    const labs = new Set(names.map((n) => parseNamespace(n)?.lab).filter((l): l is string => !!l));
    const containers = (await Promise.all([...labs].map((l) => this.labContainers(l))))
      .flat()
      .filter((c) => nodes.has(`${PREFIX}.${c.Labels[LABEL_LAB]}.${c.Labels[LABEL_NODE]}`));
    await pool(containers, async (c) =>
      (await this.on(c.host)).host.docker
        .getContainer(c.Id)
        .remove({ force: true })
        .catch((e: unknown) => {
          if (!/no such container/i.test(String(e))) throw e;
        }),
    );
    // the attached node names and the underlay namespaces, on every host
    for (const [name, { side }] of await this.hosts()) {
      const mine = wheres
        .filter((x) => (x.w.kind === 'host' && x.w.host === name) || nodes.has(x.n))
        .map((x) => (x.w.kind === 'host' ? x.w.ns : x.n));
      await side.remove([...new Set(mine)]);
    }
    // last, with the underlay namespaces gone: the lab's host shells (tcp:// engines)
    const whole = [...labs].filter((l) => wheres.some((x) => x.w.kind === 'host' && parseNamespace(x.n)?.lab === l));
    for (const { host } of (await this.hosts()).values())
      for (const lab of whole) {
        const helpers = await host.docker.listContainers({
          all: true,
          filters: JSON.stringify({ label: [`${LABEL_LAB}=${lab}`, `${LABEL_ROLE}=${HOST_SHELL}`] }),
        });
        for (const c of helpers)
          await host.docker
            .getContainer(c.Id)
            .remove({ force: true })
            .catch(() => undefined);
      }
  }

  async applySteps(steps: Iterable<Step>): Promise<void> {
    // node containers hold small labs: the phase's steps are made at once
    await pool([...steps], async (s) => {
      const w = await this.where(s.ns);
      if (w.kind === 'self' || w.kind === 'host') return (await this.on(w.host)).side.apply(w.kind === 'host' ? w.ns : undefined, s);
      const argv = s.tool === 'sysctl' ? ['sysctl', '-q', '-w', ...s.lines] : toolCommand(s);
      const r = await (
        await this.exec(w.host, w.container)
      ).run(DockerRuntime.argvIn(w, argv), {
        ...(s.tool === 'sysctl' ? {} : { input: s.lines.join('\n') + '\n' }),
        check: false,
        timeoutMs: 120_000,
      });
      if (r.code === 0) return;
      const what = `${argv.join(' ')} in ${s.ns} failed: ${r.stderr.trim().split('\n').slice(0, 4).join('; ')}`;
      if (s.origin) throw new LabError(`a rule file of yours was refused:\n${s.origin.file}: ${s.origin.path}: ${what}`, 2);
      throw new CommandError(argv, r.code, what, 'applying batches in node containers');
    });
  }

  async readAddresses(names: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const wheres = await Promise.all(names.map(async (n) => ({ n, w: await this.where(n) })));
    await pool(
      wheres.filter((x) => x.w.kind === 'host'),
      async (x) => {
        const text = await (await this.on(x.w.host)).side.addresses((x.w as { ns: string }).ns);
        if (text) out.set(x.n, text);
      },
    );
    // one exec per node container: its own namespace, then each pod's, one JSON line each
    const inside = wheres.filter(
      (x): x is { n: string; w: Extract<Where, { kind: 'node' | 'pod' }> } => x.w.kind === 'node' || x.w.kind === 'pod',
    );
    await pool([...group(inside, (x) => x.w.container)], async ([container, list]) => {
      const script = list
        .map((x) => (x.w.kind === 'pod' ? `ip -n ${x.n} -j -d addr show || echo` : 'ip -j -d addr show || echo'))
        .join('\n');
      const r = await (await this.exec(list[0]!.w.host, container)).run(['sh', '-c', script], { check: false }).catch(() => undefined);
      if (!r) return;
      const lines = r.stdout.split('\n').filter((l) => l === '' || l.startsWith('['));
      list.forEach((x, i) => {
        const l = lines[i];
        if (l?.startsWith('[')) out.set(x.n, l);
      });
    });
    return out;
  }

  async startDaemons(daemons: readonly Daemon[], timeoutMs = 10_000): Promise<void> {
    const placed = await Promise.all(
      daemons.map(async (d) => ({ d, w: (await this.where(d.ns)) as Extract<Where, { kind: 'node' | 'pod' }> })),
    );
    await pool(placed, async ({ d, w }) => {
      const exec = await (await this.on(w.host)).host.docker.getContainer(w.container).exec({
        Cmd: DockerRuntime.argvIn(w, d.argv),
        Env: Object.entries(d.env).map(([k, v]) => `${k}=${v}`),
        AttachStdout: false,
        AttachStderr: false,
      });
      // detached, the engine answers once the process runs; the answer is a stream all the same,
      // which held its connection to the engine open (a test process could not exit): let it go
      (await exec.start({ Detach: true }))?.destroy();
    });
    // ready once every port is bound: one look per node container at its pods' socket tables
    const deadline = Date.now() + timeoutMs;
    let waiting = placed;
    while (waiting.length) {
      const bound = new Set<Daemon>();
      for (const [container, list] of group(waiting, (x) => x.w.container)) {
        // a pod's daemon in its namespace inside the container; a node's (BIRD) in the container's own
        const script = list
          .map(({ d, w }) => `${w.kind === 'pod' ? `ip netns exec ${d.ns} ` : ''}cat /proc/net/${d.ready.protocol.toLowerCase()}; echo --`)
          .join('\n');
        const r = await (await this.exec(list[0]!.w.host, container)).run(['sh', '-c', script], { check: false });
        r.stdout.split('--\n').forEach((table, i) => {
          const d = list[i]?.d;
          if (d && isListening(table, d.ready.port, d.ready.protocol)) bound.add(d);
        });
      }
      waiting = waiting.filter((x) => !bound.has(x.d));
      if (!waiting.length) break;
      if (Date.now() > deadline)
        throw new Error(
          `not listening after ${timeoutMs} ms: ${waiting.map(({ d }) => `${d.ready.protocol}/${d.ready.port} in ${d.ns}`).join(', ')}`,
        );
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stopProcesses(names: readonly string[]): Promise<void> {
    const wheres = await Promise.all(names.map(async (n) => ({ n, w: await this.where(n) })));
    const pods = wheres.filter((x): x is { n: string; w: Extract<Where, { kind: 'pod' }> } => x.w.kind === 'pod');
    for (const [container, list] of group(pods, (x) => x.w.container)) {
      // SIGKILL, then until they are gone (up to 2 s): a daemon restarted next (apply re-feeding
      // dnsmasq) must find its port free. The names are arguments, not script text.
      await (
        await this.exec(list[0]!.w.host, container)
      ).run(['sh', '-c', STOP_SCRIPT, 'sh', ...list.map((x) => x.n)], { check: false, timeoutMs: 20_000 });
    }
    for (const [host, list] of group(
      wheres.filter((x) => x.w.kind === 'host'),
      (x) => x.w.host,
    ))
      await (await this.on(host)).side.stop(list.map((x) => (x.w as { ns: string }).ns));
  }

  async run(ns: string, argv: readonly string[], opts?: RunOptions): Promise<ExecResult> {
    const w = await this.where(ns);
    if (w.kind === 'self' || w.kind === 'host') return (await this.on(w.host)).side.run(w.kind === 'host' ? w.ns : undefined, argv, opts);
    return (await this.exec(w.host, w.container)).run(DockerRuntime.argvIn(w, argv), opts);
  }

  start(ns: string, argv: readonly string[]): Started {
    const started = this.where(ns).then(async (w) =>
      w.kind === 'self' || w.kind === 'host'
        ? (await this.on(w.host)).side.start(w.kind === 'host' ? w.ns : undefined, argv)
        : (await this.exec(w.host, w.container)).start(DockerRuntime.argvIn(w, argv)),
    );
    return deferred(started);
  }

  interactiveArgv(ns: string, argv: readonly string[]): string[] | undefined {
    // this machine's docker CLI reaches only the local engine: elsewhere the caller uses run()
    const r = parseNamespace(ns);
    if (this.opts.remote(r && r.role !== 'lab' ? this.opts.placement(r.node) : r?.host)) return undefined;
    if (!r || r.role === 'lab') return ['ip', 'netns', 'exec', r ? labNamespace(r.lab) : ns, ...argv];
    const container = `${PREFIX}.${r.lab}.${r.node}`;
    const inPod = r.role === 'pod' ? ['ip', 'netns', 'exec', ns] : [];
    return ['docker', 'exec', '-i', ...(process.stdin.isTTY ? ['-t'] : []), container, ...inPod, ...argv];
  }

  async fileFor(ns: string, hostPath: string): Promise<RuntimeFile> {
    const w = await this.where(ns);
    if (w.kind === 'self' || w.kind === 'host') return (await this.on(w.host)).side.fileFor(hostPath);
    return copiedFile(await this.exec(w.host, w.container), hostPath);
  }

  /** Ends the ssh connections of remote hosts, so the process can exit. */
  async close(): Promise<void> {
    if (!this.connected) return;
    for (const { host } of (await this.connected).values()) (host.shell as { close?: () => void }).close?.();
  }
}

/** A Started whose process is still being set up (the host's connection may not exist yet). */
function deferred(p: Promise<Started>): Started {
  let pid: number | undefined;
  void p.then(
    (s) => (pid = s.pid),
    () => undefined,
  );
  return {
    get pid() {
      return pid;
    },
    onStderr: (l) =>
      void p.then(
        (s) => s.onStderr(l),
        () => undefined,
      ),
    signal: (sig) =>
      void p.then(
        (s) => s.signal(sig),
        () => undefined,
      ),
    exited: p.then(
      (s) => s.exited,
      (e: unknown): ExecResult => ({ code: null, signal: null, stdout: '', stderr: e instanceof Error ? e.message : String(e) }),
    ),
  };
}

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

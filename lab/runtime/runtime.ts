import type { Step } from '../plan/types';
import type { Daemon } from '../pods/servers';
import type { RuntimeKind } from '../topology/types';
import type { ExecResult, RunOptions, Started } from './executor';

/**
 * What a runtime knows: create and remove the lab's namespaces, apply one batched step inside
 * one, and run a command in one. Planning never depends on which runtime applies it.
 */
export interface Runtime {
  readonly kind: RuntimeKind;
  /** every namespace with the lab prefix that exists right now (from the kernel) */
  listNamespaces(): Promise<string[]>;
  createNamespaces(names: readonly string[]): Promise<void>;
  /** stops every process inside, then removes the namespaces; missing ones are fine */
  deleteNamespaces(names: readonly string[]): Promise<void>;
  /**
   * applies independent steps (one phase of a plan), in parallel where the runtime can; the
   * steps may be made as they are read (a phase stream), so a runtime reads them once, in order
   */
  applySteps(steps: Iterable<Step>): Promise<void>;
  /** `ip -j -d addr show` of each namespace; a namespace that vanished meanwhile is left out */
  readAddresses(names: readonly string[]): Promise<Map<string, string>>;
  /** starts long-running processes inside namespaces and waits until each listens */
  startDaemons(daemons: readonly Daemon[], timeoutMs?: number): Promise<void>;
  /** stops every process inside these namespaces (SIGTERM, then SIGKILL) */
  stopProcesses(names: readonly string[]): Promise<void>;
  run(ns: string, argv: readonly string[], opts?: RunOptions): Promise<ExecResult>;
  /** starts a process inside ns and leaves it running (captures); `down` stops it with the lab */
  start(ns: string, argv: readonly string[]): Started;
  /**
   * A file a command in ns writes (a capture) that must end up at hostPath: where the command
   * should write it, and how to bring it here once written.
   */
  fileFor(ns: string, hostPath: string): Promise<RuntimeFile>;
  /** argv that runs a command interactively inside ns (stdio inherited by the caller); undefined where only `run` reaches ns (another machine) */
  interactiveArgv(ns: string, argv: readonly string[]): string[] | undefined;
  /** closes what the runtime holds open (ssh connections), so the process can exit; nothing to do for most */
  close(): Promise<void>;
}

export interface RuntimeFile {
  /** the path as the command in the namespace sees it */
  path: string;
  /** copies it to the host path (nothing to do where both are the same file) */
  collect(): Promise<void>;
}

// Polling instead of sleeping: a test waits for the condition it needs (a line on stdout, a
// namespace, a process), checked every `intervalMs`, and fails naming `what` after `timeoutMs`.

export interface WaitOptions {
  /** how long to wait at the most */
  timeoutMs: number;
  /** what is waited for, for the error: "up to reach the links stage" */
  what: string;
  /** between two checks; 50 ms unless told */
  intervalMs?: number;
}

/** Resolves with the first truthy value `cond` returns; throws `timed out after N ms waiting for <what>`. */
export async function waitFor<T>(cond: () => T | Promise<T>, opts: WaitOptions): Promise<NonNullable<T>> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    const v = await cond(); // a check that throws ends the wait with its error
    if (v) return v;
    if (Date.now() >= deadline) throw new Error(`timed out after ${opts.timeoutMs} ms waiting for ${opts.what}`);
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 50));
  }
}

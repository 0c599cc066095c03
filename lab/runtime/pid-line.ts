// Executors that reach a process through an API (a container's exec, an ssh channel) cannot
// signal it directly: the command is wrapped to print its own pid first on stderr, and `kill`
// is run beside it when it must stop. The arguments stay argv ("$@"), never a built string.

export const PID_WRAP = ['sh', '-c', 'echo "kdl-pid $$" >&2; exec "$@"', 'sh'];

/** Takes the first stderr line off the stream when it is the pid line; passes the rest on. */
export class PidLine {
  private buffered = '';
  private done = false;
  private resolve: (pid: number | undefined) => void = () => undefined;
  readonly pid = new Promise<number | undefined>((r) => (this.resolve = r));

  /** stderr text in, stderr text out (without the pid line) */
  feed(text: string): string {
    if (this.done) return text;
    this.buffered += text;
    if (!this.buffered.includes('\n')) return '';
    this.done = true;
    const m = /^kdl-pid (\d+)\n/.exec(this.buffered);
    this.resolve(m ? Number(m[1]) : undefined);
    const rest = m ? this.buffered.slice(m[0].length) : this.buffered;
    this.buffered = '';
    return rest;
  }

  /** the stream ended: whatever was held back is stderr */
  end(): string {
    this.resolve(undefined);
    if (this.done) return '';
    this.done = true;
    return this.buffered;
  }
}

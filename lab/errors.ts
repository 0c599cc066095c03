// Errors the CLI turns into exit codes: 2 for bad input or a missing environment feature,
// 3 when the lab a command is about is not there, 1 for anything that failed while running,
// 128 + the signal's number once a signal's work is undone.

export class LabError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = 1,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** One problem in an input file, located by line:col when the file gave one. */
export interface InputIssue {
  file: string;
  path: string; // e.g. nodes[1].ip
  message: string;
  line?: number;
  col?: number;
}

export function formatIssue(i: InputIssue): string {
  const where = i.line !== undefined ? `${i.file}:${i.line}:${i.col ?? 1}` : i.file;
  return i.path ? `${where}: ${i.path}: ${i.message}` : `${where}: ${i.message}`;
}

/** Issues printed at most: a generated 5 MB file once printed 20,583 lines; the first ones say what is wrong. */
export const MAX_PRINTED_ISSUES = 50;

/** The issues as lines, the first MAX_PRINTED_ISSUES of them and a count of the rest. */
export function formatIssues(issues: readonly InputIssue[], max = MAX_PRINTED_ISSUES): string {
  const lines = issues.slice(0, max).map(formatIssue);
  if (issues.length > max) {
    const distinct = new Set(issues.map((i) => i.message)).size;
    lines.push(
      `… and ${issues.length - max} more errors (${issues.length} in all, ${distinct} distinct message${distinct === 1 ? '' : 's'})`,
    );
  }
  return lines.join('\n');
}

/** Bad topology, scenario or CLI input: nothing has been created when this is thrown. */
export class InputError extends LabError {
  /** every issue found; the message holds the first MAX_PRINTED_ISSUES */
  constructor(readonly issues: InputIssue[]) {
    super(formatIssues(issues), 2);
  }
  static of(file: string, path: string, message: string): InputError {
    return new InputError([{ file, path, message }]);
  }
}

/** The lab a command is about is not there (no record, namespace, container or VM of it): exit 3. */
export class NoSuchLab extends LabError {
  constructor(
    readonly lab: string | undefined,
    hint = '',
  ) {
    super(`${lab === undefined ? 'no lab is up' : `no lab '${lab}' here`}${hint ? ` (${hint})` : ''}`, 3);
  }
}

/** A command run by the lab failed; carries what it printed. */
export class CommandError extends LabError {
  constructor(
    readonly argv: readonly string[],
    readonly code: number | null,
    readonly stderr: string,
    readonly where = '',
  ) {
    const first = stderr.trim().split('\n').slice(0, 6).join('\n  ');
    super(`${where ? where + ': ' : ''}${argv.join(' ')} exited ${code ?? 'by signal'}${first ? `:\n  ${first}` : ''}`);
  }
}

export type StopSignal = 'SIGINT' | 'SIGTERM';

/** A command stopped by Ctrl-C or SIGTERM after undoing its work: exit 130 or 143, as a shell reports a signal. */
export class Interrupted extends LabError {
  constructor(
    readonly signal: StopSignal,
    what: string,
  ) {
    super(`interrupted (${signal}): ${what}`, signal === 'SIGINT' ? 130 : 143);
  }
}

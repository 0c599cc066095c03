import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { LabError } from '../errors';

// What the netns runtime needs from the machine, checked before anything is created.

/** tool → Debian package that provides it */
export const NETNS_TOOLS: Record<string, string> = {
  ip: 'iproute2',
  bridge: 'iproute2',
  nsenter: 'util-linux',
  sysctl: 'procps',
};

export function which(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const p = join(dir, cmd);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return undefined;
}

export function checkEnvironment(tools: Record<string, string> = NETNS_TOOLS): void {
  const problems: string[] = [];
  if (process.getuid && process.getuid() !== 0)
    problems.push('the netns runtime needs root (it creates network namespaces): run it as root, e.g. with sudo');
  const missing = Object.entries(tools).filter(([t]) => !which(t));
  if (missing.length) {
    const pkgs = [...new Set(missing.map(([, p]) => p))];
    problems.push(`missing tools: ${missing.map(([t, p]) => `${t} (${p})`).join(', ')}; install with: apt-get install ${pkgs.join(' ')}`);
  }
  if (problems.length) throw new LabError(problems.join('\n'), 2);
}

import { readFileSync } from 'node:fs';
import type Dockerode from 'dockerode';

// A lab's containers on an engine: the labels that say whose they are, and how they start
// (privileged, or with every capability the host has where the engine refuses that). Used by the
// docker runtime's nodes and by the host shells (lab/docker/host-shell.ts).

export const LABEL_LAB = 'io.k8s-dataplane-lab.lab';
export const LABEL_NODE = 'io.k8s-dataplane-lab.node';
export const LABEL_HOST = 'io.k8s-dataplane-lab.host';
/** a lab's helper containers say what they are (lab/docker/host-shell.ts) */
export const LABEL_ROLE = 'io.k8s-dataplane-lab.role';
export const HOST_SHELL = 'host-shell';
/** the engine refused --privileged once: later nodes (and labs) start without asking again */
let privilegedRefused = false;

/**
 * Creates and starts a container privileged; where the engine refuses that (seen on these
 * machines: the capability bounding set lacks CAP_SYS_RESOURCE, "unable to apply caps"), with
 * every capability the host has instead, said once.
 */
export async function startPrivileged(
  docker: Dockerode,
  base: Dockerode.ContainerCreateOptions,
  onNotice?: (text: string) => void,
): Promise<Dockerode.Container> {
  const privileged = !privilegedRefused;
  let c = await docker.createContainer(
    privileged ? { ...base, HostConfig: { ...base.HostConfig, Privileged: true } } : withCapabilities(base),
  );
  try {
    await c.start();
  } catch (e) {
    if (!privileged || !/apply caps/i.test(String(e))) throw e;
    if (!privilegedRefused) {
      privilegedRefused = true; // said once, also when nodes start in parallel
      const missing = missingCapabilities();
      onNotice?.(
        `the engine refused --privileged (${firstLine(e)}): nodes run with every capability this host has (all but ${missing.join(', ') || 'none'}), seccomp and apparmor unconfined, systempaths unconfined`,
      );
    }
    await c.remove({ force: true });
    c = await docker.createContainer(withCapabilities(base));
    await c.start();
  }
  return c;
}

/** Linux capability names by bit number, as /proc/<pid>/status numbers them. */
const CAPABILITIES = [
  'CHOWN',
  'DAC_OVERRIDE',
  'DAC_READ_SEARCH',
  'FOWNER',
  'FSETID',
  'KILL',
  'SETGID',
  'SETUID',
  'SETPCAP',
  'LINUX_IMMUTABLE',
  'NET_BIND_SERVICE',
  'NET_BROADCAST',
  'NET_ADMIN',
  'NET_RAW',
  'IPC_LOCK',
  'IPC_OWNER',
  'SYS_MODULE',
  'SYS_RAWIO',
  'SYS_CHROOT',
  'SYS_PTRACE',
  'SYS_PACCT',
  'SYS_ADMIN',
  'SYS_BOOT',
  'SYS_NICE',
  'SYS_RESOURCE',
  'SYS_TIME',
  'SYS_TTY_CONFIG',
  'MKNOD',
  'LEASE',
  'AUDIT_WRITE',
  'AUDIT_CONTROL',
  'SETFCAP',
  'MAC_OVERRIDE',
  'MAC_ADMIN',
  'SYSLOG',
  'WAKE_ALARM',
  'BLOCK_SUSPEND',
  'AUDIT_READ',
  'PERFMON',
  'BPF',
  'CHECKPOINT_RESTORE',
];

/** Capabilities the engine cannot grant here: not in this process's bounding set. */
const missingCapabilities = (): string[] => {
  const have = hostCapabilities();
  return CAPABILITIES.map((c) => `CAP_${c}`).filter((c) => !have.includes(c));
};

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
      CapDrop: missingCapabilities(),
      SecurityOpt: ['seccomp=unconfined', 'apparmor=unconfined'],
      // what the CLI's --security-opt systempaths=unconfined means in the API: /proc/sys and
      // friends writable, so sysctl works in the node's and its pods' namespaces
      MaskedPaths: [],
      ReadonlyPaths: [],
    },
  };
}

const firstLine = (e: unknown) => (e instanceof Error ? e.message : String(e)).split('\n')[0]!.slice(0, 160);

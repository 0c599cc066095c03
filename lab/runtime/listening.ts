import { readFileSync } from 'node:fs';

// Listeners: is a port bound in a network namespace? Read from the kernel's socket tables
// (/proc/<pid>/net/{tcp,udp} show the sockets of that process's network namespace). Used by every
// runtime that waits for the pods' servers to listen.

/** Does this /proc/net/{tcp,udp} table hold a socket listening (TCP) or bound (UDP) on port? */
export function isListening(table: string, port: number, protocol: 'TCP' | 'UDP'): boolean {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const state = protocol === 'TCP' ? '0A' : '07'; // TCP_LISTEN, TCP_CLOSE (a bound UDP socket)
  return table.split('\n').some((line) => {
    const f = line.trim().split(/\s+/);
    return f[1]?.endsWith(`:${hexPort}`) === true && f[3] === state;
  });
}

/** Is `port` bound (TCP: listening, UDP: bound) in the network namespace of process `pid` on this host? */
export function isBound(pid: number, port: number, protocol: 'TCP' | 'UDP'): boolean {
  try {
    return isListening(readFileSync(`/proc/${pid}/net/${protocol === 'TCP' ? 'tcp' : 'udp'}`, 'utf8'), port, protocol);
  } catch {
    return false;
  }
}

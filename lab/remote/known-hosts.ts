import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

// OpenSSH's known_hosts, read to check a host key before the lab trusts an engine or a shell
// on that host: plain and hashed (|1|salt|hash) host fields, [host]:port for ports other than 22,
// comma lists, @revoked markers; negations and wildcards are not matched (never trusted).

export interface KnownKey {
  type: string;
  /** the key blob, base64 as in the file */
  key: string;
  revoked: boolean;
  line: number;
}

export const DEFAULT_KNOWN_HOSTS = join(homedir(), '.ssh', 'known_hosts');

/** The name OpenSSH writes for a host and port: `host`, or `[host]:port`. */
export const hostField = (host: string, port: number) => (port === 22 ? host : `[${host}]:${port}`);

function matchesField(field: string, name: string): boolean {
  if (field.startsWith('|1|')) {
    const [, , salt, hash] = field.split('|');
    if (!salt || !hash) return false;
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
  }
  return field.split(',').some((f) => f === name);
}

export function knownKeys(text: string, host: string, port: number): KnownKey[] {
  const name = hostField(host, port);
  const out: KnownKey[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const words = line.split(/\s+/);
    const revoked = words[0] === '@revoked';
    if (words[0]?.startsWith('@')) words.shift();
    const [hosts, type, key] = words;
    if (!hosts || !type || !key || !matchesField(hosts, name)) return;
    out.push({ type, key, revoked, line: i + 1 });
  });
  return out;
}

export type HostKeyVerdict = { ok: true } | { ok: false; reason: string };

/** Is this key (the blob the server presented) the one known_hosts holds for host:port? */
export function checkHostKey(file: string, host: string, port: number, presented: Buffer): HostKeyVerdict {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return {
      ok: false,
      reason: `${file} cannot be read, so ${hostField(host, port)}'s key cannot be checked (add it: ssh-keyscan -p ${port} ${host} >> ${file})`,
    };
  }
  const keys = knownKeys(text, host, port);
  const blob = presented.toString('base64');
  const type = presented.readUInt32BE(0) <= presented.length - 4 ? presented.subarray(4, 4 + presented.readUInt32BE(0)).toString() : '?';
  if (keys.some((k) => k.revoked && k.key === blob))
    return { ok: false, reason: `the ${type} key of ${hostField(host, port)} is marked @revoked in ${file}` };
  if (keys.some((k) => !k.revoked && k.key === blob)) return { ok: true };
  if (!keys.length)
    return {
      ok: false,
      reason: `${hostField(host, port)} is not in ${file}: add its key after checking it (ssh-keyscan -p ${port} ${host} >> ${file})`,
    };
  return {
    ok: false,
    reason: `HOST KEY MISMATCH for ${hostField(host, port)}: it presented a ${type} key that ${file} (line${keys.length > 1 ? 's' : ''} ${keys.map((k) => k.line).join(', ')}) does not hold; refusing to connect (a changed host, or someone in between)`,
  };
}

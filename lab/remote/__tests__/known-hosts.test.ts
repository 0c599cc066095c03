import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkHostKey, knownKeys } from '../known-hosts';
import { parseSshUrl, shellWord } from '../ssh';

// a syntactically real ssh-ed25519 key blob: string "ssh-ed25519", then 32 bytes
const blob = (seed: number) => {
  const type = Buffer.from('ssh-ed25519');
  const b = Buffer.alloc(4 + type.length + 4 + 32);
  b.writeUInt32BE(type.length, 0);
  type.copy(b, 4);
  b.writeUInt32BE(32, 4 + type.length);
  b.fill(seed, 8 + type.length);
  return b;
};
const hashed = (name: string) => {
  const salt = randomBytes(20);
  return `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
};

describe('known_hosts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kdl-kh-'));
  const file = join(dir, 'known_hosts');
  writeFileSync(
    file,
    [
      '# comment',
      `10.0.0.5,node-a ssh-ed25519 ${blob(1).toString('base64')}`,
      `[10.0.0.6]:2222 ssh-ed25519 ${blob(2).toString('base64')}`,
      `${hashed('10.0.0.7')} ssh-ed25519 ${blob(3).toString('base64')}`,
      `@revoked 10.0.0.8 ssh-ed25519 ${blob(4).toString('base64')}`,
    ].join('\n'),
  );

  it('matches plain, comma-listed, [host]:port and hashed entries', () => {
    expect(knownKeys(readFileSync(file, 'utf8'), 'node-a', 22)).toHaveLength(1);
    expect(checkHostKey(file, '10.0.0.5', 22, blob(1))).toEqual({ ok: true });
    expect(checkHostKey(file, '10.0.0.6', 2222, blob(2))).toEqual({ ok: true });
    expect(checkHostKey(file, '10.0.0.7', 22, blob(3))).toEqual({ ok: true });
  });

  it('refuses a different key, an unknown host, a revoked key, a port it was not recorded for', () => {
    expect(checkHostKey(file, '10.0.0.5', 22, blob(9))).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^HOST KEY MISMATCH for 10\.0\.0\.5: it presented a ssh-ed25519 key that .* \(line 2\) does not hold/),
    });
    expect(checkHostKey(file, '10.0.0.9', 22, blob(1))).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/10\.0\.0\.9 is not in .*ssh-keyscan -p 22 10\.0\.0\.9/),
    });
    expect(checkHostKey(file, '10.0.0.8', 22, blob(4))).toMatchObject({ ok: false, reason: expect.stringMatching(/@revoked/) });
    expect(checkHostKey(file, '10.0.0.6', 22, blob(2))).toMatchObject({ ok: false });
    expect(checkHostKey(join(dir, 'nope'), '10.0.0.5', 22, blob(1))).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/cannot be read/),
    });
  });
});

describe('ssh targets', () => {
  it('parses ssh:// URLs', () => {
    expect(parseSshUrl('ssh://admin@host-b:2222')).toEqual({ user: 'admin', host: 'host-b', port: 2222 });
    expect(parseSshUrl('ssh://10.0.0.2')).toEqual({ user: 'root', host: '10.0.0.2', port: 22 });
    expect(parseSshUrl('tcp://x:2376')).toMatch(/is not ssh:\/\//);
    expect(parseSshUrl('ssh://h:99999')).toMatch(/out of range/);
  });
  it('quotes argv words for the remote shell', () => {
    expect(['ip', '-batch', '-', "it's", 'a b', '$(x)', ''].map(shellWord).join(' ')).toBe(`ip -batch - 'it'\\''s' 'a b' '$(x)' ''`);
  });
});

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Started } from '../runtime/executor';
import { host } from './kernel';
import { waitFor } from './wait';

// A Docker engine on tcp:// with TLS for tests: this machine's engine behind a TLS endpoint on
// loopback (socat OPENSSL-LISTEN, client certificates verified against a CA made here), so the
// lab's tcp:// path — dockerode over TLS, the host shell in a helper container — runs for real.

export interface TlsEngine {
  port: number;
  tls: { ca: string; cert: string; key: string };
  /** a client certificate from another CA: the engine must refuse it */
  wrongTls: { ca: string; cert: string; key: string };
  stop(): Promise<void>;
}

async function openssl(args: string[]): Promise<void> {
  await host.run(['openssl', ...args]);
}

async function makeCa(dir: string, name: string): Promise<void> {
  await openssl([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
    '-keyout',
    join(dir, `${name}-key.pem`),
    '-out',
    join(dir, `${name}.pem`),
  ]);
}

async function makeCert(dir: string, ca: string, name: string, ext: string): Promise<void> {
  const extFile = join(dir, `${name}.ext`);
  writeFileSync(extFile, ext);
  await openssl([
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-subj',
    `/CN=${name}`,
    '-keyout',
    join(dir, `${name}-key.pem`),
    '-out',
    join(dir, `${name}.csr`),
  ]);
  await openssl([
    'x509',
    '-req',
    '-in',
    join(dir, `${name}.csr`),
    '-CA',
    join(dir, `${ca}.pem`),
    '-CAkey',
    join(dir, `${ca}-key.pem`),
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    extFile,
    '-out',
    join(dir, `${name}.pem`),
  ]);
}

export async function startTlsEngine(): Promise<TlsEngine> {
  const dir = mkdtempSync(join(tmpdir(), 'kdl-tls-'));
  await makeCa(dir, 'ca');
  await makeCa(dir, 'other-ca');
  await makeCert(dir, 'ca', 'server', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  await makeCert(dir, 'ca', 'client', 'extendedKeyUsage=clientAuth\n');
  await makeCert(dir, 'other-ca', 'stranger', 'extendedKeyUsage=clientAuth\n');
  const port = 20000 + Math.floor(Math.random() * 20000);
  const proxy: Started = host.start([
    'socat',
    `OPENSSL-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork,cert=${join(dir, 'server.pem')},key=${join(dir, 'server-key.pem')},cafile=${join(dir, 'ca.pem')},verify=1`,
    'UNIX-CONNECT:/var/run/docker.sock',
  ]);
  const accepts = () =>
    new Promise<boolean>((r) => {
      const s = createConnection({ host: '127.0.0.1', port }, () => (s.end(), r(true)));
      s.on('error', () => r(false));
    });
  try {
    await waitFor(accepts, { timeoutMs: 5000, what: `the TLS endpoint on 127.0.0.1:${port}` });
  } catch (e) {
    const stderr = (await Promise.race([proxy.exited, Promise.resolve(undefined)]))?.stderr ?? '';
    throw new Error(`${(e as Error).message}: ${stderr}`);
  }
  return {
    port,
    tls: { ca: join(dir, 'ca.pem'), cert: join(dir, 'client.pem'), key: join(dir, 'client-key.pem') },
    wrongTls: { ca: join(dir, 'ca.pem'), cert: join(dir, 'stranger.pem'), key: join(dir, 'stranger-key.pem') },
    stop: async () => {
      proxy.signal('SIGTERM');
      await proxy.exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

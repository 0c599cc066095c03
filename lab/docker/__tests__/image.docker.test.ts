import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import { connectLocal } from '../engine';
import { dockerEngine, itIf, requireInCi } from '../../testing/skip';
import { aptSourcesFor, debianMirror, parseDeb822, parseSourcesList } from '../apt-sources';
import { ensureBaseImage, LABEL_IMAGE } from '../base-image';
import { buildImage, contextHash, ensureNodeImage, NODE_CONTEXT } from '../node-image';

// The node image: pure helpers always; the build and a container from it when a Docker engine
// answers on the local socket (skipped with the reason printed otherwise). The first build on a
// machine without a registry debootstraps a base (about half a minute) and then builds.

const tmpDirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'kdl-image-test-'));
  tmpDirs.push(d);
  return d;
}
afterAll(() => tmpDirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('contextHash', () => {
  it('is 12 hex, stable for the same files, and changes when a file, a name or a new file changes it', () => {
    const d = tmp();
    mkdirSync(join(d, 'sub'));
    writeFileSync(join(d, 'Dockerfile'), 'FROM scratch\n');
    writeFileSync(join(d, 'sub', 'a.sh'), 'echo a\n');
    const h = contextHash(d);
    expect(h).toMatch(/^[0-9a-f]{12}$/);
    expect(contextHash(d)).toBe(h);

    writeFileSync(join(d, 'sub', 'a.sh'), 'echo b\n');
    const h2 = contextHash(d);
    expect(h2).not.toBe(h);
    writeFileSync(join(d, 'sub', 'a.sh'), 'echo a\n');
    expect(contextHash(d)).toBe(h); // back to the same contents, back to the same hash

    rmSync(join(d, 'sub', 'a.sh'));
    writeFileSync(join(d, 'sub', 'b.sh'), 'echo a\n'); // same contents under another name
    expect(contextHash(d)).not.toBe(h);

    writeFileSync(join(d, 'extra'), '');
    expect(contextHash(d)).not.toBe(h);
  });

  it('hashes the real node context', () => {
    expect(contextHash(NODE_CONTEXT)).toMatch(/^[0-9a-f]{12}$/);
  });
});

describe('apt sources', () => {
  // reserved .test names: no real mirror is named in the repository
  const deb822 = [
    'Types: deb',
    '# a comment',
    'URIs: http://mirror.test/debian',
    'Suites: bookworm bookworm-updates',
    'Components: main',
    'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
    '',
    'Types: deb',
    'URIs: http://security.test/debian-security',
    'Suites: bookworm-security',
    'Components: main',
    '',
    'Types: deb',
    'URIs: http://disabled.test/debian',
    'Suites: bookworm',
    'Components: main',
    'Enabled: no',
    '',
  ].join('\n');

  it('parses deb822 stanzas (comments skipped, Enabled: no left out)', () => {
    const s = parseDeb822(deb822);
    expect(s).toEqual([
      { types: ['deb'], uris: ['http://mirror.test/debian'], suites: ['bookworm', 'bookworm-updates'], components: ['main'] },
      { types: ['deb'], uris: ['http://security.test/debian-security'], suites: ['bookworm-security'], components: ['main'] },
    ]);
  });

  it('parses one-line sources.list entries with options', () => {
    const s = parseSourcesList(
      '# deb http://old.test/debian buster main\ndeb [arch=amd64 signed-by=/k.gpg] http://mirror.test/debian bookworm main contrib\ndeb-src http://mirror.test/debian bookworm main\n',
    );
    expect(s).toEqual([
      { types: ['deb'], uris: ['http://mirror.test/debian'], suites: ['bookworm'], components: ['main', 'contrib'] },
      { types: ['deb-src'], uris: ['http://mirror.test/debian'], suites: ['bookworm'], components: ['main'] },
    ]);
  });

  it('picks the bookworm mirror and writes the image sources from the host entries', () => {
    const s = parseDeb822(deb822);
    expect(debianMirror(s)).toBe('http://mirror.test/debian');
    expect(aptSourcesFor(s, 'http://mirror.test/debian')).toBe(
      [
        'deb http://mirror.test/debian bookworm main',
        'deb http://mirror.test/debian bookworm-updates main',
        'deb http://security.test/debian-security bookworm-security main',
        '',
      ].join('\n'),
    );
  });

  it('falls back to a mirror of another Debian release, and to nothing without one', () => {
    const trixie = parseSourcesList(
      'deb http://mirror.test/debian trixie main\ndeb http://mirror.test/debian-security trixie-security main\n',
    );
    expect(debianMirror(trixie)).toBe('http://mirror.test/debian');
    expect(aptSourcesFor(trixie, 'http://mirror.test/debian')).toBe('deb http://mirror.test/debian bookworm main\n');
    expect(debianMirror(parseSourcesList('deb-src http://mirror.test/debian bookworm main\n'))).toBeUndefined();
  });
});

describe('without an engine', () => {
  it('tells how to get one', async () => {
    const nowhere = new Dockerode({ socketPath: join(tmp(), 'no-docker.sock') });
    await expect(ensureNodeImage(nowhere)).rejects.toThrow(
      /no(ne)? answers.*install one \(apt-get install docker\.io\) and start dockerd/s,
    );
  });
});

const docker = connectLocal();
// Decided while the tests are registered, so that without an engine they are reported as
// skipped with the reason (not as passed); CI starts an engine first, so there it must answer.
const { ok: engine, reason: noEngine } = dockerEngine();
requireInCi(engine, 'no Docker engine answers: .ci/run should have started one (scripts/ensure-docker)');

/** Splits a non-tty container's log buffer (8-byte frame headers) into stdout and stderr text. */
function demux(buf: Buffer): { stdout: string; stderr: string } {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let i = 0;
  while (i + 8 <= buf.length) {
    const kind = buf[i];
    const size = buf.readUInt32BE(i + 4);
    (kind === 2 ? err : out).push(buf.subarray(i + 8, i + 8 + size));
    i += 8 + size;
  }
  return { stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
}

describe('node image (docker engine)', () => {
  const engineIt = itIf(engine, noEngine);

  let tag = '';

  engineIt(
    'ensureNodeImage builds (or finds) kdl-node:<context hash>',
    async () => {
      const lines: string[] = [];
      const t0 = Date.now();
      tag = await ensureNodeImage(docker, { onProgress: (l) => lines.push(l) });

      console.log(
        `ensureNodeImage: ${tag} in ${((Date.now() - t0) / 1000).toFixed(1)} s\n  ${lines.filter((l) => !/^(build|debootstrap|pull): /.test(l)).join('\n  ')}`,
      );
      expect(tag).toBe(`kdl-node:${contextHash(NODE_CONTEXT)}`);
      const info = await docker.getImage(tag).inspect();
      expect(info.Config.Labels?.[LABEL_IMAGE]).toBe('node');
      expect(info.Config.Cmd).toEqual(['sleep', 'infinity']);
    },
    10 * 60_000,
  );

  engineIt('a second call reuses the image: no build, under 2 s', async () => {
    const lines: string[] = [];
    const t0 = Date.now();
    const again = await ensureNodeImage(docker, { onProgress: (l) => lines.push(l) });
    const ms = Date.now() - t0;
    expect(again).toBe(tag);
    expect(ms).toBeLessThan(2000);
    expect(lines.filter((l) => /^(build|base|debootstrap|pull|import): /.test(l))).toEqual([]);
    expect(lines).toEqual([`image: ${tag} exists, reused`]);
  });

  engineIt(
    'has every tool the lab runs in a node',
    async () => {
      // Each tool must be on PATH and run. ipset and ipvsadm ask the kernel even for their
      // version: NET_ADMIN lets ipset's query through; ipvsadm cannot print its version where the
      // kernel has no IPVS, and its complaint about that still shows the binary runs.
      const checks: [bin: string, cmd: string][] = [
        ['ip', 'ip -V'],
        ['iptables', 'iptables -V'],
        ['ipset', 'ipset -v'],
        ['ipvsadm', 'ipvsadm --version'],
        ['nft', 'nft -v'],
        ['tcpdump', 'tcpdump --version'],
        ['traceroute', 'traceroute -V'],
        ['ping', 'ping -V'],
        ['socat', 'socat -V | head -2'],
        ['nsenter', 'nsenter --version'],
        ['ps', 'ps --version'],
      ];
      const script = checks
        .map(([bin, cmd]) => `echo "== ${bin}"; command -v ${bin} >/dev/null || echo "MISSING ${bin}"; ${cmd} 2>&1`)
        .join('; ');
      const c = await docker.createContainer({
        Image: tag,
        Cmd: ['sh', '-c', script],
        Tty: false,
        HostConfig: { NetworkMode: 'none', CapAdd: ['NET_ADMIN'] },
        Labels: { 'io.k8s-dataplane-lab.test': 'image' },
      });
      try {
        await c.start();
        const exit = (await c.wait()) as { StatusCode: number };
        const { stdout } = demux(await c.logs({ stdout: true, stderr: true, follow: false }));
        expect(exit.StatusCode).toBe(0);
        expect(stdout).not.toMatch(/MISSING/);
        for (const re of [
          /ip utility, iproute2-/,
          /iptables v1\.8/,
          /ipset v7/,
          /ipvsadm v1\.|Can't initialize ipvs/,
          /nftables v1\./,
          /tcpdump version 4\./,
          /traceroute.*version 2\./i,
          /ping from iputils/,
          /socat version 1\./,
          /nsenter from util-linux/,
          /ps from procps-ng/,
        ]) {
          expect(stdout).toMatch(re);
        }
      } finally {
        await c.remove({ force: true });
      }
    },
    60_000,
  );

  engineIt(
    'a failed RUN throws with the last lines of the build output',
    async () => {
      const base = await ensureBaseImage(docker);
      const d = tmp();
      writeFileSync(
        join(d, 'Dockerfile'),
        'ARG BASE\nFROM ${BASE}\nRUN echo kdl-first-line && echo kdl-boom-marker >&2 && exit 3\nCMD ["true"]\n',
      );
      const failTag = `kdl-test-fail:${contextHash(d)}`;
      const err = await buildImage(docker, { context: d, tag: failTag, buildargs: { BASE: base } }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(Error);
      const msg = (err as Error).message;
      expect(msg).toContain(`building ${failTag} failed`);
      expect(msg).toMatch(/returned a non-zero code: 3/);
      expect(msg).toContain('kdl-boom-marker');
      expect(msg).toContain('kdl-first-line');
      await expect(docker.getImage(failTag).inspect()).rejects.toMatchObject({ statusCode: 404 });
    },
    120_000,
  );
});

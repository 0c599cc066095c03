import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectLocal } from '../../docker/engine';
import { parsePing } from '../../probe/ping';
import { cli, describeKernel, labNamespaces } from '../../testing/kernel';
import { uniqueLabName } from '../../testing/names';
import { describeIf, dockerEngine, requireInCi } from '../../testing/skip';
import { startTlsEngine, type TlsEngine } from '../../testing/tls-engine';
import { LABEL_LAB } from '../docker';

// A lab on an engine reached by tcp:// with TLS (lab/testing/tls-engine.ts: this machine's
// engine behind a verified TLS endpoint on loopback). No ssh there: the lab's host commands run
// in a helper container of its own (host network and PID namespaces, /run/netns shared in),
// which `down` removes with the rest.

const LAB = uniqueLabName('tlsl');

// Decided while the tests are registered, so that without an engine they are reported as skipped.
const { ok: engine, reason: noEngine } = dockerEngine();
requireInCi(engine, 'no Docker engine answers: .ci/run should have started one (scripts/ensure-docker)');
const describeDocker = describeIf(engine, noEngine, describeKernel);

describeDocker('docker runtime on a tcp:// (TLS) engine', () => {
  let tls: TlsEngine | undefined;
  let dir = '';
  const topology = (t: { ca: string; cert: string; key: string }) => {
    const f = join(dir, `lab-${Math.random().toString(36).slice(2, 6)}.yaml`);
    writeFileSync(
      f,
      [
        `name: ${LAB}`,
        'runtime: docker',
        'hosts:',
        `  - { name: t, engine: "tcp://127.0.0.1:${tls!.port}", tls: { ca: ${t.ca}, cert: ${t.cert}, key: ${t.key} } }`,
        'nodes: [{ name: node1 }, { name: node2 }]',
        'pods: [{ name: a, node: node1 }, { name: b, node: node2 }]',
      ].join('\n') + '\n',
    );
    return f;
  };
  beforeAll(async () => {
    tls = await startTlsEngine();
    dir = mkdtempSync(join(tmpdir(), 'kdl-tlsl-'));
  }, 30_000);
  afterAll(async () => {
    await cli(['down', '--name', LAB]);
    await tls?.stop();
  }, 60_000);

  it('refuses a client certificate the engine does not trust, creating nothing', async () => {
    const r = await cli(['up', '-f', topology(tls!.wrongTls)]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/host t: the engine at tcp:\/\/127\.0\.0\.1:\d+ does not answer over TLS/);
    expect(labNamespaces(LAB)).toEqual([]);
  }, 60_000);

  it('brings a lab up through the TLS engine, with a host shell container doing the host side', async () => {
    const up = await cli(['up', '-f', topology(tls!.tls)]);
    if (up.code !== 0) throw new Error(`up exited ${up.code}:\n${up.stdout}\n${up.stderr}`);
    const list = await connectLocal().listContainers({ filters: JSON.stringify({ label: [`${LABEL_LAB}=${LAB}`] }) });
    expect(list.map((c) => c.Names[0]).sort()).toEqual([`/kdl.${LAB}.node1`, `/kdl.${LAB}.node2`, `/kdl.${LAB}.t.host-shell`]);
    // the host shell made the lab's underlay namespace on this machine (its host)
    expect(labNamespaces(LAB)).toEqual([`kdl.${LAB}`, `kdl.${LAB}.node1`, `kdl.${LAB}.node2`]);
    const ping = await cli(['exec', '--name', LAB, 'a', '--', 'ping', '-c', '2', '-i', '0.2', '10.42.1.2']);
    expect(parsePing(ping.stdout).replies.map((r) => r.ttl)).toEqual([62, 62]);
  }, 120_000);

  it('down removes the nodes, the namespaces and the host shell', async () => {
    expect((await cli(['down', '--name', LAB])).code).toBe(0);
    expect(await connectLocal().listContainers({ all: true, filters: JSON.stringify({ label: [`${LABEL_LAB}=${LAB}`] }) })).toEqual([]);
    expect(labNamespaces(LAB)).toEqual([]);
  }, 60_000);
});

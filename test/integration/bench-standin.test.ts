import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Docker from 'dockerode';
import { execa } from 'execa';
import { afterEach, describe, expect, inject, it } from 'vitest';
import type { Layout } from '../../src/domain/layout.js';
import { GENERATED_LOGIN_DISCLAIMER, generateConfigTree } from '../bench/config-tree.js';
import type { BenchInfo } from '../bench/provided.js';
import {
  execInContainer,
  removeContainer,
  startStandin,
  startSwag,
  waitForHealth,
  writeSwagSite,
} from '../bench/standin.js';

// The bench proof: the stand-in behaves like Jellyfin where the service looks (health, public info, branding,
// a WAL-mode database that is clean after a graceful stop), and the SWAG stand-in is a working nginx.

const bench: BenchInfo = inject('bench');
const docker = new Docker({ socketPath: bench.dockerSocket });
/** This file's loopback ports: 18100-18109. */
const PORT_BASE = 18100;
const containers: string[] = [];

function containerName(label: string): string {
  const name = `jfb-test-${label}-${randomUUID().slice(0, 8)}`;
  containers.push(name);
  return name;
}

afterEach(async () => {
  for (const name of containers.splice(0)) await removeContainer(docker, name);
});

async function sqlite(db: string, sql: string): Promise<string> {
  return (await execa('sqlite3', ['-batch', db, sql])).stdout.trim();
}

async function activityRows(db: string): Promise<number> {
  return Number(await sqlite(db, 'SELECT count(*) FROM ActivityLogs'));
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} not seen within ${timeoutMs} ms`, { cause: lastError });
}

/** The first body `/health` answers once the server listens. */
async function firstHealthAnswer(baseUrl: string): Promise<string> {
  return until('a first /health answer', 20_000, async () =>
    (await (await fetch(`${baseUrl}/health`)).text()).trim(),
  );
}

async function getJson(url: string): Promise<{ body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return { body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

async function proveStandin(layout: Layout, port: number): Promise<void> {
  const configDir = await mkdtemp(join(bench.workDir, `standin-${layout}-`));
  const tree = await generateConfigTree(configDir, {
    layout,
    files: 150,
    totalBytes: 3_000_000,
    seed: 11,
    serverName: `bench-${layout}`,
  });
  const rowsBefore = await activityRows(tree.database);
  const baseUrl = `http://127.0.0.1:${port}`;

  const container = await startStandin(docker, {
    name: containerName(`standin-${layout}`),
    image: bench.standinImage,
    configDir,
    port,
    layout,
    version: '10.10.7',
    startupDelayMs: 3000,
    writeIntervalMs: 100,
  });

  expect(await firstHealthAnswer(baseUrl)).toBe('Degraded');
  await waitForHealth(baseUrl, 'Healthy', 30_000);

  const { body: info } = await getJson(`${baseUrl}/System/Info/Public`);
  const deviceId = (await readFile(join(tree.database, '..', 'device.txt'), 'utf8')).trim();
  expect(info).toMatchObject({
    Version: '10.10.7',
    ProductName: 'Jellyfin Server',
    ServerName: `bench-${layout}`,
    Id: deviceId,
    StartupWizardCompleted: true,
  });
  const { body: branding } = await getJson(`${baseUrl}/Branding/Configuration`);
  expect(branding.LoginDisclaimer).toBe(GENERATED_LOGIN_DISCLAIMER);
  expect((await container.inspect()).Config.Labels['org.opencontainers.image.version']).toBe('10.10.7');

  await until('watch progress written by the stand-in', 20_000, async () =>
    (await activityRows(tree.database)) >= rowsBefore + 5 ? true : undefined,
  );

  await container.stop({ t: 10 });
  expect((await container.inspect()).State.ExitCode).toBe(0);
  // Checked before any sqlite3 opens the file again (an open connection recreates the -wal).
  expect(existsSync(`${tree.database}-wal`)).toBe(false);
  expect(await sqlite(tree.database, 'PRAGMA integrity_check')).toBe('ok');
  expect(await sqlite(tree.database, 'PRAGMA journal_mode')).toBe('wal');
  expect(await activityRows(tree.database)).toBeGreaterThan(rowsBefore);
}

describe('bench stand-ins', () => {
  it('the Jellyfin stand-in (linuxserver layout) starts Degraded, turns Healthy, writes its database and leaves it clean on stop', async () => {
    await proveStandin('linuxserver', PORT_BASE);
  });

  it('the Jellyfin stand-in (official layout) keeps its database at data/jellyfin.db and leaves it clean on stop', async () => {
    await proveStandin('official', PORT_BASE + 1);
  });

  it('the SWAG stand-in checks, serves and reloads an nginx site that proxies to a stand-in', async () => {
    const [portA, portB, portProxy] = [PORT_BASE + 2, PORT_BASE + 3, PORT_BASE + 4];
    for (const [port, serverName] of [
      [portA, 'standin-a'],
      [portB, 'standin-b'],
    ] as const) {
      await startStandin(docker, {
        name: containerName(serverName),
        image: bench.standinImage,
        configDir: await mkdtemp(join(bench.workDir, `${serverName}-`)),
        port,
        serverName,
        startupDelayMs: 0,
        writeIntervalMs: 0,
      });
      await waitForHealth(`http://127.0.0.1:${port}`, 'Healthy', 30_000);
    }

    const swagConfig = await mkdtemp(join(bench.workDir, 'swag-'));
    const upstreamFile = join(swagConfig, 'nginx', 'jellyfin-upstream.conf');
    const upstream = (port: number) => `upstream jellyfin_failover {\n  server 127.0.0.1:${port};\n}\n`;
    await writeSwagSite(swagConfig, {
      listen: `127.0.0.1:${portProxy}`,
      upstreamInclude: '/config/nginx/jellyfin-upstream.conf',
    });
    await writeFile(upstreamFile, upstream(portA));
    const swag = await startSwag(docker, {
      name: containerName('swag'),
      image: bench.swagImage,
      configDir: swagConfig,
    });

    const test = await execInContainer(swag, ['nginx', '-t']);
    expect(test.exitCode, test.stderr).toBe(0);
    expect(test.stderr).toContain('test is successful');

    const proxyUrl = `http://127.0.0.1:${portProxy}/System/Info/Public`;
    const viaA = await until('an answer through nginx', 20_000, () => getJson(proxyUrl));
    expect(viaA.body.ServerName).toBe('standin-a');
    expect(viaA.headers.get('x-jellyfin-backend')).toBe(`127.0.0.1:${portA}`);

    // A broken include fails `nginx -t` (what the service relies on before reloading)...
    await writeFile(upstreamFile, 'upstream jellyfin_failover {\n  server ;\n}\n');
    expect((await execInContainer(swag, ['nginx', '-t'])).exitCode).not.toBe(0);

    // ...and a good one is picked up by `nginx -s reload`.
    await writeFile(upstreamFile, upstream(portB));
    expect((await execInContainer(swag, ['nginx', '-t'])).exitCode).toBe(0);
    const reload = await execInContainer(swag, ['nginx', '-s', 'reload']);
    expect(reload.exitCode, reload.stderr).toBe(0);
    const viaB = await until('stand-in B through nginx after reload', 20_000, async () => {
      const answer = await getJson(proxyUrl);
      return answer.body.ServerName === 'standin-b' ? answer : undefined;
    });
    expect(viaB.headers.get('x-jellyfin-backend')).toBe(`127.0.0.1:${portB}`);
  });
});

/**
 * DockerContainer and createDocker against the bench's Docker engine: container state, stop/start, the restart
 * policy used for fencing (SPEC 4 rule 8), the image version read from labels, commands inside a container, the
 * event stream, and the same engine reached through SSH with the pinned host key (SPEC 4 rule 9).
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { DockerContainer } from '../../../src/adapters/docker/container.js';
import { createDocker } from '../../../src/adapters/docker/endpoint.js';
import { type ContainerEvent, watchEvents } from '../../../src/adapters/docker/events.js';
import { CommandError } from '../../../src/adapters/errors.js';
import { SshConnection } from '../../../src/adapters/ssh/connection.js';
import { HostUnreachableError } from '../../../src/domain/errors.js';
import { SILENT_LOG } from '../../../src/domain/log.js';
import { freePort } from '../../bench/mosquitto.js';
import type { BenchInfo } from '../../bench/provided.js';
import { type SshdHandle, startSshd } from '../../bench/sshd.js';
import { removeContainer, startStandin, waitForHealth } from '../../bench/standin.js';

const bench: BenchInfo = inject('bench');
const containers: string[] = [];
let work: string;

const local = createDocker({ kind: 'socket', path: bench.dockerSocket }, null, 'MASTER_DOCKER');
const connections: SshConnection[] = [];

/** The engine of an sshd's host, over one SSH connection as the composition root makes it. */
function overSsh(sshd: SshdHandle, knownHostsFile = sshd.knownHostsFile) {
  const connection = new SshConnection(
    {
      target: { user: sshd.user, host: sshd.address, port: sshd.port },
      keyFile: sshd.clientKeyFile,
      knownHostsFile,
    },
    SILENT_LOG,
  );
  connections.push(connection);
  return createDocker({ kind: 'ssh' }, connection, 'MASTER_DOCKER');
}

function containerName(label: string): string {
  const name = `jfb-dc-${label}-${randomUUID().slice(0, 8)}`;
  containers.push(name);
  return name;
}

/**
 * A Jellyfin stand-in, up and answering (so it has installed its SIGTERM handler and a stop is quick); returns its
 * name.
 */
async function standin(label: string, options: { versionLabel?: string } = {}): Promise<string> {
  const name = containerName(label);
  const configDir = await mkdtemp(join(work, `${label}-`));
  const port = await freePort();
  await startStandin(local, {
    name,
    image: bench.standinImage,
    configDir,
    port,
    writeIntervalMs: 0,
    startupDelayMs: 0,
    ...options,
  });
  await waitForHealth(`http://127.0.0.1:${port}`, 'Healthy', 30_000);
  return name;
}

beforeAll(async () => {
  work = await mkdtemp(join(bench.workDir, 'docker-container-'));
});

afterEach(async () => {
  for (const name of containers.splice(0)) await removeContainer(local, name);
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('DockerContainer', () => {
  it('inspects a running container: status, restart policy, image and Jellyfin version', async () => {
    const name = await standin('running');
    const info = await new DockerContainer(local, name).inspect();
    expect(info).toMatchObject({
      status: 'running',
      restartPolicy: 'no',
      imageVersion: '10.11.3',
      image: bench.standinImage,
      mediaMounts: [],
    });
    expect(Date.parse(info.startedAt ?? '')).toBeGreaterThan(Date.now() - 120_000);
  });

  it('reports a container that does not exist as missing', async () => {
    const info = await new DockerContainer(local, `jfb-dc-none-${randomUUID().slice(0, 8)}`).inspect();
    expect(info.status).toBe('missing');
  });

  it('reads the version out of linuxserver labels', async () => {
    const name = await standin('lsio', { versionLabel: '10.11.3ubu2404-ls87' });
    expect((await new DockerContainer(local, name).inspect()).imageVersion).toBe('10.11.3');

    // build_version, when the OCI label says nothing useful; a created, never started container counts as exited
    const other = containerName('buildver');
    await local.createContainer({
      name: other,
      Image: bench.standinImage,
      Labels: {
        'org.opencontainers.image.version': 'latest',
        build_version: 'Linuxserver.io version:- 10.10.7ubu2404-ls70 Build-date:- 2025-06-01T06:12:34+00:00',
      },
      HostConfig: { NetworkMode: 'host' },
    });
    const info = await new DockerContainer(local, other).inspect();
    expect(info.imageVersion).toBe('10.10.7');
    expect(info.status).toBe('exited');
  });

  it('stops and starts, and stopping a stopped or starting a running container is fine', async () => {
    const name = await standin('stopstart');
    const container = new DockerContainer(local, name);

    await container.stop(10);
    expect((await container.inspect()).status).toBe('exited');
    await container.stop(10);
    expect((await container.inspect()).status).toBe('exited');

    await container.start();
    expect((await container.inspect()).status).toBe('running');
    await container.start();
    expect((await container.inspect()).status).toBe('running');
  });

  it('sets the restart policy and reads it back (fencing and unfencing)', async () => {
    const name = await standin('policy');
    const container = new DockerContainer(local, name);
    await container.setRestartPolicy('unless-stopped');
    expect((await container.inspect()).restartPolicy).toBe('unless-stopped');
    const raw = await local.getContainer(name).inspect();
    expect(raw.HostConfig.RestartPolicy).toEqual({ Name: 'unless-stopped', MaximumRetryCount: 0 });
    await container.setRestartPolicy('no');
    expect((await container.inspect()).restartPolicy).toBe('no');
  });

  it('runs a command inside the container: argv literal, output split, exit code kept', async () => {
    const name = await standin('exec');
    const container = new DockerContainer(local, name);
    expect(await container.exec(['sh', '-c', 'echo out; echo err >&2; exit 7'])).toEqual({
      exitCode: 7,
      stdout: 'out\n',
      stderr: 'err\n',
    });
    const hostile = ['$(touch /tmp/pwned)', "it's", 'two words', '', '`id`'];
    const echoed = await container.exec(['sh', '-c', 'printf "%s\\0" "$@"', 'sh', ...hostile]);
    expect(echoed.stdout.split('\0').slice(0, -1)).toEqual(hostile);
    expect((await container.exec(['sh', '-c', 'test -e /tmp/pwned'])).exitCode).toBe(1);
  });

  it('refuses to exec in a stopped container with a message naming it', async () => {
    const name = await standin('execstopped');
    const container = new DockerContainer(local, name);
    await container.stop(10);
    const err = await container.exec(['true']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandError);
    expect((err as Error).message).toContain(name);
  });

  it('watches die, stop and start events of the named containers until aborted', async () => {
    const name = await standin('events');
    const bystander = await standin('bystander');
    const events: ContainerEvent[] = [];
    const controller = new AbortController();
    const watching = watchEvents(local, [name], (e) => events.push(e), controller.signal);
    await new Promise((r) => setTimeout(r, 300));

    const container = new DockerContainer(local, name);
    await container.stop(10);
    await new DockerContainer(local, bystander).stop(10);
    await container.start();
    const deadline = Date.now() + 10_000;
    while (!events.some((e) => e.action === 'start') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    controller.abort();
    await watching;

    expect(events.every((e) => e.container === name)).toBe(true);
    expect(events.map((e) => e.action)).toEqual(expect.arrayContaining(['die', 'stop', 'start']));
    expect(events.find((e) => e.action === 'die')?.exitCode).toEqual(expect.any(Number));
  });
});

describe('createDocker over SSH', () => {
  let sshd: SshdHandle;

  beforeAll(async () => {
    sshd = await startSshd();
  });

  afterAll(async () => {
    await sshd?.stop();
  });

  afterEach(async () => {
    for (const c of connections.splice(0)) await c.close();
  });

  it('reaches the engine through the site SSH with the pinned host key', async () => {
    const name = await standin('viassh');
    const docker = overSsh(sshd);
    const listed = await docker.listContainers({ all: true, filters: { name: [name] } });
    expect(listed.map((c) => c.Names)).toContainEqual([`/${name}`]);

    const container = new DockerContainer(docker, name);
    expect((await container.inspect()).status).toBe('running');
    expect(await container.exec(['sh', '-c', 'echo through ssh'])).toEqual({
      exitCode: 0,
      stdout: 'through ssh\n',
      stderr: '',
    });
    await container.stop(10);
    expect((await container.inspect()).status).toBe('exited');

    // Requests share the site's one SSH connection: one login, however many requests.
    const logins = sshd
      .log()
      .split('\n')
      .filter((l) => l.includes('Accepted publickey')).length;
    expect(logins).toBe(1);
  });

  it('refuses an engine behind a host key that is not the pinned one', async () => {
    const wrong = await sshd.wrongHostKnownHosts();
    const docker = overSsh(sshd, wrong);
    const err = await new DockerContainer(docker, 'anything').inspect().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HostUnreachableError);
    expect((err as HostUnreachableError).reason).toBe('host-key');
    expect((err as Error).message).toContain(sshd.hostKeyFingerprint);
  });

  it('says what is missing when dial-stdio cannot run on the host', async () => {
    // A second sshd whose only key is tied to a forced command that fails as a host without the docker CLI does.
    const bare = await startSshd();
    try {
      const authorized = join(bare.dir, 'authorized_keys');
      const key = await readFile(authorized, 'utf8');
      await writeFile(authorized, `command="echo 'sh: 1: docker: not found' >&2; exit 127" ${key}`);
      const docker = overSsh(bare);
      const err = await new DockerContainer(docker, 'anything').inspect().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(HostUnreachableError);
      expect((err as Error).message).toContain('docker: not found');
      expect((err as Error).message).toContain('MASTER_DOCKER=ssh');
    } finally {
      await bare.stop();
    }
  });
});

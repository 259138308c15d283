/**
 * The service image, built and run the way a user does: the base image `FROM` names is built locally
 * (base-image.ts: no registry is reachable here), the project image from a clean checkout of HEAD, and the
 * image then runs the CLI and the service against the bench's Jellyfin stand-ins, Mosquitto, sshd and dockerd.
 *
 * Topology of the sync and run tests: master is local to the container (its config dir bind-mounted read-only at
 * the same path, its container driven through the mounted Docker socket), slave is reached over the bench's sshd
 * (rsync and Docker over SSH). It suits a non-root container: a sync only reads master, and slave is written by
 * the SSH login. The bench's trees and keys are root's, so the key is copied for the container's user.
 */
import { randomBytes } from 'node:crypto';
import { chmod, chown, copyFile, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import mqtt from 'mqtt';
import { afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { sitesPerTest, type TwoSites } from '../bench/sites.js';
import {
  type BaseImage,
  dockerfileBaseImage,
  ensureBaseImage,
  INPUTS_LABEL,
  REPO_ROOT,
} from './base-image.js';
import { buildServiceImage, type ServiceImage } from './image-build.js';
import { createDocker, failureText } from './image-docker.js';

const bench = inject('bench');
const dockerHost = `unix://${bench.dockerSocket}`;
const docker = createDocker(dockerHost);
const log = (msg: string) => process.stderr.write(`[image] ${msg}\n`);
const BUILD_TIMEOUT_MS = 30 * 60_000;
/** A uid/gid the image has no passwd entry for, as with `--user PUID:PGID` (Unraid: 99:100). */
const PUID = 1234;
const PGID = 1234;

interface ImageConfig {
  User: string;
  Env: string[];
  Entrypoint: string[];
  Cmd: string[];
  Labels: Record<string, string> | null;
  Healthcheck?: { Test: string[] };
  Volumes: Record<string, unknown>;
}

async function inspectConfig(tag: string): Promise<ImageConfig> {
  const r = await docker(['image', 'inspect', '--format', '{{json .Config}}', tag]);
  expect(r.exitCode, failureText(r)).toBe(0);
  return JSON.parse(String(r.stdout)) as ImageConfig;
}

/** `docker run --rm` of the service image with a shell as entrypoint, as root: for looking inside. */
async function shellInImage(tag: string, script: string) {
  return docker([
    'run',
    '--rm',
    '--network',
    'none',
    '--user',
    '0:0',
    '--entrypoint',
    'sh',
    tag,
    '-c',
    script,
  ]);
}

/** The gid owning the Docker socket: what `--group-add` gives the non-root container. */
async function socketGid(): Promise<number> {
  return (await stat(bench.dockerSocket)).gid;
}

/** An env file as `docker run --env-file` reads it: KEY=value, no quoting (docker keeps quotes literally). */
async function dockerEnvFile(path: string, env: Record<string, string>): Promise<string> {
  for (const [k, v] of Object.entries(env)) {
    if (/[\n\r]/.test(v)) throw new Error(`${k}: a docker env file cannot hold a value with a newline`);
  }
  await writeFile(
    path,
    `${Object.entries(env)
      .map(([k, v]) => `${k}=${v}`)
      .join('\n')}\n`,
  );
  return path;
}

/**
 * What the container needs beside the image: the client key and known_hosts copied for its user, the env file
 * (STATE_DIR in the volume, key paths inside the container) and the mounts.
 */
async function containerSetup(
  sites: TwoSites,
  stateMount: string,
  uid: number,
  gid: number,
): Promise<string[]> {
  const sshd = sites.sshd;
  if (!sshd) throw new Error('these tests reach slave over the bench sshd');
  const keys = join(sites.base, 'container-keys');
  await mkdir(keys);
  await copyFile(sshd.clientKeyFile, join(keys, 'id_ed25519'));
  await copyFile(sshd.knownHostsFile, join(keys, 'known_hosts'));
  await chown(join(keys, 'id_ed25519'), uid, gid);
  await chmod(join(keys, 'id_ed25519'), 0o600);
  await chmod(join(keys, 'known_hosts'), 0o644);
  const envFile = await dockerEnvFile(join(sites.base, 'container.env'), {
    ...sites.env,
    STATE_DIR: '/data',
    SSH_KEY_FILE: '/keys/id_ed25519',
    SSH_KNOWN_HOSTS_FILE: '/keys/known_hosts',
    LOG_LEVEL: 'info',
  });
  return [
    '--network',
    'host',
    '--group-add',
    String(await socketGid()),
    '--env-file',
    envFile,
    '-v',
    `${bench.dockerSocket}:${bench.dockerSocket}`,
    '-v',
    `${sites.dirs.master}:${sites.dirs.master}:ro`,
    '-v',
    `${keys}:/keys:ro`,
    '-v',
    `${stateMount}:/data`,
  ];
}

/** Each table of a SQLite database as `.dump` prints it (schema and rows), by table name. */
async function tableDumps(db: string): Promise<Map<string, string>> {
  const names = (
    await execa('sqlite3', [
      '-readonly',
      db,
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    ])
  ).stdout
    .split('\n')
    .filter(Boolean);
  const script = names.map((n) => `.print ###${n}\n.dump '${n}'`).join('\n');
  const { stdout } = await execa('sqlite3', ['-readonly', db], { input: script });
  const dumps = new Map<string, string>();
  for (const part of stdout.split(/^###/m).slice(1)) {
    const nl = part.indexOf('\n');
    dumps.set(part.slice(0, nl), part.slice(nl + 1));
  }
  return dumps;
}

describe('the service image', () => {
  let base: BaseImage;
  let image: ServiceImage;
  const fixture = sitesPerTest();
  const volumes: string[] = [];
  const containers: string[] = [];

  beforeAll(async () => {
    base = await ensureBaseImage({ dockerHost, log });
    image = await buildServiceImage(docker, log);
    log(
      `base ${base.tag}: ${base.built ? `built in ${base.seconds.toFixed(1)} s` : 'reused'}; ` +
        `service image ${image.tag}: built in ${image.seconds.toFixed(1)} s, ${(image.sizeBytes / 1e6).toFixed(0)} MB`,
    );
  }, BUILD_TIMEOUT_MS);

  afterEach(async () => {
    for (const c of containers.splice(0)) await docker(['rm', '-f', '-v', c]);
    for (const v of volumes.splice(0)) await docker(['volume', 'rm', '-f', v]);
  });

  async function newVolume(name: string): Promise<string> {
    const volume = `jft-${name}-${randomBytes(3).toString('hex')}`;
    const r = await docker(['volume', 'create', volume]);
    expect(r.exitCode, failureText(r)).toBe(0);
    volumes.push(volume);
    return volume;
  }

  it('starts FROM the locally built Node 26 on Debian 13, shaped like the official node image', async () => {
    expect(base.tag).toBe(await dockerfileBaseImage());
    const labels = (await inspectConfig(base.tag)).Labels ?? {};
    expect(labels[INPUTS_LABEL] ?? '').toBe(base.inputs);
    // an unchanged builder reuses the image at once
    const again = await ensureBaseImage({ dockerHost });
    expect(again).toMatchObject({ tag: base.tag, built: false, inputs: base.inputs });
    const r = await docker([
      'run',
      '--rm',
      '--network',
      'none',
      base.tag,
      'sh',
      '-c',
      'node --version; npm --version; id node; cat /etc/debian_version; ' +
        'grep -E "^(URIs|Suites):" /etc/apt/sources.list.d/debian.sources; for c in node npm npx; do command -v $c; done',
    ]);
    expect(r.exitCode, failureText(r)).toBe(0);
    const out = String(r.stdout);
    expect(out).toMatch(/^v26\.\d+\.\d+$/m);
    expect(out).toMatch(/^11\.\d+\.\d+$/m);
    expect(out).toContain('uid=1000(node) gid=1000(node)');
    expect(out).toMatch(/^13\.\d+$/m);
    expect(out).toContain('URIs: http://deb.debian.org/debian');
    expect(out).toContain('Suites: trixie trixie-updates');
    expect(out).toContain('Suites: trixie-security');
    expect(out).toContain('/usr/local/bin/node\n/usr/local/bin/npm\n/usr/local/bin/npx');
  });

  it('prints the usage with --help and the package version with --version', async () => {
    const help = await docker(['run', '--rm', '--network', 'none', image.tag, '--help']);
    expect(help.exitCode, failureText(help)).toBe(0);
    expect(String(help.stdout)).toMatch(/^Usage: jellyfin-failover <command> \[options\]/);
    expect(String(help.stdout)).toContain('sync       copy the primary');
    const version = await docker(['run', '--rm', '--network', 'none', image.tag, '--version']);
    expect(String(version.stdout).trim()).toBe(image.version);
    const pkg = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(image.version).toBe(pkg.version);
  });

  it('exits 2 on a bad configuration, naming each variable and changing nothing', async () => {
    const r = await docker([
      'run',
      '--rm',
      '--network',
      'none',
      '-e',
      'FAILOVER_ID=Not-Valid',
      '-e',
      'MASTER_URL=ftp://master',
      image.tag,
      'status',
    ]);
    expect(r.exitCode, failureText(r)).toBe(2);
    const err = String(r.stderr);
    expect(err).toContain('Invalid configuration');
    for (const name of ['FAILOVER_ID', 'MASTER_URL', 'MASTER_CONFIG_DIR', 'SLAVE_CONFIG_DIR', 'SLAVE_URL']) {
      expect(err).toContain(name);
    }
    expect(err).toContain('Nothing was changed');
  });

  it('runs as node under tini, with OCI labels, a CLI HEALTHCHECK, the tools, and no trace of the build CA', async () => {
    const config = await inspectConfig(image.tag);
    expect(config.User).toBe('node');
    expect(config.Entrypoint).toEqual(['/usr/bin/tini', '--', '/usr/local/bin/jellyfin-failover']);
    expect(config.Cmd).toEqual(['run']);
    expect(config.Healthcheck?.Test).toEqual(['CMD', 'node', '/app/dist/main.js', 'health']);
    expect(Object.keys(config.Volumes)).toEqual(['/data']);
    expect(config.Labels).toMatchObject({
      'org.opencontainers.image.title': 'jellyfin-failover',
      'org.opencontainers.image.version': image.version,
      'org.opencontainers.image.licenses': 'GPL-2.0-only',
      'org.opencontainers.image.source': 'https://github.com/jellyfin-failover/jellyfin-failover',
      'org.opencontainers.image.revision': image.commit,
    });
    expect(config.Labels?.['org.opencontainers.image.description']).toMatch(
      /failover between two Dockerized Jellyfin/,
    );
    // the Dockerfile's default version is package.json's, for a plain `docker build .`
    const dockerfile = await readFile(join(REPO_ROOT, 'Dockerfile'), 'utf8');
    expect(dockerfile).toContain(`ARG VERSION=${image.version}\n`);

    // the tools a sync needs are there, the state dir is node's, no dev dependencies were shipped
    const tools = await docker([
      'run',
      '--rm',
      '--network',
      'none',
      '--entrypoint',
      'sh',
      image.tag,
      '-c',
      'id -un; cat /proc/1/comm; rsync --version | head -1; ssh -V 2>&1; sqlite3 --version; getfacl --version; ' +
        'ls -ld /data | cut -d" " -f3; test -d /app/node_modules/typescript || echo no-dev-deps',
    ]);
    expect(tools.exitCode, failureText(tools)).toBe(0);
    expect(String(tools.stdout)).toMatch(
      /^node\nsh\nrsync +version [\d.]+.*\nOpenSSH_[\d.]+p\d.*\n3\.\d+\.\d+.*\ngetfacl [\d.]+\nnode\nno-dev-deps$/,
    );
    // The build CA reached the build stages only: not in the final image's env, history or files
    expect(config.Env.join('\n')).not.toMatch(/CA_CERT|BUILD_CA|CERTIFICATE/);
    const history = await docker(['history', '--no-trunc', '--format', '{{.CreatedBy}}', image.tag]);
    expect(String(history.stdout)).toContain('apt-get install');
    expect(String(history.stdout)).not.toContain('BEGIN CERTIFICATE');
    // one full base64 line of each certificate handed to the build
    const caLines = image.buildCaPem
      .split('-----BEGIN CERTIFICATE-----')
      .slice(1)
      .map((cert) => cert.split('\n').find((l) => /^[A-Za-z0-9+/]{64}$/.test(l)) ?? '');
    expect(caLines).not.toContain('');
    expect(caLines.length).toBeGreaterThan(0);
    // control: the same search finds a line of Debian's own bundle in the image
    const debianLine = (await shellInImage(image.tag, 'sed -n 2p /etc/ssl/certs/ca-certificates.crt')).stdout;
    const grep = (line: string) =>
      shellInImage(
        image.tag,
        `grep -rlsF --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev -e '${line}' / | head -5`,
      );
    expect(String((await grep(String(debianLine).trim())).stdout)).toContain(
      '/etc/ssl/certs/ca-certificates.crt',
    );
    for (const line of caLines) expect(String((await grep(line)).stdout)).toBe('');
  });

  it('syncs master to a slave over SSH, as the non-root node user with --group-add for the Docker socket', async () => {
    const sites = await fixture.create({ name: 'image-sync', remote: 'slave', masterWriteMs: 0 });
    const masterDb = join(sites.dirs.master, 'data/data/jellyfin.db');
    const slaveDb = join(sites.dirs.slave, 'data/data/jellyfin.db');
    // a change only master has (a table of its own: independent of the bench's Jellyfin schema)
    await execa('sqlite3', [
      masterDb,
      "CREATE TABLE ImageTestMarker(Note TEXT); INSERT INTO ImageTestMarker VALUES('image-test-marker')",
    ]);
    expect((await tableDumps(slaveDb)).has('ImageTestMarker')).toBe(false);
    const before = await tableDumps(masterDb);
    const volume = await newVolume('image-sync');
    const args = await containerSetup(sites, volume, 1000, 1000);

    const sync = await docker(['run', '--rm', ...args, image.tag, 'sync', '--json'], { timeout: 150_000 });

    expect(sync.exitCode, failureText(sync)).toBe(0);
    expect(JSON.parse(String(sync.stdout))).toMatchObject({
      ok: true,
      kind: 'sync',
      state: { primary: 'master' },
    });
    // master's config dir sits in a root-owned dir the node user cannot write: no room for the online
    // snapshots beside it, so the sync stopped master for its final pass and said how to fix that
    const events = (JSON.parse(String(sync.stdout)) as { events: Array<Record<string, unknown>> }).events;
    const done = events.find((e) => e.event_type === 'sync_succeeded');
    expect(done).toMatchObject({ mode: 'stopped' });
    expect(String(done?.modeWhy)).toContain('writable for the user the service runs as');
    // The standby's database is now master's: every table master did not itself write meanwhile (Jellyfin
    // logs sessions and activity on its own) is identical, row for row, and the copy is intact.
    const after = await tableDumps(masterDb);
    const copy = await tableDumps(slaveDb);
    expect([...copy.keys()]).toEqual([...after.keys()]);
    const settled = [...after.keys()].filter((t) => before.get(t) === after.get(t));
    expect(settled).toContain('ImageTestMarker');
    expect(settled.length).toBeGreaterThan(after.size / 2);
    for (const table of settled) expect(copy.get(table), table).toBe(after.get(table));
    expect((await execa('sqlite3', ['-readonly', slaveDb, 'PRAGMA integrity_check'])).stdout).toBe('ok');
    // state went to the named volume, written by node (uid 1000)
    const state = await docker([
      'run',
      '--rm',
      '--user',
      '0:0',
      '-v',
      `${volume}:/data`,
      '--entrypoint',
      'sh',
      image.tag,
      '-c',
      'stat -c "%u %n" /data/*',
    ]);
    expect(String(state.stdout)).toMatch(/^1000 \/data\/state\.json$/m);
    for (const site of ['master', 'slave'] as const) {
      const c = await sites.docker.getContainer(sites.containers[site]).inspect();
      expect(c.State.Running).toBe(true);
    }
  });

  it('serves with `run` as --user PUID:PGID, turns healthy by its HEALTHCHECK, stops cleanly on docker stop', async () => {
    const sites = await fixture.create({ name: 'image-run', remote: 'slave' });
    // the Unraid way: a state dir on the host owned by the PUID the container runs as
    const stateDir = join(sites.base, 'failover-data');
    await mkdir(stateDir);
    await chown(stateDir, PUID, PGID);
    const args = await containerSetup(sites, stateDir, PUID, PGID);
    const name = `jft-image-run-${randomBytes(3).toString('hex')}`;
    containers.push(name);
    const started = await docker([
      'run',
      '-d',
      '--name',
      name,
      '--health-interval',
      '1s',
      '--health-timeout',
      '10s',
      '--health-retries',
      '3',
      '--user',
      `${PUID}:${PGID}`,
      ...args,
      image.tag,
    ]);
    expect(started.exitCode, failureText(started)).toBe(0);

    const deadline = Date.now() + 90_000;
    let health = '';
    while (Date.now() < deadline) {
      const r = await docker(['inspect', '--format', '{{.State.Status}} {{.State.Health.Status}}', name]);
      health = String(r.stdout).trim();
      if (health === 'running healthy' || !health.startsWith('running')) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const logs = await docker(['logs', '--tail', '40', name]);
    const healthLog = await docker(['inspect', '--format', '{{json .State.Health}}', name]);
    expect(health, `${String(logs.stdout)}${String(logs.stderr)}\n${String(healthLog.stdout)}`).toBe(
      'running healthy',
    );

    // Home Assistant sees the service online (retained availability)
    const topic = `jellyfin-failover/${sites.config.failoverId}/availability`;
    const availability = async () => {
      const client = await mqtt.connectAsync(bench.mqttUrl);
      try {
        const got = new Promise<string>((resolve) => client.on('message', (_t, p) => resolve(p.toString())));
        await client.subscribeAsync(topic);
        return await Promise.race([
          got,
          new Promise<string>((r) => setTimeout(() => r('(nothing retained)'), 5000)),
        ]);
      } finally {
        await client.endAsync();
      }
    };
    expect(await availability()).toBe('online');
    // tini is PID 1; the service runs as the PUID, which has no passwd entry in the image
    const ps = await docker([
      'exec',
      name,
      'sh',
      '-c',
      'cat /proc/1/comm; id -u; getent passwd "$(id -u)" || echo none',
    ]);
    expect(String(ps.stdout)).toBe(`tini\n${PUID}\nnone`);
    // the launcher lends that uid a passwd entry, so OpenSSH works: check reaches slave over SSH from `docker exec`
    const check = await docker(['exec', name, 'jellyfin-failover', 'check', '--json'], { timeout: 120_000 });
    expect(check.exitCode, failureText(check)).toBe(0);
    const checks = JSON.parse(String(check.stdout)) as {
      ok: boolean;
      checks: Array<{ name: string; status: string }>;
    };
    expect(checks.ok).toBe(true);
    expect(checks.checks.map((c) => c.name)).toEqual(expect.arrayContaining(['host', 'container', 'rsync']));
    // an operation from `docker exec` beside the running service; its state lands in the PUID's state dir
    const sync = await docker(['exec', name, 'jellyfin-failover', 'sync', '--json'], { timeout: 150_000 });
    expect(sync.exitCode, failureText(sync)).toBe(0);
    const kept = await readdir(stateDir);
    expect(kept).toContain('state.json');
    for (const entry of kept) expect((await stat(join(stateDir, entry))).uid, entry).toBe(PUID);

    // SIGTERM reaches the service through tini: it says goodbye on MQTT and exits 0
    const stopped = await docker(['stop', '-t', '30', name], { timeout: 60_000 });
    expect(stopped.exitCode, failureText(stopped)).toBe(0);
    const exit = await docker(['inspect', '--format', '{{.State.ExitCode}}', name]);
    expect(String(exit.stdout).trim()).toBe('0');
    expect(await availability()).toBe('offline');
  }, 360_000);
});

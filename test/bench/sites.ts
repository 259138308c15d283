import { randomBytes } from 'node:crypto';
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Docker from 'dockerode';
import pino from 'pino';
import { afterEach, inject } from 'vitest';
import { type App, type ComposeOverrides, compose } from '../../src/compose.js';
import { type Config, loadConfig } from '../../src/config/load.js';
import type { Layout } from '../../src/domain/layout.js';
import { versionFamily } from '../../src/domain/version.js';
import { createLogger, type Logger } from '../../src/log.js';
import { type ConfigTreeResult, generateConfigTree } from './config-tree.js';
import { freePort } from './mosquitto.js';
import type { BenchInfo } from './provided.js';
import { generateKeyPair, type SshdHandle, startSshd } from './sshd.js';
import { removeContainer, startStandin, waitForHealth } from './standin.js';

export interface TwoSitesOptions {
  /** Short name for containers and dirs. */
  name: string;
  /**
   * Which site is reached over SSH (through a per-test sshd on 127.0.0.x); the other is local. `both`: the
   * service on a third machine, each site behind its own sshd (own address, own host key), both knowing only the
   * service's one key.
   */
  remote?: 'master' | 'slave' | 'none' | 'both';
  layout?: Layout;
  files?: number;
  totalBytes?: number;
  masterVersion?: string;
  slaveVersion?: string;
  /** Simulated watch-progress writes on master (ms, 0 = none). Slave never writes unless told. */
  masterWriteMs?: number;
  slaveWriteMs?: number;
  /** Slave's config dir starts empty instead of holding an older copy. */
  emptySlave?: boolean;
  /** Mount point to use as slave's parent dir (e.g. a small tmpfs for the disk-full test). */
  slaveParent?: string;
  /** Name of slave's config dir inside its parent (default `config`), e.g. one with spaces and shell syntax. */
  slaveDirName?: string;
  extraEnv?: Record<string, string>;
  /** The bench (default: what vitest's global setup provides); benchmarks pass their own. */
  bench?: BenchInfo;
  /** Programs the remote site's host lacks (see startSshd's hideCommands), e.g. ['sqlite3'] as on Unraid. */
  remoteLacks?: string[];
  /** Stand-in startup delay in ms (default 300). */
  startupDelayMs?: number;
  /** Users, movies and database size of the generated trees (config-tree.ts; defaults there). */
  users?: number;
  items?: number;
  databaseBytes?: number;
  /**
   * Period of the writes an idle server with clients makes (activity rows, last-activity dates, devices), on both
   * sites; default 1500 ms, 0 = none. None of them is watch state.
   */
  idleWriteMs?: number;
}

/**
 * Restart policies of the bench's containers: different on each site, so a test can tell a policy given back
 * from the default (rule 8: fencing restores what the container really had).
 */
export const BENCH_POLICIES = { master: 'always', slave: 'unless-stopped' } as const;

export interface TwoSites {
  base: string;
  dirs: { master: string; slave: string; state: string };
  ports: { master: number; slave: number };
  containers: { master: string; slave: string };
  urls: { master: string; slave: string };
  env: Record<string, string>;
  config: Config;
  docker: Docker;
  /** What the generated trees hold: users with their device tokens, movies with their keys, the API key. */
  tree: ConfigTreeResult;
  /** The remote site's sshd (with `remote: 'both'`, slave's). */
  sshd: SshdHandle | null;
  /** Each site's sshd, null for a local site. */
  sshds: Record<'master' | 'slave', SshdHandle | null>;
  logger: Logger;
  /** Starts a stopped site's stand-in container again (same options as at creation). */
  recreate(
    site: 'master' | 'slave',
    overrides?: { writeIntervalMs?: number; version?: string },
  ): Promise<void>;
  cleanup(): Promise<void>;
}

/**
 * Two Jellyfin stand-ins (master and slave) on loopback ports of one dockerd, with real config trees, and
 * (by default) slave reached over SSH through a per-test sshd: the bench for engine and service tests.
 */
export async function createTwoSites(options: TwoSitesOptions): Promise<TwoSites> {
  const bench = options.bench ?? inject('bench');
  const id = `${options.name}-${randomBytes(3).toString('hex')}`;
  const base = join(bench.workDir, id);
  const slaveParent = options.slaveParent ?? join(base, 'slave');
  const dirs = {
    master: join(base, 'master', 'config'),
    slave: join(slaveParent, options.slaveDirName ?? 'config'),
    state: join(base, 'state'),
  };
  await mkdir(dirs.master, { recursive: true });
  await mkdir(dirs.slave, { recursive: true });
  const layout = options.layout ?? 'linuxserver';
  const versions = { master: options.masterVersion ?? '10.11.3', slave: options.slaveVersion ?? '10.11.3' };
  const tree = {
    layout,
    files: options.files ?? 120,
    totalBytes: options.totalBytes ?? 4 * 1024 * 1024,
    ...(options.users !== undefined ? { users: options.users } : {}),
    ...(options.items !== undefined ? { items: options.items } : {}),
    ...(options.databaseBytes !== undefined ? { databaseBytes: options.databaseBytes } : {}),
  };
  const generated = await generateConfigTree(dirs.master, {
    ...tree,
    seed: 1,
    serverName: 'master',
    version: versions.master,
  });
  if (!options.emptySlave) {
    // A standby of the same version family starts as an older copy of master; another version (rule 4's test)
    // cannot open master's databases (as the real server, it refuses a newer schema) and gets its own tree.
    if (versionFamily(versions.slave) === versionFamily(versions.master)) {
      await cp(dirs.master, dirs.slave, { recursive: true, preserveTimestamps: true });
    } else {
      await generateConfigTree(dirs.slave, {
        ...tree,
        seed: 2,
        serverName: 'slave',
        version: versions.slave,
      });
    }
  }
  const docker = new Docker({ socketPath: bench.dockerSocket });
  const ports = { master: await freePort(), slave: await freePort() };
  const containers = { master: `jft-${id}-master`, slave: `jft-${id}-slave` };
  const writes = { master: options.masterWriteMs ?? 300, slave: options.slaveWriteMs ?? 0 };
  const start = async (site: 'master' | 'slave', o: { writeIntervalMs?: number; version?: string } = {}) => {
    await startStandin(docker, {
      name: containers[site],
      image: bench.standinImage,
      configDir: dirs[site],
      port: ports[site],
      layout,
      version: o.version ?? versions[site],
      startupDelayMs: options.startupDelayMs ?? 300,
      writeIntervalMs: o.writeIntervalMs ?? writes[site],
      idleWriteMs: options.idleWriteMs ?? 1500,
      restartPolicy: BENCH_POLICIES[site],
    });
  };
  await Promise.all([start('master'), start('slave')]);
  const urls = { master: `http://127.0.0.1:${ports.master}`, slave: `http://127.0.0.1:${ports.slave}` };
  await Promise.all([
    waitForHealth(urls.master, 'Healthy', 30_000),
    waitForHealth(urls.slave, 'Healthy', 30_000),
  ]);

  const remote = options.remote ?? 'slave';
  const hide = { hideCommands: options.remoteLacks ?? [] };
  const sshds: Record<'master' | 'slave', SshdHandle | null> = { master: null, slave: null };
  if (remote === 'both') {
    const key = await generateKeyPair(base, 'service_ed25519');
    [sshds.master, sshds.slave] = await Promise.all([
      startSshd({ ...hide, clientKey: key }),
      startSshd({ ...hide, clientKey: key }),
    ]);
  } else if (remote !== 'none') {
    sshds[remote] = await startSshd(hide);
  }
  const sshd = sshds.slave ?? sshds.master;
  const env: Record<string, string> = {
    MQTT_URL: bench.mqttUrl,
    FAILOVER_ID: options.name.replace(/[^a-z0-9]/g, '_'),
    MASTER_CONTAINER: containers.master,
    SLAVE_CONTAINER: containers.slave,
    MASTER_CONFIG_DIR: dirs.master,
    SLAVE_CONFIG_DIR: dirs.slave,
    MASTER_URL: urls.master,
    SLAVE_URL: urls.slave,
    JELLYFIN_LAYOUT: 'auto',
    STATE_DIR: dirs.state,
    STOP_TIMEOUT_S: '10',
    START_TIMEOUT_S: '30',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    SNAPSHOT_IMAGE: bench.snapshotImage,
    ...options.extraEnv,
  };
  const knownHosts: string[] = [];
  for (const site of ['master', 'slave'] as const) {
    const handle = sshds[site];
    if (!handle) continue;
    const prefix = site.toUpperCase();
    env[`${prefix}_SSH`] = handle.sshTarget;
    env[`${prefix}_DOCKER`] = 'ssh';
    env.SSH_KEY_FILE = handle.clientKeyFile;
    knownHosts.push(await readFile(handle.knownHostsFile, 'utf8'));
  }
  if (knownHosts.length > 0) {
    const file = join(base, 'known_hosts');
    await writeFile(file, knownHosts.join(''));
    env.SSH_KNOWN_HOSTS_FILE = file;
  }
  let config: Config;
  try {
    config = loadConfig({ env });
  } catch (err) {
    // a bad extraEnv must not leave containers and sshd behind
    await Promise.all([
      removeContainer(docker, containers.master),
      removeContainer(docker, containers.slave),
    ]);
    await Promise.all([sshds.master?.stop(), sshds.slave?.stop()]);
    throw err;
  }
  // In-process runtimes log at debug into the test's directory; a failed test prints the end of it (sitesPerTest).
  const logger = createLogger({
    level: process.env.TEST_LOG_LEVEL ?? 'debug',
    destination: pino.destination({ dest: join(base, 'service.log'), mkdir: true, sync: true }),
  });
  return {
    base,
    dirs,
    ports,
    containers,
    urls,
    env,
    config,
    docker,
    tree: generated,
    sshd,
    sshds,
    logger,
    recreate: start,
    async cleanup() {
      await Promise.all([
        removeContainer(docker, containers.master),
        removeContainer(docker, containers.slave),
      ]);
      await Promise.all([sshds.master?.stop(), sshds.slave?.stop()]);
      await rm(base, { recursive: true, force: true });
    },
  };
}

/** The end of the service's debug log and of each sshd's log, for a test that failed intermittently. */
async function printDiagnostics(sites: TwoSites): Promise<void> {
  const tail = (text: string, lines: number) => text.trimEnd().split('\n').slice(-lines).join('\n');
  const log = await readFile(join(sites.base, 'service.log'), 'utf8').catch(() => '(no service log)');
  const parts = [`--- ${sites.base}: service log (last 120 lines)\n${tail(log, 120)}`];
  for (const site of ['master', 'slave'] as const) {
    const sshd = sites.sshds[site];
    if (sshd) parts.push(`--- ${site}'s sshd (last lines)\n${tail(sshd.log(), 40)}`);
  }
  console.error(parts.join('\n'));
}

/**
 * Two sites and their runtimes per test: call inside a `describe`. What `create` and `runtime` make is closed
 * and removed after each test (runtimes first, then containers, sshd and trees).
 */
export function sitesPerTest(): {
  create(options: TwoSitesOptions): Promise<TwoSites>;
  runtime(sites: TwoSites, overrides?: ComposeOverrides, config?: Config): App;
} {
  let made: TwoSites[] = [];
  let runtimes: App[] = [];
  afterEach(async (ctx) => {
    if (ctx.task.result?.state === 'fail') for (const sites of made) await printDiagnostics(sites);
    for (const rt of runtimes) await rt.close();
    for (const sites of made) await sites.cleanup();
    made = [];
    runtimes = [];
  });
  return {
    async create(options) {
      const sites = await createTwoSites(options);
      made.push(sites);
      return sites;
    },
    runtime(sites, overrides = { healthPollMs: 200 }, config = sites.config) {
      const rt = compose(config, sites.logger, overrides);
      runtimes.push(rt);
      return rt;
    },
  };
}

/** The bench's environment as an env file for the real CLI (`--env-file`); `extra` overrides variables. */
export async function writeEnvFile(
  sites: TwoSites,
  name = 'failover.env',
  extra: Record<string, string> = {},
): Promise<string> {
  const path = join(sites.base, name);
  const env = { ...sites.env, ...extra };
  await writeFile(
    path,
    `${Object.entries(env)
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join('\n')}\n`,
  );
  return path;
}

import { randomBytes } from 'node:crypto';
import { cp, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterEach, inject } from 'vitest';
import { type Config, loadConfig } from '../../src/config/load.js';
import type { Layout } from '../../src/domain/layout.js';
import { createLogger, type Logger } from '../../src/log.js';
import { createRuntime, type Runtime, type RuntimeOverrides } from '../../src/runtime.js';
import { generateConfigTree } from './config-tree.js';
import { freePort } from './mosquitto.js';
import type { BenchInfo } from './provided.js';
import { type SshdHandle, startSshd } from './sshd.js';
import { removeContainer, startStandin, waitForHealth } from './standin.js';

export interface TwoSitesOptions {
  /** Short name for containers and dirs. */
  name: string;
  /** Which site is reached over SSH (through a per-test sshd on 127.0.0.x); the other is local. */
  remote?: 'master' | 'slave' | 'none';
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
}

export interface TwoSites {
  base: string;
  dirs: { master: string; slave: string; state: string };
  ports: { master: number; slave: number };
  containers: { master: string; slave: string };
  urls: { master: string; slave: string };
  env: Record<string, string>;
  config: Config;
  docker: Docker;
  sshd: SshdHandle | null;
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
  const files = options.files ?? 120;
  const totalBytes = options.totalBytes ?? 4 * 1024 * 1024;
  await generateConfigTree(dirs.master, { layout, files, totalBytes, seed: 1, serverName: 'master' });
  if (!options.emptySlave) await cp(dirs.master, dirs.slave, { recursive: true, preserveTimestamps: true });
  const docker = new Docker({ socketPath: bench.dockerSocket });
  const ports = { master: await freePort(), slave: await freePort() };
  const containers = { master: `jft-${id}-master`, slave: `jft-${id}-slave` };
  const versions = { master: options.masterVersion ?? '10.11.3', slave: options.slaveVersion ?? '10.11.3' };
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
      restartPolicy: 'unless-stopped',
    });
  };
  await Promise.all([start('master'), start('slave')]);
  const urls = { master: `http://127.0.0.1:${ports.master}`, slave: `http://127.0.0.1:${ports.slave}` };
  await Promise.all([
    waitForHealth(urls.master, 'Healthy', 30_000),
    waitForHealth(urls.slave, 'Healthy', 30_000),
  ]);

  const remote = options.remote ?? 'slave';
  const sshd = remote === 'none' ? null : await startSshd({ hideCommands: options.remoteLacks ?? [] });
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
    ...options.extraEnv,
  };
  if (sshd) {
    const prefix = remote === 'master' ? 'MASTER' : 'SLAVE';
    env[`${prefix}_SSH`] = sshd.sshTarget;
    env[`${prefix}_DOCKER`] = 'ssh';
    env.SSH_KEY_FILE = sshd.clientKeyFile;
    env.SSH_KNOWN_HOSTS_FILE = sshd.knownHostsFile;
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
    await sshd?.stop();
    throw err;
  }
  const logger = createLogger({ level: env.LOG_LEVEL ?? 'silent' });
  return {
    base,
    dirs,
    ports,
    containers,
    urls,
    env,
    config,
    docker,
    sshd,
    logger,
    recreate: start,
    async cleanup() {
      await Promise.all([
        removeContainer(docker, containers.master),
        removeContainer(docker, containers.slave),
      ]);
      await sshd?.stop();
      await rm(base, { recursive: true, force: true });
    },
  };
}

/**
 * Two sites and their runtimes per test: call inside a `describe`. What `create` and `runtime` make is closed
 * and removed after each test (runtimes first, then containers, sshd and trees).
 */
export function sitesPerTest(): {
  create(options: TwoSitesOptions): Promise<TwoSites>;
  runtime(sites: TwoSites, overrides?: RuntimeOverrides, config?: Config): Runtime;
} {
  let made: TwoSites[] = [];
  let runtimes: Runtime[] = [];
  afterEach(async () => {
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
      const rt = createRuntime(config, sites.logger, overrides);
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

import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import type { z } from 'zod';
import type { Layout } from '../domain/layout.js';
import { ConfigError, type ConfigProblem } from './errors.js';
import {
  crossCheck,
  DEFAULT_BANNER,
  type DockerEndpoint,
  type Env,
  type EnvFields,
  envSchema,
  SECRET_VARIABLES,
  type SiteName,
  type SshTarget,
  type SyncMode,
} from './schema.js';

export interface SiteConfig {
  name: SiteName;
  /** null: the site is the host the service runs on. */
  ssh: SshTarget | null;
  docker: DockerEndpoint;
  container: string;
  configDir: string;
  url: string;
}

export interface Config {
  mqtt: { url: string; username?: string; password?: string; caFile?: string };
  /** `MQTT_BASE_TOPIC/FAILOVER_ID`: the root of every topic the service owns. */
  topicRoot: string;
  discoveryPrefix: string;
  failoverId: string;
  sites: Record<SiteName, SiteConfig>;
  layout: Layout | 'auto';
  ssh: { keyFile?: string; knownHostsFile?: string };
  /** `snapshotImage`: SNAPSHOT_IMAGE, null for the default (the service's own published image). */
  sync: { excludes: string[]; precopy: boolean; mode: SyncMode; snapshotImage: string | null };
  /** JELLYFIN_API_KEY: lets a merge carry a diverged standby's watch state into the primary; null: no merging. */
  jellyfinApiKey: string | null;
  stopTimeoutS: number;
  startTimeoutS: number;
  /** `checkUrl`: Jellyfin's base URL through SWAG, requested after each switch to see which backend answers. */
  swag: { container: string; site: SiteName; upstreamFile: string; checkUrl: string } | null;
  /** Empty string: no banner. */
  slaveBanner: string;
  health: { intervalS: number; failures: number };
  stateDir: string;
  logLevel: Env['LOG_LEVEL'];
}

export interface LoadOptions {
  /** The process environment; it wins over the .env file, as with dotenv. */
  env: NodeJS.ProcessEnv;
  /** Path of the .env file; missing is fine unless `envFileRequired`. */
  envFile?: string;
  envFileRequired?: boolean;
  cwd?: string;
}

const KNOWN = new Set(Object.keys(envSchema.shape));
const FILE_SUFFIX = '_FILE';

/**
 * Reads `.env` and the environment, resolves `NAME_FILE` secrets and validates everything against SPEC section 2.
 * Every problem is collected; nothing outside the named files is read and nothing is written.
 */
export function loadConfig(options: LoadOptions): Config {
  const cwd = options.cwd ?? process.cwd();
  const problems: ConfigProblem[] = [];
  const fromFile = readEnvFile(options, cwd, problems);
  const merged: Record<string, string> = { ...fromFile };
  for (const [k, v] of Object.entries(options.env)) if (v !== undefined) merged[k] = v;

  const raw: Record<string, string> = {};
  for (const name of KNOWN) {
    const direct = merged[name];
    const fileVar = `${name}${FILE_SUFFIX}`;
    const filePath = merged[fileVar];
    if (filePath !== undefined && filePath !== '') {
      if (direct !== undefined && direct !== '') {
        problems.push({ variable: name, message: `is set and so is ${fileVar}: keep only one of them` });
        continue;
      }
      try {
        raw[name] = readFileSync(resolve(cwd, filePath), 'utf8').replace(/\r?\n$/, '');
      } catch (err) {
        problems.push({
          variable: fileVar,
          message: `cannot read ${filePath} (${(err as NodeJS.ErrnoException).code ?? String(err)}): point it at a readable file`,
        });
      }
      continue;
    }
    if (direct !== undefined) raw[name] = direct;
  }

  for (const key of Object.keys(fromFile)) {
    const base = key.endsWith(FILE_SUFFIX) ? key.slice(0, -FILE_SUFFIX.length) : key;
    if (!KNOWN.has(key) && !KNOWN.has(base)) {
      const hint = closest(base);
      problems.push({
        variable: key,
        message: `is not a jellyfin-failover variable${hint ? ` (did you mean ${hint}?)` : ''}: remove or rename it in ${options.envFile}`,
      });
    }
  }

  const parsed = envSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      problems.push({ variable: String(issue.path[0] ?? '(config)'), message: issue.message });
    }
    // zod skips the cross-variable rules when a field failed: run them on the fields that did parse.
    const partial: Record<string, unknown> = {};
    for (const [name, field] of Object.entries(envSchema.shape)) {
      const one = (field as z.ZodType).safeParse(raw[name]);
      if (one.success) partial[name] = one.data;
    }
    crossCheck(partial as Partial<EnvFields>, (variable, message) => problems.push({ variable, message }));
  }
  if (problems.length > 0 || !parsed.success) throw new ConfigError(dedupe(problems));
  const env = parsed.data;

  for (const [variable, path] of [
    ['SSH_KEY_FILE', env.SSH_KEY_FILE],
    ['SSH_KNOWN_HOSTS_FILE', env.SSH_KNOWN_HOSTS_FILE],
    ['MQTT_CA_FILE', env.MQTT_CA_FILE],
  ] as const) {
    if (path && !existsSync(resolve(cwd, path))) {
      problems.push({ variable, message: `names ${path}, which does not exist: create it or fix the path` });
    }
  }
  if (env.MQTT_CA_FILE && !env.MQTT_URL.startsWith('mqtts://') && !env.MQTT_URL.startsWith('wss://')) {
    problems.push({
      variable: 'MQTT_CA_FILE',
      message: 'is set but MQTT_URL is not mqtts://: use mqtts:// for TLS',
    });
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const site = (name: SiteName): SiteConfig => {
    const isMaster = name === 'master';
    const ssh = isMaster ? env.MASTER_SSH : env.SLAVE_SSH;
    const docker = (isMaster ? env.MASTER_DOCKER : env.SLAVE_DOCKER) ?? defaultDocker(ssh);
    return {
      name,
      ssh,
      docker,
      container: isMaster ? env.MASTER_CONTAINER : env.SLAVE_CONTAINER,
      configDir: isMaster ? env.MASTER_CONFIG_DIR : env.SLAVE_CONFIG_DIR,
      url: isMaster ? env.MASTER_URL : env.SLAVE_URL,
    };
  };

  return {
    mqtt: {
      url: env.MQTT_URL,
      ...(env.MQTT_USERNAME ? { username: env.MQTT_USERNAME } : {}),
      ...(env.MQTT_PASSWORD ? { password: env.MQTT_PASSWORD } : {}),
      ...(env.MQTT_CA_FILE ? { caFile: resolve(cwd, env.MQTT_CA_FILE) } : {}),
    },
    topicRoot: `${env.MQTT_BASE_TOPIC}/${env.FAILOVER_ID}`,
    discoveryPrefix: env.HA_DISCOVERY_PREFIX,
    failoverId: env.FAILOVER_ID,
    sites: { master: site('master'), slave: site('slave') },
    layout: env.JELLYFIN_LAYOUT,
    ssh: {
      ...(env.SSH_KEY_FILE ? { keyFile: resolve(cwd, env.SSH_KEY_FILE) } : {}),
      ...(env.SSH_KNOWN_HOSTS_FILE ? { knownHostsFile: resolve(cwd, env.SSH_KNOWN_HOSTS_FILE) } : {}),
    },
    sync: {
      excludes: env.SYNC_EXCLUDES,
      precopy: env.SYNC_PRECOPY,
      mode: env.SYNC_MODE,
      snapshotImage: env.SNAPSHOT_IMAGE === '' ? null : env.SNAPSHOT_IMAGE,
    },
    jellyfinApiKey: env.JELLYFIN_API_KEY ?? null,
    stopTimeoutS: env.STOP_TIMEOUT_S,
    startTimeoutS: env.START_TIMEOUT_S,
    swag:
      env.SWAG_CONTAINER !== '' && env.SWAG_UPSTREAM_FILE && env.SWAG_CHECK_URL
        ? {
            container: env.SWAG_CONTAINER,
            site: env.SWAG_SITE,
            upstreamFile: env.SWAG_UPSTREAM_FILE,
            checkUrl: env.SWAG_CHECK_URL,
          }
        : null,
    // Unraid templates cannot pass an empty value (an emptied field gets its default back): blank means none too.
    slaveBanner:
      env.SLAVE_BANNER === undefined
        ? DEFAULT_BANNER
        : env.SLAVE_BANNER.trim() === ''
          ? ''
          : env.SLAVE_BANNER,
    health: { intervalS: env.HEALTH_INTERVAL_S, failures: env.HEALTH_FAILURES },
    stateDir: resolve(cwd, env.STATE_DIR),
    logLevel: env.LOG_LEVEL,
  };
}

/**
 * What `health` needs: STATE_DIR and HEALTH_INTERVAL_S only. A container's HEALTHCHECK runs with the image's
 * environment, not the service's full configuration (the HA add-on passes its options to the service process
 * only), so nothing else is required here.
 */
export function loadHealthSettings(options: LoadOptions): { stateDir: string; intervalS: number } {
  const cwd = options.cwd ?? process.cwd();
  const problems: ConfigProblem[] = [];
  const merged: Record<string, string | undefined> = {
    ...readEnvFile(options, cwd, problems),
    ...options.env,
  };
  const fields = envSchema.shape;
  const stateDir = fields.STATE_DIR.safeParse(merged.STATE_DIR);
  const interval = fields.HEALTH_INTERVAL_S.safeParse(merged.HEALTH_INTERVAL_S);
  if (!stateDir.success)
    problems.push({ variable: 'STATE_DIR', message: stateDir.error.issues[0]?.message ?? 'invalid' });
  if (!interval.success) {
    problems.push({ variable: 'HEALTH_INTERVAL_S', message: interval.error.issues[0]?.message ?? 'invalid' });
  }
  if (!stateDir.success || !interval.success || problems.length > 0) throw new ConfigError(problems);
  return { stateDir: resolve(cwd, stateDir.data), intervalS: interval.data };
}

function defaultDocker(ssh: SshTarget | null): DockerEndpoint {
  return ssh === null ? { kind: 'socket', path: '/var/run/docker.sock' } : { kind: 'ssh' };
}

function readEnvFile(options: LoadOptions, cwd: string, problems: ConfigProblem[]): Record<string, string> {
  if (!options.envFile) return {};
  const path = resolve(cwd, options.envFile);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !options.envFileRequired) return {};
    problems.push({ variable: '.env', message: `cannot read ${path} (${code ?? String(err)})` });
    return {};
  }
  return parseDotenv(text);
}

/** Secrets as they appear in a config, for redaction of logs and status output. */
export function secretValues(config: Config): string[] {
  const values: string[] = [];
  for (const name of SECRET_VARIABLES) {
    switch (name) {
      case 'MQTT_PASSWORD':
        if (config.mqtt.password) values.push(config.mqtt.password);
        break;
      case 'JELLYFIN_API_KEY':
        if (config.jellyfinApiKey) values.push(config.jellyfinApiKey);
        break;
    }
  }
  return values;
}

/** The config with secrets replaced, safe to print or log. */
export function redactedConfig(config: Config): Config {
  return {
    ...config,
    mqtt: { ...config.mqtt, ...(config.mqtt.password ? { password: '[redacted]' } : {}) },
    jellyfinApiKey: config.jellyfinApiKey ? '[redacted]' : null,
  };
}

function dedupe(problems: ConfigProblem[]): ConfigProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.variable}\0${p.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function closest(name: string): string | undefined {
  let best: string | undefined;
  let bestScore = Number.POSITIVE_INFINITY;
  for (const known of KNOWN) {
    const d = editDistance(name, known);
    if (d < bestScore) {
      bestScore = d;
      best = known;
    }
  }
  return bestScore <= 3 ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j] ?? 0;
      row[j] = Math.min((row[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length] ?? 0;
}

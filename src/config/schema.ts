import { z } from 'zod';
import { LAYOUTS, type Layout } from '../domain/layout.js';
import { SITE_NAMES, type SiteName } from '../domain/sites.js';

/**
 * The environment contract of SPEC section 2. Each variable is parsed into a typed field; every message says
 * what a valid value looks like, since the loader prints it next to the variable's name.
 */

export type { SiteName };

/** Variables that hold secrets: accepted as `NAME_FILE` too, never logged. */
export const SECRET_VARIABLES = ['MQTT_PASSWORD', 'JELLYFIN_API_KEY'] as const;

const boolText = z
  .string()
  .trim()
  .toLowerCase()
  .refine((v) => ['true', 'false', '1', '0', 'yes', 'no'].includes(v), {
    message: 'must be true or false',
  })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

function seconds(defaultValue: number, min: number, max: number) {
  return z
    .string()
    .trim()
    .default(String(defaultValue))
    .refine((v) => /^\d+(\.\d+)?$/.test(v), { message: `must be a number of seconds, e.g. ${defaultValue}` })
    .transform(Number)
    .refine((n) => n >= min && n <= max, { message: `must be between ${min} and ${max}` });
}

function integer(defaultValue: number, min: number, max: number) {
  return z
    .string()
    .trim()
    .default(String(defaultValue))
    .refine((v) => /^\d+$/.test(v), { message: `must be a whole number, e.g. ${defaultValue}` })
    .transform(Number)
    .refine((n) => n >= min && n <= max, { message: `must be between ${min} and ${max}` });
}

/** `user@host[:port]`, or empty for "this host". */
export interface SshTarget {
  user: string;
  host: string;
  port: number;
}

const sshTarget = z
  .string()
  .trim()
  .default('')
  .transform((v, ctx): SshTarget | null => {
    if (v === '') return null;
    // user@host, user@host:port, user@[v6]:port
    const m = /^([a-z_][a-z0-9_.-]*)@(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(v);
    if (!m?.[1] || !m[2]) {
      ctx.addIssue({
        code: 'custom',
        message: 'must be user@host or user@host:port (e.g. root@192.168.1.20:22), or empty for this host',
      });
      return z.NEVER;
    }
    const port = m[3] ? Number(m[3]) : 22;
    if (port < 1 || port > 65535) {
      ctx.addIssue({ code: 'custom', message: 'port must be between 1 and 65535' });
      return z.NEVER;
    }
    return { user: m[1], host: m[2].replace(/^\[|\]$/g, ''), port };
  });

export type DockerEndpoint =
  | { kind: 'socket'; path: string }
  | { kind: 'ssh' }
  | { kind: 'tcp'; host: string; port: number };

const dockerEndpoint = z
  .string()
  .trim()
  .default('')
  .transform((v, ctx): DockerEndpoint | null => {
    if (v === '') return null; // decided later from whether the site is remote
    if (v === 'ssh') return { kind: 'ssh' };
    if (v.startsWith('unix://')) {
      const path = v.slice('unix://'.length);
      if (path.startsWith('/')) return { kind: 'socket', path };
    }
    const tcp = /^tcp:\/\/([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/.exec(v);
    if (tcp?.[1] && tcp[2])
      return { kind: 'tcp', host: tcp[1].replace(/^\[|\]$/g, ''), port: Number(tcp[2]) };
    ctx.addIssue({
      code: 'custom',
      message: 'must be unix:///var/run/docker.sock, ssh, or tcp://host:port',
    });
    return z.NEVER;
  });

const containerName = z
  .string()
  .trim()
  .default('jellyfin')
  .refine((v) => /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(v), {
    message: 'must be a Docker container name (letters, digits, _ . -)',
  });

const absolutePath = (what: string) =>
  z
    .string({ error: (iss) => (iss.input === undefined ? `is required: ${what}` : undefined) })
    .trim()
    .min(1, { message: `is required: ${what}` })
    .refine((v) => v.startsWith('/'), { message: 'must be an absolute path (starting with /)' })
    .transform((v) => (v.length > 1 ? v.replace(/\/+$/, '') : v));

const httpUrl = (example: string) =>
  z
    .string({ error: (iss) => (iss.input === undefined ? `is required, e.g. ${example}` : undefined) })
    .trim()
    .min(1, { message: `is required, e.g. ${example}` })
    .refine(
      (v) => {
        try {
          const u = new URL(v);
          return u.protocol === 'http:' || u.protocol === 'https:';
        } catch {
          return false;
        }
      },
      { message: `must be an http(s) URL, e.g. ${example}` },
    )
    .transform((v) => v.replace(/\/+$/, ''));

const optionalFile = z
  .string()
  .trim()
  .optional()
  .transform((v) => (v ? v : undefined))
  .refine((v) => v === undefined || v.startsWith('/') || v.startsWith('.'), {
    message: 'must be a file path',
  });

/**
 * FAILOVER_ID as Home Assistant can use it: HA derives entity ids from it (homeassistant/core.py VALID_ENTITY_ID:
 * no leading or trailing `_`, no `__`), so it is one or more `[a-z0-9]` words joined by single underscores, and
 * short enough that the longest entity id stays far below HA's 255 characters.
 */
export const FAILOVER_ID_PATTERN = /^[a-z0-9]+(?:_[a-z0-9]+)*$/;
export const MAX_FAILOVER_ID_LENGTH = 64;

export function isValidFailoverId(failoverId: string): boolean {
  return failoverId.length <= MAX_FAILOVER_ID_LENGTH && FAILOVER_ID_PATTERN.test(failoverId);
}

/** SYNC_MODE: how a routine sync treats the primary (SPEC section 2). */
export const SYNC_MODES = ['auto', 'online', 'stopped'] as const;
export type SyncMode = (typeof SYNC_MODES)[number];

export const DEFAULT_BANNER =
  'This is the standby Jellyfin server. Anything you watch or change here may be lost when the main server comes back.';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const envFields = z.object({
  MQTT_URL: z
    .string()
    .trim()
    .default('mqtt://localhost:1883')
    .refine((v) => /^(mqtts?|wss?):\/\/[^\s/]+/.test(v), {
      message: 'must be mqtt://host:port or mqtts://host:port (e.g. mqtt://192.168.1.5:1883)',
    }),
  MQTT_USERNAME: z.string().optional(),
  MQTT_PASSWORD: z.string().optional(),
  MQTT_CA_FILE: optionalFile,
  MQTT_BASE_TOPIC: z
    .string()
    .trim()
    .default('jellyfin-failover')
    .refine((v) => v.length > 0 && !/[#+]/.test(v) && !v.startsWith('/') && !v.endsWith('/'), {
      message: 'must be an MQTT topic without wildcards (# +) or leading/trailing /',
    }),
  HA_DISCOVERY_PREFIX: z
    .string()
    .trim()
    .default('homeassistant')
    .refine((v) => v.length > 0 && !/[#+]/.test(v), { message: 'must be an MQTT topic without wildcards' }),
  FAILOVER_ID: z.string().trim().default('jellyfin').refine(isValidFailoverId, {
    message:
      'may only contain lowercase letters and digits, with single _ between them, at most 64 (e.g. jellyfin)',
  }),
  MASTER_SSH: sshTarget,
  SLAVE_SSH: sshTarget,
  MASTER_DOCKER: dockerEndpoint,
  SLAVE_DOCKER: dockerEndpoint,
  MASTER_CONTAINER: containerName,
  SLAVE_CONTAINER: containerName,
  MASTER_CONFIG_DIR: absolutePath("master's host path mounted as Jellyfin's /config"),
  SLAVE_CONFIG_DIR: absolutePath("slave's host path mounted as Jellyfin's /config"),
  MASTER_URL: httpUrl('http://192.168.1.10:8096'),
  SLAVE_URL: httpUrl('http://192.168.1.11:8096'),
  JELLYFIN_LAYOUT: z
    .string()
    .trim()
    .default('auto')
    .refine((v) => v === 'auto' || (LAYOUTS as readonly string[]).includes(v), {
      message: 'must be auto, linuxserver or official',
    })
    .transform((v) => v as Layout | 'auto'),
  SSH_KEY_FILE: optionalFile,
  SSH_KNOWN_HOSTS_FILE: optionalFile,
  SYNC_EXCLUDES: z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0),
    )
    .refine((list) => list.every((p) => !p.includes('\n')), { message: 'must not contain newlines' }),
  SYNC_PRECOPY: boolText.default(true),
  SYNC_MODE: z.enum(SYNC_MODES, { error: `must be one of ${SYNC_MODES.join(', ')}` }).default('auto'),
  SNAPSHOT_IMAGE: z
    .string()
    .trim()
    .default('')
    .refine((v) => v === '' || /^[a-z0-9][a-z0-9._\-/:@]*$/i.test(v), {
      message: 'must be a Docker image reference, e.g. ghcr.io/jellyfin-failover/jellyfin-failover:0.2.0',
    }),
  JELLYFIN_API_KEY: z
    .string()
    .trim()
    .optional()
    .transform((v) => (v ? v : undefined))
    .refine((v) => v === undefined || /^[0-9a-fA-F]{32}$/.test(v), {
      message:
        'must be a Jellyfin API key: 32 hex digits (Dashboard > API Keys), or empty to disable merging',
    }),
  STOP_TIMEOUT_S: seconds(60, 1, 3600),
  START_TIMEOUT_S: seconds(300, 5, 7200),
  SWAG_CONTAINER: z
    .string()
    .trim()
    .default('')
    .refine((v) => v === '' || /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(v), {
      message: 'must be a Docker container name, or empty to disable SWAG switching',
    }),
  SWAG_SITE: z.enum(SITE_NAMES, { error: 'must be master or slave' }).default('master'),
  SWAG_UPSTREAM_FILE: z
    .string()
    .trim()
    .optional()
    .transform((v) => (v ? v : undefined)),
  SWAG_CHECK_URL: z
    .string()
    .trim()
    .optional()
    // Checked in crossCheck, so that a bad value is not also reported as missing.
    .transform((v) => (v ? v.replace(/\/+$/, '') : undefined)),
  SLAVE_BANNER: z.string().optional(),
  HEALTH_INTERVAL_S: seconds(10, 1, 3600),
  HEALTH_FAILURES: integer(3, 1, 100),
  STATE_DIR: z.string().trim().default('./data'),
  LOG_LEVEL: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }).default('info'),
});

export type EnvFields = z.output<typeof envFields>;

/**
 * Rules between variables. Runs on whatever parsed, so a bad value elsewhere does not hide these problems
 * (every problem is reported at once).
 */
function isHttpBaseUrl(v: string): boolean {
  try {
    const u = new URL(v);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.search === '' && u.hash === '';
  } catch {
    return false;
  }
}

export function crossCheck(env: Partial<EnvFields>, add: (variable: string, message: string) => void): void {
  // A variable that failed to parse is undefined here: checks that need it are skipped.
  const anyRemote = env.MASTER_SSH != null || env.SLAVE_SSH != null;
  if (anyRemote && !env.SSH_KEY_FILE) {
    add(
      'SSH_KEY_FILE',
      'is required because MASTER_SSH or SLAVE_SSH names a remote host: set it to a dedicated private key',
    );
  }
  if (anyRemote && !env.SSH_KNOWN_HOSTS_FILE) {
    add(
      'SSH_KNOWN_HOSTS_FILE',
      'is required because a site is remote: create it with `ssh-keyscan -p PORT HOST > known_hosts` and check the fingerprints',
    );
  }
  for (const site of SITE_NAMES) {
    const prefix = site.toUpperCase();
    const docker = site === 'master' ? env.MASTER_DOCKER : env.SLAVE_DOCKER;
    const ssh = site === 'master' ? env.MASTER_SSH : env.SLAVE_SSH;
    if (docker?.kind === 'ssh' && ssh === null) {
      add(
        `${prefix}_DOCKER`,
        `is ssh but ${prefix}_SSH is empty: set ${prefix}_SSH, or use unix:///var/run/docker.sock`,
      );
    }
  }
  if (env.SWAG_CONTAINER && !env.SWAG_UPSTREAM_FILE) {
    add(
      'SWAG_UPSTREAM_FILE',
      'is required when SWAG_CONTAINER is set: the host path of the nginx include the service owns, e.g. /mnt/user/appdata/swag/nginx/jellyfin-failover-upstream.conf',
    );
  }
  if (env.SWAG_CHECK_URL && !isHttpBaseUrl(env.SWAG_CHECK_URL)) {
    add('SWAG_CHECK_URL', 'must be an http(s) base URL without query, e.g. https://jellyfin.example.com');
  }
  if (env.SWAG_CONTAINER && !env.SWAG_CHECK_URL) {
    add(
      'SWAG_CHECK_URL',
      "is required when SWAG_CONTAINER is set: Jellyfin's URL through SWAG as this service reaches it, e.g. https://jellyfin.example.com (after each switch the service requests /System/Info/Public there to see which backend answers)",
    );
  }
  if (env.SWAG_UPSTREAM_FILE && !env.SWAG_UPSTREAM_FILE.startsWith('/')) {
    add('SWAG_UPSTREAM_FILE', 'must be an absolute path');
  }
  if (
    env.MASTER_SSH === null &&
    env.SLAVE_SSH === null &&
    env.MASTER_CONFIG_DIR !== undefined &&
    env.MASTER_CONFIG_DIR === env.SLAVE_CONFIG_DIR
  ) {
    add(
      'SLAVE_CONFIG_DIR',
      'is the same directory as MASTER_CONFIG_DIR on the same host: each site needs its own config dir',
    );
  }
}

export const envSchema = envFields.superRefine((env, ctx) =>
  crossCheck(env, (variable, message) => ctx.addIssue({ code: 'custom', path: [variable], message })),
);

export type Env = z.output<typeof envSchema>;

/**
 * The add-on options (`/data/options.json`, written by the Supervisor from config.yaml's schema): which option sets
 * which SPEC variable, and their validation. Every problem is collected and reported at once, naming the option and
 * the fix, before anything starts. The service validates its environment again at start.
 */
import { type HostKey, parseHostKey, SSH_TARGET } from './ssh-keys.js';

/** A problem with one option, reported with every other one at once. */
export interface OptionProblem {
  option: string;
  message: string;
}

export class AddonConfigError extends Error {
  override readonly name = 'AddonConfigError';
  constructor(readonly problems: readonly OptionProblem[]) {
    super(problems.map((p) => `${p.option}: ${p.message}`).join('\n'));
  }
}

/** The SPEC variables the add-on fixes itself instead of offering them as options (`buildServicePlan` sets them). */
export const FIXED_VARIABLES = ['STATE_DIR', 'SSH_KEY_FILE', 'SSH_KNOWN_HOSTS_FILE'] as const;

/** Variables holding secrets: masked when printed. */
export const SECRET_VARIABLES: readonly string[] = ['MQTT_PASSWORD', 'JELLYFIN_API_KEY'];

type Check = (value: string) => string | null;

interface Field {
  option: string;
  /** The SPEC variable the option sets. */
  variable: string;
  kind: 'string' | 'integer' | 'boolean' | 'list';
  /** Required options must be present and non-empty (the Supervisor's schema says the same). */
  required?: string;
  /** For strings: an empty value is passed on (`SLAVE_BANNER=` disables the banner) instead of meaning unset. */
  keepEmpty?: boolean;
  check?: Check;
  range?: [number, number];
}

const CONTAINER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const FAILOVER_ID = /^[a-z0-9]+(?:_[a-z0-9]+)*$/;
/** As the service checks SNAPSHOT_IMAGE (src/config/schema.ts). */
const IMAGE_REFERENCE = /^[a-z0-9][a-z0-9._\-/:@]*$/i;

const oneOf =
  (...values: string[]): Check =>
  (v) =>
    values.includes(v) ? null : `must be one of ${values.join(', ')}`;

const sshTarget =
  (site: string): Check =>
  (v) => {
    const m = SSH_TARGET.exec(v);
    if (!m) return `must be user@host or user@host:port, the SSH login of ${site} (e.g. root@192.168.1.10)`;
    if (m[3] !== undefined && (Number(m[3]) < 1 || Number(m[3]) > 65535))
      return 'port must be between 1 and 65535';
    return null;
  };

const docker: Check = (v) => {
  if (v === 'ssh') return null;
  if (/^tcp:\/\/([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]):\d{1,5}$/.test(v)) return null;
  if (v.startsWith('unix://'))
    return 'cannot be a unix socket: the add-on runs on the Home Assistant host, which is neither site; use ssh (Docker through the site SSH login)';
  return 'must be ssh (Docker through the site SSH login) or tcp://host:port';
};

const httpUrl =
  (example: string, baseOnly = false): Check =>
  (v) => {
    try {
      const u = new URL(v);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') return `must be an http(s) URL, e.g. ${example}`;
      if (baseOnly && (u.search !== '' || u.hash !== ''))
        return `must be a base URL without query, e.g. ${example}`;
      return null;
    } catch {
      return `must be an http(s) URL, e.g. ${example}`;
    }
  };

const absolutePath: Check = (v) => (v.startsWith('/') ? null : 'must be an absolute path (starting with /)');
const containerName: Check = (v) =>
  CONTAINER_NAME.test(v) ? null : 'must be a Docker container name (letters, digits, _ . -)';
const topic: Check = (v) =>
  /[#+]/.test(v) || v.startsWith('/') || v.endsWith('/')
    ? 'must be an MQTT topic without wildcards (# +) or leading/trailing /'
    : null;

/** Every option of config.yaml that sets a SPEC variable, in the order of SPEC section 2. */
export const FIELDS: readonly Field[] = [
  {
    option: 'mqtt_url',
    variable: 'MQTT_URL',
    kind: 'string',
    check: (v) =>
      /^(mqtts?|wss?):\/\/[^\s/]+/.test(v)
        ? null
        : 'must be mqtt://host:port or mqtts://host:port (e.g. mqtt://core-mosquitto:1883), or empty for the broker the Supervisor offers',
  },
  { option: 'mqtt_username', variable: 'MQTT_USERNAME', kind: 'string' },
  { option: 'mqtt_password', variable: 'MQTT_PASSWORD', kind: 'string' },
  { option: 'mqtt_ca_file', variable: 'MQTT_CA_FILE', kind: 'string', check: absolutePath },
  { option: 'mqtt_base_topic', variable: 'MQTT_BASE_TOPIC', kind: 'string', check: topic },
  {
    option: 'ha_discovery_prefix',
    variable: 'HA_DISCOVERY_PREFIX',
    kind: 'string',
    check: (v) => (/[#+]/.test(v) ? 'must be an MQTT topic without wildcards (# +)' : null),
  },
  {
    option: 'failover_id',
    variable: 'FAILOVER_ID',
    kind: 'string',
    check: (v) =>
      FAILOVER_ID.test(v) && v.length <= 64
        ? null
        : 'may only contain lowercase letters and digits, with single _ between them, at most 64 (e.g. jellyfin)',
  },
  {
    option: 'master_ssh',
    variable: 'MASTER_SSH',
    kind: 'string',
    required: 'the SSH login of master, e.g. root@192.168.1.10 (the add-on reaches both sites over SSH)',
    check: sshTarget('master'),
  },
  {
    option: 'slave_ssh',
    variable: 'SLAVE_SSH',
    kind: 'string',
    required: 'the SSH login of slave, e.g. root@192.168.1.11 (the add-on reaches both sites over SSH)',
    check: sshTarget('slave'),
  },
  { option: 'master_docker', variable: 'MASTER_DOCKER', kind: 'string', check: docker },
  { option: 'slave_docker', variable: 'SLAVE_DOCKER', kind: 'string', check: docker },
  { option: 'master_container', variable: 'MASTER_CONTAINER', kind: 'string', check: containerName },
  { option: 'slave_container', variable: 'SLAVE_CONTAINER', kind: 'string', check: containerName },
  {
    option: 'master_config_dir',
    variable: 'MASTER_CONFIG_DIR',
    kind: 'string',
    required: "master's host path mounted as Jellyfin's /config, e.g. /mnt/cache/appdata/jellyfin",
    check: absolutePath,
  },
  {
    option: 'slave_config_dir',
    variable: 'SLAVE_CONFIG_DIR',
    kind: 'string',
    required: "slave's host path mounted as Jellyfin's /config, e.g. /mnt/cache/appdata/jellyfin",
    check: absolutePath,
  },
  {
    option: 'master_url',
    variable: 'MASTER_URL',
    kind: 'string',
    required: "master's Jellyfin base URL, e.g. http://192.168.1.10:8096",
    check: httpUrl('http://192.168.1.10:8096'),
  },
  {
    option: 'slave_url',
    variable: 'SLAVE_URL',
    kind: 'string',
    required: "slave's Jellyfin base URL, e.g. http://192.168.1.11:8096",
    check: httpUrl('http://192.168.1.11:8096'),
  },
  {
    option: 'jellyfin_layout',
    variable: 'JELLYFIN_LAYOUT',
    kind: 'string',
    check: oneOf('auto', 'linuxserver', 'official'),
  },
  { option: 'sync_excludes', variable: 'SYNC_EXCLUDES', kind: 'list' },
  { option: 'sync_precopy', variable: 'SYNC_PRECOPY', kind: 'boolean' },
  { option: 'sync_mode', variable: 'SYNC_MODE', kind: 'string', check: oneOf('auto', 'online', 'stopped') },
  {
    option: 'snapshot_image',
    variable: 'SNAPSHOT_IMAGE',
    kind: 'string',
    check: (v) =>
      IMAGE_REFERENCE.test(v)
        ? null
        : 'must be a Docker image reference with sh and sqlite3, e.g. ghcr.io/jellyfin-failover/jellyfin-failover:0.1.0, or empty for the service image',
  },
  { option: 'jellyfin_api_key', variable: 'JELLYFIN_API_KEY', kind: 'string' },
  { option: 'stop_timeout_s', variable: 'STOP_TIMEOUT_S', kind: 'integer', range: [1, 3600] },
  { option: 'start_timeout_s', variable: 'START_TIMEOUT_S', kind: 'integer', range: [5, 7200] },
  { option: 'swag_container', variable: 'SWAG_CONTAINER', kind: 'string', check: containerName },
  { option: 'swag_site', variable: 'SWAG_SITE', kind: 'string', check: oneOf('master', 'slave') },
  { option: 'swag_upstream_file', variable: 'SWAG_UPSTREAM_FILE', kind: 'string', check: absolutePath },
  {
    option: 'swag_check_url',
    variable: 'SWAG_CHECK_URL',
    kind: 'string',
    check: httpUrl('https://jellyfin.example.com', true),
  },
  { option: 'slave_banner', variable: 'SLAVE_BANNER', kind: 'string', keepEmpty: true },
  { option: 'health_interval_s', variable: 'HEALTH_INTERVAL_S', kind: 'integer', range: [1, 3600] },
  { option: 'health_failures', variable: 'HEALTH_FAILURES', kind: 'integer', range: [1, 100] },
  {
    option: 'log_level',
    variable: 'LOG_LEVEL',
    kind: 'string',
    check: oneOf('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'),
  },
];

/** Options that are the add-on's own (no SPEC variable): each site's pinned SSH host key. */
export const HOST_KEY_OPTIONS = { master: 'master_host_key', slave: 'slave_host_key' } as const;

/** Every option name config.yaml must offer. */
export const OPTION_NAMES: readonly string[] = [
  ...FIELDS.map((f) => f.option),
  HOST_KEY_OPTIONS.master,
  HOST_KEY_OPTIONS.slave,
];

/** Options after validation: each present option as the text its variable will hold. */
export interface AddonOptions {
  values: ReadonlyMap<string, string>;
  hostKeys: { master: HostKey; slave: HostKey };
  warnings: string[];
}

function asText(field: Field, raw: unknown): string | null | { error: string } {
  switch (field.kind) {
    case 'string':
      if (typeof raw === 'string') return raw;
      if (typeof raw === 'number' || typeof raw === 'boolean') return String(raw);
      return { error: 'must be text' };
    case 'integer': {
      const n =
        typeof raw === 'number'
          ? raw
          : typeof raw === 'string' && /^\s*\d+\s*$/.test(raw)
            ? Number(raw)
            : NaN;
      if (!Number.isInteger(n)) return { error: 'must be a whole number' };
      const [min, max] = field.range ?? [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER];
      if (n < min || n > max) return { error: `must be between ${min} and ${max}` };
      return String(n);
    }
    case 'boolean':
      if (typeof raw === 'boolean') return String(raw);
      if (raw === 'true' || raw === 'false') return raw;
      return { error: 'must be true or false' };
    case 'list': {
      const items = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(',') : null;
      if (items === null || !items.every((i) => typeof i === 'string'))
        return { error: 'must be a list of text' };
      const cleaned = (items as string[]).map((i) => i.trim()).filter((i) => i !== '');
      const bad = cleaned.find((i) => /[,\n]/.test(i));
      if (bad !== undefined)
        return { error: `entry "${bad}" must not contain a comma or a newline: one pattern each` };
      return cleaned.length > 0 ? cleaned.join(',') : null;
    }
  }
}

/**
 * Validates `/data/options.json`. Every problem is collected and thrown at once as an `AddonConfigError`, each
 * naming its option and the fix.
 */
export function parseOptions(raw: unknown): AddonOptions {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new AddonConfigError([{ option: '(options)', message: 'options.json must hold a JSON object' }]);
  }
  const input = raw as Record<string, unknown>;
  const problems: OptionProblem[] = [];
  const warnings: string[] = [];
  const values = new Map<string, string>();

  for (const field of FIELDS) {
    const given = input[field.option];
    const text = given === undefined || given === null ? null : asText(field, given);
    if (text !== null && typeof text === 'object') {
      problems.push({ option: field.option, message: text.error });
      continue;
    }
    const value = field.kind === 'string' && text !== null && !field.keepEmpty ? text.trim() : text;
    if (value === null || (value === '' && !field.keepEmpty)) {
      if (field.required) problems.push({ option: field.option, message: `is required: ${field.required}` });
      continue;
    }
    const problem = field.check?.(value) ?? null;
    if (problem) problems.push({ option: field.option, message: problem });
    else values.set(field.option, value);
  }

  const hostKey = (site: 'master' | 'slave'): HostKey => {
    const option = HOST_KEY_OPTIONS[site];
    const given = input[option];
    if (typeof given !== 'string' || given.trim() === '') {
      problems.push({
        option,
        message: `is required: ${site}'s SSH host public key, the line of /etc/ssh/ssh_host_ed25519_key.pub on ${site} (the add-on refuses any other host key)`,
      });
      return { type: '', blob: '' };
    }
    const parsed = parseHostKey(given);
    if (typeof parsed === 'string') {
      problems.push({ option, message: parsed });
      return { type: '', blob: '' };
    }
    return parsed;
  };
  const hostKeys = { master: hostKey('master'), slave: hostKey('slave') };

  if (values.has('mqtt_password') && !values.has('mqtt_username')) {
    problems.push({
      option: 'mqtt_password',
      message:
        "is set without mqtt_username: set mqtt_username too, or leave both empty to use the Supervisor's broker credentials",
    });
  }
  if (values.has('swag_container')) {
    for (const option of ['swag_upstream_file', 'swag_check_url']) {
      if (!values.has(option) && !problems.some((p) => p.option === option)) {
        problems.push({
          option,
          message:
            option === 'swag_upstream_file'
              ? 'is required when swag_container is set: the host path of the nginx include the service owns, on the site that runs SWAG'
              : "is required when swag_container is set: Jellyfin's URL through SWAG as the add-on reaches it, e.g. https://jellyfin.example.com",
        });
      }
    }
  }

  const known = new Set(OPTION_NAMES);
  for (const key of Object.keys(input)) {
    if (!known.has(key)) warnings.push(`option ${key} is not used by this version of the add-on; remove it`);
  }
  if (problems.length > 0) throw new AddonConfigError(problems);
  return { values, hostKeys, warnings };
}

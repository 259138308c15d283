/**
 * The Home Assistant add-on's pure part: the add-on options (`/data/options.json`, written by the Supervisor from
 * config.yaml's schema) and the Supervisor's MQTT service answer become the service's environment (SPEC section 2)
 * and the known_hosts file. No I/O here; `entrypoint.ts` reads the files, asks the Supervisor and starts the
 * service.
 *
 * Self-contained on purpose: nothing is imported from the rest of src/, so the add-on keeps working while the
 * service's own modules are reorganised. The service validates its environment again at start.
 */

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

/** Where the add-on keeps what it owns inside the Supervisor's persistent /data volume. */
export function addonPaths(dataDir: string) {
  const ssh = `${dataDir}/ssh`;
  return {
    stateDir: dataDir,
    sshDir: ssh,
    keyFile: `${ssh}/id_ed25519`,
    publicKeyFile: `${ssh}/id_ed25519.pub`,
    knownHostsFile: `${ssh}/known_hosts`,
  };
}

/** The SPEC variables the add-on fixes itself instead of offering them as options (see `fixedVariables`). */
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

const SSH_TARGET = /^([a-z_][a-z0-9_.-]*)@(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/;
const CONTAINER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const FAILOVER_ID = /^[a-z0-9]+(?:_[a-z0-9]+)*$/;

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

export interface HostKey {
  type: string;
  /** base64 of the key blob. */
  blob: string;
}

const HOST_KEY_TYPES = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'ssh-rsa',
];

/**
 * A site's public host key as the user pastes it: the `.pub` line of the site (`ssh-ed25519 AAAA... root@tower`)
 * or a known_hosts / ssh-keyscan line (`192.168.1.11 ssh-ed25519 AAAA...`). The blob is decoded and must name the
 * same key type, which catches a truncated or mixed-up paste.
 */
export function parseHostKey(text: string): HostKey | string {
  const tokens = text.trim().split(/\s+/);
  const at = HOST_KEY_TYPES.includes(tokens[0] ?? '') ? 0 : HOST_KEY_TYPES.includes(tokens[1] ?? '') ? 1 : -1;
  const type = tokens[at];
  const blob = tokens[at + 1];
  if (at < 0 || type === undefined || blob === undefined) {
    return `must be the site's SSH host public key, e.g. the line of /etc/ssh/ssh_host_ed25519_key.pub on that machine ("ssh-ed25519 AAAA... root@host"); key types: ${HOST_KEY_TYPES.join(', ')}`;
  }
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(blob))
    return `the key after ${type} is not base64: paste the whole line`;
  const fields = sshStrings(Buffer.from(blob, 'base64'));
  // ssh-ed25519: name, 32-byte key; ecdsa: name, curve, point; ssh-rsa: name, e, n (RFC 4253, RFC 5656, RFC 8709).
  const complete =
    fields !== null &&
    fields[0]?.toString() === type &&
    (type === 'ssh-ed25519' ? fields.length === 2 && fields[1]?.length === 32 : fields.length === 3);
  if (!complete) {
    return `the key data does not hold a whole ${type} key (it is cut or mixed up): paste the whole line again`;
  }
  return { type, blob };
}

/** Splits an SSH wire-format blob into its length-prefixed strings; null when it does not split exactly. */
function sshStrings(raw: Buffer): Buffer[] | null {
  const out: Buffer[] = [];
  let at = 0;
  while (at < raw.length) {
    if (at + 4 > raw.length) return null;
    const length = raw.readUInt32BE(at);
    if (at + 4 + length > raw.length) return null;
    out.push(raw.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  return out;
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

/** The MQTT service as the Supervisor reports it (`GET /services/mqtt`), or why it cannot be used. */
export type MqttService =
  | { kind: 'available'; host: string; port: number; ssl: boolean; username?: string; password?: string }
  | { kind: 'unavailable'; reason: string };

/** Whether the broker must come from the Supervisor: the user left `mqtt_url` empty. */
export function wantsSupervisorMqtt(options: AddonOptions): boolean {
  return !options.values.has('mqtt_url');
}

/**
 * Reads the Supervisor's answer to `GET /services/mqtt`. The Supervisor wraps every answer as
 * `{"result":"ok","data":{...}}` or `{"result":"error","message":"..."}` (supervisor/api/utils.py api_process);
 * the data follows SCHEMA_SERVICE_MQTT (supervisor/services/modules/mqtt.py): host, port, ssl, protocol, and
 * optional username and password, plus the providing app's slug.
 */
export function parseMqttServiceAnswer(status: number, body: string): MqttService {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    const text = body.trim().slice(0, 200);
    return {
      kind: 'unavailable',
      reason: `the Supervisor answered HTTP ${status}${text ? `: ${text}` : ''}`,
    };
  }
  const answer = (json ?? {}) as { result?: unknown; message?: unknown; data?: unknown };
  if (answer.result !== 'ok') {
    const message = typeof answer.message === 'string' ? answer.message : 'no message';
    return { kind: 'unavailable', reason: `the Supervisor answered HTTP ${status}: ${message}` };
  }
  const data = (answer.data ?? {}) as Record<string, unknown>;
  const port = typeof data.port === 'string' ? Number(data.port) : data.port;
  if (
    typeof data.host !== 'string' ||
    data.host === '' ||
    typeof port !== 'number' ||
    !Number.isInteger(port)
  ) {
    return {
      kind: 'unavailable',
      reason: `the Supervisor's MQTT service has no host and port: ${body.slice(0, 200)}`,
    };
  }
  return {
    kind: 'available',
    host: data.host,
    port,
    ssl: data.ssl === true,
    ...(typeof data.username === 'string' && data.username !== '' ? { username: data.username } : {}),
    ...(typeof data.password === 'string' && data.password !== '' ? { password: data.password } : {}),
  };
}

/** What the runner needs to start the service. */
export interface ServicePlan {
  /** The SPEC variables to set; a variable not listed keeps the service's default. */
  env: Record<string, string>;
  /** The contents of `SSH_KNOWN_HOSTS_FILE`: exactly the two pinned host keys. */
  knownHosts: string;
  /** One line for the log: where the broker comes from (no secrets). */
  mqttSource: string;
}

function knownHostsName(sshTarget: string): string {
  const m = SSH_TARGET.exec(sshTarget);
  const host = (m?.[2] ?? '').replace(/^\[|\]$/g, '');
  const port = m?.[3] ? Number(m[3]) : 22;
  return port === 22 ? host : `[${host}]:${port}`;
}

/**
 * The service's environment: every option as its variable, the fixed paths in /data, and the broker. The
 * user's values win: with `mqtt_url` set the Supervisor is not used at all; with it empty the broker comes from
 * the Supervisor, and so do the credentials unless `mqtt_username` is set.
 */
export function buildServicePlan(
  options: AddonOptions,
  context: { dataDir: string; mqtt: MqttService | null },
): ServicePlan {
  const paths = addonPaths(context.dataDir);
  const env: Record<string, string> = {};
  for (const field of FIELDS) {
    const value = options.values.get(field.option);
    if (value !== undefined) env[field.variable] = value;
  }
  env.STATE_DIR = paths.stateDir;
  env.SSH_KEY_FILE = paths.keyFile;
  env.SSH_KNOWN_HOSTS_FILE = paths.knownHostsFile;

  let mqttSource: string;
  if (!wantsSupervisorMqtt(options)) {
    mqttSource = `MQTT broker from the options: ${env.MQTT_URL}${env.MQTT_USERNAME ? ` as ${env.MQTT_USERNAME}` : ''}`;
  } else {
    const mqtt = context.mqtt ?? { kind: 'unavailable', reason: 'the Supervisor was not asked' };
    if (mqtt.kind === 'unavailable') {
      throw new AddonConfigError([
        {
          option: 'mqtt_url',
          message: `is empty and the Supervisor offers no MQTT broker (${mqtt.reason}): install and start the Mosquitto broker add-on, or set mqtt_url (and mqtt_username, mqtt_password) to your broker`,
        },
      ]);
    }
    const host = mqtt.host.includes(':') ? `[${mqtt.host}]` : mqtt.host;
    env.MQTT_URL = `${mqtt.ssl ? 'mqtts' : 'mqtt'}://${host}:${mqtt.port}`;
    const own = options.values.has('mqtt_username');
    if (!own) {
      delete env.MQTT_PASSWORD;
      if (mqtt.username !== undefined) env.MQTT_USERNAME = mqtt.username;
      if (mqtt.password !== undefined) env.MQTT_PASSWORD = mqtt.password;
    }
    const user = env.MQTT_USERNAME
      ? ` as ${env.MQTT_USERNAME}${own ? ' (mqtt_username from the options)' : ''}`
      : '';
    mqttSource = `MQTT broker from the Supervisor: ${env.MQTT_URL}${user}`;
  }

  const knownHosts = (['master', 'slave'] as const)
    .map((site) => {
      const key = options.hostKeys[site];
      const target = options.values.get(site === 'master' ? 'master_ssh' : 'slave_ssh') ?? '';
      return `${knownHostsName(target)} ${key.type} ${key.blob}\n`;
    })
    .join('');
  return { env, knownHosts, mqttSource };
}

/**
 * The child's environment: the runner's own, less every SPEC variable (and `NAME_FILE` form) it may have
 * inherited and less the Supervisor token the service has no use for, plus the plan.
 */
export function childEnvironment(inherited: NodeJS.ProcessEnv, plan: ServicePlan): Record<string, string> {
  const spec = new Set<string>([...FIELDS.map((f) => f.variable), ...FIXED_VARIABLES]);
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(inherited)) {
    if (value === undefined) continue;
    const base = name.endsWith('_FILE') ? name.slice(0, -'_FILE'.length) : name;
    if (spec.has(name) || spec.has(base)) continue;
    if (name === 'SUPERVISOR_TOKEN' || name === 'HASSIO_TOKEN') continue;
    out[name] = value;
  }
  return { ...out, ...plan.env };
}

/** `NAME=value` lines of the plan, sorted, secrets masked: what `--print-env` shows. */
export function printableEnv(env: Record<string, string>): string {
  return Object.keys(env)
    .sort()
    .map((name) => {
      const value = env[name] ?? '';
      const shown = SECRET_VARIABLES.includes(name) && value !== '' ? '********' : JSON.stringify(value);
      return `${name}=${shown}`;
    })
    .join('\n');
}

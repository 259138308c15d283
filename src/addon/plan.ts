/**
 * The Home Assistant add-on's plan: validated options (`options.ts`) and the Supervisor's MQTT service answer become
 * the service's environment (SPEC section 2) and the known_hosts file. No I/O here; `entrypoint.ts` reads the
 * files, asks the Supervisor and starts the service.
 *
 * Self-contained on purpose: nothing is imported from outside src/addon, so the add-on keeps working while the
 * service's own modules are reorganised. The service validates its environment again at start.
 */
import { AddonConfigError, type AddonOptions, FIELDS, FIXED_VARIABLES, SECRET_VARIABLES } from './options.js';
import { knownHostsLine } from './ssh-keys.js';

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
    .map((site) =>
      knownHostsLine(
        options.values.get(site === 'master' ? 'master_ssh' : 'slave_ssh') ?? '',
        options.hostKeys[site],
      ),
    )
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

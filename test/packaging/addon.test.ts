import { describe, expect, it } from 'vitest';
import { AddonConfigError, parseOptions } from '../../src/addon/options.js';
import {
  buildServicePlan,
  childEnvironment,
  type MqttService,
  parseMqttServiceAnswer,
  printableEnv,
  wantsSupervisorMqtt,
} from '../../src/addon/plan.js';
import { parseHostKey } from '../../src/addon/ssh-keys.js';
import { MASTER_KEY, MOSQUITTO_ANSWER, publicKeyLine, SLAVE_KEY, validOptions } from './addon-fixtures.js';

const mosquitto: MqttService = {
  kind: 'available',
  host: 'core-mosquitto',
  port: 1883,
  ssl: false,
  username: 'addons',
  password: 'Eeb0ahsh',
};

function plan(options: Record<string, unknown>, mqtt: MqttService | null = mosquitto) {
  return buildServicePlan(parseOptions(options), { dataDir: '/data', mqtt });
}

function problemsOf(fn: () => unknown): Array<{ option: string; message: string }> {
  try {
    fn();
  } catch (err) {
    if (err instanceof AddonConfigError) return [...err.problems];
    throw err;
  }
  throw new Error('expected an AddonConfigError');
}

describe('add-on options -> service environment', () => {
  it('maps every option to its SPEC variable and fixes the paths in /data', () => {
    const { env } = plan(validOptions({ sync_excludes: ['metadata/', ' extra '], jellyfin_api_key: 'k3y' }));
    expect(env).toEqual({
      MQTT_URL: 'mqtt://core-mosquitto:1883',
      MQTT_USERNAME: 'addons',
      MQTT_PASSWORD: 'Eeb0ahsh',
      MQTT_BASE_TOPIC: 'jellyfin-failover',
      HA_DISCOVERY_PREFIX: 'homeassistant',
      FAILOVER_ID: 'jellyfin',
      MASTER_SSH: 'root@192.168.1.10',
      SLAVE_SSH: 'root@192.168.1.11',
      MASTER_DOCKER: 'ssh',
      SLAVE_DOCKER: 'ssh',
      MASTER_CONTAINER: 'jellyfin',
      SLAVE_CONTAINER: 'jellyfin',
      MASTER_CONFIG_DIR: '/mnt/cache/appdata/jellyfin',
      SLAVE_CONFIG_DIR: '/mnt/cache/appdata/jellyfin',
      MASTER_URL: 'http://192.168.1.10:8096',
      SLAVE_URL: 'http://192.168.1.11:8096',
      JELLYFIN_LAYOUT: 'auto',
      SYNC_EXCLUDES: 'metadata/,extra',
      SYNC_PRECOPY: 'true',
      SYNC_MODE: 'auto',
      JELLYFIN_API_KEY: 'k3y',
      STOP_TIMEOUT_S: '60',
      START_TIMEOUT_S: '300',
      SWAG_SITE: 'master',
      SLAVE_BANNER:
        'This is the standby Jellyfin server. Anything you watch or change here may be lost when the main server comes back.',
      HEALTH_INTERVAL_S: '10',
      HEALTH_FAILURES: '3',
      LOG_LEVEL: 'info',
      STATE_DIR: '/data',
      SSH_KEY_FILE: '/data/ssh/id_ed25519',
      SSH_KNOWN_HOSTS_FILE: '/data/ssh/known_hosts',
    });
  });

  it('leaves unset optional options to the service defaults, and passes an empty banner on (disables it)', () => {
    const withoutBanner = validOptions();
    delete withoutBanner.slave_banner;
    expect(plan(withoutBanner).env).not.toHaveProperty('SLAVE_BANNER');
    const { env } = plan(validOptions({ slave_banner: '', swag_container: '', mqtt_ca_file: '' }));
    expect(env.SLAVE_BANNER).toBe('');
    expect(env).not.toHaveProperty('SWAG_CONTAINER');
    expect(env).not.toHaveProperty('MQTT_CA_FILE');
    expect(env).not.toHaveProperty('JELLYFIN_API_KEY');
    expect(env).not.toHaveProperty('SYNC_EXCLUDES');
  });

  it('pins exactly the two host keys, under the names and ports of master_ssh and slave_ssh', () => {
    const { knownHosts } = plan(
      validOptions({
        slave_ssh: 'backup@[fd00::11]:2222',
        // an ssh-keyscan line: the leading host field is replaced by the one from slave_ssh
        slave_host_key: `192.168.1.99 ${SLAVE_KEY.split(' ').slice(0, 2).join(' ')}`,
      }),
    );
    const [masterType, masterBlob] = MASTER_KEY.split(' ');
    const [slaveType, slaveBlob] = SLAVE_KEY.split(' ');
    expect(knownHosts).toBe(
      `192.168.1.10 ${masterType} ${masterBlob}\n[fd00::11]:2222 ${slaveType} ${slaveBlob}\n`,
    );
  });
});

describe('MQTT broker: Supervisor service or the user', () => {
  it('asks the Supervisor only while mqtt_url is empty', () => {
    expect(wantsSupervisorMqtt(parseOptions(validOptions()))).toBe(true);
    expect(wantsSupervisorMqtt(parseOptions(validOptions({ mqtt_url: '  ' })))).toBe(true);
    expect(wantsSupervisorMqtt(parseOptions(validOptions({ mqtt_url: 'mqtt://10.0.0.5:1883' })))).toBe(false);
  });

  it("uses the user's broker and credentials, never mixing in the Supervisor's", () => {
    const p = plan(
      validOptions({ mqtt_url: 'mqtts://broker.lan:8883', mqtt_username: 'jf', mqtt_password: 'pw' }),
    );
    expect(p.env).toMatchObject({
      MQTT_URL: 'mqtts://broker.lan:8883',
      MQTT_USERNAME: 'jf',
      MQTT_PASSWORD: 'pw',
    });
    expect(p.mqttSource).toBe('MQTT broker from the options: mqtts://broker.lan:8883 as jf');
    const anonymous = plan(validOptions({ mqtt_url: 'mqtt://broker.lan:1883' }));
    expect(anonymous.env).not.toHaveProperty('MQTT_USERNAME');
    expect(anonymous.env).not.toHaveProperty('MQTT_PASSWORD');
  });

  it("takes the Supervisor's broker with the user's own username and password when they are set", () => {
    const p = plan(validOptions({ mqtt_username: 'jellyfin-failover', mqtt_password: 'mine' }));
    expect(p.env).toMatchObject({
      MQTT_URL: 'mqtt://core-mosquitto:1883',
      MQTT_USERNAME: 'jellyfin-failover',
      MQTT_PASSWORD: 'mine',
    });
    expect(p.mqttSource).toBe(
      'MQTT broker from the Supervisor: mqtt://core-mosquitto:1883 as jellyfin-failover (mqtt_username from the options)',
    );
  });

  it('turns the Supervisor answer into mqtt:// or mqtts://', () => {
    expect(parseMqttServiceAnswer(200, JSON.stringify(MOSQUITTO_ANSWER))).toEqual(mosquitto);
    const tls = parseMqttServiceAnswer(
      200,
      JSON.stringify({
        result: 'ok',
        data: { host: 'core-mosquitto', port: 8883, ssl: true, protocol: '3.1.1' },
      }),
    );
    expect(tls).toEqual({ kind: 'available', host: 'core-mosquitto', port: 8883, ssl: true });
    expect(plan(validOptions(), tls).env.MQTT_URL).toBe('mqtts://core-mosquitto:8883');
    expect(plan(validOptions(), tls).env).not.toHaveProperty('MQTT_USERNAME');
  });

  it.each([
    [
      400,
      '{"result":"error","message":"Service not enabled"}',
      'the Supervisor answered HTTP 400: Service not enabled',
    ],
    [
      403,
      '{"result":"error","message":"No access to mqtt service!"}',
      'HTTP 403: No access to mqtt service!',
    ],
    [401, '401: Unauthorized', 'the Supervisor answered HTTP 401: 401: Unauthorized'],
    [200, '{"result":"ok","data":{}}', "the Supervisor's MQTT service has no host and port"],
  ])('reads HTTP %i %s as unavailable, with the reason', (status, body, reason) => {
    const answer = parseMqttServiceAnswer(status, body);
    expect(answer.kind).toBe('unavailable');
    expect(answer.kind === 'unavailable' && answer.reason).toContain(reason);
  });

  it('refuses to start without a broker, naming mqtt_url and the Supervisor reason', () => {
    const problems = problemsOf(() =>
      plan(validOptions(), {
        kind: 'unavailable',
        reason: 'the Supervisor answered HTTP 400: Service not enabled',
      }),
    );
    expect(problems).toHaveLength(1);
    expect(problems[0]?.option).toBe('mqtt_url');
    expect(problems[0]?.message).toContain('Service not enabled');
    expect(problems[0]?.message).toContain('Mosquitto broker add-on');
  });
});

describe('bad options', () => {
  it('reports every problem at once, each under its option name with the fix', () => {
    const options = validOptions({
      master_ssh: '192.168.1.10',
      slave_url: 'ftp://192.168.1.11',
      master_docker: 'unix:///var/run/docker.sock',
      failover_id: 'Jelly Fin',
      stop_timeout_s: 0,
      sync_excludes: ['a,b'],
      jellyfin_layout: 'docker',
      swag_container: 'swag',
      mqtt_password: 'orphan',
    });
    delete options.slave_config_dir;
    delete options.master_host_key;
    const problems = problemsOf(() => parseOptions(options));
    const byOption = Object.fromEntries(problems.map((p) => [p.option, p.message]));
    expect(Object.keys(byOption).sort()).toEqual(
      [
        'failover_id',
        'jellyfin_layout',
        'master_docker',
        'master_host_key',
        'master_ssh',
        'mqtt_password',
        'slave_config_dir',
        'slave_url',
        'stop_timeout_s',
        'swag_check_url',
        'swag_upstream_file',
        'sync_excludes',
      ].sort(),
    );
    expect(byOption.master_ssh).toMatch(/must be user@host or user@host:port/);
    expect(byOption.slave_url).toMatch(/must be an http\(s\) URL/);
    expect(byOption.master_docker).toMatch(/neither site; use ssh/);
    expect(byOption.stop_timeout_s).toBe('must be between 1 and 3600');
    expect(byOption.sync_excludes).toMatch(/must not contain a comma/);
    expect(byOption.jellyfin_layout).toBe('must be one of auto, linuxserver, official');
    expect(byOption.slave_config_dir).toMatch(/^is required: slave's host path/);
    expect(byOption.master_host_key).toMatch(/is required: .*ssh_host_ed25519_key\.pub/);
    expect(byOption.swag_upstream_file).toMatch(/is required when swag_container is set/);
    expect(byOption.mqtt_password).toMatch(/set mqtt_username too/);
  });

  it.each([
    ['not a key at all', /must be the site's SSH host public key/],
    ['ssh-ed25519 not*base64', /is not base64/],
    [publicKeyLine('ssh-rsa', 3).replace(/^ssh-rsa/, 'ssh-ed25519'), /does not hold a whole ssh-ed25519 key/],
    [`ssh-ed25519 ${MASTER_KEY.split(' ')[1]?.slice(0, 20)}`, /does not hold a whole ssh-ed25519 key/],
  ])('refuses the host key %j', (text, message) => {
    const parsed = parseHostKey(text);
    expect(typeof parsed).toBe('string');
    expect(parsed).toMatch(message);
  });

  it('accepts a .pub line, a known_hosts line and surrounding blanks', () => {
    const [type, blob] = MASTER_KEY.split(' ');
    expect(parseHostKey(MASTER_KEY)).toEqual({ type, blob });
    expect(parseHostKey(`[10.0.0.1]:2222 ${type} ${blob}`)).toEqual({ type, blob });
    expect(parseHostKey(`  ${type} ${blob}  \n`)).toEqual({ type, blob });
  });

  it('refuses options.json that is not an object', () => {
    expect(problemsOf(() => parseOptions([]))).toEqual([
      { option: '(options)', message: 'options.json must hold a JSON object' },
    ]);
  });

  it('warns about an option this version does not know, without refusing', () => {
    expect(parseOptions(validOptions({ old_option: 1 })).warnings).toEqual([
      'option old_option is not used by this version of the add-on; remove it',
    ]);
  });
});

describe("the service's environment", () => {
  it('drops inherited SPEC variables, their _FILE forms and the Supervisor token; keeps the rest', () => {
    const p = plan(validOptions());
    const env = childEnvironment(
      {
        PATH: '/usr/bin',
        NODE_ENV: 'production',
        SUPERVISOR_TOKEN: 'tok',
        HASSIO_TOKEN: 'tok',
        MQTT_PASSWORD_FILE: '/run/secrets/x',
        SWAG_CONTAINER: 'stale',
        STATE_DIR: '/elsewhere',
      },
      p,
    );
    expect(env).toEqual({ PATH: '/usr/bin', NODE_ENV: 'production', ...p.env });
  });

  it('prints the environment sorted with secrets masked', () => {
    const text = printableEnv({
      MQTT_PASSWORD: 'secret',
      JELLYFIN_API_KEY: 'k',
      MQTT_URL: 'mqtt://h:1',
      SLAVE_BANNER: '',
    });
    expect(text).toBe(
      [
        'JELLYFIN_API_KEY=********',
        'MQTT_PASSWORD=********',
        'MQTT_URL="mqtt://h:1"',
        'SLAVE_BANNER=""',
      ].join('\n'),
    );
    expect(text).not.toContain('secret');
  });
});

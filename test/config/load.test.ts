import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.js';
import { loadConfig, loadHealthSettings, redactedConfig, secretValues } from '../../src/config/load.js';

const minimal = {
  MASTER_CONFIG_DIR: '/srv/master/jellyfin',
  SLAVE_CONFIG_DIR: '/srv/slave/jellyfin',
  MASTER_URL: 'http://192.168.1.10:8096',
  SLAVE_URL: 'http://192.168.1.11:8096',
};

function problemsOf(fn: () => unknown): Array<{ variable: string; message: string }> {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('applies the SPEC defaults', () => {
    const c = loadConfig({ env: minimal });
    expect(c.mqtt.url).toBe('mqtt://localhost:1883');
    expect(c.topicRoot).toBe('jellyfin-failover/jellyfin');
    expect(c.discoveryPrefix).toBe('homeassistant');
    expect(c.sites.master.container).toBe('jellyfin');
    expect(c.sites.master.docker).toEqual({ kind: 'socket', path: '/var/run/docker.sock' });
    expect(c.sites.slave.ssh).toBeNull();
    expect(c.layout).toBe('auto');
    expect(c.sync).toEqual({ excludes: [], precopy: true, mode: 'auto', snapshotImage: null });
    expect(c.jellyfinApiKey).toBeNull();
    expect(c.stopTimeoutS).toBe(60);
    expect(c.startTimeoutS).toBe(300);
    expect(c.swag).toBeNull();
    expect(c.slaveBanner).toMatch(/standby/);
    expect(c.health).toEqual({ intervalS: 10, failures: 3 });
    expect(c.logLevel).toBe('info');
  });

  it('reports every problem at once, by variable name, with how to fix it', () => {
    const problems = problemsOf(() =>
      loadConfig({
        env: {
          MASTER_URL: 'not a url',
          SLAVE_CONFIG_DIR: 'relative/path',
          FAILOVER_ID: 'Jelly-Fin',
          MQTT_URL: 'http://broker',
          STOP_TIMEOUT_S: 'soon',
          SLAVE_SSH: 'just-a-host',
          SWAG_CONTAINER: 'swag',
          LOG_LEVEL: 'loud',
        },
      }),
    );
    const vars = problems.map((p) => p.variable).sort();
    expect(vars).toEqual(
      [
        'FAILOVER_ID',
        'LOG_LEVEL',
        'MASTER_CONFIG_DIR',
        'MASTER_URL',
        'MQTT_URL',
        'SLAVE_CONFIG_DIR',
        'SLAVE_SSH',
        'SLAVE_URL',
        'STOP_TIMEOUT_S',
        'SWAG_CHECK_URL',
        'SWAG_UPSTREAM_FILE',
      ].sort(),
    );
    for (const p of problems) expect(p.message.length).toBeGreaterThan(10);
    expect(problems.find((p) => p.variable === 'MASTER_URL')?.message).toMatch(/http\(s\) URL, e\.g\./);
    expect(problems.find((p) => p.variable === 'SLAVE_SSH')?.message).toMatch(/user@host/);
  });

  it('requires the SSH key and known_hosts when a site is remote', () => {
    const problems = problemsOf(() => loadConfig({ env: { ...minimal, SLAVE_SSH: 'root@192.168.1.11' } }));
    expect(problems.map((p) => p.variable).sort()).toEqual(['SSH_KEY_FILE', 'SSH_KNOWN_HOSTS_FILE']);
    expect(problems.find((p) => p.variable === 'SSH_KNOWN_HOSTS_FILE')?.message).toMatch(/ssh-keyscan/);
  });

  it('defaults a remote site to Docker over its SSH, and parses ports and IPv6', () => {
    const dir = '/etc';
    const c = loadConfig({
      env: {
        ...minimal,
        SLAVE_SSH: 'admin@[fd00::11]:2222',
        MASTER_DOCKER: 'tcp://127.0.0.1:2375',
        SSH_KEY_FILE: `${dir}/hostname`,
        SSH_KNOWN_HOSTS_FILE: `${dir}/hostname`,
      },
    });
    expect(c.sites.slave.ssh).toEqual({ user: 'admin', host: 'fd00::11', port: 2222 });
    expect(c.sites.slave.docker).toEqual({ kind: 'ssh' });
    expect(c.sites.master.docker).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 2375 });
  });

  it('reads secrets from NAME_FILE and refuses both forms at once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'jf-cfg-'));
    await writeFile(join(dir, 'pw'), 's3cret-value\n');
    const c = loadConfig({ env: { ...minimal, MQTT_PASSWORD_FILE: join(dir, 'pw') } });
    expect(c.mqtt.password).toBe('s3cret-value');
    expect(JSON.stringify(redactedConfig(c))).not.toContain('s3cret-value');

    const both = problemsOf(() =>
      loadConfig({ env: { ...minimal, MQTT_PASSWORD: 'x', MQTT_PASSWORD_FILE: join(dir, 'pw') } }),
    );
    expect(both[0]?.variable).toBe('MQTT_PASSWORD');
    const missing = problemsOf(() =>
      loadConfig({ env: { ...minimal, MQTT_PASSWORD_FILE: join(dir, 'nope') } }),
    );
    expect(missing[0]).toMatchObject({ variable: 'MQTT_PASSWORD_FILE' });
    expect(missing[0]?.message).toMatch(/ENOENT/);
  });

  it('reads .env, lets the environment win, and names unknown variables with a suggestion', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'jf-cfg-'));
    const envFile = join(dir, '.env');
    await writeFile(
      envFile,
      Object.entries({ ...minimal, FAILOVER_ID: 'fromfile' })
        .map(([k, v]) => `${k}=${v}`)
        .join('\n'),
    );
    expect(loadConfig({ env: {}, envFile }).failoverId).toBe('fromfile');
    // variables whose own name ends in _FILE are not mistaken for NAME_FILE secrets
    await writeFile(
      envFile,
      `${Object.entries(minimal)
        .map(([k, v]) => `${k}=${v}`)
        .join('\n')}\nSSH_KEY_FILE=/etc/hostname\n`,
    );
    expect(loadConfig({ env: {}, envFile }).ssh.keyFile).toBe('/etc/hostname');
    expect(loadConfig({ env: { FAILOVER_ID: 'fromenv' }, envFile }).failoverId).toBe('fromenv');

    await writeFile(
      envFile,
      `${Object.entries(minimal)
        .map(([k, v]) => `${k}=${v}`)
        .join('\n')}\nMASTER_CONFIGDIR=/x\n`,
    );
    const problems = problemsOf(() => loadConfig({ env: {}, envFile }));
    expect(problems).toHaveLength(1);
    expect(problems[0]?.variable).toBe('MASTER_CONFIGDIR');
    expect(problems[0]?.message).toMatch(/did you mean MASTER_CONFIG_DIR/);
  });

  it('refuses the same config dir for both sites on one host', () => {
    const problems = problemsOf(() =>
      loadConfig({ env: { ...minimal, SLAVE_CONFIG_DIR: minimal.MASTER_CONFIG_DIR } }),
    );
    expect(problems.map((p) => p.variable)).toEqual(['SLAVE_CONFIG_DIR']);
  });

  it('parses booleans, excludes and the swag settings', () => {
    const c = loadConfig({
      env: {
        ...minimal,
        SYNC_PRECOPY: 'false',
        SYNC_EXCLUDES: ' /metadata/ , *.nfo ,,',
        SWAG_CONTAINER: 'swag',
        SWAG_SITE: 'slave',
        SWAG_UPSTREAM_FILE: '/srv/swag/nginx/jf-upstream.conf',
        SWAG_CHECK_URL: 'https://jellyfin.example.com/',
        SLAVE_BANNER: '',
      },
    });
    expect(c.sync).toEqual({
      precopy: false,
      excludes: ['/metadata/', '*.nfo'],
      mode: 'auto',
      snapshotImage: null,
    });
    expect(c.swag).toEqual({
      container: 'swag',
      site: 'slave',
      upstreamFile: '/srv/swag/nginx/jf-upstream.conf',
      checkUrl: 'https://jellyfin.example.com',
    });
    expect(c.slaveBanner).toBe('');
  });

  it('takes SYNC_MODE, a Jellyfin API key (also as a _FILE secret, redacted), and a blank banner as none', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'jf-config-'));
    const keyFile = join(dir, 'api_key');
    await writeFile(keyFile, '0123456789abcdef0123456789ABCDEF\n');
    const c = loadConfig({
      env: { ...minimal, SYNC_MODE: 'online', JELLYFIN_API_KEY_FILE: keyFile, SLAVE_BANNER: '   ' },
    });
    expect(c.sync.mode).toBe('online');
    expect(c.jellyfinApiKey).toBe('0123456789abcdef0123456789ABCDEF');
    expect(c.slaveBanner).toBe('');
    expect(secretValues(c)).toContain('0123456789abcdef0123456789ABCDEF');
    expect(JSON.stringify(redactedConfig(c))).not.toContain('0123456789abcdef');
  });

  it('names SYNC_MODE and JELLYFIN_API_KEY when they are wrong, with what they must be', () => {
    const err = (() => {
      try {
        loadConfig({ env: { ...minimal, SYNC_MODE: 'fast', JELLYFIN_API_KEY: 'hunter2' } });
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error('expected a ConfigError');
    })();
    expect(err.problems.map((p) => p.variable).sort()).toEqual(['JELLYFIN_API_KEY', 'SYNC_MODE']);
    expect(err.message).toContain('SYNC_MODE must be one of auto, online, stopped');
    expect(err.message).toContain('JELLYFIN_API_KEY must be a Jellyfin API key: 32 hex digits');
    expect(err.message).not.toContain('hunter2');
  });

  it('health needs only STATE_DIR and HEALTH_INTERVAL_S, whatever else is missing', () => {
    expect(loadHealthSettings({ env: { STATE_DIR: '/data' } })).toEqual({ stateDir: '/data', intervalS: 10 });
    expect(() => loadHealthSettings({ env: { HEALTH_INTERVAL_S: 'often' } })).toThrow(
      /HEALTH_INTERVAL_S must be a number/,
    );
  });
});

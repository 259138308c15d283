/**
 * docker-compose.yml: read as YAML and checked for what the recommended topology needs (service on slave), then
 * validated by Docker Compose itself (`docker-compose config`, the Debian package docker-compose, installed here
 * when missing and running as root, as the integration bench installs its packages).
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { SPEC_SECRETS, specVariables } from './spec.js';

interface Service {
  image?: string;
  build?: unknown;
  restart?: string;
  user?: string;
  network_mode?: string;
  env_file?: string | string[];
  environment?: Record<string, string>;
  secrets?: string[];
  volumes?: string[];
  stop_grace_period?: string;
  healthcheck?: {
    test?: string[];
    interval?: string;
    timeout?: string;
    retries?: number;
    start_period?: string;
  };
}
interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
  secrets?: Record<string, { file?: string }>;
}

const compose = parse(readFileSync('docker-compose.yml', 'utf8')) as Compose;
const service = compose.services['jellyfin-failover'] as Service;
const packageVersion = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;

/** `a:b[:mode]` volume strings, with ${VAR:-default} taken at its default. */
function mounts(): Array<{ source: string; target: string; mode: string }> {
  return (service.volumes ?? []).map((v) => {
    const resolved = v.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1');
    const [source = '', target = '', mode = 'rw'] = resolved.split(':');
    return { source, target, mode };
  });
}

function seconds(duration: string): number {
  const m = /^(\d+)(s|m|h)$/.exec(duration);
  if (!m) throw new Error(`not a duration: ${duration}`);
  return Number(m[1]) * { s: 1, m: 60, h: 3600 }[m[2] as 's' | 'm' | 'h'];
}

describe('docker-compose.yml', () => {
  it('runs the service image, restarting, on the host network, with env from .env', () => {
    expect(Object.keys(compose.services)).toEqual(['jellyfin-failover']);
    expect(service.image).toBe(
      `\${JELLYFIN_FAILOVER_IMAGE:-ghcr.io/jellyfin-failover/jellyfin-failover:${packageVersion}}`,
    );
    expect(service.build).toBe('.');
    expect(service.restart).toBe('unless-stopped');
    // root (the image defaults to node): on slave it writes slave's config tree itself, and rsync keeps owners only
    // as root; it also drives the Docker socket. The comment above `user` says when PUID:PGID is enough instead.
    expect(service.user).toBe('0:0');
    const text = readFileSync('docker-compose.yml', 'utf8');
    expect(text).toMatch(/group_add/);
    expect(text).toMatch(/relayed through this host/);
    expect(service.network_mode).toBe('host');
    expect(service.env_file).toBe('.env');
  });

  it('mounts the Docker socket, a named state volume at /data, the config parent at the same path, the SSH files read-only', () => {
    const m = mounts();
    expect(m).toContainEqual({ source: '/var/run/docker.sock', target: '/var/run/docker.sock', mode: 'rw' });
    expect(m).toContainEqual({ source: 'state', target: '/data', mode: 'rw' });
    expect(compose.volumes).toHaveProperty('state');
    const samePath = m.filter((x) => x.source === x.target && x.source.startsWith('/mnt/'));
    expect(samePath).toHaveLength(1);
    const ssh = m.find((x) => x.target === '/config/ssh');
    expect(ssh).toEqual({ source: './ssh', target: '/config/ssh', mode: 'ro' });
    expect(service.environment?.STATE_DIR).toBe('/data');
    expect(service.environment?.SSH_KEY_FILE).toBe('/config/ssh/id_ed25519');
    expect(service.environment?.SSH_KNOWN_HOSTS_FILE).toBe('/config/ssh/known_hosts');
  });

  it('passes the secrets as files (NAME_FILE), never as values', () => {
    for (const secret of SPEC_SECRETS) {
      const name = secret.toLowerCase();
      expect(service.environment?.[`${secret}_FILE`]).toBe(`/run/secrets/${name}`);
      expect(service.environment).not.toHaveProperty(secret);
      expect(service.secrets).toContain(name);
      expect(compose.secrets?.[name]).toEqual({ file: `./secrets/${name}` });
    }
  });

  it('sets only SPEC variables (or their _FILE forms) in its environment', () => {
    const names = new Set(specVariables().map((v) => v.name));
    for (const key of Object.keys(service.environment ?? {})) {
      expect(names.has(key) || names.has(key.replace(/_FILE$/, '')), key).toBe(true);
    }
  });

  it('checks health with the CLI and lets an operation in flight finish on stop', () => {
    expect(service.healthcheck?.test).toEqual(['CMD', 'node', '/app/dist/main.js', 'health']);
    expect(seconds(service.healthcheck?.interval ?? '')).toBeGreaterThanOrEqual(10);
    expect(seconds(service.healthcheck?.start_period ?? '')).toBeGreaterThanOrEqual(30);
    const addon = parse(readFileSync('jellyfin-failover/config.yaml', 'utf8')) as { timeout: number };
    expect(seconds(service.stop_grace_period ?? '')).toBe(addon.timeout);
  });

  it('is valid for Docker Compose (docker-compose config)', { timeout: 300_000 }, async () => {
    const bin = await ensureDockerCompose();
    const dir = mkdtempSync(join(tmpdir(), 'jf-compose-'));
    try {
      copyFileSync('docker-compose.yml', join(dir, 'docker-compose.yml'));
      copyFileSync('.env.example', join(dir, '.env'));
      mkdirSync(join(dir, 'secrets'));
      mkdirSync(join(dir, 'ssh'));
      writeFileSync(join(dir, 'secrets/mqtt_password'), 'pw');
      writeFileSync(join(dir, 'secrets/jellyfin_api_key'), '');
      const r = await execa(bin, ['config'], {
        cwd: dir,
        reject: false,
        env: { APPDATA_DIR: '/mnt/disk1/appdata' },
      });
      expect(r.stderr).not.toMatch(/ERROR|Invalid|is not valid/i);
      expect(r.exitCode).toBe(0);
      const resolved = parse(r.stdout) as Compose;
      const s = resolved.services['jellyfin-failover'] as Service & { environment: Record<string, string> };
      // environment wins over env_file: the container gets /data, not .env.example's ./data
      expect(s.environment.STATE_DIR).toBe('/data');
      expect(s.environment.MQTT_PASSWORD_FILE).toBe('/run/secrets/mqtt_password');
      expect(s.environment.MASTER_URL).toBe('http://192.168.1.10:8096');
      expect(JSON.stringify(s.volumes)).toContain('/mnt/disk1/appdata');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** The docker-compose binary: on PATH, or installed from Debian when running as root. */
async function ensureDockerCompose(): Promise<string> {
  const found = await execa('sh', ['-c', 'command -v docker-compose'], { reject: false });
  if (found.exitCode === 0) return found.stdout.trim();
  if (process.getuid?.() !== 0) {
    throw new Error(
      'this test needs docker-compose (Debian package docker-compose): sudo apt-get install -y docker-compose, or run the tests as root',
    );
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () =>
    execa('apt-get', ['install', '-y', '--no-install-recommends', 'docker-compose'], { env, reject: false });
  if ((await install()).exitCode !== 0) {
    await execa('apt-get', ['update'], { env });
    await execa('apt-get', ['install', '-y', '--no-install-recommends', 'docker-compose'], { env });
  }
  return execFileSync('sh', ['-c', 'command -v docker-compose']).toString().trim();
}

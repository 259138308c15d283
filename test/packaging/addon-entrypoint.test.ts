/**
 * The add-on entrypoint as the Supervisor starts it: a real process, a real ssh-keygen, real files in a temporary
 * DATA_DIR. The Supervisor itself cannot run here (it needs Home Assistant OS or a supervised install, Docker and
 * its own network), so a small HTTP server on 127.0.0.1 stands in for its `GET /services/mqtt`, answering with the
 * shapes of supervisor/api/services.py (wrapped by api_process in supervisor/api/utils.py) and
 * supervisor/services/modules/mqtt.py.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MOSQUITTO_ANSWER, validOptions } from './addon-fixtures.js';

const ENTRYPOINT = 'src/addon/entrypoint.ts';
const TOKEN = 'test-supervisor-token';

interface SeenRequest {
  method: string;
  url: string;
  authorization: string | undefined;
}

/** The stand-in Supervisor: answers /services/mqtt with `answer` to the right token, 401 otherwise. */
class FakeSupervisor {
  readonly seen: SeenRequest[] = [];
  answer: { status: number; body: string } = { status: 200, body: JSON.stringify(MOSQUITTO_ANSWER) };
  private server: Server | null = null;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      this.seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        authorization: req.headers.authorization,
      });
      if (req.headers.authorization !== `Bearer ${TOKEN}`) {
        res.writeHead(401, { 'content-type': 'text/plain' }).end('401: Unauthorized');
        return;
      }
      if (req.method === 'GET' && req.url === '/services/mqtt') {
        res.writeHead(this.answer.status, { 'content-type': 'application/json' }).end(this.answer.body);
        return;
      }
      res
        .writeHead(404, { 'content-type': 'application/json' })
        .end('{"result":"error","message":"not found"}');
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }
}

let dir: string;
let supervisor: FakeSupervisor;

beforeAll(() => {
  try {
    execFileSync('ssh-keygen', ['-?'], { stdio: 'ignore' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error(
        'these tests need ssh-keygen (Debian package openssh-client): apt-get install openssh-client',
      );
    }
  }
});

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'jf-addon-'));
  supervisor = new FakeSupervisor();
  await supervisor.start();
});

afterEach(async () => {
  await supervisor.stop();
  await rm(dir, { recursive: true, force: true });
});

async function writeOptions(options: Record<string, unknown>): Promise<string> {
  const file = join(dir, 'options.json');
  await writeFile(file, JSON.stringify(options));
  return file;
}

function entrypoint(args: string[], env: Record<string, string> = {}): ResultPromise<{ reject: false }> {
  return execa('node', ['--import', 'tsx', ENTRYPOINT, ...args], {
    reject: false,
    env: {
      OPTIONS_FILE: join(dir, 'options.json'),
      DATA_DIR: join(dir, 'data'),
      SUPERVISOR_URL: supervisor.url,
      SUPERVISOR_TOKEN: TOKEN,
      ...env,
    },
  });
}

/** The `NAME=value` lines of --print-env. */
function printedEnv(stdout: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m?.[1] && m[2] !== undefined) env[m[1]] = m[2].startsWith('"') ? (JSON.parse(m[2]) as string) : m[2];
  }
  return env;
}

describe('add-on entrypoint', () => {
  it("takes the broker from the Supervisor's services API and generates the SSH key once, printing it each start", async () => {
    await writeOptions(validOptions());
    const first = await entrypoint(['--print-env']);
    expect(first.stderr).toBe('');
    expect(first.exitCode).toBe(0);
    expect(supervisor.seen).toEqual([
      { method: 'GET', url: '/services/mqtt', authorization: `Bearer ${TOKEN}` },
    ]);
    const env = printedEnv(first.stdout);
    expect(env).toMatchObject({
      MQTT_URL: 'mqtt://core-mosquitto:1883',
      MQTT_USERNAME: 'addons',
      MQTT_PASSWORD: '********',
      STATE_DIR: join(dir, 'data'),
      SSH_KEY_FILE: join(dir, 'data/ssh/id_ed25519'),
      SSH_KNOWN_HOSTS_FILE: join(dir, 'data/ssh/known_hosts'),
    });
    expect(first.stdout).not.toContain(MOSQUITTO_ANSWER.data.password);
    expect(first.stdout).toContain('MQTT broker from the Supervisor: mqtt://core-mosquitto:1883 as addons');

    const keyFile = join(dir, 'data/ssh/id_ed25519');
    const publicKey = (await readFile(`${keyFile}.pub`, 'utf8')).trim();
    expect(publicKey).toMatch(/^ssh-ed25519 \S+ jellyfin-failover@home-assistant$/);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(execFileSync('ssh-keygen', ['-l', '-f', keyFile]).toString()).toMatch(/\(ED25519\)/);
    expect(first.stdout).toContain('generated this add-on');
    expect(first.stdout).toContain(`restrict ${publicKey}`);
    const privateBefore = await readFile(keyFile, 'utf8');
    const inodeBefore = statSync(keyFile).ino;

    const second = await entrypoint(['--print-env']);
    expect(second.exitCode).toBe(0);
    expect(await readFile(keyFile, 'utf8')).toBe(privateBefore);
    expect(statSync(keyFile).ino).toBe(inodeBefore);
    expect(second.stdout).not.toContain('generated');
    expect(second.stdout).toContain(`restrict ${publicKey}`);
  });

  it('re-derives a lost public key from the private key instead of making a new pair', async () => {
    await writeOptions(validOptions());
    expect((await entrypoint(['--print-env'])).exitCode).toBe(0);
    const keyFile = join(dir, 'data/ssh/id_ed25519');
    const publicKey = (await readFile(`${keyFile}.pub`, 'utf8')).trim();
    const privateKey = await readFile(keyFile, 'utf8');
    await rm(`${keyFile}.pub`);
    const again = await entrypoint(['--print-env']);
    expect(again.exitCode).toBe(0);
    expect(await readFile(keyFile, 'utf8')).toBe(privateKey);
    expect((await readFile(`${keyFile}.pub`, 'utf8')).trim()).toBe(publicKey);
    expect(again.stdout).toContain(`restrict ${publicKey}`);
  });

  it("uses the user's broker without asking the Supervisor", async () => {
    await writeOptions(
      validOptions({ mqtt_url: 'mqtt://10.0.0.5:1883', mqtt_username: 'jf', mqtt_password: 'pw1' }),
    );
    const r = await entrypoint(['--print-env']);
    expect(r.exitCode).toBe(0);
    expect(supervisor.seen).toEqual([]);
    expect(printedEnv(r.stdout)).toMatchObject({
      MQTT_URL: 'mqtt://10.0.0.5:1883',
      MQTT_USERNAME: 'jf',
      MQTT_PASSWORD: '********',
    });
  });

  it('pins the host keys it is given, accepting real ssh-keygen keys of each type', async () => {
    const keys: Record<string, string> = {};
    for (const type of ['ed25519', 'ecdsa', 'rsa']) {
      execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-f', join(dir, `host_${type}`)]);
      keys[type] = (await readFile(join(dir, `host_${type}.pub`), 'utf8')).trim();
    }
    await writeOptions(
      validOptions({
        master_host_key: keys.ecdsa,
        slave_host_key: keys.rsa,
        slave_ssh: 'root@192.168.1.11:2222',
      }),
    );
    const r = await entrypoint(['--print-env']);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    const knownHosts = await readFile(join(dir, 'data/ssh/known_hosts'), 'utf8');
    const field = (line: string) => line.split(' ').slice(0, 2).join(' ');
    expect(knownHosts).toBe(
      `192.168.1.10 ${field(keys.ecdsa ?? '')}\n[192.168.1.11]:2222 ${field(keys.rsa ?? '')}\n`,
    );
    // OpenSSH itself reads the file: both hosts are found under the names it looks up.
    expect(
      execFileSync('ssh-keygen', ['-F', '192.168.1.10', '-f', join(dir, 'data/ssh/known_hosts')]).toString(),
    ).toContain('ecdsa-sha2-nistp256');
    expect(
      execFileSync('ssh-keygen', [
        '-F',
        '[192.168.1.11]:2222',
        '-f',
        join(dir, 'data/ssh/known_hosts'),
      ]).toString(),
    ).toContain('ssh-rsa');
  });

  it('refuses bad options naming each one, and starts nothing', async () => {
    const options = validOptions({ master_ssh: 'tower', slave_url: 'not a url' });
    delete options.master_config_dir;
    await writeOptions(options);
    const r = await entrypoint(['--print-env']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('the add-on configuration has problems; the service was not started:');
    expect(r.stderr).toMatch(/- master_ssh: must be user@host or user@host:port/);
    expect(r.stderr).toMatch(/- slave_url: must be an http\(s\) URL/);
    expect(r.stderr).toMatch(/- master_config_dir: is required/);
    expect(r.stdout).toBe('');
    expect(existsSync(join(dir, 'data'))).toBe(false);
  });

  it('refuses to start when mqtt_url is empty and the Supervisor has no MQTT service', async () => {
    supervisor.answer = { status: 400, body: '{"result":"error","message":"Service not enabled"}' };
    await writeOptions(validOptions());
    const r = await entrypoint(['--print-env']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/- mqtt_url: is empty and the Supervisor offers no MQTT broker/);
    expect(r.stderr).toContain('HTTP 400: Service not enabled');
    expect(existsSync(join(dir, 'data'))).toBe(false);
  });

  it('says so when the Supervisor cannot be reached or there is no token', async () => {
    await writeOptions(validOptions());
    const unreachable = await entrypoint(['--print-env'], { SUPERVISOR_URL: 'http://127.0.0.1:1' });
    expect(unreachable.exitCode).toBe(2);
    expect(unreachable.stderr).toContain('cannot reach the Supervisor at http://127.0.0.1:1/services/mqtt');
    const noToken = await entrypoint(['--print-env'], { SUPERVISOR_TOKEN: '' });
    expect(noToken.exitCode).toBe(2);
    expect(noToken.stderr).toContain('SUPERVISOR_TOKEN is not set');
  });

  it('names a missing options file', async () => {
    const r = await entrypoint(['--print-env']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(`cannot read the add-on options ${join(dir, 'options.json')} (ENOENT)`);
  });

  it('runs the service with the environment and forwards SIGTERM to it', async () => {
    await writeOptions(validOptions());
    // A stand-in for dist/main.js: records what it was started with, then stops on SIGTERM like the service.
    const fakeMain = join(dir, 'fake-main.mjs');
    const record = join(dir, 'started.json');
    await writeFile(
      fakeMain,
      `import { writeFileSync, appendFileSync } from 'node:fs';
process.on('SIGTERM', () => { appendFileSync(${JSON.stringify(`${record}.signal`)}, 'SIGTERM'); process.exit(7); });
writeFileSync(${JSON.stringify(record)}, JSON.stringify({ argv: process.argv.slice(2), env: process.env }));
setInterval(() => {}, 1000);
`,
    );
    const child = entrypoint([], { SERVICE_MAIN: fakeMain });
    const started = Date.now();
    while (!existsSync(record)) {
      if (Date.now() - started > 15_000) throw new Error('the service stand-in did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGTERM');
    const r = await child;
    expect(r.exitCode).toBe(7);
    expect(r.stdout).toContain(`starting the service: node ${fakeMain} run`);
    expect(await readFile(`${record}.signal`, 'utf8')).toBe('SIGTERM');
    const seen = JSON.parse(await readFile(record, 'utf8')) as {
      argv: string[];
      env: Record<string, string>;
    };
    expect(seen.argv).toEqual(['run']);
    expect(seen.env).toMatchObject({
      MQTT_URL: 'mqtt://core-mosquitto:1883',
      MQTT_PASSWORD: MOSQUITTO_ANSWER.data.password,
      MASTER_SSH: 'root@192.168.1.10',
      STATE_DIR: join(dir, 'data'),
    });
    expect(seen.env).not.toHaveProperty('SUPERVISOR_TOKEN');
  });

  it("gives a CLI command the add-on's environment, and the real service accepts it", async () => {
    // Everything on closed loopback ports: `status` probes them, finds nothing, and reports.
    await writeOptions(
      validOptions({
        master_ssh: 'root@127.0.0.1:1',
        slave_ssh: 'root@127.0.0.1:2',
        master_url: 'http://127.0.0.1:1',
        slave_url: 'http://127.0.0.1:2',
        mqtt_url: 'mqtt://127.0.0.1:1',
      }),
    );
    const r = await entrypoint(['status', '--json'], {
      SERVICE_MAIN: 'src/main.ts',
      NODE_OPTIONS: '--import tsx',
    });
    expect(r.stderr).not.toMatch(/is required|must be|is not a jellyfin-failover variable/);
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ primary: 'master' });
  });
});

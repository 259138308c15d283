import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig, secretValues } from '../../src/config/load.js';
import { createLogger } from '../../src/log.js';
import { freePort, waitForPort } from '../bench/mosquitto.js';
import { createTwoSites, type TwoSites } from '../bench/sites.js';
import {
  benchTopics,
  MqttProbe,
  type RunningService,
  serviceEnv,
  startService,
} from '../support/mqtt-probe.js';

/*
 * A real Mosquitto with TLS (certificate from a private CA, checked by the service) and password authentication:
 * the service connects with MQTT_CA_FILE / MQTT_USERNAME / MQTT_PASSWORD; with a wrong password it keeps
 * retrying and never writes the password to its log.
 */
const USER = 'failover';
const PASSWORD = 'pw-Xq7-secret-42';

describe('MQTT over TLS with credentials', () => {
  let dir: string;
  let port: number;
  let broker: ResultPromise;
  let sites: TwoSites;
  let running: RunningService | null = null;

  beforeAll(async () => {
    dir = join(inject('bench').workDir, `tls-${process.pid}-${Date.now()}`);
    await mkdir(dir, { recursive: true });
    const run = (cmd: string, args: string[]) => execa(cmd, args, { cwd: dir });
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=bench-ca',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
    ]);
    await run('openssl', [
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      '/CN=127.0.0.1',
      '-keyout',
      'server.key',
      '-out',
      'server.csr',
    ]);
    await writeFile(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
    await run('openssl', [
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      'san.ext',
      '-out',
      'server.crt',
    ]);
    await run('mosquitto_passwd', ['-b', '-c', 'passwd', USER, PASSWORD]);
    port = await freePort();
    await writeFile(
      join(dir, 'mosquitto.conf'),
      [
        'user root',
        `listener ${port} 127.0.0.1`,
        `cafile ${join(dir, 'ca.crt')}`,
        `certfile ${join(dir, 'server.crt')}`,
        `keyfile ${join(dir, 'server.key')}`,
        'allow_anonymous false',
        `password_file ${join(dir, 'passwd')}`,
        'persistence false',
        'log_dest stderr',
        'log_type error',
        '',
      ].join('\n'),
    );
    broker = execa('mosquitto', ['-c', join(dir, 'mosquitto.conf')], {
      reject: false,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    broker.catch(() => undefined);
    await waitForPort('127.0.0.1', port, 10_000);
    sites = await createTwoSites({ name: 'svc-tls', remote: 'none', extraEnv: serviceEnv('svc-tls') });
  });

  afterAll(async () => {
    await running?.stop();
    await sites?.cleanup();
    broker?.kill('SIGTERM');
    await broker;
  });

  function configWith(password: string) {
    return loadConfig({
      env: {
        ...sites.env,
        MQTT_URL: `mqtts://127.0.0.1:${port}`,
        MQTT_USERNAME: USER,
        MQTT_PASSWORD: password,
        MQTT_CA_FILE: join(dir, 'ca.crt'),
      },
    });
  }

  it('connects with the CA file and credentials and publishes as usual', async () => {
    const config = configWith(PASSWORD);
    running = await startService({ ...sites, config });
    const t = benchTopics(sites);
    const ha = await MqttProbe.connect(`mqtts://127.0.0.1:${port}`, [t.availability, t.discovery], {
      username: USER,
      password: PASSWORD,
      ca: join(dir, 'ca.crt'),
    });
    try {
      expect(await ha.waitFor('online', (m) => m.topic === t.availability, 15_000)).toMatchObject({
        text: 'online',
        retain: true,
      });
      const discovery = await ha.waitFor('discovery', (m) => m.topic === t.discovery, 15_000);
      expect(JSON.parse(discovery.text)).toHaveProperty('components.sync.command_topic', t.command('sync'));
    } finally {
      await ha.close();
      await running.stop();
      running = null;
    }
  });

  it('with a wrong password keeps retrying, publishes nothing and never logs the password', async () => {
    const wrong = 'wrong-Pw-9876-zz';
    const config = configWith(wrong);
    const lines: string[] = [];
    const logger = createLogger({
      level: 'debug',
      secrets: secretValues(config),
      destination: new Writable({
        write(chunk: Buffer, _enc, cb) {
          lines.push(chunk.toString());
          cb();
        },
      }),
    });
    running = await startService({ ...sites, config, logger });
    const t = benchTopics(sites);
    const ha = await MqttProbe.connect(`mqtts://127.0.0.1:${port}`, [t.state], {
      username: USER,
      password: PASSWORD,
      ca: join(dir, 'ca.crt'),
    });
    try {
      await new Promise((r) => setTimeout(r, 4_000));
      const log = lines.join('');
      expect(log).toContain('MQTT error');
      expect(log).toContain('retrying');
      // Backoff: 1 s, 2 s, ... between attempts.
      const retries = lines
        .filter((l) => l.includes('retrying'))
        .map((l) => JSON.parse(l).retryInMs as number);
      expect(retries.slice(0, 2)).toEqual([1_000, 2_000]);
      expect(log).not.toContain(wrong);
      // The broker refused it: the state from the first test is all there is (retained), nothing new.
      const fresh = ha.on(t.state).filter((m) => !m.retain);
      expect(fresh).toEqual([]);
    } finally {
      await ha.close();
    }
  });
});

/**
 * Test helpers for the service's MQTT side: a recording MQTT client that plays Home Assistant (subscribes,
 * presses buttons, sends the birth message), and starting the real service in-process on the bench.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import {
  type App,
  compose,
  composeService,
  defaultServiceOptions,
  type ServiceOptions,
} from '../../src/compose.js';
import type { FailoverEvent } from '../../src/domain/events.js';
import type { FailoverService } from '../../src/service/service.js';
import type { StateSnapshot } from '../../src/service/snapshot.js';
import type { TwoSites } from '../bench/sites.js';

export interface Received {
  topic: string;
  text: string;
  retain: boolean;
  at: number;
}

export class MqttProbe {
  readonly messages: Received[] = [];
  private waiters = new Set<() => void>();

  private constructor(readonly client: MqttClient) {
    client.on('message', (topic, payload, packet) => {
      this.messages.push({ topic, text: payload.toString('utf8'), retain: packet.retain, at: Date.now() });
      for (const w of this.waiters) w();
    });
  }

  static async connect(
    url: string,
    subscriptions: string[] = [],
    auth: { username?: string; password?: string; ca?: string } = {},
  ): Promise<MqttProbe> {
    const client = await mqtt.connectAsync(url, {
      reconnectPeriod: 500,
      connectTimeout: 5_000,
      ...(auth.username ? { username: auth.username, password: auth.password } : {}),
      ...(auth.ca ? { ca: readFileSync(auth.ca), rejectUnauthorized: true } : {}),
    });
    const probe = new MqttProbe(client);
    if (subscriptions.length) await client.subscribeAsync(subscriptions, { qos: 1 });
    return probe;
  }

  on(topic: string): Received[] {
    return this.messages.filter((m) => m.topic === topic);
  }

  /** Every FailoverEvent received on `topic`. */
  events(topic: string): FailoverEvent[] {
    return this.on(topic).map((m) => JSON.parse(m.text) as FailoverEvent);
  }

  states(topic: string): StateSnapshot[] {
    return this.on(topic).map((m) => JSON.parse(m.text) as StateSnapshot);
  }

  /** Resolves with the first received message (past or future) that matches; rejects after `timeoutMs`. */
  async waitFor(
    what: string,
    match: (m: Received) => boolean,
    timeoutMs = 30_000,
    since = 0,
  ): Promise<Received> {
    const find = () => this.messages.find((m) => m.at >= since && match(m));
    const found = find();
    if (found) return found;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const check = () => {
        const m = find();
        if (!m) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(m);
      };
      this.waiters.add(check);
    });
  }

  /** Resolves once `condition()` (checked now and after each message) is true; rejects after `timeoutMs`. */
  async waitUntil(what: string, condition: () => boolean, timeoutMs = 30_000): Promise<void> {
    if (condition()) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const check = () => {
        if (!condition()) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      this.waiters.add(check);
    });
  }

  async waitForEvent(topic: string, type: string, timeoutMs = 30_000, since = 0): Promise<FailoverEvent> {
    const m = await this.waitFor(
      `event ${type} on ${topic}`,
      (r) => r.topic === topic && (JSON.parse(r.text) as FailoverEvent).event_type === type,
      timeoutMs,
      since,
    );
    return JSON.parse(m.text) as FailoverEvent;
  }

  async waitForState(
    topic: string,
    what: string,
    match: (s: StateSnapshot) => boolean,
    timeoutMs = 30_000,
    since = 0,
  ): Promise<StateSnapshot> {
    const m = await this.waitFor(
      `state where ${what}`,
      (r) => r.topic === topic && match(JSON.parse(r.text) as StateSnapshot),
      timeoutMs,
      since,
    );
    return JSON.parse(m.text) as StateSnapshot;
  }

  async publish(topic: string, payload: string | Buffer, retain = false): Promise<void> {
    await this.client.publishAsync(topic, payload, { qos: 1, retain });
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}

/** The topics of a bench service, from its env. */
export function benchTopics(sites: TwoSites) {
  const base = `${sites.env.MQTT_BASE_TOPIC ?? 'jellyfin-failover'}/${sites.config.failoverId}`;
  const prefix = sites.env.HA_DISCOVERY_PREFIX ?? 'homeassistant';
  return {
    base,
    availability: `${base}/availability`,
    state: `${base}/state`,
    event: `${base}/event`,
    command: (name: string) => `${base}/command/${name}`,
    discovery: `${prefix}/device/${sites.config.failoverId}/config`,
    haStatus: `${prefix}/status`,
  };
}

/** Env for a service test: its own topics on the shared broker, fast health polling, short stop grace. */
export function serviceEnv(id: string): Record<string, string> {
  return {
    MQTT_BASE_TOPIC: `jft-${id}`,
    HA_DISCOVERY_PREFIX: `ha-${id}`,
    HEALTH_INTERVAL_S: '1',
    HEALTH_FAILURES: '2',
    STOP_TIMEOUT_S: '2',
  };
}

export interface RunningService {
  rt: App;
  service: FailoverService;
  stop(): Promise<void>;
}

/** The real service, in this process, on the bench sites. */
export async function startService(
  sites: TwoSites,
  options: Partial<ServiceOptions> = {},
): Promise<RunningService> {
  const rt = compose(sites.config, sites.logger, { healthPollMs: 200 });
  const service = composeService(rt, { ...defaultServiceOptions(), probeTimeoutMs: 5_000, ...options });
  await service.start();
  return {
    rt,
    service,
    async stop() {
      await service.stop();
      await rt.close();
    },
  };
}

export { writeEnvFile } from '../bench/sites.js';

export interface ServiceProcess {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): string;
}

/** `jellyfin-failover run` as a real process (through tsx), as Docker or systemd would run it. */
export function spawnServiceProcess(envFile: string): ServiceProcess {
  const root = join(import.meta.dirname, '..', '..');
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'run', '--env-file', envFile], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const collect = (d: Buffer) => {
    out += d.toString();
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, exited, output: () => out };
}

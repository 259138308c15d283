/**
 * Events of operations run from the CLI, published on `B/event` like the service's own, so a phone hears of a
 * sync started in a terminal. Best effort: the CLI works the same without a broker (the service still shows the
 * result in `B/state`); nothing is retained and no last will is set, the service owns availability.
 */
import { readFile } from 'node:fs/promises';
import mqtt, { type MqttClient } from 'mqtt';
import type { Config } from '../../config/load.js';
import type { FailoverEvent } from '../../domain/events.js';
import type { Logger } from '../../log.js';
import { serviceTopics } from './discovery.js';

const CONNECT_TIMEOUT_MS = 5_000;
const FLUSH_TIMEOUT_MS = 5_000;

export class CliEventPublisher {
  private client: MqttClient | null = null;
  private readonly sent: Array<Promise<unknown>> = [];

  constructor(
    private readonly config: Config,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    const { mqtt: settings, failoverId } = this.config;
    try {
      this.client = await mqtt.connectAsync(settings.url, {
        clientId: `jellyfin-failover_${failoverId}_cli_${process.pid}`,
        ...(settings.username !== undefined ? { username: settings.username } : {}),
        ...(settings.password !== undefined ? { password: settings.password } : {}),
        ...(settings.caFile !== undefined ? { ca: await readFile(settings.caFile) } : {}),
        connectTimeout: CONNECT_TIMEOUT_MS,
        reconnectPeriod: 0,
        writeCache: false,
      });
    } catch (err) {
      this.log.debug({ err }, 'no MQTT broker: events of this command are not published');
      this.client = null;
    }
  }

  publish(event: FailoverEvent): void {
    const client = this.client;
    if (!client?.connected) return;
    const topic = serviceTopics(this.config.topicRoot).event;
    this.sent.push(
      client
        .publishAsync(topic, JSON.stringify(event), { qos: 1, retain: false })
        .catch((err: unknown) => this.log.debug({ err }, 'could not publish event')),
    );
  }

  /** Waits (briefly) for what was published, then disconnects. */
  async stop(): Promise<void> {
    const client = this.client;
    this.client = null;
    if (!client) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(this.sent),
      new Promise((resolve) => {
        timer = setTimeout(resolve, FLUSH_TIMEOUT_MS);
      }),
    ]);
    clearTimeout(timer);
    await client.endAsync().catch(() => undefined);
  }
}

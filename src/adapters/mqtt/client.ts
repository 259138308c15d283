/**
 * The service's one MQTT connection (mqtt.js 5): TLS with an optional CA, credentials, a retained last will,
 * and reconnects with exponential backoff. The bridge (src/service/bridge.ts) decides what to publish; this
 * class only carries it, and tells the bridge each time a connection is (re-)established.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from '../../log.js';

export interface MqttSettings {
  url: string;
  username?: string;
  password?: string;
  /** PEM CA bundle for `mqtts://` brokers with a private CA. */
  caFile?: string;
  /** Readable prefix of the client id; a random suffix keeps two instances from kicking each other off. */
  clientIdPrefix: string;
  /** Published by the broker when the connection is lost without a clean disconnect. */
  will: { topic: string; payload: string };
}

export interface PublishOptions {
  retain: boolean;
  qos: 0 | 1;
}

export interface IncomingMessage {
  topic: string;
  payload: Buffer;
  retain: boolean;
}

/** First reconnect delay; doubled after each failed attempt up to MAX_RECONNECT_MS, reset once connected. */
export const MIN_RECONNECT_MS = 1_000;
export const MAX_RECONNECT_MS = 30_000;

export class MqttConnection {
  private client: MqttClient | null = null;
  private connectHandlers: Array<(sessionPresent: boolean) => void> = [];
  private messageHandlers: Array<(message: IncomingMessage) => void> = [];
  private everConnected = false;
  private reconnectMs = MIN_RECONNECT_MS;
  private reconnectTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly settings: MqttSettings,
    private readonly log: Logger,
  ) {}

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  /** Called on every successful connect, the first one and each reconnect. */
  onConnect(handler: (sessionPresent: boolean) => void): void {
    this.connectHandlers.push(handler);
  }

  onMessage(handler: (message: IncomingMessage) => void): void {
    this.messageHandlers.push(handler);
  }

  /**
   * Starts connecting and returns; a broker that is down is retried in the background. Rejects only for a
   * setting that can never work (an unreadable CA file).
   */
  async start(): Promise<void> {
    const s = this.settings;
    const options: IClientOptions = {
      clientId: `${s.clientIdPrefix}_${randomBytes(4).toString('hex')}`,
      // MQTT 5 for "retain as published": a retained command published while the service is subscribed
      // still arrives marked retained, so it can be ignored (MQTT 3.1.1 brokers clear the flag then).
      protocolVersion: 5,
      clean: true,
      keepalive: 30,
      connectTimeout: 10_000,
      // Reconnects are scheduled here (see 'close'): mqtt.js's own timer has a fixed period, no backoff.
      reconnectPeriod: 0,
      // Subscriptions are made again in the connect handler whenever the broker kept no session.
      resubscribe: false,
      // No table of 65,536 pre-built number buffers (~7 MB resident): the service sends a few messages a minute.
      writeCache: false,
      will: { topic: s.will.topic, payload: Buffer.from(s.will.payload), qos: 1, retain: true },
      ...(s.username !== undefined ? { username: s.username } : {}),
      ...(s.password !== undefined ? { password: s.password } : {}),
    };
    if (s.caFile) {
      try {
        options.ca = await readFile(s.caFile);
      } catch (err) {
        throw new Error(
          `MQTT_CA_FILE ${s.caFile} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
          { cause: err },
        );
      }
      options.rejectUnauthorized = true;
    }
    const client = mqtt.connect(s.url, options);
    this.client = client;
    client.on('connect', (connack) => {
      this.log.info({ url: s.url, reconnect: this.everConnected }, 'connected to the MQTT broker');
      this.everConnected = true;
      this.reconnectMs = MIN_RECONNECT_MS;
      for (const h of this.connectHandlers) h(connack.sessionPresent);
    });
    client.on('close', () => {
      if (this.client !== client || this.reconnectTimer) return;
      const delay = this.reconnectMs;
      this.reconnectMs = Math.min(this.reconnectMs * 2, MAX_RECONNECT_MS);
      this.log.warn({ url: s.url, retryInMs: delay }, 'MQTT connection lost or refused; retrying');
      this.reconnectTimer = setTimeout(() => {
        this.reconnectTimer = null;
        if (this.client === client) client.reconnect();
      }, delay);
    });
    client.on('error', (err) => {
      // Refused credentials, TLS failures, ... The message never holds the password.
      this.log.error(
        { url: s.url, err: { message: err.message, code: (err as { code?: unknown }).code } },
        'MQTT error',
      );
    });
    client.on('message', (topic, payload, packet) => {
      const message: IncomingMessage = { topic, payload, retain: packet.retain };
      for (const h of this.messageHandlers) {
        try {
          h(message);
        } catch (err) {
          this.log.error({ err, topic }, 'handling an MQTT message failed');
        }
      }
    });
  }

  async subscribe(topics: string[]): Promise<void> {
    const client = this.client;
    if (!client?.connected) return;
    await client.subscribeAsync(topics, { qos: 1, rap: true });
  }

  /**
   * Publishes now. While disconnected, retained messages are dropped (the connect handler publishes the
   * current ones again, and a stale copy must not arrive after a fresh one); others wait in mqtt.js's queue.
   */
  async publish(topic: string, payload: string, options: PublishOptions): Promise<void> {
    const client = this.client;
    if (!client) return;
    if (!client.connected && options.retain) return;
    await client.publishAsync(topic, payload, { qos: options.qos, retain: options.retain });
  }

  /** Publishes the `final` messages (e.g. availability offline), then disconnects cleanly. */
  async stop(final: Array<{ topic: string; payload: string; options: PublishOptions }> = []): Promise<void> {
    const client = this.client;
    if (!client) return;
    this.client = null;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    if (client.connected) {
      for (const m of final) {
        try {
          await withDeadline(client.publishAsync(m.topic, m.payload, m.options), 5_000);
        } catch (err) {
          this.log.warn({ err, topic: m.topic }, 'could not publish before disconnecting');
        }
      }
    }
    await withDeadline(client.endAsync(false), 5_000).catch(() => client.end(true));
  }
}

async function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer from the MQTT broker within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

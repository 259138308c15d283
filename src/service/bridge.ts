/**
 * The Home Assistant side of MQTT (SPEC section 3): availability (retained, with the last will), the device
 * discovery payload (again whenever HA announces itself on `<prefix>/status`), `B/state` and `B/event`, and the
 * command subscription. It carries what the service gives it; what a command means is the service's business.
 */
import type { MqttConnection, PublishOptions } from '../adapters/mqtt/client.js';
import {
  AVAILABILITY_OFFLINE,
  AVAILABILITY_ONLINE,
  type DiscoveryMessage,
  serviceTopics,
} from '../adapters/mqtt/discovery.js';
import type { FailoverEvent } from '../domain/events.js';
import type { Log } from '../domain/log.js';

const RETAINED: PublishOptions = { retain: true, qos: 1 };
const NOT_RETAINED: PublishOptions = { retain: false, qos: 1 };

export interface BridgeHandlers {
  /** A message on `B/command/<name>` (retained or not: parsing decides). */
  command(topic: string, payload: Buffer, retained: boolean): void;
  /** Connected (or HA restarted): the current state should be published now. */
  announce(): Promise<void>;
}

export class MqttBridge {
  private readonly topics: ReturnType<typeof serviceTopics>;
  private readonly commandPrefix: string;
  private readonly haStatusTopic: string;
  private handlers: BridgeHandlers | null = null;

  constructor(
    private readonly mqtt: MqttConnection,
    private readonly discovery: DiscoveryMessage,
    topicRoot: string,
    discoveryPrefix: string,
    private readonly log: Log,
  ) {
    this.topics = serviceTopics(topicRoot);
    this.commandPrefix = `${topicRoot}/command`;
    this.haStatusTopic = `${discoveryPrefix}/status`;
  }

  /** `B/command`, the prefix commands are parsed against. */
  get commands(): string {
    return this.commandPrefix;
  }

  get connected(): boolean {
    return this.mqtt.connected;
  }

  /** Starts connecting (a broker that is down is retried in the background). */
  async start(handlers: BridgeHandlers): Promise<void> {
    this.handlers = handlers;
    this.mqtt.onConnect((sessionPresent) => {
      this.onConnect(sessionPresent).catch((err: unknown) =>
        this.log.error({ err }, 'publishing after connect failed'),
      );
    });
    this.mqtt.onMessage((m) => this.onMessage(m.topic, m.payload, m.retain));
    await this.mqtt.start();
  }

  /** Publishes `offline` and disconnects cleanly. */
  async stop(): Promise<void> {
    await this.mqtt.stop([
      { topic: this.topics.availability, payload: AVAILABILITY_OFFLINE, options: RETAINED },
    ]);
  }

  publishEvent(event: FailoverEvent): void {
    this.mqtt
      .publish(this.topics.event, JSON.stringify(event), NOT_RETAINED)
      .catch((err: unknown) => this.log.warn({ err, event: event.event_type }, 'could not publish event'));
  }

  /** The retained `B/state` snapshot; dropped while disconnected (the next connect publishes the current one). */
  async publishState(text: string): Promise<void> {
    if (!this.mqtt.connected) return;
    await this.mqtt.publish(this.topics.state, text, RETAINED);
  }

  private async onConnect(sessionPresent: boolean): Promise<void> {
    if (!sessionPresent) await this.mqtt.subscribe([`${this.commandPrefix}/+`, this.haStatusTopic]);
    await this.announce();
  }

  private async announce(): Promise<void> {
    await this.mqtt.publish(this.topics.availability, AVAILABILITY_ONLINE, RETAINED);
    await this.mqtt.publish(this.discovery.topic, JSON.stringify(this.discovery.payload), RETAINED);
    await this.handlers?.announce();
  }

  private onMessage(topic: string, payload: Buffer, retained: boolean): void {
    if (topic === this.haStatusTopic) {
      if (payload.toString('utf8').trim() === AVAILABILITY_ONLINE) {
        this.log.info({}, 'Home Assistant came online; publishing discovery again');
        this.announce().catch((err: unknown) => this.log.error({ err }, 'republishing discovery failed'));
      }
      return;
    }
    this.handlers?.command(topic, payload, retained);
  }
}

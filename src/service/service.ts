/**
 * The long-running service (`jellyfin-failover run`, SPEC section 3): the Home Assistant bridge on top of the
 * engine. It publishes availability, discovery, the `B/state` snapshot and `B/event`; runs operations pressed on
 * `B/command/<name>`, one at a time; and watches both sites through the health monitor.
 */

import { type FSWatcher, watch } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createDocker } from '../adapters/docker/container.js';
import { pidAlive } from '../adapters/files/state-store.js';
import { MqttConnection, type PublishOptions } from '../adapters/mqtt/client.js';
import {
  AVAILABILITY_OFFLINE,
  AVAILABILITY_ONLINE,
  buildDiscovery,
  type DiscoveryMessage,
  serviceTopics,
} from '../adapters/mqtt/discovery.js';
import { packageVersion } from '../cli/cli.js';
import type { SiteName } from '../config/schema.js';
import { type FailoverEvent, IDLE, makeEvent, type OperationStatus } from '../domain/events.js';
import type { Journal } from '../domain/journal.js';
import { applyPendingFence, runOperation } from '../domain/operations/index.js';
import { type OperationKind, type PersistentState, standbyOf } from '../domain/state.js';
import { EXIT, type ExitCode, OperationError, RefusedError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Runtime } from '../runtime.js';
import { describeUntrusted, parseCommand } from './commands.js';
import { HealthMonitor } from './monitor.js';
import type { SiteTransition } from './site-status.js';
import { buildSnapshot, type SiteView, type StateSnapshot } from './snapshot.js';

export interface ServiceOptions {
  swVersion: string;
  supportUrl: string;
  /** Below this, the standby's free space is listed as a problem. */
  lowSpaceBytes: number;
  /** While an operation runs, `B/state` is republished this often (SPEC: step and percent every <= 2 s). */
  progressEveryMs: number;
  /** Coalesces bursts of changes (rsync progress) into one state publish. */
  stateThrottleMs: number;
  /** Per-probe timeout of the health monitor. */
  probeTimeoutMs: number;
}

export const SUPPORT_URL = 'https://github.com/jellyfin-failover/jellyfin-failover#readme';

export function defaultServiceOptions(): ServiceOptions {
  return {
    swVersion: packageVersion(),
    supportUrl: SUPPORT_URL,
    lowSpaceBytes: 1024 ** 3,
    progressEveryMs: 1_000,
    stateThrottleMs: 250,
    probeTimeoutMs: 10_000,
  };
}

const RETAINED: PublishOptions = { retain: true, qos: 1 };
const NOT_RETAINED: PublishOptions = { retain: false, qos: 1 };

type Busy = OperationKind | 'recovery';

export class FailoverService {
  private readonly log: Logger;
  private readonly topics: ReturnType<typeof serviceTopics>;
  private readonly commandPrefix: string;
  private readonly haStatusTopic: string;
  private discovery: DiscoveryMessage | null = null;
  private mqtt: MqttConnection | null = null;
  private monitor: HealthMonitor | null = null;
  private detachObserver: (() => void) | null = null;
  private watcher: FSWatcher | null = null;
  private ticker: NodeJS.Timeout | null = null;
  private throttle: NodeJS.Timeout | null = null;

  /** Set synchronously when a press is accepted, so that a burst of presses runs exactly one operation. */
  private busy: Busy | null = null;
  private current: Promise<void> | null = null;
  private stopping = false;

  private persistent: PersistentState | null = null;
  /** Operation of another process (the CLI), from its journal. */
  private external: OperationStatus | null = null;
  private interrupted: { kind: OperationKind; step: string } | null = null;
  private serviceProblems: string[] = [];
  private snapshot: StateSnapshot | null = null;
  private published: string | null = null;
  private fencer: NodeJS.Timeout | null = null;
  private refreshing: Promise<void> | null = null;
  private refreshAgain = false;
  private forceNext = false;
  /** Sites an operation took down: their coming back (until the deadline) is not announced. */
  private readonly quiet = new Map<SiteName, number>();

  constructor(
    private readonly rt: Runtime,
    private readonly options: ServiceOptions,
  ) {
    this.log = rt.logger.child({ module: 'service' });
    this.topics = serviceTopics(rt.config.topicRoot);
    this.commandPrefix = `${rt.config.topicRoot}/command`;
    this.haStatusTopic = `${rt.config.discoveryPrefix}/status`;
  }

  /** The last snapshot built (what `B/state` holds once connected). */
  get state(): StateSnapshot | null {
    return this.snapshot;
  }

  async start(): Promise<void> {
    const { config, logger } = this.rt;
    this.discovery = buildDiscovery({
      failoverId: config.failoverId,
      baseTopic: config.topicRoot,
      discoveryPrefix: config.discoveryPrefix,
      swVersion: this.options.swVersion,
      supportUrl: this.options.supportUrl,
    });
    this.detachObserver = this.rt.observers.add({
      event: (event) => this.onEngineEvent(event),
      operation: (status) => this.onOperationStatus(status),
    });
    const mqtt = new MqttConnection(
      {
        url: config.mqtt.url,
        ...(config.mqtt.username !== undefined ? { username: config.mqtt.username } : {}),
        ...(config.mqtt.password !== undefined ? { password: config.mqtt.password } : {}),
        ...(config.mqtt.caFile !== undefined ? { caFile: config.mqtt.caFile } : {}),
        clientIdPrefix: `jellyfin-failover_${config.failoverId}`,
        will: { topic: this.topics.availability, payload: AVAILABILITY_OFFLINE },
      },
      logger.child({ module: 'mqtt' }),
    );
    this.mqtt = mqtt;
    mqtt.onConnect((sessionPresent) => {
      this.onConnect(sessionPresent).catch((err: unknown) =>
        this.log.error({ err }, 'publishing after connect failed'),
      );
    });
    mqtt.onMessage((m) => this.onMessage(m.topic, m.payload, m.retain));
    await mqtt.start();

    // An operation a crash interrupted is put right before anything else runs (SPEC 4 rule 7).
    this.busy = 'recovery';
    try {
      const outcome = await this.rt.engine.recover();
      this.log.info({ outcome }, 'recovery check done');
    } catch (err) {
      this.log.error({ err }, 'recovery at start failed');
      this.serviceProblems.push(`recovery at start failed: ${(err as Error).message}`);
    } finally {
      this.busy = null;
    }
    await this.writeFirstSwagInclude();

    this.monitor = new HealthMonitor(
      {
        sites: this.rt.sites,
        dockers: {
          master: createDocker(config.sites.master, config.ssh),
          slave: createDocker(config.sites.slave, config.ssh),
        },
        store: this.rt.store,
        logger: logger.child({ module: 'monitor' }),
        settings: {
          intervalMs: config.health.intervalS * 1000,
          failures: config.health.failures,
          probeTimeoutMs: this.options.probeTimeoutMs,
          layout: config.layout,
        },
        operationRunning: () => this.operationRunning(),
      },
      {
        changed: () => this.scheduleState(),
        transition: (site, t, view) => this.onSiteTransition(site, t, view),
        diverged: (site, message) => {
          if (!this.operationRunning()) this.publishEvent(makeEvent('standby_diverged', message, { site }));
        },
      },
    );
    await this.monitor.start();

    // The CLI changes state.json and the journal from another process: watch the directory, poll as a fallback.
    await mkdir(config.stateDir, { recursive: true });
    try {
      this.watcher = watch(config.stateDir, () => this.scheduleState());
      this.watcher.on('error', (err) => this.log.warn({ err }, 'cannot watch STATE_DIR; polling only'));
    } catch (err) {
      this.log.warn({ err }, 'cannot watch STATE_DIR; polling only');
    }
    this.ticker = setInterval(() => {
      if (this.operationRunning()) this.refreshState(true).catch(() => undefined);
    }, this.options.progressEveryMs);
    // A master demoted while unreachable is fenced as soon as it answers again (SPEC 4: promote, rule 8).
    this.fencer = setInterval(() => {
      this.fencePendingSite().catch((err: unknown) =>
        this.log.warn({ err }, 'fencing the demoted site failed'),
      );
    }, config.health.intervalS * 1000);
    await this.refreshState(true);
    this.log.info({ topicRoot: config.topicRoot }, 'service started');
  }

  /**
   * Stops taking commands, waits for the operation in flight (unless `abandon` resolves first: the journal on
   * disk then holds it, and the next start recovers it), publishes `offline` and disconnects.
   */
  async stop(abandon?: Promise<void>): Promise<'clean' | 'abandoned'> {
    this.stopping = true;
    let outcome: 'clean' | 'abandoned' = 'clean';
    const running = this.current;
    if (running !== null) {
      this.log.warn({ operation: this.busy }, 'stopping: waiting for the running operation to finish');
      const abandoned = await Promise.race([
        running.then(() => false),
        (abandon ?? new Promise<never>(() => undefined)).then(() => true),
      ]);
      if (abandoned) {
        outcome = 'abandoned';
        const journal = await this.rt.store.readJournal().catch(() => null);
        this.log.warn(
          { operation: journal?.kind, step: journal?.step },
          'stopping with an operation in flight: its journal is on disk and the next start recovers it',
        );
      }
    }
    if (this.fencer) clearInterval(this.fencer);
    this.fencer = null;
    if (this.ticker) clearInterval(this.ticker);
    if (this.throttle) clearTimeout(this.throttle);
    this.ticker = null;
    this.throttle = null;
    this.watcher?.close();
    this.watcher = null;
    await this.monitor?.stop();
    this.detachObserver?.();
    this.detachObserver = null;
    await this.mqtt?.stop([
      { topic: this.topics.availability, payload: AVAILABILITY_OFFLINE, options: RETAINED },
    ]);
    this.mqtt = null;
    this.log.info({ outcome }, 'service stopped');
    return outcome;
  }

  /**
   * SWAG's proxy conf needs the include to exist before nginx accepts it: write it once for the current roles
   * (tested and reloaded like any switch). A failure is a problem in `B/state`, not a reason to stop.
   */
  private async writeFirstSwagInclude(): Promise<void> {
    const swag = this.rt.config.swag;
    if (!swag) return;
    try {
      if (await this.rt.sites[swag.site].files.exists(swag.upstreamFile)) return;
      const state = await this.rt.store.load();
      await this.rt.engine.deps.traffic.switchTo(
        state.primary,
        state.primary === 'master' ? 'slave' : 'master',
      );
      this.log.info(
        { file: swag.upstreamFile, primary: state.primary },
        'wrote the first SWAG upstream include',
      );
    } catch (err) {
      this.log.warn({ err, file: swag.upstreamFile }, 'could not write the first SWAG upstream include');
      this.serviceProblems.push(
        `SWAG include ${swag.upstreamFile} is missing and could not be written: ${(err as Error).message}`,
      );
    }
  }

  private fencing = false;

  private async fencePendingSite(): Promise<void> {
    if (this.fencing || this.stopping || this.operationRunning() || !this.persistent?.fence?.pending) return;
    this.fencing = true;
    try {
      if (await applyPendingFence(this.rt.engine, this.rt.sites)) await this.refreshState(true);
    } finally {
      this.fencing = false;
    }
  }

  /** Resolves when the operation the service is running (if any) has finished. */
  async settled(): Promise<void> {
    await this.current;
  }

  // ------------------------------------------------------------------------------------------------ MQTT

  private async onConnect(sessionPresent: boolean): Promise<void> {
    const mqtt = this.mqtt;
    if (!mqtt) return;
    if (!sessionPresent) await mqtt.subscribe([`${this.commandPrefix}/+`, this.haStatusTopic]);
    await mqtt.publish(this.topics.availability, AVAILABILITY_ONLINE, RETAINED);
    await this.publishDiscovery();
    await this.publishState(true);
  }

  private async publishDiscovery(): Promise<void> {
    if (!this.discovery || !this.mqtt) return;
    await this.mqtt.publish(this.discovery.topic, JSON.stringify(this.discovery.payload), RETAINED);
  }

  private onMessage(topic: string, payload: Buffer, retained: boolean): void {
    if (topic === this.haStatusTopic) {
      if (payload.toString('utf8').trim() === AVAILABILITY_ONLINE) {
        this.log.info('Home Assistant came online; publishing discovery again');
        const republish = async () => {
          await this.mqtt?.publish(this.topics.availability, AVAILABILITY_ONLINE, RETAINED);
          await this.publishDiscovery();
          await this.publishState(true);
        };
        republish().catch((err: unknown) => this.log.error({ err }, 'republishing discovery failed'));
      }
      return;
    }
    this.onCommand(topic, payload, retained);
  }

  private onCommand(topic: string, payload: Buffer, retained: boolean): void {
    const parsed = parseCommand(this.commandPrefix, topic, payload, retained);
    switch (parsed.kind) {
      case 'ignored':
        this.log.warn({ topic: describeUntrusted(topic) }, parsed.reason);
        return;
      case 'rejected':
        this.reject(parsed.command, 'bad_command', parsed.reason);
        return;
      case 'check':
        this.log.info('check requested');
        this.monitor
          ?.pollNow()
          .then(() => this.refreshState(true))
          .catch((err: unknown) => this.log.error({ err }, 'check failed'));
        return;
      case 'operation':
        this.startOperation(parsed.operation, parsed.force);
        return;
    }
  }

  private reject(command: string, reason: string, message: string): void {
    this.log.warn({ command, reason }, `command rejected: ${message}`);
    this.publishEvent(
      makeEvent('command_rejected', `${command} was not run: ${message}`, {
        command,
        reason,
        error: message,
      }),
    );
  }

  // ------------------------------------------------------------------------------------------ operations

  private startOperation(kind: OperationKind, force: boolean): void {
    if (this.stopping) {
      this.reject(kind, 'shutting_down', 'the service is shutting down');
      return;
    }
    if (this.busy !== null) {
      const what =
        this.busy === 'recovery'
          ? 'recovery of an interrupted operation is running'
          : `${this.busy} is running${this.rt.engine.busy ? ` (step ${this.rt.engine.status().step})` : ''}`;
      this.reject(kind, 'busy', `${what}; nothing was queued, press again when it has finished`);
      return;
    }
    if (this.external) {
      this.reject(
        kind,
        'busy',
        `${this.external.kind} started from the command line is running (step ${this.external.step}); nothing was queued`,
      );
      return;
    }
    this.busy = kind;
    this.log.info({ operation: kind, force }, 'operation pressed');
    this.current = this.runPressed(kind, force).finally(() => {
      this.busy = null;
      this.current = null;
      this.refreshState(true).catch(() => undefined);
      this.monitor?.pollNow().catch(() => undefined);
    });
  }

  private async runPressed(kind: OperationKind, force: boolean): Promise<void> {
    try {
      const result = await runOperation(this.rt.engine, this.rt.sites, kind, force);
      this.log.info({ operation: kind, durationS: result.durationS }, 'operation succeeded');
    } catch (err) {
      if (err instanceof RefusedError) {
        this.reject(kind, err.reason, err.message);
      } else if (err instanceof OperationError) {
        // The engine already published sync_failed / rolled_back (or rollback_failed).
        this.log.error({ operation: kind, step: err.step, err: err.message }, 'operation failed');
      } else {
        const message = err instanceof Error ? err.message : String(err);
        this.log.error({ operation: kind, err }, 'operation could not run');
        this.reject(kind, 'error', message);
      }
    }
  }

  private operationRunning(): boolean {
    return this.busy !== null || this.rt.engine.busy || this.external !== null;
  }

  // ------------------------------------------------------------------------------------- engine, monitor

  private onEngineEvent(event: FailoverEvent): void {
    this.publishEvent(event);
    this.scheduleState();
  }

  private onOperationStatus(_status: OperationStatus): void {
    this.scheduleState();
  }

  private onSiteTransition(site: SiteName, t: SiteTransition, view: SiteView): void {
    // The journal says best whether an operation (here or in a CLI process) runs right now.
    this.refreshState(false)
      .then(() => this.announceTransition(site, t, view))
      .catch((err: unknown) => this.log.error({ err }, 'announcing a site change failed'));
  }

  private announceTransition(site: SiteName, t: SiteTransition, view: SiteView): void {
    if (t.from === 'unknown' && t.to === 'up') return;
    if (this.operationRunning()) {
      // Operations stop and start containers on purpose; that is not news, nor is the site's coming back.
      this.log.info({ site, to: t.to }, 'site changed during an operation; no event');
      if (t.to === 'down') this.quiet.set(site, Number.POSITIVE_INFINITY);
      else this.quiet.delete(site);
      return;
    }
    const quietUntil = this.quiet.get(site);
    this.quiet.delete(site);
    if (t.to === 'up' && quietUntil !== undefined && Date.now() < quietUntil) {
      this.log.info({ site }, 'site is up again after an operation; no event');
      return;
    }
    const primary = this.persistent?.primary ?? 'master';
    const role = site === primary ? 'primary' : 'standby';
    const fence = this.persistent?.fence;
    const fenced = fence?.site === site;
    // A fenced site is stopped on purpose: its going down is expected.
    if (t.to === 'down' && fenced && !fence?.pending) return;
    const o = view.observation;
    if (t.to === 'down') {
      this.publishEvent(
        makeEvent(
          'site_down',
          `${site} (${role}) is down: Jellyfin ${o?.jellyfin ?? 'unreachable'}, container ${o?.container ?? 'unknown'}`,
          {
            site,
            role,
            fenced,
            jellyfin: o?.jellyfin ?? 'unreachable',
            container: o?.container ?? 'unknown',
            hostReachable: view.hostReachable,
            failures: t.failures,
          },
        ),
      );
    } else {
      this.publishEvent(
        makeEvent('site_up', `${site} (${role}) is up again`, {
          site,
          role,
          fenced,
          version: o?.version ?? null,
        }),
      );
    }
  }

  private publishEvent(event: FailoverEvent): void {
    this.log.info({ event: event.event_type, site: event.site, operation: event.operation }, event.message);
    this.mqtt
      ?.publish(this.topics.event, JSON.stringify(event), NOT_RETAINED)
      .catch((err: unknown) => this.log.warn({ err, event: event.event_type }, 'could not publish event'));
  }

  // ------------------------------------------------------------------------------------------------ state

  private scheduleState(): void {
    if (this.throttle) return;
    this.throttle = setTimeout(() => {
      this.throttle = null;
      this.refreshState(false).catch(() => undefined);
    }, this.options.stateThrottleMs);
  }

  /** Reads state.json and the journal, rebuilds the snapshot and publishes it if it changed (or `force`). */
  async refreshState(force: boolean): Promise<void> {
    this.forceNext ||= force;
    if (this.refreshing !== null) {
      this.refreshAgain = true;
      return this.refreshing;
    }
    this.refreshing = (async () => {
      try {
        do {
          this.refreshAgain = false;
          const f = this.forceNext;
          this.forceNext = false;
          await this.rebuild();
          await this.publishState(f);
        } while (this.refreshAgain);
      } catch (err) {
        this.log.error({ err }, 'building the state snapshot failed');
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }

  private async rebuild(): Promise<void> {
    const problems = [...this.serviceProblems];
    try {
      this.persistent = await this.rt.store.load();
    } catch (err) {
      problems.push((err as Error).message);
    }
    let journal: Journal | null = null;
    try {
      journal = await this.rt.store.readJournal();
    } catch (err) {
      problems.push((err as Error).message);
    }
    const engine = this.rt.engine;
    if (journal && !engine.busy && journal.pid !== process.pid && pidAlive(journal.pid)) {
      this.external = { kind: journal.kind, step: journal.step, progress: 0, startedAt: journal.startedAt };
      this.interrupted = null;
    } else {
      this.external = null;
      this.interrupted =
        journal && !engine.busy && !pidAlive(journal.pid) ? { kind: journal.kind, step: journal.step } : null;
    }
    if (!this.operationRunning()) {
      // An operation ended: a site it stopped has until Jellyfin's start timeout plus the debounce to come back.
      const { startTimeoutS, health } = this.rt.config;
      const deadline = Date.now() + (startTimeoutS + health.intervalS * health.failures) * 1000;
      for (const [site, until] of this.quiet)
        if (until === Number.POSITIVE_INFINITY) this.quiet.set(site, deadline);
    }
    const monitor = this.monitor;
    if (!this.persistent || !monitor) return;
    const standby = monitor.standbyView();
    const current = standbyOf(this.persistent);
    this.snapshot = buildSnapshot({
      state: this.persistent,
      operation: engine.busy ? engine.status() : (this.external ?? IDLE),
      sites: monitor.sitesView(),
      standby: {
        freeBytes: standby.site === current ? standby.freeBytes : null,
        diverged: standby.site === current && standby.diverged,
      },
      interrupted: this.interrupted,
      lowSpaceBytes: this.options.lowSpaceBytes,
      serviceProblems: problems,
    });
  }

  private async publishState(force: boolean): Promise<void> {
    const mqtt = this.mqtt;
    if (!this.snapshot || !mqtt?.connected) return;
    const text = JSON.stringify(this.snapshot);
    if (!force && text === this.published) return;
    this.published = text;
    await mqtt.publish(this.topics.state, text, RETAINED);
  }
}

/**
 * `jellyfin-failover run`: starts the service and runs until SIGTERM or SIGINT. The first signal lets a running
 * operation finish; a second one exits at once (the operation's journal is on disk; the next start recovers it).
 */
export async function runService(
  rt: Runtime,
  options: ServiceOptions = defaultServiceOptions(),
): Promise<ExitCode> {
  const service = new FailoverService(rt, options);
  let signals = 0;
  let firstSignal: () => void = () => undefined;
  let secondSignal: () => void = () => undefined;
  const first = new Promise<void>((resolve) => {
    firstSignal = resolve;
  });
  const second = new Promise<void>((resolve) => {
    secondSignal = resolve;
  });
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    rt.logger.info({ signal }, signals === 1 ? 'stopping' : 'stopping now');
    if (signals === 1) firstSignal();
    else secondSignal();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    const starting = service.start();
    let stoppedEarly: boolean;
    try {
      stoppedEarly = await Promise.race([starting.then(() => false), first.then(() => true)]);
    } catch (err) {
      // A setting that can never work (e.g. an unreadable MQTT_CA_FILE): clean up, let the CLI report it.
      await service.stop().catch(() => undefined);
      throw err;
    }
    if (!stoppedEarly) await first;
    else await starting.catch(() => undefined);
    const outcome = await service.stop(second);
    if (outcome === 'abandoned') {
      // The operation is still running in this process; do not let it keep the process alive.
      setTimeout(() => process.exit(EXIT.failed), 2_000).unref();
      return EXIT.failed;
    }
    return EXIT.ok;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}

/**
 * The long-running service (`jellyfin-failover run`, SPEC section 3), put together from its parts: the MQTT bridge
 * (bridge.ts), the state publisher (publisher.ts), the health monitor (monitor.ts) and the site announcer
 * (announcer.ts), on top of the operations front door and its gate. Presses on `B/command/<name>` run one
 * operation at a time; a demoted master is fenced as soon as it answers.
 */
import { SwagTrafficSwitch } from '../adapters/swag/index.js';
import type { Config } from '../config/load.js';
import type { OperationGate } from '../domain/engine/gate.js';
import { errorMessage, OperationError, RefusedError } from '../domain/errors.js';
import { type FailoverEvent, makeEvent, type ObserverHub, type OperationStatus } from '../domain/events.js';
import type { Log } from '../domain/log.js';
import type { Operations } from '../domain/operations/index.js';
import type { Site, TrafficSwitch } from '../domain/ports.js';
import { other, type SiteName } from '../domain/sites.js';
import type { OperationKind } from '../domain/state.js';
import { announceTransition, endQuiet } from './announcer.js';
import type { MqttBridge } from './bridge.js';
import { describeUntrusted, parseCommand } from './commands.js';
import type { HealthMonitor, MergeCounts } from './monitor.js';
import type { StatePublisher } from './publisher.js';
import type { SiteTransition } from './site-status.js';
import type { SiteView, StateSnapshot } from './snapshot.js';

export interface ServiceDeps {
  config: Config;
  log: Log;
  bridge: MqttBridge;
  publisher: StatePublisher;
  monitor: HealthMonitor;
  operations: Operations;
  gate: OperationGate;
  observers: ObserverHub;
  sites: Record<SiteName, Site>;
  traffic: TrafficSwitch;
  /** The operation this process runs, as the engine reports it. */
  status(): OperationStatus;
  /** Tells `jellyfin-failover health` the service is alive. */
  heartbeat: { beat(mqttConnected: boolean): Promise<void> };
}

export class FailoverService {
  private current: Promise<void> | null = null;
  private stopping = false;
  private fencer: NodeJS.Timeout | null = null;
  private beater: NodeJS.Timeout | null = null;
  private fencing = false;
  private detach: (() => void) | null = null;
  private readonly problems: string[] = [];
  /** Sites an operation took down: their coming back (until the deadline) is not announced. */
  private quiet = new Map<SiteName, number>();

  constructor(private readonly deps: ServiceDeps) {}

  /** The last snapshot built (what `B/state` holds once connected). */
  get state(): StateSnapshot | null {
    return this.deps.publisher.snapshot;
  }

  /** Problems of the service itself, for the state's problem list. */
  serviceProblems(): readonly string[] {
    return this.problems;
  }

  /** The publisher reports that an operation ended: sites it stopped get their start timeout to come back. */
  operationEnded(): void {
    const { startTimeoutS, health } = this.deps.config;
    this.quiet = endQuiet(
      this.quiet,
      Date.now() + (startTimeoutS + health.intervalS * health.failures) * 1000,
    );
  }

  /** The monitor saw a site go up or down. */
  siteChanged(site: SiteName, t: SiteTransition, view: SiteView): void {
    const state = this.deps.publisher.state;
    const announcement = announceTransition(site, t, view, {
      operationRunning: this.deps.publisher.operationRunning(),
      primary: state?.primary ?? 'master',
      fence: state?.fence ?? null,
      now: Date.now(),
      quietUntil: this.quiet.get(site),
    });
    if (announcement.quietUntil === undefined) this.quiet.delete(site);
    else this.quiet.set(site, announcement.quietUntil);
    if (announcement.event) this.publishEvent(announcement.event);
    else this.deps.log.info({ site, to: t.to }, 'site changed; no event (operation or fence)');
  }

  /** The monitor found users wrote to the standby since the last sync. */
  standbyDiverged(site: SiteName, message: string, merge: MergeCounts | null): void {
    if (this.deps.publisher.operationRunning()) return;
    const hint = merge
      ? ` A merge would carry ${merge.changes} change(s) into the primary (${merge.conflicts} conflict(s)).`
      : '';
    this.publishEvent(
      makeEvent('standby_diverged', message + hint, {
        site,
        ...(merge ? { mergeChanges: merge.changes, mergeConflicts: merge.conflicts } : {}),
      }),
    );
  }

  async start(): Promise<void> {
    const { bridge, publisher, monitor, observers, config } = this.deps;
    this.detach = observers.add({
      event: (event) => {
        this.publishEvent(event);
        publisher.schedule();
      },
      operation: () => publisher.schedule(),
      state: (state) => publisher.stateSaved(state),
    });
    await bridge.start({
      command: (topic, payload, retained) => this.onCommand(topic, payload, retained),
      announce: () => publisher.refresh(true),
    });
    // An operation a crash interrupted is put right before anything else runs (SPEC 4 rule 7).
    try {
      const outcome = await this.deps.operations.recover();
      this.deps.log.info({ outcome }, 'recovery check done');
    } catch (err) {
      this.deps.log.error({ err }, 'recovery at start failed');
      this.problems.push(`recovery at start failed: ${errorMessage(err)}`);
    }
    await this.writeFirstSwagInclude();
    await monitor.start();
    await publisher.start();
    // A master demoted while unreachable is fenced as soon as it answers again (SPEC 4: promote, rule 8).
    this.fencer = setInterval(() => void this.fencePending(), config.health.intervalS * 1000);
    await this.beat();
    this.beater = setInterval(() => void this.beat(), config.health.intervalS * 1000);
    this.deps.log.info({ topicRoot: config.topicRoot }, 'service started');
  }

  /**
   * Stops taking commands, waits for the operation in flight (unless `abandon` resolves first: the journal on disk
   * then holds it, and the next start recovers it), publishes `offline` and disconnects.
   */
  async stop(abandon?: Promise<void>): Promise<'clean' | 'abandoned'> {
    this.stopping = true;
    let outcome: 'clean' | 'abandoned' = 'clean';
    const running = this.current;
    if (running !== null) {
      this.deps.log.warn(
        { operation: this.deps.gate.local?.owner },
        'stopping: waiting for the running operation',
      );
      const abandoned = await Promise.race([
        running.then(() => false),
        (abandon ?? new Promise<never>(() => undefined)).then(() => true),
      ]);
      if (abandoned) {
        outcome = 'abandoned';
        this.deps.log.warn(
          { operation: this.deps.gate.local?.owner },
          'stopping with an operation in flight: its journal is on disk and the next start recovers it',
        );
      }
    }
    if (this.fencer) clearInterval(this.fencer);
    if (this.beater) clearInterval(this.beater);
    this.fencer = null;
    this.beater = null;
    this.deps.publisher.stop();
    await this.deps.monitor.stop();
    this.detach?.();
    this.detach = null;
    await this.deps.bridge.stop();
    this.deps.log.info({ outcome }, 'service stopped');
    return outcome;
  }

  /** Resolves when the operation the service is running (if any) has finished. */
  async settled(): Promise<void> {
    await this.current;
  }

  /**
   * SWAG's proxy conf needs the include to exist before nginx accepts it: write it once for the current roles
   * (tested and reloaded like any switch). A failure is a problem in `B/state`, not a reason to stop.
   */
  private async writeFirstSwagInclude(): Promise<void> {
    const swag = this.deps.config.swag;
    if (!swag || !(this.deps.traffic instanceof SwagTrafficSwitch)) return;
    try {
      if (await this.deps.sites[swag.site].files.exists(swag.upstreamFile)) return;
      const state = this.deps.publisher.state ?? (await this.deps.operations.state());
      await this.deps.traffic.switchTo(state.primary, other(state.primary));
      this.deps.log.info(
        { file: swag.upstreamFile, primary: state.primary },
        'wrote the first SWAG upstream include',
      );
    } catch (err) {
      this.deps.log.warn({ err, file: swag.upstreamFile }, 'could not write the first SWAG upstream include');
      this.problems.push(
        `SWAG include ${swag.upstreamFile} is missing and could not be written: ${errorMessage(err)}`,
      );
    }
  }

  private async beat(): Promise<void> {
    try {
      await this.deps.heartbeat.beat(this.deps.bridge.connected);
    } catch (err) {
      this.deps.log.warn({ err }, 'cannot write the heartbeat to STATE_DIR');
    }
  }

  private async fencePending(): Promise<void> {
    if (this.fencing || this.stopping || !this.deps.publisher.state?.fence?.pending) return;
    this.fencing = true;
    try {
      await this.deps.operations.fencePending();
    } catch (err) {
      this.deps.log.warn({ err }, 'fencing the demoted site failed');
    } finally {
      this.fencing = false;
    }
  }

  private onCommand(topic: string, payload: Buffer, retained: boolean): void {
    const parsed = parseCommand(this.deps.bridge.commands, topic, payload, retained);
    switch (parsed.kind) {
      case 'ignored':
        this.deps.log.warn({ topic: describeUntrusted(topic) }, parsed.reason);
        return;
      case 'rejected':
        this.reject(parsed.command, 'bad_command', parsed.reason);
        return;
      case 'check':
        this.deps.log.info({}, 'check requested');
        this.deps.monitor
          .pollNow()
          .then(() => this.deps.publisher.refresh(true))
          .catch((err: unknown) => this.deps.log.error({ err }, 'check failed'));
        return;
      case 'operation':
        this.startOperation(parsed.operation, parsed.force, parsed.merge);
        return;
    }
  }

  private reject(command: string, reason: string, message: string): void {
    this.deps.log.warn({ command, reason }, `command rejected: ${message}`);
    this.publishEvent(
      makeEvent('command_rejected', `${command} was not run: ${message}`, {
        command,
        reason,
        error: message,
      }),
    );
  }

  private startOperation(kind: OperationKind, force: boolean, merge: boolean): void {
    const command = merge ? 'merge' : kind;
    if (this.stopping) {
      this.reject(command, 'shutting_down', 'the service is shutting down');
      return;
    }
    if (merge && !this.deps.config.jellyfinApiKey) {
      this.reject(
        command,
        'merge_unavailable',
        "merging needs JELLYFIN_API_KEY (a key from Jellyfin's Dashboard > API Keys)",
      );
      return;
    }
    let running: Promise<unknown>;
    try {
      running = this.deps.operations.run(kind, { force, merge });
    } catch (err) {
      // The gate is taken in this process: nothing was queued.
      if (!(err instanceof RefusedError)) throw err;
      void this.rejectBusy(command);
      return;
    }
    this.deps.log.info({ operation: kind, force, merge }, 'operation pressed');
    this.deps.publisher.schedule();
    this.current = running
      .then(
        () => this.deps.log.info({ operation: kind }, 'operation succeeded'),
        (err: unknown) => this.operationFailed(command, err),
      )
      .finally(() => {
        this.current = null;
        this.deps.publisher.refresh(true).catch(() => undefined);
        this.deps.monitor.pollNow().catch(() => undefined);
      });
  }

  /** A press while an operation runs: says which one and where it is; nothing is queued. */
  private async rejectBusy(kind: OperationKind | 'merge'): Promise<void> {
    const activity = await this.deps.gate.activity().catch(() => null);
    let what = 'another operation is running';
    if (activity?.here) {
      const status = this.deps.status();
      const owner = activity.owner === 'recovery' ? 'recovery of an interrupted operation' : activity.owner;
      what = `${owner} is running${status.kind !== 'idle' ? ` (step ${status.step})` : ''}`;
    } else if (activity) {
      const step = this.deps.publisher.snapshot?.operation.step;
      what = `${activity.owner} started from the command line (pid ${activity.pid}) is running${step ? ` (step ${step})` : ''}`;
    }
    this.reject(kind, 'busy', `${what}; nothing was queued, press again when it has finished`);
  }

  private operationFailed(kind: OperationKind | 'merge', err: unknown): void {
    if (err instanceof RefusedError && err.reason === 'busy') {
      void this.rejectBusy(kind);
    } else if (err instanceof RefusedError) {
      this.reject(kind, err.reason, err.message);
    } else if (err instanceof OperationError) {
      // The engine already published sync_failed / rolled_back (or rollback_failed).
      this.deps.log.error({ operation: kind, step: err.step, err: err.message }, 'operation failed');
    } else {
      this.deps.log.error({ operation: kind, err }, 'operation could not run');
      this.reject(kind, 'error', errorMessage(err));
    }
  }

  private publishEvent(event: FailoverEvent): void {
    this.deps.log.info(
      { event: event.event_type, site: event.site, operation: event.operation },
      event.message,
    );
    this.deps.bridge.publishEvent(event);
  }
}

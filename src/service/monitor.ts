/**
 * The health monitor: polls both sites every HEALTH_INTERVAL_S (Jellyfin `/health`, container inspect, host
 * reachability), follows Docker's event stream so a stopped or dead container is seen at once, and watches the
 * standby (free space on its config filesystem, writes since the last sync). It reports what changed; the
 * bridge decides what to publish.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type Dockerode from 'dockerode';
import { type ContainerEvent, watchEvents } from '../adapters/docker/events.js';
import { orFallback } from '../domain/deadline.js';
import type { Layout } from '../domain/layout.js';
import type { Log } from '../domain/log.js';
import { observeSite } from '../domain/observe.js';
import type { Site } from '../domain/ports.js';
import { SITE_NAMES, type SiteName } from '../domain/sites.js';
import { type PersistentState, standbyOf } from '../domain/state.js';
import { Rerun } from './rerun.js';
import { type SiteSample, SiteStatusTracker, type SiteTransition } from './site-status.js';
import type { SiteView } from './snapshot.js';
import { type Divergence, StandbyWatch } from './standby-watch.js';

export interface MonitorSettings {
  intervalMs: number;
  /** HEALTH_FAILURES. */
  failures: number;
  /** Per probe (HTTP, inspect, SSH command). */
  probeTimeoutMs: number;
  layout: Layout | 'auto';
  /** START_TIMEOUT_S: a Jellyfin refusing connections this soon after its container started is starting. */
  startTimeoutS: number;
}

export interface MonitorDeps {
  sites: Record<SiteName, Site>;
  /** Each site's Docker endpoint, for its event stream. */
  dockers: Record<SiteName, Dockerode>;
  /** The persistent state as the service last learned it (null before it was read). */
  state(): PersistentState | null;
  logger: Log;
  settings: MonitorSettings;
  /** What a merge would carry from the diverged standby `site` now (merging.ts); null when it cannot be told. */
  mergePreview?(site: SiteName, state: PersistentState, version: string | null): Promise<MergeCounts | null>;
  /** True while an operation runs (here or in a CLI process): the standby's database is not read then. */
  operationRunning(): boolean;
}

export interface MonitorListener {
  /** Something the snapshot shows changed. */
  changed(): void;
  /** A site went up or down (debounced). */
  transition(site: SiteName, transition: SiteTransition, view: SiteView): void;
  /** The standby was written to since the last sync (checked while no operation runs). */
  diverged(site: SiteName, message: string, merge: MergeCounts | null): void;
}

/** How many changes a merge would carry, and how many conflicts it would report. */
export interface MergeCounts {
  changes: number;
  conflicts: number;
}

export interface StandbyView {
  site: SiteName | null;
  freeBytes: number | null;
  diverged: boolean;
  divergence: Divergence;
  /** While diverged: what a merge would carry (null when it cannot be told). */
  merge: MergeCounts | null;
}

/** After a container `start` event, look again this soon (Jellyfin answers `/health` within seconds). */
const POLL_AFTER_START_MS = 1_000;
/** The standby's free space is read again after this long. */
const FREE_BYTES_EVERY_MS = 60_000;
const EVENTS_RETRY_MIN_MS = 1_000;
const EVENTS_RETRY_MAX_MS = 30_000;

export class HealthMonitor {
  private readonly trackers: Record<SiteName, SiteStatusTracker>;
  private readonly views: Record<SiteName, SiteView>;
  private standby: StandbyView = {
    site: null,
    freeBytes: null,
    diverged: false,
    divergence: { kind: 'unchecked' },
    merge: null,
  };
  private readonly standbyWatch: StandbyWatch;
  private freeBytesAt: number | null = null;
  private abort: AbortController | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly polls = new Rerun(() => this.pollOnce());
  private readonly watchers: Promise<void>[] = [];

  constructor(
    private readonly deps: MonitorDeps,
    private readonly listener: MonitorListener,
  ) {
    const failures = deps.settings.failures;
    this.standbyWatch = new StandbyWatch(deps.settings.layout, deps.settings.probeTimeoutMs);
    this.trackers = { master: new SiteStatusTracker(failures), slave: new SiteStatusTracker(failures) };
    this.views = {
      master: { observation: null, verdict: 'unknown', hostReachable: null },
      slave: { observation: null, verdict: 'unknown', hostReachable: null },
    };
  }

  site(name: SiteName): SiteView {
    return this.views[name];
  }

  sitesView(): Record<SiteName, SiteView> {
    return { master: { ...this.views.master }, slave: { ...this.views.slave } };
  }

  standbyView(): StandbyView {
    return { ...this.standby };
  }

  /** Looks at both sites once (awaited), then keeps looking. */
  async start(): Promise<void> {
    this.abort = new AbortController();
    await this.pollNow();
    for (const name of SITE_NAMES) this.watchers.push(this.followEvents(name, this.abort.signal));
    this.schedule();
  }

  async stop(): Promise<void> {
    this.abort?.abort();
    this.abort = null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await Promise.allSettled([...this.watchers, this.polls.settled()]);
    this.watchers.length = 0;
  }

  /** Polls now; a poll already running is followed by one more. Resolves when the (last) poll is done. */
  pollNow(): Promise<void> {
    return this.polls.run();
  }

  private schedule(): void {
    if (!this.abort || this.abort.signal.aborted) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.pollNow()
        .catch((err: unknown) => this.deps.logger.error({ err }, 'health poll failed'))
        .finally(() => this.schedule());
    }, this.deps.settings.intervalMs);
  }

  private async pollOnce(): Promise<void> {
    await Promise.all(SITE_NAMES.map((name) => this.pollSite(name)));
    await this.checkStandby();
    this.listener.changed();
  }

  private async pollSite(name: SiteName): Promise<void> {
    const site = this.deps.sites[name];
    const timeout = this.deps.settings.probeTimeoutMs;
    const [observation, hostReachable] = await Promise.all([
      observeSite(site, timeout, this.deps.settings.startTimeoutS, this.views[name].observation),
      site.isLocal ? Promise.resolve(true) : orFallback(site.files.reachable(), timeout, false),
    ]);
    const view = this.views[name];
    view.observation = observation;
    view.hostReachable = hostReachable;
    const sample: SiteSample =
      observation.container === 'exited' || observation.container === 'missing'
        ? 'stopped'
        : observation.jellyfin === 'healthy'
          ? 'healthy'
          : observation.jellyfin === 'starting'
            ? 'starting'
            : 'failed';
    this.record(name, sample);
  }

  private record(name: SiteName, sample: SiteSample): void {
    const tracker = this.trackers[name];
    const transition = tracker.record(sample);
    const view = this.views[name];
    view.verdict = tracker.status;
    this.deps.logger.debug(
      { site: name, sample, verdict: tracker.status, failures: tracker.consecutiveFailures },
      'site sample',
    );
    if (transition) {
      this.deps.logger.info({ site: name, ...transition }, `site is ${transition.to}`);
      this.listener.transition(name, transition, { ...view });
    }
  }

  /** Free space on the standby's config filesystem, and whether its users wrote to it since the last sync. */
  private async checkStandby(): Promise<void> {
    const { sites, settings } = this.deps;
    const state = this.deps.state();
    if (state === null) return;
    const name = standbyOf(state);
    const site = sites[name];
    // Free space changes slowly: read again at most every FREE_BYTES_EVERY_MS (one command on the site's host).
    const known =
      this.standby.site === name &&
      this.freeBytesAt !== null &&
      Date.now() - this.freeBytesAt < FREE_BYTES_EVERY_MS;
    const freeBytes = known
      ? this.standby.freeBytes
      : await orFallback(site.files.freeBytes(site.configDir), settings.probeTimeoutMs, null);
    if (!known) this.freeBytesAt = freeBytes === null ? null : Date.now();
    let divergence =
      this.standby.site === name ? this.standby.divergence : ({ kind: 'unchecked' } as Divergence);
    if (!this.deps.operationRunning() && this.views[name].hostReachable !== false) {
      divergence = await this.standbyWatch.check(
        site,
        state.standbyFingerprint,
        this.views[name].observation?.version ?? null,
      );
    }
    let merge = this.standby.site === name ? this.standby.merge : null;
    if (divergence.kind !== 'diverged') merge = null;
    else if (divergence !== this.standby.divergence && this.deps.mergePreview) {
      // A new reading of the standby: what a merge would carry now.
      const version = this.views[name].observation?.version ?? null;
      merge = await this.deps.mergePreview(name, state, version).catch(() => null);
    }
    if (divergence.kind === 'diverged' && this.standby.divergence.kind !== 'diverged') {
      this.listener.diverged(name, divergence.message, merge);
    }
    this.standby = { site: name, freeBytes, diverged: divergence.kind === 'diverged', divergence, merge };
  }

  private async followEvents(name: SiteName, signal: AbortSignal): Promise<void> {
    const site = this.deps.sites[name];
    const log = this.deps.logger.child({ site: name });
    let retryMs = EVENTS_RETRY_MIN_MS;
    while (!signal.aborted) {
      const started = Date.now();
      try {
        await watchEvents(
          this.deps.dockers[name],
          [site.container.name],
          (event) => this.onContainerEvent(name, event),
          signal,
        );
      } catch (err) {
        log.warn({ err: (err as Error).message, retryInMs: retryMs }, 'Docker event stream lost');
      }
      if (signal.aborted) return;
      if (Date.now() - started > EVENTS_RETRY_MAX_MS) retryMs = EVENTS_RETRY_MIN_MS;
      await sleep(retryMs, undefined, { signal }).catch(() => undefined);
      retryMs = Math.min(retryMs * 2, EVENTS_RETRY_MAX_MS);
      // Whatever happened while the stream was down is seen by a poll.
      if (!signal.aborted) this.pollNow().catch(() => undefined);
    }
  }

  private onContainerEvent(name: SiteName, event: ContainerEvent): void {
    this.deps.logger.debug({ site: name, action: event.action }, 'container event');
    const view = this.views[name];
    switch (event.action) {
      case 'die':
      case 'stop':
      case 'destroy': {
        const container = event.action === 'destroy' ? 'missing' : 'exited';
        view.observation = {
          online: false,
          jellyfin: 'unreachable',
          container,
          version: view.observation?.version ?? null,
          startedAt: view.observation?.startedAt ?? null,
          checkedAt: event.time.toISOString(),
        };
        this.record(name, 'stopped');
        this.listener.changed();
        return;
      }
      case 'start':
        setTimeout(() => {
          if (this.abort && !this.abort.signal.aborted) this.pollNow().catch(() => undefined);
        }, POLL_AFTER_START_MS);
        return;
      case 'health_status':
        return;
    }
  }
}

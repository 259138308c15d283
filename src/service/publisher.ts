/**
 * The retained `B/state` snapshot, kept current from what the engine reports (the state it saved, the operation's
 * progress) and what the monitor sees. STATE_DIR is watched only for what another process (a CLI operation) does:
 * this process never re-reads its own writes while it runs an operation.
 */
import { type FSWatcher, watch } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import type { Engine } from '../domain/engine/engine.js';
import type { OperationGate } from '../domain/engine/gate.js';
import { IDLE, type OperationStatus } from '../domain/events.js';
import type { Log } from '../domain/log.js';
import type { StateStore } from '../domain/ports.js';
import { OPERATION_KINDS, type OperationKind, type PersistentState, standbyOf } from '../domain/state.js';
import type { HealthMonitor } from './monitor.js';
import { Rerun } from './rerun.js';
import { buildSnapshot, type StateSnapshot } from './snapshot.js';

export interface PublisherOptions {
  stateDir: string;
  /** While an operation runs, `B/state` is republished this often (SPEC: step and percent every <= 2 s). */
  progressEveryMs: number;
  /** Coalesces bursts of changes (rsync progress) into one publish. */
  throttleMs: number;
  /** Below this, the standby's free space is listed as a problem. */
  lowSpaceBytes: number;
}

export interface PublisherDeps {
  store: StateStore;
  gate: OperationGate;
  engine: Engine;
  monitor: HealthMonitor;
  log: Log;
  options: PublisherOptions;
  /** Problems of the service itself, listed last. */
  problems(): readonly string[];
  publish(text: string): Promise<void>;
  /** An operation (here or elsewhere) has just ended. */
  operationEnded(): void;
}

function isOperationKind(owner: string): owner is OperationKind {
  return (OPERATION_KINDS as readonly string[]).includes(owner);
}

export class StatePublisher {
  private persistent: PersistentState | null = null;
  private reloadWanted = true;
  /** An operation of another process (the CLI), from the lock file and its journal. */
  private external: OperationStatus | null = null;
  private interrupted: { kind: OperationKind; step: string } | null = null;
  private loadProblem: string | null = null;
  private snapshotNow: StateSnapshot | null = null;
  private published: string | null = null;
  private wasRunning = false;
  private watcher: FSWatcher | null = null;
  private ticker: NodeJS.Timeout | null = null;
  private throttle: NodeJS.Timeout | null = null;
  private readonly refreshes = new Rerun(() => this.rebuildAndPublish());
  private forceNext = false;
  /** The engine's last report for the operation this process runs (same `startedAt`). */
  private lastLocal: OperationStatus | null = null;

  constructor(private readonly deps: PublisherDeps) {}

  /** The persistent state as last reported or read; null before the first read. */
  get state(): PersistentState | null {
    return this.persistent;
  }

  get snapshot(): StateSnapshot | null {
    return this.snapshotNow;
  }

  /** An operation runs, in this process or in another one. */
  operationRunning(): boolean {
    return this.deps.gate.local !== null || this.external !== null;
  }

  async start(): Promise<void> {
    const { stateDir, progressEveryMs } = this.deps.options;
    await mkdir(stateDir, { recursive: true });
    try {
      this.watcher = watch(stateDir, () => {
        if (this.deps.gate.local) return; // this process's own writes: the engine reports them
        this.reloadWanted = true;
        this.schedule();
      });
      this.watcher.on('error', (err) => this.deps.log.warn({ err }, 'cannot watch STATE_DIR; polling only'));
    } catch (err) {
      this.deps.log.warn({ err }, 'cannot watch STATE_DIR; polling only');
    }
    this.ticker = setInterval(() => {
      if (!this.operationRunning()) return;
      if (!this.deps.gate.local) this.reloadWanted = true;
      this.refresh(true).catch(() => undefined);
    }, progressEveryMs);
    await this.refresh(true);
  }

  stop(): void {
    if (this.ticker) clearInterval(this.ticker);
    if (this.throttle) clearTimeout(this.throttle);
    this.ticker = null;
    this.throttle = null;
    this.watcher?.close();
    this.watcher = null;
  }

  /** The engine saved the state: these are the facts now. */
  stateSaved(state: PersistentState): void {
    this.persistent = state;
    this.loadProblem = null;
    this.schedule();
  }

  /** Something the snapshot shows changed (progress, a site). */
  schedule(): void {
    if (this.throttle) return;
    this.throttle = setTimeout(() => {
      this.throttle = null;
      this.refresh(false).catch(() => undefined);
    }, this.deps.options.throttleMs);
  }

  /** Rebuilds the snapshot and publishes it if it changed (or `force`). */
  refresh(force: boolean): Promise<void> {
    this.forceNext ||= force;
    return this.refreshes.run();
  }

  private async rebuildAndPublish(): Promise<void> {
    const force = this.forceNext;
    this.forceNext = false;
    try {
      await this.rebuild();
      await this.publish(force);
    } catch (err) {
      this.deps.log.error({ err }, 'building the state snapshot failed');
    }
  }

  private async rebuild(): Promise<void> {
    const { store, gate, engine, monitor } = this.deps;
    if (this.reloadWanted || this.persistent === null) {
      this.reloadWanted = false;
      try {
        this.persistent = await store.load();
        this.loadProblem = null;
      } catch (err) {
        this.loadProblem = (err as Error).message;
      }
    }
    const problems = [...this.deps.problems(), ...(this.loadProblem ? [this.loadProblem] : [])];
    let operation: OperationStatus = IDLE;
    const local = gate.local;
    if (local) {
      this.external = null;
      this.interrupted = null;
      // The operation started when the gate was claimed: one startedAt from the press to the end.
      operation = { ...engine.status(), startedAt: local.since };
      const ran = this.lastLocal?.startedAt === local.since ? this.lastLocal : null;
      if (operation.kind !== 'idle') {
        this.lastLocal = operation;
      } else if (ran) {
        // The engine is done, the gate not yet released (the result is being saved): finished, not restarted.
        operation = { ...ran, progress: 100 };
      } else if (isOperationKind(local.owner)) {
        operation = { kind: local.owner, step: 'starting', progress: 0, startedAt: local.since };
      } else {
        operation = IDLE;
      }
    } else {
      await this.readOtherProcess(problems);
      operation = this.external ?? IDLE;
    }
    const running = operation.kind !== 'idle' || local !== null;
    if (this.wasRunning && !running) this.deps.operationEnded();
    this.wasRunning = running;
    if (!this.persistent) return;
    const standby = monitor.standbyView();
    const current = standbyOf(this.persistent);
    this.snapshotNow = buildSnapshot({
      state: this.persistent,
      operation,
      sites: monitor.sitesView(),
      standby: {
        freeBytes: standby.site === current ? standby.freeBytes : null,
        diverged: standby.site === current && standby.diverged,
        merge: standby.site === current ? standby.merge : null,
        divergenceUnknown:
          standby.site === current && standby.divergence.kind === 'unknown' ? standby.divergence.why : null,
      },
      interrupted: this.interrupted,
      lowSpaceBytes: this.deps.options.lowSpaceBytes,
      serviceProblems: problems,
    });
  }

  /** What another process does: the lock's live holder and its journal; a journal without one was interrupted. */
  private async readOtherProcess(problems: string[]): Promise<void> {
    const { store, gate } = this.deps;
    try {
      const [activity, journal] = await Promise.all([gate.activity(), store.readJournal()]);
      if (activity && !activity.here) {
        const kind = journal?.kind ?? (isOperationKind(activity.owner) ? activity.owner : null);
        this.external = kind
          ? {
              kind,
              step: journal?.step ?? activity.owner,
              progress: 0,
              startedAt: journal?.startedAt ?? activity.since,
            }
          : null;
        this.interrupted = null;
      } else {
        this.external = null;
        this.interrupted = journal ? { kind: journal.kind, step: journal.step } : null;
      }
    } catch (err) {
      problems.push((err as Error).message);
    }
  }

  private async publish(force: boolean): Promise<void> {
    if (!this.snapshotNow) return;
    const text = JSON.stringify(this.snapshotNow);
    if (!force && text === this.published) return;
    this.published = text;
    await this.deps.publish(text);
  }
}

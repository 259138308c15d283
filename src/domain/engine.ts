import { randomUUID } from 'node:crypto';
import type { SiteName } from '../config/schema.js';
import { OperationError, RefusedError } from '../errors.js';
import type { Logger } from '../log.js';
import { type EngineObserver, IDLE, makeEvent, type OperationStatus } from './events.js';
import type { Journal, UndoAction } from './journal.js';
import type { Layout } from './layout.js';
import type { Copier, DatabaseReader, Site, StateStore, TrafficSwitch } from './ports.js';
import type { OperationKind, PersistentState } from './state.js';

export interface EngineSettings {
  /** rsync exclude patterns: built-in plus SYNC_EXCLUDES. */
  excludes: string[];
  precopy: boolean;
  stopTimeoutS: number;
  startTimeoutS: number;
  /** Empty: no banner. */
  slaveBanner: string;
  layout: Layout | 'auto';
  /** How often to poll `/health` while waiting for a start. */
  healthPollMs: number;
}

export interface EngineDeps {
  sites: Record<SiteName, Site>;
  store: StateStore;
  copier: Copier;
  /** Reads databases of sites whose host has no sqlite3; absent: such databases are not read. */
  databases?: DatabaseReader;
  traffic: TrafficSwitch;
  settings: EngineSettings;
  logger: Logger;
  observer: EngineObserver;
}

/** One named step of an operation. Its undo is recorded (run.undoFirst) before the change it undoes. */
export interface Step {
  name: string;
  /** Share of the operation's progress bar. */
  weight: number;
  run(run: OperationRun): Promise<void>;
}

export interface OperationPlan {
  kind: OperationKind;
  steps: Step[];
  /** Events and state once every step succeeded (before the journal is cleared). */
  succeeded(run: OperationRun): void;
  /** Extra bookkeeping after an automatic rollback. */
  rolledBack?(run: OperationRun, error: Error): void;
}

export interface OperationResult {
  id: string;
  kind: OperationKind;
  durationS: number;
  bytes: number;
  files: number;
  primaryDowntimeS: number;
  state: PersistentState;
}

/** The state of one operation while it runs; steps read and fill it. */
export class OperationRun {
  readonly startedMs = Date.now();
  /** The state to commit; starts as a copy of the state before the operation. */
  next: PersistentState;
  layout: Layout | null = null;
  bytes = 0;
  files = 0;
  downtimeFrom: number | null = null;
  downtimeTo: number | null = null;
  fingerprint: string | null = null;
  /** Containers' running state and restart policy before the operation. */
  containersBefore: PersistentState['lastOperation'] extends infer L
    ? L extends { containersBefore: infer C }
      ? C
      : never
    : never = { master: null, slave: null };
  details: Record<string, unknown> = {};
  private stepIndex = 0;
  private stepFraction = 0;

  constructor(
    readonly engine: Engine,
    readonly plan: OperationPlan,
    readonly journal: Journal,
    readonly before: PersistentState,
    readonly force: boolean,
    /** Copy source and destination (for rollback: the site whose snapshot is restored, twice). */
    readonly from: Site,
    readonly to: Site,
  ) {
    this.next = structuredClone(before);
  }

  get deps(): EngineDeps {
    return this.engine.deps;
  }

  get log(): Logger {
    return this.engine.deps.logger;
  }

  site(name: SiteName): Site {
    return this.engine.deps.sites[name];
  }

  /** Writes the undo to the journal (on disk) before the caller makes the change. */
  async undoFirst(action: UndoAction): Promise<void> {
    this.journal.undo.push(action);
    await this.deps.store.writeJournal(this.journal);
  }

  async enterStep(index: number, name: string): Promise<void> {
    this.stepIndex = index;
    this.stepFraction = 0;
    this.journal.step = name;
    await this.deps.store.writeJournal(this.journal);
    this.report();
  }

  /** Progress inside the current step, 0..1. */
  stepProgress(fraction: number): void {
    this.stepFraction = Math.max(0, Math.min(1, fraction));
    this.report();
  }

  status(): OperationStatus {
    const steps = this.plan.steps;
    const total = steps.reduce((s, st) => s + st.weight, 0) || 1;
    const done = steps.slice(0, this.stepIndex).reduce((s, st) => s + st.weight, 0);
    const current = (steps[this.stepIndex]?.weight ?? 0) * this.stepFraction;
    return {
      kind: this.plan.kind,
      step: this.journal.step,
      progress: Math.min(100, Math.round(((done + current) / total) * 1000) / 10),
      startedAt: this.journal.startedAt,
    };
  }

  private report(): void {
    this.deps.observer.operation(this.status());
  }

  durationS(): number {
    return round1((Date.now() - this.startedMs) / 1000);
  }

  downtimeS(): number {
    if (this.downtimeFrom === null) return 0;
    return round1(((this.downtimeTo ?? Date.now()) - this.downtimeFrom) / 1000);
  }
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

/**
 * Runs operations one at a time: lock, journal, steps, and on any failure the recorded undos in reverse.
 * At start (`recover`) an operation interrupted by a crash is found from the journal and rolled back, or
 * completed if it had committed.
 */
export class Engine {
  private current: OperationRun | null = null;

  constructor(readonly deps: EngineDeps) {}

  get busy(): boolean {
    return this.current !== null;
  }

  status(): OperationStatus {
    return this.current?.status() ?? IDLE;
  }

  /**
   * Runs a plan built from the current state. `prepare` picks the plan; it may throw RefusedError.
   * Resolves with the result; rejects with RefusedError (nothing changed) or OperationError (rolled back).
   */
  async run(
    kind: OperationKind,
    force: boolean,
    prepare: (state: PersistentState) => { plan: OperationPlan; from: SiteName; to: SiteName },
  ): Promise<OperationResult> {
    if (this.current) {
      throw new RefusedError(
        `${this.current.plan.kind} is running (step ${this.current.journal.step}); ${kind} was not started.`,
        'busy',
      );
    }
    const lock = await this.deps.store.lock(kind);
    try {
      if ((await this.recoverLocked(lock.staleOwner)) === 'rollback_failed') {
        throw new RefusedError(
          `an interrupted operation could not be rolled back completely (see the log); ${kind} was not started. Make the site it names reachable, then retry.`,
          'recovery_failed',
        );
      }
      const before = await this.deps.store.load();
      const { plan, from, to } = prepare(before);
      const journal: Journal = {
        id: randomUUID(),
        kind,
        pid: process.pid,
        startedAt: new Date().toISOString(),
        force,
        step: 'start',
        undo: [],
        committed: false,
      };
      const run = new OperationRun(
        this,
        plan,
        journal,
        before,
        force,
        this.deps.sites[from],
        this.deps.sites[to],
      );
      this.current = run;
      if (kind !== 'rollback') {
        this.deps.observer.event(
          makeEvent('sync_started', `${kind} started: ${from} -> ${to}`, {
            operation: kind,
            from,
            to,
            force,
          }),
        );
      }
      try {
        return await this.execute(run);
      } finally {
        this.current = null;
        this.deps.observer.operation(IDLE);
      }
    } finally {
      await lock.release();
    }
  }

  private async execute(run: OperationRun): Promise<OperationResult> {
    const log = this.deps.logger.child({ operation: run.plan.kind, id: run.journal.id });
    await this.deps.store.writeJournal(run.journal);
    log.info({ from: run.from.name, to: run.to.name, force: run.force }, 'operation started');
    const steps = run.plan.steps;
    for (const [index, step] of steps.entries()) {
      await run.enterStep(index, step.name);
      const t0 = Date.now();
      try {
        log.info({ step: step.name }, 'step started');
        await step.run(run);
        log.info({ step: step.name, ms: Date.now() - t0 }, 'step done');
      } catch (err) {
        const error = err instanceof Error ? err : new Error(String(err));
        if (err instanceof RefusedError && run.journal.undo.length === 0) {
          log.warn({ step: step.name, reason: err.reason }, `refused: ${error.message}`);
          await this.deps.store.clearJournal();
          throw err;
        }
        log.error({ step: step.name, err: error }, 'step failed; rolling back');
        const undoFailures = await this.failAndRollBack(run, step.name, error);
        const after =
          undoFailures.length === 0
            ? 'Everything it changed was put back.'
            : `Rolling back left problems (${undoFailures.join('; ')}); they are retried at the next start or operation.`;
        throw new OperationError(
          `${run.plan.kind} failed at step ${step.name}: ${error.message}. ${after}`,
          step.name,
          { cause: error },
        );
      }
    }
    run.plan.succeeded(run);
    await this.deps.store.save(run.next);
    run.journal.committed = true;
    await this.deps.store.writeJournal(run.journal);
    await this.deps.store.clearJournal();
    log.info({ durationS: run.durationS(), bytes: run.bytes, files: run.files }, 'operation succeeded');
    return {
      id: run.journal.id,
      kind: run.plan.kind,
      durationS: run.durationS(),
      bytes: run.bytes,
      files: run.files,
      primaryDowntimeS: run.downtimeS(),
      state: run.next,
    };
  }

  private async failAndRollBack(run: OperationRun, step: string, error: Error): Promise<string[]> {
    const failedEvent = run.plan.kind === 'rollback' ? 'rollback_failed' : 'sync_failed';
    this.deps.observer.event(
      makeEvent(failedEvent, `${run.plan.kind} failed at ${step}: ${error.message}`, {
        operation: run.plan.kind,
        step,
        error: error.message,
      }),
    );
    const failures = await this.undoAll(run.journal.undo, run.journal.kind);
    const state = await this.deps.store.load();
    if (run.plan.kind !== 'rollback') {
      state.lastSync = {
        at: new Date().toISOString(),
        result: failures.length === 0 ? 'rolled_back' : 'failed',
        durationS: run.durationS(),
        bytes: run.bytes,
        files: run.files,
        primaryDowntimeS: run.downtimeS(),
        error: `${step}: ${error.message}`,
      };
    }
    run.plan.rolledBack?.(run, error);
    await this.deps.store.save(state);
    // Undos that failed (a site unreachable) stay in the journal: recovery retries them (all are idempotent).
    if (failures.length === 0) await this.deps.store.clearJournal();
    if (failures.length === 0) {
      this.deps.observer.event(
        makeEvent('rolled_back', `${run.plan.kind} was rolled back after ${step} failed`, {
          operation: run.plan.kind,
          step,
          automatic: true,
        }),
      );
    } else {
      this.deps.observer.event(
        makeEvent('rollback_failed', `rolling back ${run.plan.kind} left problems: ${failures.join('; ')}`, {
          operation: run.plan.kind,
          step,
          error: failures.join('; '),
        }),
      );
    }
    return failures;
  }

  /** Runs undos last to first (traffic at the very end); keeps going past a failing one. Returns the failures. */
  async undoAll(actions: readonly UndoAction[], kind: OperationKind): Promise<string[]> {
    const failures: string[] = [];
    const log = this.deps.logger.child({ operation: kind, phase: 'rollback' });
    // Traffic goes back last: the switch is verified through the proxy, which needs the old primary running
    // again, and that is what the other undos do. One switch suffices (each records the primary from before).
    const reversed = [...actions].reverse();
    const traffic = reversed.filter((a) => a.kind === 'switch-traffic').slice(-1);
    const ordered = [...reversed.filter((a) => a.kind !== 'switch-traffic'), ...traffic];
    for (const action of ordered) {
      try {
        log.info({ undo: action.kind, site: 'site' in action ? action.site : undefined }, 'undo');
        await this.applyUndo(action);
      } catch (err) {
        const msg = `${action.kind}${'site' in action ? ` on ${action.site}` : ''}: ${(err as Error).message}`;
        log.error({ err, undo: action.kind }, 'undo failed');
        failures.push(msg);
      }
    }
    return failures;
  }

  async applyUndo(action: UndoAction): Promise<void> {
    const { sites, settings } = this.deps;
    switch (action.kind) {
      case 'remove-staging': {
        const files = sites[action.site].files;
        if (await files.exists(action.path)) await files.removeOwnedTree(action.path);
        return;
      }
      case 'start-container': {
        const c = sites[action.site].container;
        if ((await c.inspect()).status !== 'running') await c.start();
        return;
      }
      case 'stop-container': {
        const c = sites[action.site].container;
        if ((await c.inspect()).status === 'running') await c.stop(settings.stopTimeoutS);
        return;
      }
      case 'restore-tree': {
        const files = sites[action.site].files;
        if (!(await files.exists(action.snapshotPath))) return; // already restored, or never moved
        const c = sites[action.site].container;
        if ((await c.inspect()).status === 'running') await c.stop(settings.stopTimeoutS);
        if (await files.exists(action.discardPath)) await files.removeOwnedTree(action.discardPath);
        if (await files.exists(action.configDir)) await files.rename(action.configDir, action.discardPath);
        await files.rename(action.snapshotPath, action.configDir);
        if (await files.exists(action.discardPath)) await files.removeOwnedTree(action.discardPath);
        return;
      }
      case 'set-restart-policy':
        await sites[action.site].container.setRestartPolicy(action.policy);
        return;
      case 'switch-traffic':
        await this.deps.traffic.switchTo(action.primary, action.primary === 'master' ? 'slave' : 'master');
        return;
      case 'restore-state':
        await this.deps.store.save(action.state);
        return;
    }
  }

  /** At start: an operation a crash interrupted is rolled back (or completed, if it had committed). */
  async recover(): Promise<'none' | 'rolled_back' | 'completed' | 'rollback_failed'> {
    const lock = await this.deps.store.lock('recovery');
    try {
      return await this.recoverLocked(lock.staleOwner);
    } finally {
      await lock.release();
    }
  }

  private async recoverLocked(
    staleOwner: string | null,
  ): Promise<'none' | 'rolled_back' | 'completed' | 'rollback_failed'> {
    const journal = await this.deps.store.readJournal();
    if (!journal) return 'none';
    const log = this.deps.logger.child({ operation: journal.kind, id: journal.id, phase: 'recovery' });
    log.warn({ step: journal.step, staleOwner }, 'found an interrupted operation');
    let outcome: 'rolled_back' | 'completed' | 'rollback_failed';
    if (journal.committed) {
      outcome = 'completed';
    } else {
      const failures = await this.undoAll(journal.undo, journal.kind);
      outcome = failures.length === 0 ? 'rolled_back' : 'rollback_failed';
      const state = await this.deps.store.load();
      if (journal.kind !== 'rollback') {
        state.lastSync = {
          at: new Date().toISOString(),
          result: outcome === 'rolled_back' ? 'rolled_back' : 'failed',
          durationS: 0,
          bytes: 0,
          files: 0,
          primaryDowntimeS: 0,
          error: `interrupted at ${journal.step} (the process was killed, or its rollback could not reach a site) and rolled back later`,
        };
      }
      await this.deps.store.save(state);
    }
    if (outcome !== 'rollback_failed') await this.deps.store.clearJournal();
    this.deps.observer.event(
      makeEvent(
        'recovered_after_crash',
        `${journal.kind} was interrupted at ${journal.step}; it was ${outcome === 'completed' ? 'completed' : outcome === 'rolled_back' ? 'rolled back' : 'rolled back with problems'}`,
        { operation: journal.kind, step: journal.step, outcome },
      ),
    );
    log.warn({ outcome }, 'recovery finished');
    return outcome;
  }
}

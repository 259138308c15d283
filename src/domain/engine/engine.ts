/**
 * Runs one operation's plan: journal, steps, and on any failure the recorded undos (undo.ts) in reverse. At start
 * and before every operation, `recover` finds an operation a crash interrupted from the journal and rolls it
 * back, or completes it if it had committed. One operation at a time is the gate's business (gate.ts): the engine
 * is only ever called holding it.
 */
import { OperationError, RefusedError } from '../errors.js';
import { type EngineObserver, IDLE, makeEvent, type OperationStatus } from '../events.js';
import { siteOf, type UndoAction } from '../journal.js';
import type { Log } from '../log.js';
import type { Copier, Site, StateStore, TrafficSwitch } from '../ports.js';
import type { SiteName } from '../sites.js';
import { lastSyncRecord, type OperationKind, type PersistentState } from '../state.js';
import { type UndoFailure, type UndoWorld, undoAll } from '../undo.js';
import type { EngineSettings, OperationResult, PlanFor } from './plan.js';
import { OperationRun } from './run.js';

export interface EngineDeps {
  sites: Record<SiteName, Site>;
  store: StateStore;
  copier: Copier;
  traffic: TrafficSwitch;
  settings: EngineSettings;
  log: Log;
  observer: EngineObserver;
}

export type RecoveryOutcome = 'none' | 'rolled_back' | 'completed' | 'rollback_failed';

export class Engine {
  private current: OperationRun | null = null;

  constructor(private readonly deps: EngineDeps) {}

  /** The operation in progress, as `B/state.operation` shows it. */
  status(): OperationStatus {
    return this.current?.status() ?? IDLE;
  }

  /** Saves the persistent state and tells the observers. */
  async saveState(state: PersistentState): Promise<void> {
    await this.deps.store.save(state);
    this.deps.observer.state(state);
  }

  loadState(): Promise<PersistentState> {
    return this.deps.store.load();
  }

  /**
   * Runs the plan `prepare` picks from the current state; `prepare` may throw RefusedError. Resolves with the
   * result; rejects with RefusedError (nothing changed) or OperationError (rolled back).
   */
  async run(kind: OperationKind, force: boolean, prepare: PlanFor): Promise<OperationResult> {
    const before = await this.deps.store.load();
    const { plan, from, to } = prepare(before);
    const sites = this.deps.sites;
    const run = new OperationRun(this.deps, plan, before, force, sites[from], sites[to], this.deps.log);
    this.current = run;
    if (kind !== 'rollback') {
      run.emit(
        makeEvent('sync_started', `${kind} started: ${from} -> ${to}`, { operation: kind, from, to, force }),
      );
    }
    try {
      return await this.execute(run);
    } finally {
      this.current = null;
      this.deps.observer.operation(IDLE);
    }
  }

  private async execute(run: OperationRun): Promise<OperationResult> {
    const { store } = this.deps;
    await store.writeJournal(run.journal);
    run.log.info({ from: run.from.name, to: run.to.name, force: run.force }, 'operation started');
    for (const [index, step] of run.plan.steps.entries()) {
      await run.enterStep(index, step.name);
      const t0 = Date.now();
      try {
        run.log.info({ step: step.name }, 'step started');
        await step.run(run);
        run.log.info({ step: step.name, ms: Date.now() - t0 }, 'step done');
      } catch (err) {
        const error = err instanceof Error ? err : new Error(String(err));
        if (err instanceof RefusedError && run.journal.undo.length === 0) {
          run.log.warn({ step: step.name, reason: err.reason }, `refused: ${error.message}`);
          await store.clearJournal();
          throw err;
        }
        run.log.error({ step: step.name, err: error }, 'step failed; rolling back');
        const failures = await this.failAndRollBack(run, step.name, error);
        const merged = run.journal.merged?.applied.length ?? 0;
        const after =
          (failures.length === 0
            ? 'Everything it changed was put back.'
            : `Rolling back left problems (${failures.map((f) => f.message).join('; ')}); they are retried at the next start or operation.`) +
          (merged > 0
            ? ` The ${merged} watch-state change(s) the merge set on ${run.from.name} stay (they are what users did; the next merge goes on from them).`
            : '');
        throw new OperationError(
          `${run.kind} failed at step ${step.name}: ${error.message}. ${after}`,
          step.name,
          {
            cause: error,
          },
        );
      }
    }
    run.stepProgress(1);
    run.plan.succeeded(run);
    const fingerprint = run.next.standbyFingerprint;
    if (run.watchBase && fingerprint?.value) {
      // Before the state: a crash between the two leaves the old fingerprint's base as the previous one.
      await store.saveBase({
        site: fingerprint.site,
        digest: fingerprint.value,
        at: fingerprint.at,
        state: run.watchBase,
      });
    }
    await this.saveState(run.next);
    run.journal.committed = true;
    await store.writeJournal(run.journal);
    await store.clearJournal();
    run.log.info({ durationS: run.durationS(), bytes: run.bytes, files: run.files }, 'operation succeeded');
    return {
      id: run.journal.id,
      kind: run.kind,
      durationS: run.durationS(),
      bytes: run.bytes,
      files: run.files,
      primaryDowntimeS: run.downtimeS(),
      state: run.next,
    };
  }

  private async failAndRollBack(run: OperationRun, step: string, error: Error): Promise<UndoFailure[]> {
    const kind = run.kind;
    run.emit(
      makeEvent(
        kind === 'rollback' ? 'rollback_failed' : 'sync_failed',
        `${kind} failed at ${step}: ${error.message}`,
        {
          operation: kind,
          step,
          error: error.message,
        },
      ),
    );
    const failures = await this.undo(run.journal.undo, run.log);
    const state = await this.deps.store.load();
    if (kind !== 'rollback') {
      state.lastSync = lastSyncRecord({
        result: failures.length === 0 ? 'rolled_back' : 'failed',
        durationS: run.durationS(),
        bytes: run.bytes,
        files: run.files,
        primaryDowntimeS: run.downtimeS(),
        error: `${step}: ${error.message}`,
      });
    }
    await this.saveState(state);
    // Undos that failed (a site unreachable) stay in the journal: recovery retries them (all are idempotent).
    if (failures.length === 0) {
      await this.deps.store.clearJournal();
      run.emit(
        makeEvent('rolled_back', `${kind} was rolled back after ${step} failed`, {
          operation: kind,
          step,
          automatic: true,
        }),
      );
    } else {
      const text = failures.map((f) => f.message).join('; ');
      run.emit(
        makeEvent('rollback_failed', `rolling back ${kind} left problems: ${text}`, {
          operation: kind,
          step,
          error: text,
        }),
      );
    }
    return failures;
  }

  private undo(actions: readonly UndoAction[], log: Log): Promise<UndoFailure[]> {
    const rollbackLog = log.child({ phase: 'rollback' });
    return undoAll(actions, this.undoWorld(), (action, err) => {
      if (err) rollbackLog.error({ err, undo: action.kind, site: siteOf(action) }, 'undo failed');
      else rollbackLog.info({ undo: action.kind, site: siteOf(action) }, 'undone');
    });
  }

  private undoWorld(): UndoWorld {
    const { sites, traffic, settings } = this.deps;
    return {
      site: (name) => sites[name],
      stopTimeoutS: settings.stopTimeoutS,
      switchTraffic: (primary, standby) => traffic.switchTo(primary, standby),
      restoreState: (state) => this.saveState(state),
    };
  }

  /** An operation a crash interrupted is rolled back (or completed, if it had committed). Call holding the gate. */
  async recover(staleOwner: string | null): Promise<RecoveryOutcome> {
    const { store, observer } = this.deps;
    const journal = await store.readJournal();
    if (!journal) return 'none';
    const log = this.deps.log.child({ operation: journal.kind, id: journal.id, phase: 'recovery' });
    log.warn({ step: journal.step, staleOwner }, 'found an interrupted operation');
    let outcome: Exclude<RecoveryOutcome, 'none'>;
    if (journal.committed) {
      outcome = 'completed';
    } else {
      const failures = await this.undo(journal.undo, log);
      outcome = failures.length === 0 ? 'rolled_back' : 'rollback_failed';
      const state = await store.load();
      if (journal.kind !== 'rollback') {
        state.lastSync = lastSyncRecord({
          result: outcome === 'rolled_back' ? 'rolled_back' : 'failed',
          error: `interrupted at ${journal.step} (the process was killed, or its rollback could not reach a site) and rolled back later`,
        });
      }
      await this.saveState(state);
    }
    if (outcome !== 'rollback_failed') await store.clearJournal();
    const said = {
      completed: 'completed',
      rolled_back: 'rolled back',
      rollback_failed: 'rolled back with problems',
    };
    observer.event(
      makeEvent(
        'recovered_after_crash',
        `${journal.kind} was interrupted at ${journal.step}; it was ${said[outcome]}`,
        {
          operation: journal.kind,
          step: journal.step,
          outcome,
        },
      ),
    );
    log.warn({ outcome }, 'recovery finished');
    return outcome;
  }
}

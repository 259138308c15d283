/**
 * The front door of every operation, for the service and the CLI alike: claims the gate, takes the lock file,
 * recovers what a crash left, fences a demoted site that answers again, picks the plan and has the engine run it.
 */
import type { Engine, RecoveryOutcome } from '../engine/engine.js';
import type { GateOwner, OperationGate } from '../engine/gate.js';
import type { EngineSettings, OperationResult, PlanFor } from '../engine/plan.js';
import { RefusedError } from '../errors.js';
import type { EngineObserver } from '../events.js';
import type { Log } from '../log.js';
import { siteReachable } from '../observe.js';
import type { Site } from '../ports.js';
import type { SiteName } from '../sites.js';
import type { OperationKind, PersistentState } from '../state.js';
import { failbackPlan } from './failback.js';
import { fencePendingSite } from './fence.js';
import { chooseSyncMode } from './mode.js';
import { promotePlan, promoteWithoutCopyPlan } from './promote.js';
import { rollbackPlan } from './rollback.js';
import { onlineSyncPlan, syncPlan } from './sync.js';

export interface OperationsDeps {
  engine: Engine;
  settings: EngineSettings;
  gate: OperationGate;
  sites: Record<SiteName, Site>;
  observer: EngineObserver;
  stopTimeoutS: number;
  log: Log;
}

export interface RunOptions {
  force: boolean;
  /** sync only: merge a diverged standby's watch state into the primary instead of refusing (issue 13). */
  merge?: boolean;
}

export class Operations {
  constructor(private readonly deps: OperationsDeps) {}

  /**
   * Runs one operation. The gate is claimed before the first await, so of two calls in the same tick exactly one
   * runs; the other rejects with RefusedError(`busy`).
   */
  run(kind: OperationKind, options: RunOptions): Promise<OperationResult> {
    const ticket = this.deps.gate.enter(kind);
    return (async () => {
      try {
        const { staleOwner } = await ticket.lock();
        if ((await this.deps.engine.recover(staleOwner)) === 'rollback_failed') {
          throw new RefusedError(
            `an interrupted operation could not be rolled back completely (see the log); ${kind} was not started. Make the site it names reachable, then retry.`,
            'recovery_failed',
          );
        }
        await this.fenceHeld();
        return await this.deps.engine.run(
          kind,
          options.force,
          await this.planFor(kind, options.merge ?? false),
        );
      } finally {
        await ticket.release();
      }
    })();
  }

  /** The persistent state as stored now. */
  state(): Promise<PersistentState> {
    return this.deps.engine.loadState();
  }

  /** At start: an operation a crash interrupted is rolled back, or completed if it had committed. */
  recover(): Promise<RecoveryOutcome> {
    return this.deps.gate.run('recovery', ({ staleOwner }) => this.deps.engine.recover(staleOwner));
  }

  /**
   * Fences a site demoted while unreachable, if it answers now. Skipped (false) while anything else holds the
   * gate; the next operation does it first.
   */
  async fencePending(): Promise<boolean> {
    const owner: GateOwner = 'fence';
    if (this.deps.gate.local) return false;
    if (!(await this.deps.engine.loadState()).fence?.pending) return false;
    try {
      return await this.deps.gate.run(owner, () => this.fenceHeld());
    } catch (err) {
      if (err instanceof RefusedError && err.reason === 'busy') return false;
      throw err;
    }
  }

  private async fenceHeld(): Promise<boolean> {
    const { engine, sites, stopTimeoutS, log, observer } = this.deps;
    const outcome = await fencePendingSite(engine, sites, stopTimeoutS, log);
    if (outcome.event) observer.event(outcome.event);
    return outcome.fenced;
  }

  private async planFor(kind: OperationKind, merge: boolean): Promise<PlanFor> {
    switch (kind) {
      case 'sync': {
        const { settings, engine, sites, log } = this.deps;
        const source = sites[(await engine.loadState()).primary];
        const mode = await chooseSyncMode(settings.syncMode, source, settings.layout, settings.excludes);
        if (mode.mode === 'stopped' && settings.syncMode !== 'stopped')
          log.warn({ why: mode.why }, 'sync stops the primary');
        return (state) =>
          mode.mode === 'online' ? onlineSyncPlan(state, mode, merge) : syncPlan(state, mode, merge);
      }
      case 'promote':
        return (await siteReachable(this.deps.sites.master)) ? promotePlan : promoteWithoutCopyPlan;
      case 'failback':
        return failbackPlan;
      case 'rollback':
        return rollbackPlan;
    }
  }
}

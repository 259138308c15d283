import type { SiteName } from '../../config/schema.js';
import type { OperationPlan, OperationRun } from '../engine.js';
import { makeEvent } from '../events.js';
import { type PersistentState, standbyOf } from '../state.js';
import {
  commitState,
  finalCopy,
  preCopy,
  preflightCopy,
  prepareStaging,
  restartSource,
  stampBanner,
  startDestination,
  stopSite,
  swapTrees,
  verifyCopy,
} from './steps.js';

/**
 * sync: primary -> standby; the primary stays primary. Its downtime is stop + final pass + start.
 * The standby's previous tree is kept as the snapshot `rollback` restores.
 */
export function syncPlan(state: PersistentState): { plan: OperationPlan; from: SiteName; to: SiteName } {
  const plan: OperationPlan = {
    kind: 'sync',
    steps: [
      preflightCopy({ checkVersions: false }),
      prepareStaging(),
      preCopy(),
      // The standby first: it serves nobody, so the primary's downtime is only its stop + final pass + start.
      stopSite('stop-standby', 'to', { downtime: false }),
      stopSite('stop-primary', 'from', { downtime: true }),
      finalCopy(),
      restartSource('start-primary'),
      verifyCopy(),
      stampBanner(),
      swapTrees(),
      startDestination('start-standby', { always: false }),
      commitState(),
    ],
    succeeded: (run) => recordCopy(run, 'sync'),
  };
  return { plan, from: state.primary, to: standbyOf(state) };
}

/** Bookkeeping shared by every operation that copied a tree: last sync, fingerprint, snapshot. */
export function recordCopy(run: OperationRun, kind: 'sync' | 'promote' | 'failback'): void {
  const at = new Date().toISOString();
  const next = run.next;
  next.lastSync = {
    at,
    result: 'success',
    durationS: run.durationS(),
    bytes: run.bytes,
    files: run.files,
    primaryDowntimeS: run.downtimeS(),
    error: null,
  };
  next.lastCopyInto[run.to.name] = at;
  next.lastOperation = {
    id: run.journal.id,
    kind,
    finishedAt: at,
    primaryBefore: run.before.primary,
    snapshot: {
      site: run.to.name,
      path: `${run.to.configDir}.jf-failover-snapshot`,
      configDir: run.to.configDir,
    },
    containersBefore: run.containersBefore,
    fenceBefore: run.before.fence,
  };
  const standby = standbyOf(next);
  next.standbyFingerprint = run.fingerprint ? { site: standby, value: run.fingerprint, at } : null;
  if (kind === 'sync') {
    run.deps.observer.event(
      makeEvent(
        'sync_succeeded',
        `${run.from.name} was copied to ${run.to.name} in ${run.durationS()} s (${run.files} files changed, ${run.downtimeS()} s downtime)`,
        {
          operation: 'sync',
          durationS: run.durationS(),
          bytes: run.bytes,
          files: run.files,
          primaryDowntimeS: run.downtimeS(),
        },
      ),
    );
  }
}

import { type PreparedPlan, type Step, step } from '../engine/plan.js';
import { type PersistentState, standbyOf } from '../state.js';
import { recordCopy } from './record.js';
import { restartSource, startDestination, stopSite } from './steps/containers.js';
import {
  finalCopy,
  preCopy,
  preCopyDatabases,
  prepareStaging,
  stampBanner,
  swapTrees,
  verifyCopy,
} from './steps/copy.js';
import { commitState } from './steps/finish.js';
import { mergeStandby } from './steps/merge.js';
import { copySnapshots, removeSnapshots, snapshotDatabases } from './steps/online.js';
import { preflightCopy } from './steps/preflight.js';

/** How a sync treats the primary, and why (SYNC_MODE, and what the source site can do). */
export interface SyncMode {
  mode: 'online' | 'stopped';
  why: string;
}

/**
 * With `merge`: a diverged standby's changes are carried into the primary first (steps/merge.ts), the standby
 * stopped before, so nothing more lands on it; then the sync goes on and the standby receives the merged state.
 */
function mergeSteps(merge: boolean): Step[] {
  if (!merge) return [];
  const stop = stopSite('stop-standby', 'to', { downtime: false });
  return [
    step('stop-standby-to-merge', stop.weight, async (run) => {
      if (run.details.diverged) await stop.run(run);
    }),
    mergeStandby(),
  ];
}

/**
 * sync, online: the primary never stops. Files are copied while it runs, its databases snapshotted while it
 * writes (consistent, checked), the files copied once more after the snapshot; only the standby stops, to have its
 * tree swapped. The standby's previous tree is kept as the snapshot `rollback` restores.
 */
export function onlineSyncPlan(state: PersistentState, mode: SyncMode, merge = false): PreparedPlan {
  return {
    from: state.primary,
    to: standbyOf(state),
    plan: {
      kind: 'sync',
      steps: [
        preflightCopy({ checkVersions: false, merge }),
        ...mergeSteps(merge),
        prepareStaging(),
        preCopy('pre-copy', { always: true }),
        snapshotDatabases(),
        preCopy('catch-up-copy', { always: true }),
        copySnapshots(),
        verifyCopy(),
        stampBanner(),
        stopSite('stop-standby', 'to', { downtime: false }),
        swapTrees(),
        startDestination('start-standby', { always: false }),
        removeSnapshots(),
        commitState(),
      ],
      succeeded: (run) => recordCopy(run, 'sync', mode),
    },
  };
}

/**
 * sync, stopped: primary -> standby; the primary stays primary. Its downtime is stop + one final pass (deltas of
 * what changed since the pre-copy) + start. The standby's previous tree is kept as the snapshot `rollback`
 * restores.
 */
export function syncPlan(
  state: PersistentState,
  mode: SyncMode = { mode: 'stopped', why: 'SYNC_MODE=stopped' },
  merge = false,
): PreparedPlan {
  return {
    from: state.primary,
    to: standbyOf(state),
    plan: {
      kind: 'sync',
      steps: [
        preflightCopy({ checkVersions: false, merge }),
        ...mergeSteps(merge),
        prepareStaging(),
        preCopy(),
        preCopyDatabases(),
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
      succeeded: (run) => recordCopy(run, 'sync', mode),
    },
  };
}

import type { PreparedPlan } from '../engine/plan.js';
import { type PersistentState, standbyOf } from '../state.js';
import { recordCopy } from './record.js';
import { restartSource, startDestination, stopSite } from './steps/containers.js';
import { finalCopy, preCopy, prepareStaging, stampBanner, swapTrees, verifyCopy } from './steps/copy.js';
import { commitState } from './steps/finish.js';
import { preflightCopy } from './steps/preflight.js';

/**
 * sync: primary -> standby; the primary stays primary. Its downtime is stop + final pass + start. The standby's
 * previous tree is kept as the snapshot `rollback` restores.
 */
export function syncPlan(state: PersistentState): PreparedPlan {
  return {
    from: state.primary,
    to: standbyOf(state),
    plan: {
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
    },
  };
}

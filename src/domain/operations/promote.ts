import type { PreparedPlan } from '../engine/plan.js';
import { step } from '../engine/plan.js';
import { RefusedError } from '../errors.js';
import { makeEvent } from '../events.js';
import { formatAge } from '../format.js';
import type { PersistentState } from '../state.js';
import { recordCopy } from './record.js';
import { ensureRunning, fence, startDestination, stopSite } from './steps/containers.js';
import {
  finalCopy,
  preCopy,
  preCopyDatabases,
  prepareStaging,
  stampBanner,
  swapTrees,
  verifyCopy,
} from './steps/copy.js';
import { commitState, switchTraffic } from './steps/finish.js';
import { preflightCopy, preflightSlaveOnly } from './steps/preflight.js';

/** promote, master reachable: a sync from master to slave, but master stays stopped and fenced, and users go to slave. */
export function promotePlan(state: PersistentState): PreparedPlan {
  refuseUnlessMasterPrimary(state);
  return {
    from: 'master',
    to: 'slave',
    plan: {
      kind: 'promote',
      steps: [
        preflightCopy({ checkVersions: true }),
        prepareStaging(),
        preCopy(),
        preCopyDatabases(),
        stopSite('stop-slave', 'to', { downtime: false }),
        stopSite('stop-master', 'from', { downtime: true }),
        finalCopy(),
        fence('fence-master', 'from'),
        verifyCopy(),
        stampBanner(),
        swapTrees(),
        startDestination('start-slave', { always: true }),
        switchTraffic('to'),
        commitState(),
      ],
      succeeded: (run) => {
        run.downtimeEnds();
        recordCopy(run, 'promote');
        run.next.primary = 'slave';
        run.next.epoch = run.before.epoch + 1;
        run.next.standbyFingerprint = null; // master is fenced: it cannot diverge
        run.emit(
          makeEvent(
            'promoted',
            `slave is now primary; master's data was copied to it first (${run.durationS()} s)`,
            {
              operation: 'promote',
              copied: true,
              dataAgeS: 0,
              primaryDowntimeS: run.downtimeS(),
            },
          ),
        );
      },
    },
  };
}

/**
 * promote, master unreachable: nothing can be copied; slave serves its last synced data, users go to it, and
 * master is fenced as soon as it can be reached again (its restart policy is read from it then).
 */
export function promoteWithoutCopyPlan(state: PersistentState): PreparedPlan {
  refuseUnlessMasterPrimary(state);
  return {
    from: 'master',
    to: 'slave',
    plan: {
      kind: 'promote',
      steps: [
        preflightSlaveOnly(),
        step('start-slave', 10, (run) => ensureRunning(run, run.to)),
        switchTraffic('to'),
        commitState(),
      ],
      succeeded: (run) => {
        const lastCopy = run.before.lastCopyInto.slave;
        const dataAgeS = lastCopy ? Math.round((Date.now() - Date.parse(lastCopy)) / 1000) : null;
        run.next.primary = 'slave';
        run.next.epoch = run.before.epoch + 1;
        run.next.fence = { site: 'master', previousRestartPolicy: null, pending: true };
        run.next.standbyFingerprint = null;
        run.next.lastOperation = {
          id: run.journal.id,
          kind: 'promote',
          finishedAt: new Date().toISOString(),
          primaryBefore: 'master',
          snapshot: null,
          containersBefore: run.containersBefore,
          fenceBefore: run.before.fence,
        };
        const age =
          dataAgeS === null
            ? 'slave was never synced by this service'
            : `slave's data is from the sync ${formatAge(dataAgeS)} ago`;
        run.emit(
          makeEvent('promoted', `master is unreachable: slave is now primary without a copy; ${age}`, {
            operation: 'promote',
            copied: false,
            dataAgeS,
            lastSyncAt: lastCopy,
          }),
        );
      },
    },
  };
}

function refuseUnlessMasterPrimary(state: PersistentState): void {
  if (state.primary !== 'master') {
    throw new RefusedError(
      'slave is already primary; use failback to make master primary again.',
      'already_primary',
    );
  }
}

import type { PreparedPlan } from '../engine/plan.js';
import { RefusedError } from '../errors.js';
import { makeEvent } from '../events.js';
import type { PersistentState } from '../state.js';
import { recordCopy } from './record.js';
import { restartSource, startDestination, stopSite, unfence } from './steps/containers.js';
import { finalCopy, preCopy, preCopyDatabases, prepareStaging, swapTrees, verifyCopy } from './steps/copy.js';
import { commitState, switchTraffic } from './steps/finish.js';
import { preflightCopy } from './steps/preflight.js';

/**
 * failback: slave -> master, carrying back what users did on slave; master becomes primary again. Master is the
 * standby here, the only time anything writes to it (rule 1). Its own branding.xml is kept: the banner never
 * reaches master.
 */
export function failbackPlan(state: PersistentState): PreparedPlan {
  if (state.primary !== 'slave') {
    throw new RefusedError('master is already primary; there is nothing to fail back.', 'already_primary');
  }
  return {
    from: 'slave',
    to: 'master',
    plan: {
      kind: 'failback',
      steps: [
        preflightCopy({ checkVersions: true }),
        prepareStaging(),
        preCopy(),
        preCopyDatabases(),
        stopSite('stop-slave', 'from', { downtime: true }),
        stopSite('stop-master', 'to', { downtime: false }),
        finalCopy(),
        restartSource('start-slave'),
        verifyCopy(),
        swapTrees(),
        unfence('unfence-master', 'to'),
        startDestination('start-master', { always: true }),
        switchTraffic('to'),
        commitState(),
      ],
      succeeded: (run) => {
        // Roles first: the fingerprint recordCopy takes belongs to the standby after the failback (slave).
        run.next.primary = 'master';
        run.next.epoch = run.before.epoch + 1;
        run.next.fence = null;
        recordCopy(run, 'failback');
        run.emit(
          makeEvent('failed_back', `master is primary again with slave's data (${run.files} files changed)`, {
            operation: 'failback',
            durationS: run.durationS(),
            bytes: run.bytes,
            files: run.files,
          }),
        );
      },
    },
  };
}

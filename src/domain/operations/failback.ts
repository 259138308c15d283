import type { SiteName } from '../../config/schema.js';
import { RefusedError } from '../../errors.js';
import type { OperationPlan } from '../engine.js';
import { makeEvent } from '../events.js';
import type { PersistentState } from '../state.js';
import {
  commitState,
  finalCopy,
  preCopy,
  preflightCopy,
  prepareStaging,
  restartSource,
  startDestination,
  stopSite,
  swapTrees,
  switchTraffic,
  unfence,
  verifyCopy,
} from './steps.js';
import { recordCopy } from './sync.js';

/**
 * failback: slave -> master, carrying back what users did on slave; master becomes primary again. Master is
 * the standby here, the only time anything writes to it (rule 1). Its own branding.xml is kept: the banner
 * never reaches master.
 */
export function failbackPlan(state: PersistentState): { plan: OperationPlan; from: SiteName; to: SiteName } {
  if (state.primary !== 'slave') {
    throw new RefusedError('master is already primary; there is nothing to fail back.', 'already_primary');
  }
  const plan: OperationPlan = {
    kind: 'failback',
    steps: [
      preflightCopy({ checkVersions: true }),
      prepareStaging(),
      preCopy(),
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
      recordCopy(run, 'failback');
      run.next.primary = 'master';
      run.next.epoch = run.before.epoch + 1;
      run.next.fence = null;
      run.deps.observer.event(
        makeEvent('failed_back', `master is primary again with slave's data (${run.files} files changed)`, {
          operation: 'failback',
          durationS: run.durationS(),
          bytes: run.bytes,
          files: run.files,
        }),
      );
    },
  };
  return { plan, from: 'slave', to: 'master' };
}

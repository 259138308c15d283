import type { SiteName } from '../../config/schema.js';
import { RefusedError } from '../../errors.js';
import type { OperationPlan } from '../engine.js';
import { makeEvent } from '../events.js';
import type { PersistentState } from '../state.js';
import {
  commitState,
  fence,
  finalCopy,
  preCopy,
  preflightCopy,
  prepareStaging,
  stampBanner,
  startDestination,
  step,
  stopSite,
  swapTrees,
  switchTraffic,
  verifyCopy,
  waitHealthy,
} from './steps.js';
import { recordCopy } from './sync.js';

/**
 * promote, master reachable: a sync from master to slave, but master stays stopped and fenced, and users go
 * to slave.
 */
export function promotePlan(state: PersistentState): { plan: OperationPlan; from: SiteName; to: SiteName } {
  refuseUnlessMasterPrimary(state);
  const plan: OperationPlan = {
    kind: 'promote',
    steps: [
      preflightCopy({ checkVersions: true }),
      prepareStaging(),
      preCopy(),
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
      run.downtimeTo = Date.now();
      recordCopy(run, 'promote');
      run.next.primary = 'slave';
      run.next.epoch = run.before.epoch + 1;
      run.next.standbyFingerprint = null; // master is fenced: it cannot diverge
      run.deps.observer.event(
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
  };
  return { plan, from: 'master', to: 'slave' };
}

/**
 * promote, master unreachable: nothing can be copied; slave serves its last synced data, users go to it, and
 * master is fenced as soon as it can be reached again.
 */
export function promoteWithoutCopyPlan(state: PersistentState): {
  plan: OperationPlan;
  from: SiteName;
  to: SiteName;
} {
  refuseUnlessMasterPrimary(state);
  const plan: OperationPlan = {
    kind: 'promote',
    steps: [
      step('preflight', 1, async (run) => {
        if (!(await run.to.files.reachable())) {
          throw new RefusedError(
            'neither master nor slave can be reached; nothing was changed.',
            'unreachable',
          );
        }
        const info = await run.to.container.inspect();
        if (info.status === 'missing') {
          throw new RefusedError(
            `container ${run.to.container.name} does not exist on slave.`,
            'container_missing',
          );
        }
        run.containersBefore.slave = {
          running: info.status === 'running',
          restartPolicy: info.restartPolicy,
        };
      }),
      step('start-slave', 10, async (run) => {
        if ((await run.to.container.inspect()).status !== 'running') {
          await run.undoFirst({ kind: 'stop-container', site: 'slave' });
          await run.to.container.start();
        }
        await waitHealthy(run, run.to);
      }),
      switchTraffic('to'),
      commitState(),
    ],
    succeeded: (run) => {
      const lastCopy = run.before.lastCopyInto.slave;
      const dataAgeS = lastCopy ? Math.round((Date.now() - Date.parse(lastCopy)) / 1000) : null;
      run.next.primary = 'slave';
      run.next.epoch = run.before.epoch + 1;
      run.next.fence = { site: 'master', previousRestartPolicy: 'unless-stopped', pending: true };
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
      run.deps.observer.event(
        makeEvent('promoted', `master is unreachable: slave is now primary without a copy; ${age}`, {
          operation: 'promote',
          copied: false,
          dataAgeS,
          lastSyncAt: lastCopy,
        }),
      );
    },
  };
  return { plan, from: 'master', to: 'slave' };
}

function refuseUnlessMasterPrimary(state: PersistentState): void {
  if (state.primary !== 'master') {
    throw new RefusedError(
      'slave is already primary; use failback to make master primary again.',
      'already_primary',
    );
  }
}

export function formatAge(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} days`;
}

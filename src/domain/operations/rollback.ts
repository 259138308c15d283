import { type PreparedPlan, step } from '../engine/plan.js';
import type { OperationRun } from '../engine/run.js';
import { RefusedError } from '../errors.js';
import { makeEvent } from '../events.js';
import { treePaths } from '../paths.js';
import { mayRun } from '../ports.js';
import { other, type SiteName } from '../sites.js';
import type { LastOperation, PersistentState } from '../state.js';
import { ensureRunning, waitHealthy } from './steps/containers.js';
import { switchTraffic } from './steps/finish.js';

/**
 * rollback: undo the last operation. The snapshot of the tree it replaced goes back in place, and roles,
 * containers, restart policies and traffic return to what they were before it.
 */
export function rollbackPlan(state: PersistentState): PreparedPlan {
  const last = state.lastOperation;
  if (!last) {
    throw new RefusedError(
      'there is no operation to roll back (none recorded since the last rollback).',
      'nothing_to_roll_back',
    );
  }
  const restored: SiteName = last.snapshot?.site ?? 'slave';
  const primaryAfter = last.primaryBefore;
  return {
    from: other(restored),
    to: restored,
    plan: {
      kind: 'rollback',
      steps: [
        step('preflight', 1, async (run) => {
          if (last.snapshot && !(await run.to.files.exists(last.snapshot.path))) {
            throw new RefusedError(
              `the snapshot ${last.snapshot.path} on ${restored} is gone; the ${last.kind} cannot be rolled back.`,
              'snapshot_missing',
            );
          }
          for (const site of [run.from, run.to]) {
            if (!(await site.files.reachable())) {
              throw new RefusedError(`${site.name} cannot be reached; nothing was changed.`, 'unreachable');
            }
          }
        }),
        step('stop-restored', 3, async (run) => {
          if (!last.snapshot) return;
          if (!mayRun((await run.to.container.inspect()).status)) return;
          await run.undoFirst({ kind: 'start-container', site: run.to.name });
          await run.to.container.stop(run.settings.stopTimeoutS);
        }),
        step('restore-tree', 5, (run) => restoreTree(run, last)),
        step('restore-restart-policies', 1, (run) => restorePolicies(run, last.containersBefore)),
        step('start-primary', 10, (run) => ensureRunning(run, run.site(primaryAfter))),
        switchTraffic(primaryAfter === restored ? 'to' : 'from'),
        step('restore-standby', 10, async (run) => {
          const standby = run.site(other(primaryAfter));
          const wasRunning = last.containersBefore[standby.name]?.running ?? false;
          const info = await standby.container.inspect();
          if (wasRunning && info.status !== 'running') {
            await run.undoFirst({ kind: 'stop-container', site: standby.name });
            await standby.container.start();
            await waitHealthy(run, standby);
          } else if (!wasRunning && info.status === 'running') {
            await run.undoFirst({ kind: 'start-container', site: standby.name });
            await standby.container.stop(run.settings.stopTimeoutS);
          }
        }),
        step('commit', 1, async (run) => {
          await run.undoFirst({ kind: 'restore-state', state: run.before });
          if (!last.snapshot) return;
          // The replaced tree is dropped only now; the restore-tree undo no longer applies.
          await run.releaseUndo('restore-tree');
          await run.to.files.removeOwnedTree(treePaths(last.snapshot.configDir).staging);
        }),
      ],
      succeeded: (run) => {
        run.next.primary = primaryAfter;
        run.next.epoch = primaryAfter === run.before.primary ? run.before.epoch : run.before.epoch + 1;
        run.next.lastOperation = null;
        // The standby's tree from before is back, and with it the fingerprint taken after the copy that made it.
        run.next.standbyFingerprint = last.fingerprintBefore ?? null;
        run.next.fence = last.fenceBefore;
        if (run.next.lastSync) run.next.lastSync = { ...run.next.lastSync, result: 'rolled_back' };
        run.emit(
          makeEvent('rolled_back', `the last ${last.kind} was rolled back; ${primaryAfter} is primary`, {
            operation: 'rollback',
            undone: last.kind,
            automatic: false,
          }),
        );
      },
    },
  };
}

/** The snapshot goes back in place; the tree it replaces is kept as staging until the rollback has succeeded. */
async function restoreTree(run: OperationRun, last: LastOperation): Promise<void> {
  if (!last.snapshot) return;
  const paths = treePaths(last.snapshot.configDir);
  const files = run.to.files;
  if (await files.exists(paths.staging)) await files.removeOwnedTree(paths.staging);
  await run.undoFirst({
    kind: 'restore-tree',
    site: run.to.name,
    configDir: last.snapshot.configDir,
    snapshotPath: paths.staging,
    discardPath: paths.discard,
    keepReplacedAs: last.snapshot.path,
  });
  await files.rename(last.snapshot.configDir, paths.staging);
  await files.rename(last.snapshot.path, last.snapshot.configDir);
}

async function restorePolicies(run: OperationRun, before: LastOperation['containersBefore']): Promise<void> {
  for (const name of ['master', 'slave'] as const) {
    const wanted = before[name]?.restartPolicy;
    if (!wanted) continue;
    const c = run.site(name).container;
    const now = (await c.inspect()).restartPolicy;
    if (now === wanted) continue;
    await run.undoFirst({ kind: 'set-restart-policy', site: name, policy: now });
    await c.setRestartPolicy(wanted);
  }
}

import { type Step, step } from '../../engine/plan.js';

/** Sends users to the new primary; the undo sends them back. */
export function switchTraffic(primary: 'from' | 'to'): Step {
  return step('switch-traffic', 2, async (run) => {
    await run.undoFirst({ kind: 'switch-traffic', primary: run.before.primary });
    await run.switchTraffic(run[primary].name);
  });
}

/** Records the new facts; the undo writes the old state back. */
export function commitState(): Step {
  return step('commit', 1, async (run) => {
    await run.undoFirst({ kind: 'restore-state', state: run.before });
  });
}

/**
 * The undo interpreter: what each UndoAction of journal.ts does, and in which order a list of them runs. Used by
 * the engine's automatic rollback and by crash recovery alike.
 */
import { errorMessage } from './errors.js';
import { siteOf, type UndoAction } from './journal.js';
import { mayRun, type Site } from './ports.js';
import { other, type SiteName } from './sites.js';
import type { PersistentState } from './state.js';

/** What undos act on. */
export interface UndoWorld {
  site(name: SiteName): Site;
  stopTimeoutS: number;
  switchTraffic(primary: SiteName, standby: SiteName): Promise<void>;
  restoreState(state: PersistentState): Promise<void>;
}

/**
 * Last recorded first, and traffic at the very end: switching is verified through the proxy, which needs the old
 * primary running again, and that is what the other undos do. One switch suffices (each records the primary from
 * before the operation).
 */
export function undoOrder(actions: readonly UndoAction[]): UndoAction[] {
  const reversed = [...actions].reverse();
  const traffic = reversed.filter((a) => a.kind === 'switch-traffic').slice(-1);
  return [...reversed.filter((a) => a.kind !== 'switch-traffic'), ...traffic];
}

export async function applyUndo(action: UndoAction, world: UndoWorld): Promise<void> {
  switch (action.kind) {
    case 'remove-staging': {
      const files = world.site(action.site).files;
      if (await files.exists(action.path)) await files.removeOwnedTree(action.path);
      return;
    }
    case 'start-container': {
      const c = world.site(action.site).container;
      if ((await c.inspect()).status !== 'running') await c.start();
      return;
    }
    case 'stop-container': {
      const c = world.site(action.site).container;
      if (mayRun((await c.inspect()).status)) await c.stop(world.stopTimeoutS);
      return;
    }
    case 'restore-tree': {
      const site = world.site(action.site);
      const files = site.files;
      if (!(await files.exists(action.snapshotPath))) return; // already restored, or never moved
      if (mayRun((await site.container.inspect()).status)) await site.container.stop(world.stopTimeoutS);
      if (await files.exists(action.configDir)) {
        const keep = action.keepReplacedAs;
        const aside = keep !== undefined && !(await files.exists(keep)) ? keep : action.discardPath;
        if (aside === action.discardPath && (await files.exists(aside))) await files.removeOwnedTree(aside);
        await files.rename(action.configDir, aside);
      }
      await files.rename(action.snapshotPath, action.configDir);
      if (await files.exists(action.discardPath)) await files.removeOwnedTree(action.discardPath);
      return;
    }
    case 'set-restart-policy':
      await world.site(action.site).container.setRestartPolicy(action.policy);
      return;
    case 'switch-traffic':
      await world.switchTraffic(action.primary, other(action.primary));
      return;
    case 'restore-state':
      await world.restoreState(action.state);
      return;
  }
}

export interface UndoFailure {
  action: UndoAction;
  message: string;
}

/** Runs every undo in `undoOrder`, going on past a failing one; returns what failed. */
export async function undoAll(
  actions: readonly UndoAction[],
  world: UndoWorld,
  onUndo: (action: UndoAction, error: unknown) => void,
): Promise<UndoFailure[]> {
  const failures: UndoFailure[] = [];
  for (const action of undoOrder(actions)) {
    try {
      await applyUndo(action, world);
      onUndo(action, null);
    } catch (err) {
      onUndo(action, err);
      const site = siteOf(action);
      failures.push({ action, message: `${action.kind}${site ? ` on ${site}` : ''}: ${errorMessage(err)}` });
    }
  }
  return failures;
}

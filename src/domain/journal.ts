import type { SiteName } from './sites.js';
import type { OperationKind, PersistentState } from './state.js';

/**
 * An undo is data, not a closure: it is written to the journal before the change it undoes, so that after a
 * crash the next start can run it (src/domain/undo.ts). Every undo is idempotent: running it twice, or after a
 * partial run, is safe.
 */
export type UndoAction =
  /** Remove a tree the service made (staging, snapshot files) that never became live. */
  | { kind: 'remove-staging'; site: SiteName; path: string }
  /** Start a container that was running before the operation stopped it. */
  | { kind: 'start-container'; site: SiteName }
  /** Stop a container the operation started. */
  | { kind: 'stop-container'; site: SiteName }
  /**
   * Put the pre-operation tree (at `snapshotPath`) back in place of the new one. The new tree is discarded, or kept
   * as `keepReplacedAs` when that is free (a rollback's undo keeps the snapshot it was restoring).
   */
  | {
      kind: 'restore-tree';
      site: SiteName;
      configDir: string;
      snapshotPath: string;
      discardPath: string;
      keepReplacedAs?: string;
    }
  | { kind: 'set-restart-policy'; site: SiteName; policy: string }
  | { kind: 'switch-traffic'; primary: SiteName }
  | { kind: 'restore-state'; state: PersistentState };

export type UndoKind = UndoAction['kind'];

export interface Journal {
  id: string;
  kind: OperationKind;
  pid: number;
  startedAt: string;
  force: boolean;
  step: string;
  /** In the order they were recorded; rollback runs them last to first. */
  undo: UndoAction[];
  /** Set once the last step succeeded: recovery completes instead of rolling back. */
  committed: boolean;
  /**
   * What a merge applied to the primary (issue 13), change by change: not undone by a rollback (it is what users
   * did), and resumed from STATE_DIR/merge.json by the next merge.
   */
  merged?: { record: string; applied: string[] };
}

export function siteOf(action: UndoAction): SiteName | undefined {
  return 'site' in action ? action.site : undefined;
}

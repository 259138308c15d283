import type { SiteName } from '../config/schema.js';
import type { OperationKind, PersistentState } from './state.js';

/**
 * An undo is data, not a closure: it is written to the journal before the change it undoes, so that after a
 * crash the next start can run it. Every undo is idempotent (running it twice, or after a partial run, is safe).
 */
export type UndoAction =
  /** Remove a staging tree that never became live. */
  | { kind: 'remove-staging'; site: SiteName; path: string }
  /** Start a container that was running before the operation stopped it. */
  | { kind: 'start-container'; site: SiteName }
  /** Stop a container the operation started. */
  | { kind: 'stop-container'; site: SiteName }
  /** Put the pre-operation tree back in place of the new one. */
  | { kind: 'restore-tree'; site: SiteName; configDir: string; snapshotPath: string; discardPath: string }
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
}

import type { SiteName } from '../config/schema.js';

export type OperationKind = 'sync' | 'promote' | 'failback' | 'rollback';
export const OPERATION_KINDS: readonly OperationKind[] = ['sync', 'promote', 'failback', 'rollback'];

export type SyncResult = 'success' | 'failed' | 'rolled_back';

export interface LastSync {
  at: string;
  result: SyncResult;
  durationS: number;
  bytes: number;
  files: number;
  primaryDowntimeS: number;
  error: string | null;
}

/** Taken from the standby's database right after a copy; a different value later means users wrote to it. */
export interface Fingerprint {
  site: SiteName;
  value: string;
  at: string;
}

/** What a finished operation changed, so that `rollback` can put it back. */
export interface LastOperation {
  id: string;
  kind: Exclude<OperationKind, 'rollback'>;
  finishedAt: string;
  primaryBefore: SiteName;
  /** The destination's tree before the copy, kept beside it; null when nothing was copied. */
  snapshot: { site: SiteName; path: string; configDir: string } | null;
  /** Restart policies and running states before the operation. */
  containersBefore: Record<SiteName, { running: boolean; restartPolicy: string } | null>;
  /** The fence before the operation, put back by rollback. */
  fenceBefore: Fence | null;
}

/** A demoted primary: stopped and kept from restarting. `pending` while it could not be reached to do it. */
export interface Fence {
  site: SiteName;
  previousRestartPolicy: string;
  pending: boolean;
}

/** The facts the service owns across restarts (STATE_DIR/state.json). Everything else is observed. */
export interface PersistentState {
  schema: 1;
  primary: SiteName;
  epoch: number;
  lastSync: LastSync | null;
  standbyFingerprint: Fingerprint | null;
  fence: Fence | null;
  lastOperation: LastOperation | null;
  /** The last data copy into each site (ISO), to say how old a promoted slave's data is. */
  lastCopyInto: Record<SiteName, string | null>;
}

export function initialState(): PersistentState {
  return {
    schema: 1,
    primary: 'master',
    epoch: 0,
    lastSync: null,
    standbyFingerprint: null,
    fence: null,
    lastOperation: null,
    lastCopyInto: { master: null, slave: null },
  };
}

export function other(site: SiteName): SiteName {
  return site === 'master' ? 'slave' : 'master';
}

export function standbyOf(state: Pick<PersistentState, 'primary'>): SiteName {
  return other(state.primary);
}

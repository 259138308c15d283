import { round1 } from './format.js';
import { other, type SiteName } from './sites.js';

/** The operations of SPEC section 3, in its order; `B/state.operation.kind` is one of these or `idle`. */
export const OPERATION_KINDS = ['sync', 'promote', 'failback', 'rollback'] as const;
export type OperationKind = (typeof OPERATION_KINDS)[number];

export const SYNC_RESULTS = ['success', 'failed', 'rolled_back'] as const;
export type SyncResult = (typeof SYNC_RESULTS)[number];

export interface LastSync {
  at: string;
  result: SyncResult;
  durationS: number;
  bytes: number;
  files: number;
  primaryDowntimeS: number;
  error: string | null;
}

/**
 * The digest of the standby's watch state right after a copy (watch-state.ts); a different value later means users
 * wrote to it. `value` null: it could not be read then (`unknown` says why), so the rule cannot be evaluated.
 */
export interface Fingerprint {
  site: SiteName;
  value: string | null;
  at: string;
  unknown?: string;
  /**
   * The site's own cheap hash of its user-data tables right after the copy (SiteDatabasesPort.changeToken): the
   * same hash later means the same rows, so the digest need not be read again. Absent where no token exists.
   */
  token?: string;
}

/** Running state and restart policy of a container before an operation. */
export interface ContainerBefore {
  running: boolean;
  restartPolicy: string;
}

/** What a finished operation changed, so that `rollback` can put it back. */
export interface LastOperation {
  id: string;
  kind: Exclude<OperationKind, 'rollback'>;
  finishedAt: string;
  primaryBefore: SiteName;
  /** The destination's tree before the copy, kept beside it; null when nothing was copied. */
  snapshot: { site: SiteName; path: string; configDir: string } | null;
  containersBefore: Record<SiteName, ContainerBefore | null>;
  /** The fence before the operation, put back by rollback. */
  fenceBefore: Fence | null;
  /** The standby fingerprint before the operation, put back by rollback with the tree it belongs to. */
  fingerprintBefore?: Fingerprint | null;
}

/** A demoted primary: stopped and kept from restarting. `pending` while it could not be reached to do it. */
export interface Fence {
  site: SiteName;
  /** The restart policy its container had before it was fenced, read from the container; null until then. */
  previousRestartPolicy: string | null;
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

export function standbyOf(state: Pick<PersistentState, 'primary'>): SiteName {
  return other(state.primary);
}

/** The one place `lastSync` is built: after a copy, a rollback, or a recovery. */
export function lastSyncRecord(input: {
  result: SyncResult;
  durationS?: number;
  bytes?: number;
  files?: number;
  primaryDowntimeS?: number;
  error?: string | null;
  at?: Date;
}): LastSync {
  return {
    at: (input.at ?? new Date()).toISOString(),
    result: input.result,
    durationS: round1(input.durationS ?? 0),
    bytes: input.bytes ?? 0,
    files: input.files ?? 0,
    primaryDowntimeS: round1(input.primaryDowntimeS ?? 0),
    error: input.error ?? null,
  };
}

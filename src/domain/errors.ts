/**
 * The errors the domain raises and understands. Each message says what failed and what the user can do; `cause`
 * keeps the original. The CLI maps them to exit codes (src/cli/exit.ts).
 */

/** Why an operation was refused before it changed anything (SPEC section 4 rules, or the service's state). */
export type RefusalReason =
  | 'busy'
  | 'recovery_failed'
  | 'unreachable'
  | 'container_missing'
  | 'container_mismatch'
  | 'destination_missing'
  | 'source_not_jellyfin'
  | 'standby_diverged'
  | 'divergence_unknown'
  | 'version_mismatch'
  | 'version_unknown'
  | 'low_disk_space'
  | 'layout'
  | 'already_primary'
  | 'nothing_to_roll_back'
  | 'snapshot_missing'
  | 'online_unavailable'
  | 'merge_unavailable'
  | 'merge_failed';

/** An operation was refused by a safety rule, or because another one is running. Nothing was changed. */
export class RefusedError extends Error {
  override readonly name = 'RefusedError';
  constructor(
    message: string,
    readonly reason: RefusalReason,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A step of an operation failed; the message says which, and what the rollback left. */
export class OperationError extends Error {
  override readonly name = 'OperationError';
  constructor(
    message: string,
    /** The step that failed, e.g. `final-copy`. */
    readonly step: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Why a host could not be reached; lets the domain tell "host down" from "host refused us". */
export type HostUnreachableReason =
  | 'refused'
  | 'timeout'
  | 'auth'
  | 'host-key'
  | 'dropped'
  | 'network'
  | 'key-file';

/**
 * A site's host could not be reached or used: connection refused or timed out, key or host key refused, or the
 * connection dropped mid-command (the command may or may not have run). The message names the host and says what
 * to do; `hint` holds that advice alone.
 */
export class HostUnreachableError extends Error {
  override readonly name = 'HostUnreachableError';
  constructor(
    /** `user@host:port` or another label naming the host. */
    readonly host: string,
    readonly reason: HostUnreachableReason,
    what: string,
    readonly hint: string,
    options?: ErrorOptions,
  ) {
    super(`${host}: ${what}. ${hint}`, options);
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Jellyfin's API did not do what the merge asked: the key is missing or refused (`unauthorized`), the server does
 * not answer (`unreachable`), or it answered with an error (`rejected`). The message says which and what to do.
 */
export class MergeApiError extends Error {
  override readonly name = 'MergeApiError';
  constructor(
    message: string,
    readonly kind: 'unauthorized' | 'unreachable' | 'rejected',
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

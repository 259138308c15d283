/**
 * The error classes a user can meet. Each message says what failed and what to do; `cause` keeps the original.
 * The CLI maps them to the exit codes of SPEC section 6.
 */

export interface ConfigProblem {
  variable: string;
  message: string;
}

/** Bad configuration: every problem at once, by variable name. Exit code 2. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: ConfigProblem[]) {
    super(
      `Invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${problems
        .map((p) => `  ${p.variable} ${p.message}`)
        .join('\n')}\nNothing was changed. Fix these in .env (or the environment) and run again.`,
    );
  }
}

/** Bad command line. Exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** An operation was refused by a safety rule of SPEC section 4, or because another one is running. Exit code 3. */
export class RefusedError extends Error {
  override readonly name = 'RefusedError';
  constructor(
    message: string,
    /** Which rule or condition refused, e.g. `standby_diverged`, `busy`, `version_mismatch`. */
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A step of an operation failed (after rollback, if any). Exit code 1. */
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

/** A command run on a site (rsync, ssh, docker exec) failed. */
export class CommandError extends Error {
  override readonly name: string = 'CommandError';
  constructor(
    message: string,
    readonly command: string,
    readonly exitCode: number | undefined,
    readonly stderr: string,
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
 * A site's host could not be reached or used over SSH: connection refused or timed out, key or host key refused,
 * or the connection dropped mid-command (the command may or may not have run). The message names the host and
 * says what to do; `hint` holds that advice alone.
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

export const EXIT = { ok: 0, failed: 1, usage: 2, refused: 3 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export function exitCodeFor(err: unknown): ExitCode {
  if (err instanceof ConfigError || err instanceof UsageError) return EXIT.usage;
  if (err instanceof RefusedError) return EXIT.refused;
  return EXIT.failed;
}

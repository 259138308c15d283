import { ConfigError } from '../config/errors.js';
import { RefusedError } from '../domain/errors.js';

/** Bad command line. Exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The exit codes of SPEC section 6. */
export const EXIT = { ok: 0, failed: 1, usage: 2, refused: 3 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export function exitCodeFor(err: unknown): ExitCode {
  if (err instanceof ConfigError || err instanceof UsageError) return EXIT.usage;
  if (err instanceof RefusedError) return EXIT.refused;
  return EXIT.failed;
}

/**
 * The one deadline helper: a call that may hang (a silent host, a Docker endpoint that stopped answering) is given
 * up after `ms`, so neither an operation nor its rollback can hang on it.
 */

export class DeadlineError extends Error {
  override readonly name = 'DeadlineError';
}

/** Resolves or rejects as `promise` does, or rejects with a DeadlineError saying `what` after `ms`. */
export async function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineError(`${what} did not answer within ${formatMs(ms)}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** `promise`'s value, or `fallback` when it rejects or takes longer than `ms`. */
export async function orFallback<T>(promise: Promise<T>, ms: number, fallback: T): Promise<T> {
  try {
    return await withDeadline(promise, ms, 'call');
  } catch {
    return fallback;
  }
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

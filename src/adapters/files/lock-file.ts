/**
 * The operation lock as a file (STATE_DIR/lock), shared by the service and every CLI process on one STATE_DIR.
 * Created with O_EXCL; a lock whose process is gone is taken over (the journal says what it was doing).
 */
import { mkdir, open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { RefusedError } from '../../domain/errors.js';
import type { LockHolder, OperationLock } from '../../domain/ports.js';
import { readOptional, safeJson } from './atomic.js';

const lockSchema = z.object({ pid: z.number().int(), owner: z.string(), at: z.string() });

/** Whether a process with this pid exists (EPERM: it does, owned by someone else). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class FileLock implements OperationLock {
  private readonly path: string;

  constructor(private readonly dir: string) {
    this.path = join(dir, 'lock');
  }

  async holder(): Promise<LockHolder | null> {
    const held = lockSchema.safeParse(safeJson((await readOptional(this.path)) ?? ''));
    return held.success && pidAlive(held.data.pid) ? held.data : null;
  }

  async acquire(owner: string): Promise<{ release(): Promise<void>; staleOwner: string | null }> {
    await mkdir(this.dir, { recursive: true });
    const path = this.path;
    const body = `${JSON.stringify({ pid: process.pid, owner, at: new Date().toISOString() })}\n`;
    let staleOwner: string | null = null;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fh = await open(path, 'wx', 0o600);
        try {
          await fh.writeFile(body);
          await fh.sync();
        } finally {
          await fh.close();
        }
        return {
          staleOwner,
          release: async () => {
            await unlink(path).catch(() => undefined);
          },
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const held = lockSchema.safeParse(safeJson((await readOptional(path)) ?? ''));
      if (held.success && held.data.pid !== process.pid && pidAlive(held.data.pid)) {
        throw new RefusedError(
          `Another operation is running (${held.data.owner}, pid ${held.data.pid}, since ${held.data.at}); wait for it to finish.`,
          'busy',
        );
      }
      if (held.success && held.data.pid === process.pid) {
        throw new RefusedError(
          `An operation is already running in this process (${held.data.owner}).`,
          'busy',
        );
      }
      // Left by a dead process (or unreadable): take it over. The journal tells what was interrupted.
      staleOwner = held.success ? `${held.data.owner} (pid ${held.data.pid})` : 'unknown';
      await unlink(path).catch(() => undefined);
    }
    throw new RefusedError(`Could not take the lock ${path}; another process keeps taking it.`, 'busy');
  }
}

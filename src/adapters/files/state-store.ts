import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { Journal } from '../../domain/journal.js';
import type { StateStore } from '../../domain/ports.js';
import { initialState, type PersistentState } from '../../domain/state.js';
import { RefusedError } from '../../errors.js';

/** Writes a file so that a reader (or a crash) sees the old content or the new one, never half of it. */
export async function writeFileAtomic(path: string, data: string): Promise<void> {
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  const dir = await open(join(path, '..'), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

const site = z.enum(['master', 'slave']);
const fenceSchema = z.object({ site, previousRestartPolicy: z.string(), pending: z.boolean() });
const stateSchema = z.object({
  schema: z.literal(1),
  primary: site,
  epoch: z.number().int().nonnegative(),
  lastSync: z
    .object({
      at: z.string(),
      result: z.enum(['success', 'failed', 'rolled_back']),
      durationS: z.number(),
      bytes: z.number(),
      files: z.number(),
      primaryDowntimeS: z.number(),
      error: z.string().nullable(),
    })
    .nullable(),
  standbyFingerprint: z.object({ site, value: z.string(), at: z.string() }).nullable(),
  fence: fenceSchema.nullable(),
  lastOperation: z
    .object({
      id: z.string(),
      kind: z.enum(['sync', 'promote', 'failback']),
      finishedAt: z.string(),
      primaryBefore: site,
      snapshot: z.object({ site, path: z.string(), configDir: z.string() }).nullable(),
      containersBefore: z.object({
        master: z.object({ running: z.boolean(), restartPolicy: z.string() }).nullable(),
        slave: z.object({ running: z.boolean(), restartPolicy: z.string() }).nullable(),
      }),
      fenceBefore: fenceSchema.nullable(),
    })
    .nullable(),
  lastCopyInto: z.object({ master: z.string().nullable(), slave: z.string().nullable() }),
});

const undoSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('remove-staging'), site, path: z.string() }),
  z.object({ kind: z.literal('start-container'), site }),
  z.object({ kind: z.literal('stop-container'), site }),
  z.object({
    kind: z.literal('restore-tree'),
    site,
    configDir: z.string(),
    snapshotPath: z.string(),
    discardPath: z.string(),
  }),
  z.object({ kind: z.literal('set-restart-policy'), site, policy: z.string() }),
  z.object({ kind: z.literal('switch-traffic'), primary: site }),
  z.object({ kind: z.literal('restore-state'), state: stateSchema }),
]);

const journalSchema = z.object({
  id: z.string(),
  kind: z.enum(['sync', 'promote', 'failback', 'rollback']),
  pid: z.number().int(),
  startedAt: z.string(),
  force: z.boolean(),
  step: z.string(),
  undo: z.array(undoSchema),
  committed: z.boolean(),
});

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

/** The state directory on the service's own disk: `state.json`, `journal.json`, `lock`. */
export class FileStateStore implements StateStore {
  constructor(private readonly dir: string) {}

  private path(name: string): string {
    return join(this.dir, name);
  }

  async load(): Promise<PersistentState> {
    const text = await readOptional(this.path('state.json'));
    if (text === null) return initialState();
    const parsed = stateSchema.safeParse(safeJson(text));
    if (!parsed.success) {
      throw new Error(
        `${this.path('state.json')} is not a valid state file (${parsed.error.issues[0]?.message ?? 'bad JSON'}). ` +
          'It was left untouched: fix or move it away, then start again (a missing file means "master is primary").',
      );
    }
    return parsed.data;
  }

  async save(state: PersistentState): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await writeFileAtomic(this.path('state.json'), `${JSON.stringify(state, null, 2)}\n`);
  }

  async readJournal(): Promise<Journal | null> {
    const text = await readOptional(this.path('journal.json'));
    if (text === null) return null;
    const parsed = journalSchema.safeParse(safeJson(text));
    if (!parsed.success) {
      throw new Error(
        `${this.path('journal.json')} is unreadable (${parsed.error.issues[0]?.message ?? 'bad JSON'}): an operation was ` +
          'interrupted and its undo list is lost. Check both sites by hand, then delete the file.',
      );
    }
    return parsed.data;
  }

  async writeJournal(journal: Journal): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await writeFileAtomic(this.path('journal.json'), `${JSON.stringify(journal, null, 2)}\n`);
  }

  async clearJournal(): Promise<void> {
    await rm(this.path('journal.json'), { force: true });
  }

  async lock(owner: string): Promise<{ release(): Promise<void>; staleOwner: string | null }> {
    await mkdir(this.dir, { recursive: true });
    const path = this.path('lock');
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

async function readOptional(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * What a merge needs kept in STATE_DIR (issue 13): the watch state of the last copies (`watch-base.json.gz`, and
 * the one before as `watch-base.prev.json.gz`, for the fingerprint a rollback puts back), and the merge being
 * applied (`merge.json`: plan and progress, rewritten after each change; `merge-standby.json.gz`: the standby's
 * watch state the plan was made from, written once). Compressed: a 20k-item library with a few users is tens of
 * megabytes of JSON and a few of gzip. Each file is parsed into its type at the edge and written atomically.
 */
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { z } from 'zod';
import type { MergePlan, MergeRecord, WatchBase } from '../../domain/merge.js';
import { SITE_NAMES } from '../../domain/sites.js';
import type { WatchState } from '../../domain/watch-state.js';
import { readOptional, readOptionalBytes, safeJson, writeFileAtomic } from './atomic.js';

const site = z.enum(SITE_NAMES);
/** What a user owns of one user-data key (watch-state.ts), and what a merge may set of it. */
const owned = z.object({
  played: z.boolean(),
  playCount: z.number(),
  position: z.number(),
  lastPlayed: z.string().nullable(),
  favorite: z.boolean(),
  rating: z.number().nullable(),
  likes: z.boolean().nullable(),
});
const watchStateSchema: z.ZodType<WatchState> = z.object({
  family: z.enum(['library-db', 'jellyfin-db']),
  users: z.array(z.object({ id: z.string(), name: z.string() })),
  entries: z.array(owned.extend({ user: z.string(), key: z.string(), itemId: z.string().nullable() })),
});
const baseSchema = z.object({ site, digest: z.string(), at: z.string(), state: watchStateSchema });
const fields = owned.partial();
const planSchema: z.ZodType<MergePlan> = z.object({
  changes: z.array(
    z.object({
      id: z.string(),
      user: z.string(),
      userName: z.string(),
      itemId: z.string(),
      itemName: z.string().nullable(),
      set: fields,
    }),
  ),
  conflicts: z.array(
    z.object({
      user: z.string(),
      userName: z.string(),
      itemId: z.string().nullable(),
      itemName: z.string().nullable(),
      field: z.enum(['playback', 'favorite', 'rating', 'likes']),
      primary: z.unknown(),
      standby: z.unknown(),
      kept: z.literal('primary'),
    }),
  ),
  unplaced: z.number(),
});
const recordSchema = z.object({
  id: z.string(),
  site,
  baseDigest: z.string(),
  standbyDigest: z.string(),
  createdAt: z.string(),
  plan: planSchema,
  applied: z.array(z.string()),
  missing: z.array(z.string()),
});

function unreadable(path: string, why: string): Error {
  return new Error(
    `${path} is unreadable (${why}). It was left untouched: move it away to merge from scratch (a merge then needs a new sync first).`,
  );
}

export class MergeFiles {
  constructor(private readonly dir: string) {}

  private path(name: string): string {
    return join(this.dir, name);
  }

  private async readGzipJson<T>(name: string, schema: z.ZodType<T>): Promise<T | null> {
    const bytes = await readOptionalBytes(this.path(name));
    if (bytes === null) return null;
    let json: unknown;
    try {
      json = JSON.parse(gunzipSync(bytes).toString('utf8'));
    } catch (err) {
      throw unreadable(this.path(name), (err as Error).message);
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) throw unreadable(this.path(name), parsed.error.issues[0]?.message ?? 'bad content');
    return parsed.data;
  }

  private writeGzipJson(name: string, value: unknown): Promise<void> {
    return writeFileAtomic(this.path(name), gzipSync(JSON.stringify(value)));
  }

  async saveBase(base: WatchBase): Promise<void> {
    const current = this.path('watch-base.json.gz');
    if ((await readOptionalBytes(current)) !== null)
      await rename(current, this.path('watch-base.prev.json.gz'));
    await this.writeGzipJson('watch-base.json.gz', base);
  }

  async loadBase(digest: string): Promise<WatchBase | null> {
    for (const name of ['watch-base.json.gz', 'watch-base.prev.json.gz']) {
      const base = await this.readGzipJson(name, baseSchema);
      if (base?.digest === digest) return base;
    }
    return null;
  }

  async loadMerge(): Promise<MergeRecord | null> {
    const text = await readOptional(this.path('merge.json'));
    if (text === null) return null;
    const parsed = recordSchema.safeParse(safeJson(text));
    if (!parsed.success) {
      throw unreadable(this.path('merge.json'), parsed.error.issues[0]?.message ?? 'bad JSON');
    }
    const standby = await this.readGzipJson('merge-standby.json.gz', watchStateSchema);
    if (standby === null) throw unreadable(this.path('merge-standby.json.gz'), 'missing beside merge.json');
    return { ...parsed.data, standby };
  }

  /** The standby's state is written when the record is new (its id changes), the progress every time. */
  async saveMerge(record: MergeRecord): Promise<void> {
    const { standby, ...progress } = record;
    const previous = safeJson((await readOptional(this.path('merge.json'))) ?? '') as
      | { id?: string }
      | undefined;
    if (previous?.id !== record.id) await this.writeGzipJson('merge-standby.json.gz', standby);
    await writeFileAtomic(this.path('merge.json'), `${JSON.stringify(progress, null, 2)}\n`);
  }
}

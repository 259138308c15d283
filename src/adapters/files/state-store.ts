/**
 * STATE_DIR on the service's own disk: `state.json` (the persistent state) and `journal.json` (the operation in
 * progress), each parsed into its type at the edge and written atomically.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { Journal } from '../../domain/journal.js';
import type { MergeRecord, WatchBase } from '../../domain/merge.js';
import type { StateStore } from '../../domain/ports.js';
import { SITE_NAMES } from '../../domain/sites.js';
import { initialState, OPERATION_KINDS, type PersistentState, SYNC_RESULTS } from '../../domain/state.js';
import { readOptional, safeJson, writeFileAtomic } from './atomic.js';
import { MergeFiles } from './merge-files.js';

const site = z.enum(SITE_NAMES);
const fenceSchema = z.object({ site, previousRestartPolicy: z.string().nullable(), pending: z.boolean() });
const fingerprintSchema = z.object({
  site,
  value: z.string().nullable(),
  at: z.string(),
  unknown: z.string().optional(),
  token: z.string().optional(),
});
const containerBefore = z.object({ running: z.boolean(), restartPolicy: z.string() }).nullable();
const stateSchema = z.object({
  schema: z.literal(1),
  primary: site,
  epoch: z.number().int().nonnegative(),
  lastSync: z
    .object({
      at: z.string(),
      result: z.enum(SYNC_RESULTS),
      durationS: z.number(),
      bytes: z.number(),
      files: z.number(),
      primaryDowntimeS: z.number(),
      error: z.string().nullable(),
    })
    .nullable(),
  standbyFingerprint: fingerprintSchema.nullable(),
  fence: fenceSchema.nullable(),
  lastOperation: z
    .object({
      id: z.string(),
      kind: z.enum(['sync', 'promote', 'failback']),
      finishedAt: z.string(),
      primaryBefore: site,
      snapshot: z.object({ site, path: z.string(), configDir: z.string() }).nullable(),
      containersBefore: z.object({ master: containerBefore, slave: containerBefore }),
      fenceBefore: fenceSchema.nullable(),
      fingerprintBefore: fingerprintSchema.nullable().optional(),
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
    keepReplacedAs: z.string().optional(),
  }),
  z.object({ kind: z.literal('set-restart-policy'), site, policy: z.string() }),
  z.object({ kind: z.literal('switch-traffic'), primary: site }),
  z.object({ kind: z.literal('restore-state'), state: stateSchema }),
]);

const journalSchema = z.object({
  id: z.string(),
  kind: z.enum(OPERATION_KINDS),
  pid: z.number().int(),
  startedAt: z.string(),
  force: z.boolean(),
  step: z.string(),
  undo: z.array(undoSchema),
  committed: z.boolean(),
  merged: z.object({ record: z.string(), applied: z.array(z.string()) }).optional(),
});

export class FileStateStore implements StateStore {
  private readonly merges: MergeFiles;

  constructor(private readonly dir: string) {
    this.merges = new MergeFiles(dir);
  }

  async saveBase(base: WatchBase): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await this.merges.saveBase(base);
  }

  loadBase(digest: string): Promise<WatchBase | null> {
    return this.merges.loadBase(digest);
  }

  loadMerge(): Promise<MergeRecord | null> {
    return this.merges.loadMerge();
  }

  async saveMerge(record: MergeRecord): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await this.merges.saveMerge(record);
  }

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
}

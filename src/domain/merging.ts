/**
 * Where a merge starts from, for the merge step, its preview (`merge --dry-run`, `status --json`, the
 * `standby_diverged` event and state) alike: the base (the watch state of the last copy, or, when a merge over that
 * copy was already applied, the standby's state it was made from), the standby's and the primary's watch state now,
 * and the changes of a recorded merge not yet applied.
 */
import { locateDatabases, readWatch } from './databases.js';
import type { Layout } from './layout.js';
import { type MergeChange, type MergePlan, type MergeRecord, planMerge } from './merge.js';
import type { Site, StateStore } from './ports.js';
import type { Fingerprint } from './state.js';
import type { WatchState } from './watch-state.js';

export type MergeStore = Pick<StateStore, 'loadBase' | 'loadMerge'>;

export interface MergeBasis {
  /** What the standby's changes are counted from. */
  state: WatchState;
  digest: string;
  /** The recorded merge over the same copy (its changes not yet applied are `pending`), or null. */
  record: MergeRecord | null;
  pending: MergeChange[];
}

/** A merge over the copy `recorded` stands on; null when nothing it needs is saved (why in `why`). */
export async function mergeBasis(
  store: MergeStore,
  standby: Site,
  recorded: Fingerprint,
): Promise<{ ok: true; basis: MergeBasis } | { ok: false; why: string }> {
  if (recorded.site !== standby.name || recorded.value === null) {
    return { ok: false, why: `the watch state of ${standby.name} after the last copy is not known` };
  }
  const record = await store.loadMerge();
  if (record && record.site === standby.name && record.baseDigest === recorded.value) {
    const done = new Set([...record.applied, ...record.missing]);
    return {
      ok: true,
      basis: {
        state: record.standby,
        digest: record.standbyDigest,
        record,
        pending: record.plan.changes.filter((c) => !done.has(c.id)),
      },
    };
  }
  const base = await store.loadBase(recorded.value);
  if (!base) {
    return {
      ok: false,
      why:
        `the watch state of the last copy to ${standby.name} was not saved (copies by earlier versions of jellyfin-failover ` +
        'did not save it, nor does a copy whose watch state could not be read)',
    };
  }
  return { ok: true, basis: { state: base.state, digest: base.digest, record: null, pending: [] } };
}

export interface WatchNow {
  state: WatchState;
  digest: string;
}

/** A site's watch state now, or why it cannot be read. */
export async function watchNow(
  site: Site,
  layout: Layout | 'auto',
  version: string | null,
): Promise<
  | { ok: true; now: WatchNow; names: (ids: string[]) => Promise<Map<string, string>> }
  | { ok: false; why: string }
> {
  const located = await locateDatabases(site, layout, version);
  if (!located) return { ok: false, why: `no Jellyfin database found in ${site.name}'s ${site.configDir}` };
  const read = await readWatch(site, located.paths, located.family);
  if (!read.ok) return { ok: false, why: read.why };
  return {
    ok: true,
    now: { state: read.state, digest: read.digest },
    names: (ids) => site.databases.itemNames(located.paths, located.family, ids),
  };
}

/** The plan of the standby's new changes (since `basis`) against the primary now, with item names. */
export async function planFrom(
  basis: MergeBasis,
  standby: WatchNow,
  primary: WatchNow,
  names: (ids: string[]) => Promise<Map<string, string>>,
): Promise<MergePlan> {
  if (standby.digest === basis.digest) return { changes: [], conflicts: [], unplaced: 0 };
  const draft = planMerge(basis.state, standby.state, primary.state);
  const ids = [
    ...new Set([...draft.changes.map((c) => c.itemId), ...draft.conflicts.flatMap((c) => c.itemId ?? [])]),
  ];
  return planMerge(basis.state, standby.state, primary.state, await names(ids));
}

export interface MergePreview {
  /** Changes a merge would set on the primary (a recorded merge's pending ones included). */
  changes: MergeChange[];
  conflicts: MergePlan['conflicts'];
  unplaced: number;
}

/** What a merge would carry now, or why it cannot be told; changes nothing. */
export async function previewMerge(input: {
  store: MergeStore;
  primary: Site;
  standby: Site;
  recorded: Fingerprint | null;
  layout: Layout | 'auto';
  versions: { primary: string | null; standby: string | null };
}): Promise<{ ok: true; preview: MergePreview } | { ok: false; why: string }> {
  const { store, primary, standby, recorded, layout, versions } = input;
  if (!recorded)
    return { ok: false, why: 'no copy to the standby is recorded: there is nothing to merge against' };
  const found = await mergeBasis(store, standby, recorded);
  if (!found.ok) return found;
  const s = await watchNow(standby, layout, versions.standby);
  if (!s.ok) return s;
  const p = await watchNow(primary, layout, versions.primary);
  if (!p.ok) return p;
  const plan = await planFrom(found.basis, s.now, p.now, p.names);
  const fresh = new Set(plan.changes.map((c) => c.id));
  return {
    ok: true,
    preview: {
      changes: [...found.basis.pending.filter((c) => !fresh.has(c.id)), ...plan.changes],
      conflicts: plan.conflicts,
      unplaced: plan.unplaced,
    },
  };
}

/** One line per change and conflict, for people: "alice: The Matrix: played, position 0". */
export function describePreview(preview: MergePreview): string[] {
  const lines = preview.changes.map((c) => `${c.userName}: ${c.itemName ?? c.itemId}: ${describeSet(c.set)}`);
  for (const c of preview.conflicts) {
    lines.push(
      `conflict, ${c.userName}: ${c.itemName ?? c.itemId ?? 'an item'}: ${c.field} differs on both sides, the primary's is kept`,
    );
  }
  if (preview.unplaced > 0)
    lines.push(`${preview.unplaced} changed keys belong to no item the primary knows: not carried`);
  return lines;
}

export function describeSet(set: MergeChange['set']): string {
  const parts: string[] = [];
  if (set.played !== undefined) parts.push(set.played ? 'played' : 'unplayed');
  if (set.playCount !== undefined) parts.push(`play count ${set.playCount}`);
  if (set.position !== undefined) parts.push(`position ${formatTicks(set.position)}`);
  if (set.lastPlayed !== undefined) parts.push(`last played ${set.lastPlayed ?? 'never'}`);
  if (set.favorite !== undefined) parts.push(set.favorite ? 'favourite' : 'not favourite');
  if (set.rating !== undefined) parts.push(`rating ${set.rating ?? 'none'}`);
  if (set.likes !== undefined)
    parts.push(set.likes === null ? 'like cleared' : set.likes ? 'liked' : 'disliked');
  return parts.join(', ');
}

/** Jellyfin ticks (100 ns) as h:mm:ss. */
function formatTicks(ticks: number): string {
  const s = Math.floor(ticks / 10_000_000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return `${h}:${String(m).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

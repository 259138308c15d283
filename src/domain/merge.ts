/**
 * The three-way merge of watch state (SPEC section 4, rule 3 with JELLYFIN_API_KEY): what users did on the standby
 * since the last copy (the base) is carried into the primary, set against what they did on the primary meanwhile.
 * Pure: the rules are below, each with a unit test (test/domain/merge.test.ts) and a line in docs/merge.md.
 *
 * Per user and user-data key, per field:
 * 1. Changed on the standby only: the standby's value.
 * 2. Changed on the primary only, or on neither: the primary's value (nothing to carry).
 * 3. Changed on both:
 *    - play count: the primary's plus the standby's increase (when the standby's went up); when the standby's went
 *      down (marked unplayed) it follows rule "playback" below;
 *    - playback (played, position, last played): the side with the later last-played date wins all three; equal
 *      or missing dates keep the primary's, reported as a conflict (both sides with the same values: no conflict);
 *    - favourite, rating, likes: the primary's value is kept; different values are reported as a conflict.
 * A key the standby no longer has is not a change (rows are not deleted by user actions).
 */
import type { SiteName } from './sites.js';
import type { WatchEntry, WatchState } from './watch-state.js';

export interface FieldsChange {
  played?: boolean;
  playCount?: number;
  position?: number;
  lastPlayed?: string | null;
  favorite?: boolean;
  rating?: number | null;
  likes?: boolean | null;
}

/** The watch state of a copy, kept in STATE_DIR: what both sites had in common right after it. */
export interface WatchBase {
  site: SiteName;
  digest: string;
  at: string;
  state: WatchState;
}

/**
 * A merge being applied (or applied by a sync that did not complete): the plan, and each change applied so far,
 * recorded before the next is sent. `standby` is the standby's watch state the plan was made from: a later merge
 * over the same base starts from it, so nothing is carried twice.
 */
export interface MergeRecord {
  id: string;
  site: SiteName;
  /** Digest of the base the plan was made against (the fingerprint of the last copy). */
  baseDigest: string;
  standbyDigest: string;
  standby: WatchState;
  createdAt: string;
  plan: MergePlan;
  /** Change ids applied, in order. */
  applied: string[];
  /** Change ids the primary has no user or item for (reported, not applied). */
  missing: string[];
}

/** What the merge will set on the primary for one user and item (all its keys), and why. */
export interface MergeChange {
  /** Stable id of the change: user and item. */
  id: string;
  user: string;
  userName: string;
  itemId: string;
  itemName: string | null;
  set: FieldsChange;
}

export interface MergeConflict {
  user: string;
  userName: string;
  itemId: string | null;
  itemName: string | null;
  field: 'playback' | 'favorite' | 'rating' | 'likes';
  primary: unknown;
  standby: unknown;
  kept: 'primary';
}

export interface MergePlan {
  changes: MergeChange[];
  conflicts: MergeConflict[];
  /** Keys the standby changed but that belong to no item the primary can be told about (10.10 IMDb keys alone). */
  unplaced: number;
}

type Values = Omit<WatchEntry, 'user' | 'key' | 'itemId'>;

const EMPTY: Values = {
  played: false,
  playCount: 0,
  position: 0,
  lastPlayed: null,
  favorite: false,
  rating: null,
  likes: null,
};

function values(e: WatchEntry | undefined): Values {
  if (!e) return { ...EMPTY };
  const { user: _u, key: _k, itemId: _i, ...v } = e;
  return v;
}

function byKey(state: WatchState): Map<string, WatchEntry> {
  const map = new Map<string, WatchEntry>();
  for (const e of state.entries) {
    const id = `${e.user}\u0000${e.key}`;
    // Two items sharing a key: the one with an item id (the primary can be told about it) wins.
    if (!map.has(id) || (map.get(id)?.itemId === null && e.itemId !== null)) map.set(id, e);
  }
  return map;
}

/** The merged values of one key, and its conflicts. */
export function mergeValues(
  base: Values,
  standby: Values,
  primary: Values,
): { merged: Values; conflicts: Array<MergeConflict['field']> } {
  const merged: Values = { ...primary };
  const conflicts: Array<MergeConflict['field']> = [];
  const changedS = (f: keyof Values) => standby[f] !== base[f];
  const changedP = (f: keyof Values) => primary[f] !== base[f];
  // playback: played, position, last played move together
  const playback = ['played', 'position', 'lastPlayed'] as const;
  const sPlayback = playback.some(changedS);
  const pPlayback = playback.some(changedP);
  let playbackWinner: 'standby' | 'primary' = 'primary';
  if (sPlayback && !pPlayback) playbackWinner = 'standby';
  else if (sPlayback && pPlayback && playback.some((f) => standby[f] !== primary[f])) {
    const s = standby.lastPlayed ?? '';
    const p = primary.lastPlayed ?? '';
    if (s > p) playbackWinner = 'standby';
    else if (s === p) conflicts.push('playback');
  }
  if (playbackWinner === 'standby') {
    merged.played = standby.played;
    merged.position = standby.position;
    merged.lastPlayed = standby.lastPlayed;
  }
  // play count: increases add up; a reset follows the playback winner
  if (changedS('playCount')) {
    if (!changedP('playCount')) merged.playCount = standby.playCount;
    else if (standby.playCount > base.playCount)
      merged.playCount = primary.playCount + (standby.playCount - base.playCount);
    else if (playbackWinner === 'standby') merged.playCount = standby.playCount;
  }
  // favourite, rating, likes: the standby's when only it changed; the primary's, and a conflict, when both did
  for (const field of ['favorite', 'rating', 'likes'] as const) {
    if (!changedS(field)) continue;
    if (!changedP(field)) (merged as Record<string, unknown>)[field] = standby[field];
    else if (standby[field] !== primary[field]) conflicts.push(field);
  }
  return { merged, conflicts };
}

/**
 * The plan: for every (user, item) the standby changed since `base`, what to set on the primary (only the fields
 * that differ from the primary's current values), and the conflicts. Grouped by item: Jellyfin's API sets all of
 * an item's keys at once.
 */
export function planMerge(
  base: WatchState,
  standby: WatchState,
  primary: WatchState,
  itemNames: ReadonlyMap<string, string> = new Map(),
): MergePlan {
  const b = byKey(base);
  const p = byKey(primary);
  const names = new Map([...primary.users, ...standby.users].map((u) => [u.id, u.name]));
  const changes = new Map<string, MergeChange>();
  const conflicts: MergeConflict[] = [];
  const seenConflicts = new Set<string>();
  const unplacedSets: Array<{ user: string; set: string }> = [];
  for (const [id, s] of byKey(standby)) {
    const bv = values(b.get(id));
    const sv = values(s);
    if (JSON.stringify(sv) === JSON.stringify(bv)) continue;
    const pe = p.get(id);
    const pv = values(pe);
    const { merged, conflicts: fields } = mergeValues(bv, sv, pv);
    const itemId = s.itemId ?? pe?.itemId ?? null;
    const userName = names.get(s.user) ?? s.user;
    for (const field of fields) {
      const key = `${s.user}\u0000${itemId ?? s.key}\u0000${field}`;
      if (seenConflicts.has(key)) continue;
      seenConflicts.add(key);
      const pick = (v: Values) =>
        field === 'playback'
          ? { played: v.played, position: v.position, lastPlayed: v.lastPlayed }
          : v[field];
      conflicts.push({
        user: s.user,
        userName,
        itemId,
        itemName: itemId ? (itemNames.get(itemId) ?? null) : null,
        field,
        primary: pick(pv),
        standby: pick(sv),
        kept: 'primary',
      });
    }
    const set: FieldsChange = {};
    for (const field of [
      'played',
      'playCount',
      'position',
      'lastPlayed',
      'favorite',
      'rating',
      'likes',
    ] as const) {
      if (merged[field] !== pv[field]) (set as Record<string, unknown>)[field] = merged[field];
    }
    if (Object.keys(set).length === 0) continue;
    if (itemId === null) {
      unplacedSets.push({ user: s.user, set: JSON.stringify(set) });
      continue;
    }
    const changeId = `${s.user}/${itemId}`;
    if (!changes.has(changeId)) {
      changes.set(changeId, {
        id: changeId,
        user: s.user,
        userName,
        itemId,
        itemName: itemNames.get(itemId) ?? null,
        set,
      });
    }
  }
  // A key without an item id (10.10's IMDb key) is covered when another key of the same save carries the change.
  const placed = new Set([...changes.values()].map((c) => `${c.user}\u0000${JSON.stringify(c.set)}`));
  const unplaced = unplacedSets.filter((u) => !placed.has(`${u.user}\u0000${u.set}`)).length;
  return {
    changes: [...changes.values()].sort((x, y) => x.id.localeCompare(y.id)),
    conflicts,
    unplaced,
  };
}

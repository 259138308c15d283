/**
 * Users' watch state as a set of facts the service can compare: per user and user-data key, what the user owns
 * (played, play count, position, last played, favourite, rating, likes), plus the users themselves. Jellyfin's own
 * housekeeping (activity rows, last-activity dates, device rows, VACUUM, checkpoints, a library scan detaching user
 * data to its placeholder item) is not in it, so it is neutral to what Jellyfin does on its own (SPEC 4 rule 3).
 * Pure: the adapter (adapters/sqlite/watch-state.ts) reads the rows, this normalises and digests them.
 */
import { createHash } from 'node:crypto';
import type { VersionFamily } from './version.js';

/** 10.11's BaseItemRepository.PlaceholderId: user data of removed items waits here for the item to come back. */
export const PLACEHOLDER_ITEM = '00000000-0000-0000-0000-000000000001';

/** One row of user data as read, before normalisation. */
export interface RawUserData {
  user: string;
  key: string;
  itemId: string | null;
  played: boolean;
  playCount: number;
  position: number;
  lastPlayed: string | null;
  favorite: boolean;
  rating: number | null;
  likes: boolean | null;
}

export interface WatchUser {
  id: string;
  name: string;
}

/**
 * What users own, per (user, key), after normalisation: ids upper-case, dates in one format. `itemId` is the item
 * the key belongs to (10.11: UserData.ItemId; 10.10: TypedBaseItems.guid), null when not known.
 */
export type WatchEntry = RawUserData;

export interface WatchState {
  family: VersionFamily;
  users: WatchUser[];
  entries: WatchEntry[];
}

/** Why the watch state could not be read; the divergence rule then fails closed (`divergence_unknown`). */
export class WatchStateUnavailable extends Error {
  override readonly name = 'WatchStateUnavailable';
}

export function normalizeGuid(id: string): string {
  return id.trim().toUpperCase();
}

/**
 * One text for one instant, whatever the version wrote: 10.10 `yyyy-MM-dd HH:mm:ss.FFFFFFFZ`, 10.11
 * `yyyy-MM-dd HH:mm:ss.FFFFFFF` (UTC, no zone), an ISO `T`. Sub-millisecond digits are kept (JavaScript dates
 * would drop them and make two different saves look alike).
 */
export function normalizeDate(text: string | null): string | null {
  if (text === null || text.trim() === '') return null;
  const m = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?(?:Z|[+-]00:?00)?$/.exec(text.trim());
  if (!m) return text.trim();
  const fraction = (m[3] ?? '').replace(/0+$/, '');
  return `${m[1]} ${m[2]}${fraction ? `.${fraction}` : ''}`;
}

function entryOf(raw: RawUserData): WatchEntry {
  return {
    user: normalizeGuid(raw.user),
    key: raw.key,
    itemId: raw.itemId === null ? null : normalizeGuid(raw.itemId),
    played: raw.played,
    playCount: raw.playCount,
    position: raw.position,
    lastPlayed: normalizeDate(raw.lastPlayed),
    favorite: raw.favorite,
    rating: raw.rating,
    likes: raw.likes,
  };
}

/** The fields a user owns, as one comparable text (no item id: a scan may move the row to another item). */
export function valuesOf(e: WatchEntry): string {
  return JSON.stringify([e.played, e.playCount, e.position, e.lastPlayed, e.favorite, e.rating, e.likes]);
}

/**
 * One entry per (user, key). Rows on real items win over the placeholder's (10.11 keeps user data of a removed
 * item there; the same key on the placeholder and on an item is the same user data seen twice during a rescan).
 * Two real items sharing a key (two versions of one movie) keep both, ordered, so the digest is stable.
 */
export function watchState(family: VersionFamily, users: WatchUser[], rows: RawUserData[]): WatchState {
  const byKey = new Map<string, { real: WatchEntry[]; placeholder: WatchEntry[] }>();
  for (const raw of rows) {
    const e = entryOf(raw);
    const id = `${e.user}\u0000${e.key}`;
    let slot = byKey.get(id);
    if (!slot) {
      slot = { real: [], placeholder: [] };
      byKey.set(id, slot);
    }
    (e.itemId === PLACEHOLDER_ITEM ? slot.placeholder : slot.real).push(e);
  }
  const entries: WatchEntry[] = [];
  for (const slot of byKey.values()) {
    const chosen = slot.real.length > 0 ? slot.real : slot.placeholder;
    const seen = new Set<string>();
    for (const e of chosen.sort((a, b) => valuesOf(a).localeCompare(valuesOf(b)))) {
      if (seen.has(valuesOf(e))) continue;
      seen.add(valuesOf(e));
      entries.push(e);
    }
  }
  entries.sort(
    (a, b) =>
      a.user.localeCompare(b.user) || a.key.localeCompare(b.key) || valuesOf(a).localeCompare(valuesOf(b)),
  );
  const sortedUsers = users
    .map((u) => ({ id: normalizeGuid(u.id), name: u.name }))
    .sort((a, b) => a.id.localeCompare(b.id));
  return { family, users: sortedUsers, entries };
}

/** The exact digest of what users own: equal digests, equal watch state (rule 3's fingerprint). */
export function watchDigest(state: WatchState): string {
  const hash = createHash('sha256');
  for (const u of state.users) hash.update(`user\u0000${u.id}\u0000${u.name}\n`);
  for (const e of state.entries) hash.update(`data\u0000${e.user}\u0000${e.key}\u0000${valuesOf(e)}\n`);
  return `watch-v1:${hash.digest('hex')}`;
}

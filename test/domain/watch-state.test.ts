import { describe, expect, it } from 'vitest';
import { versionFamily } from '../../src/domain/version.js';
import {
  normalizeDate,
  PLACEHOLDER_ITEM,
  type RawUserData,
  watchDigest,
  watchState,
} from '../../src/domain/watch-state.js';

const ALICE = '4E3D2F1A-9B8C-4D7E-A6F5-0123456789AB';
const MATRIX = '3F2504E0-4F89-11D3-9A0C-0305E82C3301';
const users = [{ id: ALICE, name: 'alice' }];

/** The three rows a save writes for The Matrix (keys: TMDb, IMDb, item id), as 10.11 stores them under `itemId`. */
function saved(itemId: string, values: Partial<RawUserData> = {}): RawUserData[] {
  return ['603', 'tt0133093', MATRIX.toLowerCase()].map((key) => ({
    user: ALICE,
    key,
    itemId,
    played: false,
    playCount: 1,
    position: 27_000_000_000,
    lastPlayed: '2026-11-30 20:00:00.1234567',
    favorite: false,
    rating: null,
    likes: null,
    ...values,
  }));
}

const digest = (rows: RawUserData[]) => watchDigest(watchState('jellyfin-db', users, rows));

describe('watch state', () => {
  it('reads the version family: 10.8-10.10 in library.db, 10.11 and 12.x in jellyfin.db', () => {
    expect(versionFamily('10.8.13')).toBe('library-db');
    expect(versionFamily('10.10.7ubu2404-ls51')).toBe('library-db');
    expect(versionFamily('10.11.3')).toBe('jellyfin-db');
    expect(versionFamily('12.0.0')).toBe('jellyfin-db');
    expect(versionFamily('12.0')).toBe('jellyfin-db');
    expect(versionFamily('10.7.7')).toBeNull();
    expect(versionFamily('nightly')).toBeNull();
  });

  it('writes one instant one way, whatever the version wrote, keeping every digit', () => {
    expect(normalizeDate('2024-03-01 20:00:00.1234567Z')).toBe('2024-03-01 20:00:00.1234567');
    expect(normalizeDate('2024-03-01 20:00:00.1234567')).toBe('2024-03-01 20:00:00.1234567');
    expect(normalizeDate('2024-03-01T20:00:00.120Z')).toBe('2024-03-01 20:00:00.12');
    expect(normalizeDate('2024-03-01 20:00:00')).toBe('2024-03-01 20:00:00');
    expect(normalizeDate('2024-03-01 20:00:00.1234567')).not.toBe(
      normalizeDate('2024-03-01 20:00:00.1234568'),
    );
    expect(normalizeDate(null)).toBeNull();
  });

  it('changes with every field a user owns', () => {
    const base = digest(saved(MATRIX));
    for (const change of [
      { played: true },
      { playCount: 2 },
      { position: 0 },
      { lastPlayed: '2026-11-30 20:00:00.1234568' },
      { favorite: true },
      { rating: 10 },
      { likes: true },
    ]) {
      expect(digest(saved(MATRIX, change)), JSON.stringify(change)).not.toBe(base);
    }
  });

  it('changes when users are added or renamed', () => {
    const rows = saved(MATRIX);
    const before = watchDigest(watchState('jellyfin-db', users, rows));
    expect(watchDigest(watchState('jellyfin-db', [...users, { id: 'B0B', name: 'bob' }], rows))).not.toBe(
      before,
    );
    expect(watchDigest(watchState('jellyfin-db', [{ id: ALICE, name: 'alicia' }], rows))).not.toBe(before);
  });

  it('is neutral to a scan detaching user data to the placeholder item, colliding rows dropped first', () => {
    const old = saved(PLACEHOLDER_ITEM, { playCount: 7, lastPlayed: '2020-01-01 00:00:00' });
    const before = digest([...saved(MATRIX), ...old]);
    // 10.11-library-removes-item.sql: colliding placeholder rows deleted, the item's rows moved there
    const after = digest(saved(PLACEHOLDER_ITEM));
    expect(after).toBe(before);
    // and when the file comes back (ReattachUserDataAsync) nothing changes either
    expect(digest(saved('9B1C7E52-5A43-4C1E-8F5D-2A6B3C4D5E6F'))).toBe(before);
  });

  it('is the same for 10.10 and 10.11 formats of the same data (an upgrade is not divergence)', () => {
    const v1011 = saved(MATRIX);
    const v1010 = v1011.map((r) => ({
      ...r,
      user: r.user.toLowerCase(),
      lastPlayed: `${r.lastPlayed}Z`,
      itemId: null,
    }));
    expect(watchDigest(watchState('library-db', users, v1010))).toBe(digest(v1011));
  });

  it('is independent of row order and of duplicate identical rows', () => {
    const rows = saved(MATRIX);
    expect(digest([...rows].reverse())).toBe(digest(rows));
    expect(digest([...rows, ...rows])).toBe(digest(rows));
  });
});

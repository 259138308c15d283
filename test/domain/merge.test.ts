/** The merge rules of src/domain/merge.ts (and docs/merge.md), one test per rule. */
import { describe, expect, it } from 'vitest';
import { mergeValues, planMerge } from '../../src/domain/merge.js';
import { type RawUserData, watchState } from '../../src/domain/watch-state.js';

const ALICE = 'A11CE000-0000-0000-0000-000000000001';
const MATRIX = '3F2504E0-4F89-11D3-9A0C-0305E82C3301';
const HEAT = '9B1C7E52-5A43-4C1E-8F5D-2A6B3C4D5E6F';
const nothing = {
  played: false,
  playCount: 0,
  position: 0,
  lastPlayed: null,
  favorite: false,
  rating: null,
  likes: null,
};
const T1 = '2026-11-30 20:00:00.1';
const T2 = '2026-11-30 21:00:00.2';
const T3 = '2026-11-30 22:00:00.3';

describe('merge rules, per field', () => {
  it('1. changed on the standby only: the standby value is carried', () => {
    const base = { ...nothing };
    const standby = { ...nothing, played: true, playCount: 1, lastPlayed: T1, favorite: true, rating: 10 };
    expect(mergeValues(base, standby, base)).toEqual({ merged: standby, conflicts: [] });
  });

  it('2. changed on the primary only: the primary keeps its value, nothing is carried', () => {
    const base = { ...nothing };
    const primary = { ...nothing, favorite: true, position: 500 };
    expect(mergeValues(base, base, primary)).toEqual({ merged: primary, conflicts: [] });
  });

  it('3a. play counts changed on both: the primary count plus the standby increase', () => {
    const base = { ...nothing, playCount: 2, lastPlayed: T1 };
    const standby = { ...base, playCount: 3, lastPlayed: T2 };
    const primary = { ...base, playCount: 4, lastPlayed: T3 };
    expect(mergeValues(base, standby, primary).merged.playCount).toBe(5);
  });

  it('3b. playback changed on both: the later last-played date wins played, position and the date', () => {
    const base = { ...nothing, position: 100, lastPlayed: T1 };
    const standby = { ...base, position: 900, lastPlayed: T3 };
    const primary = { ...base, position: 400, lastPlayed: T2 };
    expect(mergeValues(base, standby, primary).merged).toMatchObject({ position: 900, lastPlayed: T3 });
    expect(mergeValues(base, primary, standby).merged).toMatchObject({ position: 900, lastPlayed: T3 });
  });

  it('3c. playback changed on both with the same date: the primary is kept and it is a conflict', () => {
    const base = { ...nothing, position: 100, lastPlayed: T1 };
    const standby = { ...base, position: 900 };
    const primary = { ...base, position: 400 };
    expect(mergeValues(base, standby, primary)).toEqual({ merged: primary, conflicts: ['playback'] });
  });

  it('3c. playback changed on both to the same values: nothing to carry, no conflict', () => {
    const base = { ...nothing, position: 100, lastPlayed: T1 };
    const both = { ...base, position: 900, lastPlayed: T2 };
    expect(mergeValues(base, both, both)).toEqual({ merged: both, conflicts: [] });
  });

  it('3d. a count reset on the standby (marked unplayed) follows the playback winner', () => {
    const base = { ...nothing, played: true, playCount: 2, lastPlayed: T1 };
    const standby = { ...nothing };
    const primary = { ...base, playCount: 3, lastPlayed: T2 };
    // the standby's mark-unplayed clears the date: the primary's later play wins, its count stays
    expect(mergeValues(base, standby, primary).merged).toMatchObject({ played: true, playCount: 3 });
  });

  it('3e. favourite, rating, likes changed on both to different values: the primary kept, a conflict each', () => {
    const base = { ...nothing };
    const standby = { ...nothing, favorite: true, rating: 10, likes: true };
    const primary = { ...nothing, favorite: false, rating: 1, likes: false };
    primary.favorite = false;
    const both = { ...primary, favorite: false };
    // favourite changed on the standby only here (false -> true), rating and likes on both
    expect(mergeValues(base, standby, both)).toEqual({
      merged: { ...both, favorite: true },
      conflicts: ['rating', 'likes'],
    });
    // the same new value on both sides is no conflict
    expect(mergeValues(base, standby, standby).conflicts).toEqual([]);
  });
});

/** A movie's keys: TMDb, IMDb, its id (Jellyfin writes one row per key, all alike). */
const KEYS: Record<string, string[]> = {
  [MATRIX]: ['603', 'tt0133093', MATRIX.toLowerCase()],
  [HEAT]: ['949', 'tt0113277', HEAT.toLowerCase()],
};

function rows(itemId: string, v: Partial<RawUserData>): RawUserData[] {
  return (KEYS[itemId] ?? []).map((key) => ({ user: ALICE, key, itemId, ...nothing, ...v }));
}

describe('the merge plan', () => {
  const users = [{ id: ALICE, name: 'alice' }];
  const state = (r: RawUserData[]) => watchState('jellyfin-db', users, r);
  const names = new Map([
    [MATRIX, 'The Matrix'],
    [HEAT, 'Heat'],
  ]);

  it('carries each item the standby changed once (all its keys at once), only the fields that differ', () => {
    const base = state([...rows(MATRIX, {}), ...rows(HEAT, { played: true, playCount: 1, lastPlayed: T1 })]);
    const standby = state([
      ...rows(MATRIX, { played: true, playCount: 1, lastPlayed: T2 }),
      ...rows(HEAT, { played: true, playCount: 1, lastPlayed: T1 }),
    ]);
    const primary = state([
      ...rows(MATRIX, {}),
      ...rows(HEAT, { played: true, playCount: 1, lastPlayed: T1, favorite: true }),
    ]);
    const plan = planMerge(base, standby, primary, names);
    expect(plan).toEqual({
      changes: [
        {
          id: `${ALICE}/${MATRIX}`,
          user: ALICE,
          userName: 'alice',
          itemId: MATRIX,
          itemName: 'The Matrix',
          set: { played: true, playCount: 1, lastPlayed: T2 },
        },
      ],
      conflicts: [],
      unplaced: 0,
    });
  });

  it('nothing to carry when the standby did nothing since the base, whatever the primary did', () => {
    const base = state(rows(MATRIX, {}));
    const primary = state(rows(MATRIX, { favorite: true, played: true, playCount: 3, lastPlayed: T3 }));
    expect(planMerge(base, base, primary).changes).toEqual([]);
  });

  it('a key the standby changed that the primary has never seen is carried from the standby', () => {
    const base = state([]);
    const standby = state(rows(HEAT, { position: 1200, lastPlayed: T1, playCount: 1 }));
    const plan = planMerge(base, standby, state([]), names);
    expect(plan.changes).toHaveLength(1);
    expect(plan.changes[0]).toMatchObject({
      itemName: 'Heat',
      set: { position: 1200, lastPlayed: T1, playCount: 1 },
    });
  });

  it('reports conflicts with the user and item names and both values', () => {
    const base = state(rows(MATRIX, {}));
    const standby = state(rows(MATRIX, { rating: 10 }));
    const primary = state(rows(MATRIX, { rating: 1 }));
    expect(planMerge(base, standby, primary, names).conflicts).toEqual([
      {
        user: ALICE,
        userName: 'alice',
        itemId: MATRIX,
        itemName: 'The Matrix',
        field: 'rating',
        primary: 1,
        standby: 10,
        kept: 'primary',
      },
    ]);
  });
});

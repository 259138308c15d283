/**
 * Reads users' watch state from a Jellyfin data dir with a host's sqlite3 CLI (read-only, JSON output), from the
 * file and table where the version keeps it (reference: Jellyfin v10.10.7 SqliteUserDataRepository, v10.11.11
 * UserData entity):
 * - 10.8-10.10: `library.db` table `UserDatas` (key, userId = Users.InternalId, ...), users in `jellyfin.db`;
 * - 10.11 and 12.x: `jellyfin.db` table `UserData` (ItemId, UserId, CustomDataKey, ...).
 * A schema it does not know or a database it cannot open is a WatchStateUnavailable, never an empty state.
 */
import { z } from 'zod';
import type { HostShell } from '../../domain/ports.js';
import type { VersionFamily } from '../../domain/version.js';
import {
  type RawUserData,
  type WatchState,
  WatchStateUnavailable,
  watchState,
} from '../../domain/watch-state.js';

export interface DatabasePaths {
  /** jellyfin.db */
  database: string;
  /** library.db (10.8-10.10) */
  library: string;
}

const bool = z.union([z.number(), z.boolean(), z.null()]).transform((v) => v === true || v === 1);
const int = z.union([z.number(), z.null()]).transform((v) => Math.trunc(v ?? 0));
const real = z.union([z.number(), z.null()]);
const text = z.union([z.string(), z.null()]);

const usersSchema = z.array(
  z.object({ id: z.string(), name: z.string(), internalId: z.number().optional() }),
);
/** What both versions store per user-data key, under the names the queries below give them. */
const userDataRow = z.object({
  key: z.string(),
  played: bool,
  playCount: int,
  position: int,
  lastPlayed: text,
  favorite: bool,
  rating: real,
});
const rows1011 = z.array(
  userDataRow.extend({ user: z.string(), itemId: text, likes: z.union([z.number(), z.boolean(), z.null()]) }),
);
const rows1010 = z.array(userDataRow.extend({ internalId: z.number(), guid: text }));

const USERS_SQL = 'SELECT Id AS id, Username AS name, InternalId AS internalId FROM Users';
const USER_DATA_1011 =
  'SELECT UserId AS user, CustomDataKey AS key, ItemId AS itemId, Played AS played, PlayCount AS playCount, ' +
  'PlaybackPositionTicks AS position, LastPlayedDate AS lastPlayed, IsFavorite AS favorite, Rating AS rating, ' +
  'Likes AS likes FROM UserData';
// A movie's first user-data key is TypedBaseItems.UserDataKey; its item-id key is the Guid itself ("D" format).
const USER_DATA_1010 =
  'SELECT u.key AS key, u.userId AS internalId, u.played AS played, u.playCount AS playCount, ' +
  'u.playbackPositionTicks AS position, u.lastPlayedDate AS lastPlayed, u.isFavorite AS favorite, ' +
  'u.rating AS rating, hex(t.guid) AS guid FROM UserDatas u LEFT JOIN TypedBaseItems t ON t.UserDataKey = u.key';

const GUID_TEXT = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** .NET's Guid.ToByteArray() order (the 10.10 BLOB) back to the "D" text: the first three groups are little-endian. */
export function guidFromBlobHex(hex: string): string | null {
  if (!/^[0-9A-Fa-f]{32}$/.test(hex)) return null;
  const b = hex.toUpperCase().match(/../g) ?? [];
  const le = (from: number, to: number) => b.slice(from, to).reverse().join('');
  return `${le(0, 4)}-${le(4, 6)}-${le(6, 8)}-${b.slice(8, 10).join('')}-${b.slice(10).join('')}`;
}

async function query<T>(shell: HostShell, database: string, sql: string, schema: z.ZodType<T>): Promise<T> {
  const r = await shell.exec(['sqlite3', '-readonly', '-json', database, `${sql};`], { timeoutMs: 120_000 });
  if (r.exitCode !== 0) {
    const why = (r.stderr || r.stdout).trim().split('\n').at(-1) ?? `exit ${r.exitCode}`;
    throw new WatchStateUnavailable(`sqlite3 on ${shell.label} cannot read ${database}: ${why}`);
  }
  const out = r.stdout.trim();
  let json: unknown;
  try {
    json = out === '' ? [] : JSON.parse(out);
  } catch {
    throw new WatchStateUnavailable(
      `sqlite3 on ${shell.label} gave no JSON for ${database} (sqlite3 older than 3.33?)`,
    );
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    throw new WatchStateUnavailable(
      `${database} has user data in a form this version of jellyfin-failover does not know (${parsed.error.issues[0]?.message})`,
    );
  }
  return parsed.data;
}

export async function readWatchState(
  shell: HostShell,
  paths: DatabasePaths,
  family: VersionFamily,
): Promise<WatchState> {
  const users = await query(shell, paths.database, USERS_SQL, usersSchema);
  switch (family) {
    case 'jellyfin-db': {
      const rows = await query(shell, paths.database, USER_DATA_1011, rows1011);
      const raw: RawUserData[] = rows.map((r) => ({
        ...r,
        likes: r.likes === null ? null : r.likes === true || r.likes === 1,
      }));
      return watchState(family, users, raw);
    }
    case 'library-db': {
      const byInternal = new Map(users.map((u) => [u.internalId, u.id]));
      const rows = await query(shell, paths.library, USER_DATA_1010, rows1010);
      const raw: RawUserData[] = rows.map((r) => ({
        user: byInternal.get(r.internalId) ?? `internal:${r.internalId}`,
        key: r.key,
        itemId: r.guid ? guidFromBlobHex(r.guid) : GUID_TEXT.test(r.key) ? r.key : null,
        played: r.played,
        playCount: r.playCount,
        position: r.position,
        lastPlayed: r.lastPlayed,
        favorite: r.favorite,
        rating: r.rating,
        likes: null,
      }));
      return watchState(family, users, raw);
    }
  }
}

/** The 10.10 BLOB of a "D" text Guid (Guid.ToByteArray() order), as hex. */
export function blobHexFromGuid(guid: string): string {
  const hex = guid.replaceAll('-', '').toUpperCase();
  const b = hex.match(/../g) ?? [];
  const le = (from: number, to: number) => b.slice(from, to).reverse().join('');
  return `${le(0, 4)}${le(4, 6)}${le(6, 8)}${b.slice(8).join('')}`;
}

const namesSchema = z.array(z.object({ id: z.string(), name: text }));

/** Item names by id (upper-case "D" Guids); ids that are not Guids or not found are left out. */
export async function readItemNames(
  shell: HostShell,
  paths: DatabasePaths,
  family: VersionFamily,
  ids: readonly string[],
): Promise<Map<string, string>> {
  const names = new Map<string, string>();
  const guids = [...new Set(ids.filter((id) => GUID_TEXT.test(id)).map((id) => id.toUpperCase()))];
  for (let i = 0; i < guids.length; i += 400) {
    const chunk = guids.slice(i, i + 400);
    const rows =
      family === 'jellyfin-db'
        ? await query(
            shell,
            paths.database,
            `SELECT upper(Id) AS id, Name AS name FROM BaseItems WHERE upper(Id) IN (${chunk.map((g) => `'${g}'`).join(',')})`,
            namesSchema,
          )
        : await query(
            shell,
            paths.library,
            `SELECT hex(guid) AS id, Name AS name FROM TypedBaseItems WHERE guid IN (${chunk.map((g) => `x'${blobHexFromGuid(g)}'`).join(',')})`,
            namesSchema,
          );
    for (const row of rows) {
      const id = family === 'jellyfin-db' ? row.id : guidFromBlobHex(row.id);
      if (id && row.name !== null) names.set(id, row.name);
    }
  }
  return names;
}

/** sqlite3's shell function sha3_query() over the rows users own, in primary-key order. */
const TOKEN_1011 =
  "SELECT hex(sha3_query('SELECT * FROM UserData ORDER BY ItemId, UserId, CustomDataKey')) || " +
  "hex(sha3_query('SELECT Id, Username FROM Users ORDER BY Id')) AS token";
const TOKEN_USERS =
  "SELECT hex(sha3_query('SELECT Id, Username, InternalId FROM Users ORDER BY Id')) AS token";
const TOKEN_1010 = "SELECT hex(sha3_query('SELECT * FROM UserDatas ORDER BY key, userId')) AS token";
const tokenSchema = z.array(z.object({ token: z.string() }));

/** A hash of the user-data tables as they are; null when this sqlite3 cannot compute one. */
export async function readChangeToken(
  shell: HostShell,
  paths: DatabasePaths,
  family: VersionFamily,
): Promise<string | null> {
  try {
    switch (family) {
      case 'jellyfin-db':
        return (await query(shell, paths.database, TOKEN_1011, tokenSchema))[0]?.token ?? null;
      case 'library-db': {
        const users = (await query(shell, paths.database, TOKEN_USERS, tokenSchema))[0]?.token;
        const data = (await query(shell, paths.library, TOKEN_1010, tokenSchema))[0]?.token;
        return users && data ? `${users}${data}` : null;
      }
    }
  } catch (err) {
    if (err instanceof WatchStateUnavailable) return null;
    throw err;
  }
}

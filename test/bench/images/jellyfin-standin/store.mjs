// The stand-in's databases, per Jellyfin version family, exactly as test/fixtures/jellyfin-reference describes them:
//   old (10.8-10.10): jellyfin.db (EF Core: users, devices, API keys, activity log) + library.db (items, UserDatas)
//   new (10.11, 12.0): jellyfin.db only (BaseItems, UserData, ...), library.db.old left over from the upgrade
// Both stores offer the same methods to jellyfin.mjs; every write is the one the reference writes/*.sql shows.

import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  efDate,
  guidBlobHex,
  guidD,
  guidFromBlobHex,
  guidLowerD,
  libraryDate,
  nowCanonical,
  parseDbDate,
  sql,
} from './formats.mjs';
import { Sqlite } from './sqlite.mjs';

export const PLACEHOLDER_ID = '00000000-0000-0000-0000-000000000001';
const MOVIE = 'MediaBrowser.Controller.Entities.Movies.Movie';
const PERSON = 'MediaBrowser.Controller.Entities.Person';
/** Item types whose user-data keys are Video.GetUserDataKeys(): [Tmdb, Imdb, id] (ids present only). */
const VIDEO_TYPES = new Set([
  MOVIE,
  'MediaBrowser.Controller.Entities.Video',
  'MediaBrowser.Controller.Entities.Trailer',
  'MediaBrowser.Controller.Entities.MusicVideo',
]);
/** Types GET /Items?recursive=true lists as library content. */
const CONTENT_TYPES = [...VIDEO_TYPES, 'MediaBrowser.Controller.Entities.TV.Episode'];

export class FatalStartupError extends Error {
  constructor(message) {
    super(message);
    this.name = 'FatalStartupError';
  }
}

/** Family of a Jellyfin version: 'old' (10.8-10.10, library.db) or 'new' (10.11, 12.x). */
export function versionFamily(version) {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(version);
  if (!m) return null;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  if (major === 10 && minor >= 8 && minor <= 10) return 'old';
  if ((major === 10 && minor === 11) || major === 12) return 'new';
  return null;
}

function versionAtLeast(version, wanted) {
  const a = version.split(/[.-]/).map((p) => Number.parseInt(p, 10) || 0);
  const b = wanted.split('.').map(Number);
  for (let i = 0; i < b.length; i++) {
    if ((a[i] ?? 0) !== b[i]) return (a[i] ?? 0) > b[i];
  }
  return true;
}

/** Video.GetUserDataKeys() (Imdb inserted at 0, then Tmdb at 0), Person's "Person-<name>", else [id]. */
export function userDataKeys(type, id, providers, name) {
  const keys = [];
  if (VIDEO_TYPES.has(type)) {
    if (providers.Tmdb) keys.push(providers.Tmdb);
    if (providers.Imdb) keys.push(providers.Imdb);
  } else if (type === PERSON) {
    keys.push(`Person-${(name ?? '').normalize('NFD').replace(/[\u0300-\u036f]/g, '')}`);
  }
  keys.push(guidLowerD(id));
  return keys;
}

/** Splits schema-10.10.sql into the jellyfin.db part and the library.db part (the ATTACH ... DETACH block). */
function splitOldSchema(schema) {
  const start = schema.indexOf("ATTACH DATABASE 'library.db' AS library;");
  const endMarker = 'DETACH DATABASE library;';
  const end = schema.indexOf(endMarker);
  if (start < 0 || end < 0)
    throw new FatalStartupError('schema-10.10.sql has no ATTACH ... DETACH block for library.db');
  return {
    jellyfin: schema.slice(0, start) + schema.slice(end + endMarker.length),
    library: schema.slice(start, end + endMarker.length),
  };
}

function bool(v) {
  return v === 1 || v === true || v === '1';
}

/** A UserItemData as the server holds it (cached per user and item). */
export function newUserItemData(key) {
  return {
    key,
    rating: null,
    playbackPositionTicks: 0,
    playCount: 0,
    isFavorite: false,
    lastPlayedDate: null,
    played: false,
    audioStreamIndex: null,
    subtitleStreamIndex: null,
  };
}

class BaseStore {
  constructor({ dataDir, version, referenceDir, log }) {
    this.dataDir = dataDir;
    this.version = version;
    this.referenceDir = referenceDir;
    this.log = log;
    this.jellyfinPath = join(dataDir, 'jellyfin.db');
    this.libraryPath = join(dataDir, 'library.db');
    this.jf = null;
  }

  reference(name) {
    return readFileSync(join(this.referenceDir, name), 'utf8');
  }

  /**
   * Runs a creation script with the sqlite3 CLI in the data dir (ATTACH 'library.db' is relative to the working dir),
   * without fsyncs (synchronous is a connection setting: the files are the same, only made faster).
   */
  async script(dbFile, text) {
    const fast = `PRAGMA synchronous=OFF;\n${text.replace(/^ATTACH DATABASE 'library.db' AS library;$/gm, '$&\nPRAGMA library.synchronous=OFF;')}`;
    await new Promise((resolve, reject) => {
      const child = spawn('sqlite3', ['-batch', '-bail', dbFile], {
        cwd: dirname(dbFile),
        stdio: ['pipe', 'ignore', 'pipe'],
      });
      let err = '';
      child.stderr.on('data', (c) => {
        err += c;
      });
      child.on('error', reject);
      child.on('exit', (code) =>
        code === 0
          ? resolve()
          : reject(new FatalStartupError(`sqlite3 ${dbFile}: ${err.trim() || `exit ${code}`}`)),
      );
      child.stdin.end(fast);
    });
  }

  /** Extra seed rows a first start adds to the reference seed, so the API can be used: admin rights, a device, a key. */
  firstStartExtras() {
    const now = efDate(nowCanonical());
    const alice = '4E3D2F1A-9B8C-4D7E-A6F5-0123456789AB';
    const token = randomHex(16);
    const apiKey = randomHex(16);
    this.log('INF', `First start: created user alice (device token ${token}) and API key ${apiKey}`);
    const permissions = Array.from(
      { length: 24 },
      (_, kind) =>
        `(${kind}, NULL, 0, ${sql(alice)}, ${[0, 1, 2].includes(kind) ? (kind === 0 ? 1 : 0) : 1})`,
    ).join(', ');
    return `
INSERT INTO Permissions (Kind, Permission_Permissions_Guid, RowVersion, UserId, Value) VALUES ${permissions};
INSERT INTO Devices (AccessToken, AppName, AppVersion, DateCreated, DateLastActivity, DateModified, DeviceId, DeviceName, IsActive, UserId)
  VALUES (${sql(token)}, 'Jellyfin Web', ${sql(this.version)}, ${sql(now)}, ${sql(now)}, ${sql(now)}, ${sql(randomHex(16))}, 'Chrome', 1, ${sql(alice)});
INSERT INTO ApiKeys (AccessToken, DateCreated, DateLastActivity, Name) VALUES (${sql(apiKey)}, ${sql(now)}, ${sql(now)}, 'jellyfin-failover');
`;
  }

  async hasTable(db, table) {
    const rows = await db.query(
      `SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = ${sql(table)};`,
    );
    return (rows[0]?.n ?? 0) > 0;
  }

  // ------------------------------------------------------------------------------------------ users, auth

  async users() {
    const rows = await this.jf.query(`SELECT Id, Username, InternalId, LastActivityDate, LastLoginDate,
  RememberAudioSelections, RememberSubtitleSelections, EnableAutoLogin, Password,
  EXISTS (SELECT 1 FROM Permissions p WHERE p.UserId = Users.Id AND p.Kind = 0 AND p.Value = 1) AS IsAdmin,
  EXISTS (SELECT 1 FROM Permissions p WHERE p.UserId = Users.Id AND p.Kind = 1 AND p.Value = 1) AS IsHidden,
  EXISTS (SELECT 1 FROM Permissions p WHERE p.UserId = Users.Id AND p.Kind = 2 AND p.Value = 1) AS IsDisabled
  FROM Users ORDER BY Username;`);
    return rows.map((r) => ({
      id: guidD(r.Id),
      name: r.Username,
      internalId: r.InternalId,
      lastActivityDate: parseDbDate(r.LastActivityDate),
      lastLoginDate: parseDbDate(r.LastLoginDate),
      rememberAudioSelections: bool(r.RememberAudioSelections),
      rememberSubtitleSelections: bool(r.RememberSubtitleSelections),
      enableAutoLogin: bool(r.EnableAutoLogin),
      hasPassword: r.Password !== null && r.Password !== '',
      isAdmin: bool(r.IsAdmin),
      isHidden: bool(r.IsHidden),
      isDisabled: bool(r.IsDisabled),
      dbId: r.Id,
    }));
  }

  async user(id) {
    return (await this.users()).find((u) => u.id === id) ?? null;
  }

  /** What a token is: an API key, a device's access token (acting as its user), or nothing. */
  async token(token) {
    if (!token) return null;
    const key = await this.jf.query(`SELECT Id FROM ApiKeys WHERE AccessToken = ${sql(token)};`);
    if (key.length > 0) return { kind: 'apikey' };
    const devices = await this.jf.query(
      `SELECT Id, DeviceId, DeviceName, AppName, AppVersion, UserId, DateLastActivity FROM Devices WHERE AccessToken = ${sql(token)};`,
    );
    const d = devices[0];
    if (!d) return null;
    return {
      kind: 'device',
      device: {
        rowId: d.Id,
        deviceId: d.DeviceId,
        deviceName: d.DeviceName,
        appName: d.AppName,
        appVersion: d.AppVersion,
        userId: guidD(d.UserId),
        dateLastActivity: parseDbDate(d.DateLastActivity),
      },
    };
  }

  async devices() {
    const rows = await this.jf.query(
      'SELECT Id, DeviceId, DeviceName, AppName, UserId FROM Devices WHERE IsActive = 1 ORDER BY Id;',
    );
    return rows.map((d) => ({
      rowId: d.Id,
      deviceId: d.DeviceId,
      deviceName: d.DeviceName,
      appName: d.AppName,
      userId: guidD(d.UserId),
    }));
  }

  // ------------------------------------------------------------------------------------------ jellyfin.db writes

  /** ActivityLogs row as ActivityManager.CreateAsync stores it (DateCreated = UtcNow, RowVersion 0). */
  async addActivity({
    name,
    type,
    userId,
    itemId = null,
    shortOverview = null,
    overview = null,
    severity = 2,
  }) {
    await this.jf.run(`INSERT INTO ActivityLogs (Name, Overview, ShortOverview, Type, UserId, ItemId, DateCreated, LogSeverity, RowVersion)
  VALUES (${sql(name)}, ${sql(overview)}, ${sql(shortOverview)}, ${sql(type)}, ${sql(userId)}, ${sql(itemId)}, ${sql(efDate(nowCanonical()))}, ${severity}, 0);`);
  }

  /** UserManager.UpdateUserAsync after LogSessionActivity / a login: the EF concurrency token RowVersion goes up. */
  async touchUser(userId, { login = false } = {}) {
    const now = sql(efDate(nowCanonical()));
    await this.jf.run(
      `UPDATE Users SET LastActivityDate = ${now}${login ? `, LastLoginDate = ${now}` : ''}, RowVersion = RowVersion + 1 WHERE Id = ${sql(userId)};`,
    );
  }

  /** AuthorizationContext / DeviceManager.UpdateDevice: Devices.DateLastActivity. */
  async touchDevice(rowId) {
    await this.jf.run(
      `UPDATE Devices SET DateLastActivity = ${sql(efDate(nowCanonical()))} WHERE Id = ${rowId};`,
    );
  }

  async close() {
    await this.jf?.close();
  }
}

function randomHex(bytes) {
  let out = '';
  for (let i = 0; i < bytes; i++)
    out += Math.floor(Math.random() * 256)
      .toString(16)
      .padStart(2, '0');
  return out;
}

// ================================================================================================ 10.8 - 10.10

export class OldStore extends BaseStore {
  constructor(opts) {
    super(opts);
    this.family = 'old';
    this.exclusive = /^10\.8\./.test(opts.version);
    this.lib = null;
  }

  async init() {
    const schema = splitOldSchema(this.reference('schema-10.10.sql'));
    const hasJf = existsSync(this.jellyfinPath);
    const hasLib = existsSync(this.libraryPath);
    if (!hasJf && !hasLib) {
      this.log(
        'INF',
        `No database in ${this.dataDir}: creating jellyfin.db and library.db (schema-10.10.sql + seed)`,
      );
      await this.script(
        this.jellyfinPath,
        `${this.reference('schema-10.10.sql')}\n${this.reference('writes/seed-10.10.sql')}\n${this.firstStartExtras()}`,
      );
      if (this.exclusive) await this.script(this.libraryPath, 'PRAGMA journal_mode=DELETE;');
    } else if (!hasJf) {
      this.log('INF', 'No jellyfin.db: EF Core creates it (no users)');
      await this.script(this.jellyfinPath, schema.jellyfin);
    }
    this.jf = new Sqlite(this.jellyfinPath, this.log);
    await this.jf.open();
    if (await this.hasTable(this.jf, 'BaseItems')) {
      // A 10.11+ database under a 10.10 server: the user query of 10.10 fails on the migrated Users table.
      throw new FatalStartupError(
        "Error while starting server: SQLite Error 1: 'no such column: u.MaxParentalAgeRating'. " +
          `(jellyfin.db in ${this.dataDir} was migrated by Jellyfin 10.11 or later; ${this.version} cannot open it)`,
      );
    }
    if (hasJf && !hasLib) {
      this.log('INF', 'No library.db: SqliteItemRepository creates its tables');
      await this.script(this.jellyfinPath, schema.library);
    }
    this.lib = new Sqlite(this.libraryPath, this.log);
    await this.lib.open();
    // BaseSqliteRepository: pragmas on the write connection, then Initialize() VACUUMs (10.8 - 10.10, every start).
    const mode = this.exclusive
      ? 'PRAGMA locking_mode=EXCLUSIVE; PRAGMA journal_mode=TRUNCATE;'
      : 'PRAGMA locking_mode=NORMAL; PRAGMA journal_mode=WAL;';
    await this.lib.run(
      `${mode} PRAGMA journal_size_limit=134217728; PRAGMA synchronous=1; PRAGMA temp_store=2;`,
    );
    const started = Date.now();
    await this.lib.run('VACUUM;');
    this.log('INF', `library.db vacuumed in ${Date.now() - started} ms`);
  }

  async item(id) {
    const rows =
      await this.lib.query(`SELECT hex(guid) AS guid, type, Name, Path, RunTimeTicks, ProductionYear, IsFolder, ProviderIds, DateCreated
  FROM TypedBaseItems WHERE guid = X'${guidBlobHex(id)}';`);
    return rows[0] ? this.toItem(rows[0]) : null;
  }

  async items() {
    const rows =
      await this.lib.query(`SELECT hex(guid) AS guid, type, Name, Path, RunTimeTicks, ProductionYear, IsFolder, ProviderIds, DateCreated
  FROM TypedBaseItems WHERE type IN (${CONTENT_TYPES.map(sql).join(', ')}) AND coalesce(IsVirtualItem, 0) = 0 ORDER BY SortName, Name;`);
    return rows.map((r) => this.toItem(r));
  }

  toItem(r) {
    const id = guidFromBlobHex(r.guid);
    const providers = {};
    for (const pair of String(r.ProviderIds ?? '').split('|')) {
      const [k, v] = pair.split('=');
      if (k && v) providers[k] = v;
    }
    return {
      id,
      type: r.type,
      name: r.Name,
      path: r.Path,
      runTimeTicks: r.RunTimeTicks,
      productionYear: r.ProductionYear,
      isFolder: bool(r.IsFolder),
      providers,
      dateCreated: parseDbDate(r.DateCreated),
      keys: userDataKeys(r.type, id, providers, r.Name),
    };
  }

  /** SqliteUserDataRepository.GetUserData(internalUserId, keys): the row of keys[0] only. */
  async readUserData(user, item) {
    const rows =
      await this.lib.query(`SELECT key, rating, played, playCount, isFavorite, playbackPositionTicks, lastPlayedDate, AudioStreamIndex, SubtitleStreamIndex
  FROM UserDatas WHERE key = ${sql(item.keys[0])} AND userId = ${user.internalId};`);
    return rows[0] ? fromOldRow(rows[0]) : null;
  }

  async readUserDataMany(user, items) {
    const wanted = new Set(items.map((i) => i.keys[0]));
    const rows =
      await this.lib.query(`SELECT key, rating, played, playCount, isFavorite, playbackPositionTicks, lastPlayedDate, AudioStreamIndex, SubtitleStreamIndex
  FROM UserDatas WHERE userId = ${user.internalId};`);
    const byKey = new Map();
    for (const r of rows) if (wanted.has(r.key)) byKey.set(r.key, fromOldRow(r));
    return new Map(items.map((i) => [i.id, byKey.get(i.keys[0]) ?? null]));
  }

  /** UserDataManager.SaveUserData -> PersistUserData: for each key one transaction with `replace into`. */
  async saveUserData(user, item, data) {
    const statements = item.keys.map(
      (key) => `BEGIN IMMEDIATE;
replace into UserDatas (key, userId, rating, played, playCount, isFavorite, playbackPositionTicks, lastPlayedDate, AudioStreamIndex, SubtitleStreamIndex)
  values (${sql(key)}, ${user.internalId}, ${sql(data.rating)}, ${sql(data.played)}, ${data.playCount}, ${sql(data.isFavorite)}, ${data.playbackPositionTicks}, ${sql(libraryDate(data.lastPlayedDate))}, ${sql(data.audioStreamIndex)}, ${sql(data.subtitleStreamIndex)});
COMMIT;`,
    );
    await this.lib.run(statements.join('\n'));
  }

  /** Bench-only: SqliteItemRepository.DeleteItem (UserDatas are keyed by key, so they stay). */
  async removeItem(item) {
    const blob = `X'${guidBlobHex(item.id)}'`;
    await this.lib.run(`BEGIN IMMEDIATE;
DELETE FROM TypedBaseItems WHERE guid = ${blob};
DELETE FROM AncestorIds WHERE ItemId = ${blob};
DELETE FROM ItemValues WHERE ItemId = ${blob};
DELETE FROM People WHERE ItemId = ${blob};
DELETE FROM Chapters2 WHERE ItemId = ${blob};
DELETE FROM mediastreams WHERE ItemId = ${blob};
DELETE FROM mediaattachments WHERE ItemId = ${blob};
COMMIT;`);
  }

  /** OptimizeDatabaseTask (10.10): PRAGMA optimize and VACUUM on jellyfin.db. */
  async optimise() {
    await this.jf.run('PRAGMA optimize; VACUUM;');
  }

  /** SIGTERM: checkpoint what is in the -wal files and close (the last close removes them). */
  async shutdown() {
    await this.jf.run('PRAGMA optimize; PRAGMA wal_checkpoint(TRUNCATE);');
    await this.lib.run(this.exclusive ? 'SELECT 1;' : 'PRAGMA wal_checkpoint(TRUNCATE);');
    await this.lib.close();
    await this.jf.close();
  }

  async close() {
    await this.lib?.close();
    await super.close();
  }
}

function fromOldRow(r) {
  return {
    key: r.key,
    rating: r.rating,
    playbackPositionTicks: r.playbackPositionTicks,
    playCount: r.playCount,
    isFavorite: bool(r.isFavorite),
    lastPlayedDate: parseDbDate(r.lastPlayedDate),
    played: bool(r.played),
    audioStreamIndex: r.AudioStreamIndex,
    subtitleStreamIndex: r.SubtitleStreamIndex,
  };
}

// ================================================================================================ 10.11, 12.0

/** 12.0's UserData indexes in place of 10.11's IX_UserData_UserId. */
const USERDATA_INDEXES_12 = `DROP INDEX IF EXISTS "IX_UserData_UserId";
CREATE INDEX IF NOT EXISTS "IX_UserData_UserId_ItemId_LastPlayedDate" ON "UserData" ("UserId", "ItemId", "LastPlayedDate");
CREATE INDEX IF NOT EXISTS "IX_UserData_UserId_IsFavorite_ItemId" ON "UserData" ("UserId", "IsFavorite", "ItemId");
CREATE INDEX IF NOT EXISTS "IX_UserData_UserId_Played_ItemId" ON "UserData" ("UserId", "Played", "ItemId");`;

/**
 * SQL that turns a jellyfin.db made with schema-10.11.sql (10.11.11) into what `version` has (the tree generator,
 * test/bench/config-tree.ts, has the same statements).
 */
export function newSchemaAdjustments(version) {
  const parts = [];
  if (!versionAtLeast(version, '10.11.10')) {
    // 10.11.0 - 10.11.9: no Users.NormalizedUsername (migrations 20260522092303 / 20260524120336 came with 10.11.10).
    parts.push(`DROP INDEX IF EXISTS "IX_Users_NormalizedUsername";
ALTER TABLE "Users" DROP COLUMN "NormalizedUsername";
DELETE FROM "__EFMigrationsHistory" WHERE "MigrationId" IN ('20260522092303_AddNormalizedUsername', '20260524120336_AddUniqueNormalizedUsernameIndex');`);
  }
  if (versionAtLeast(version, '12.0')) parts.push(USERDATA_INDEXES_12);
  parts.push(
    `UPDATE "__EFMigrationsHistory" SET "ProductVersion" = ${sql(`${version.replace(/-.*$/, '')}.0`)} WHERE "ProductVersion" LIKE '1%.%.%.0';`,
  );
  return parts.join('\n');
}

export class NewStore extends BaseStore {
  constructor(opts) {
    super(opts);
    this.family = 'new';
  }

  async init() {
    if (!existsSync(this.jellyfinPath)) {
      this.log('INF', `No database in ${this.dataDir}: creating jellyfin.db (schema-10.11.sql + seed)`);
      await this.script(
        this.jellyfinPath,
        `${this.reference('schema-10.11.sql')}\n${this.reference('writes/seed-10.11.sql')}\n${this.firstStartExtras()}\n${newSchemaAdjustments(this.version)}`,
      );
    }
    this.jf = new Sqlite(this.jellyfinPath, this.log);
    await this.jf.open();
    // PragmaConnectionInterceptor (10.11) on every connection; EF Core turns foreign keys on.
    await this.jf.run(
      'PRAGMA foreign_keys=ON; PRAGMA locking_mode=NORMAL; PRAGMA journal_size_limit=134217728; PRAGMA synchronous=1; PRAGMA temp_store=2;',
    );
    if (!(await this.hasTable(this.jf, 'BaseItems'))) {
      throw new FatalStartupError(
        `jellyfin.db in ${this.dataDir} is a 10.10 (or older) database: Jellyfin ${this.version} would migrate library.db into it ` +
          '(MigrateLibraryDb); the stand-in does not implement that migration. Generate the tree for this version instead.',
      );
    }
    await this.migrate();
  }

  /** EF migrations a newer 10.11 / 12.0 applies to an older 10.11 database. */
  async migrate() {
    const columns = await this.jf.query(`SELECT name FROM pragma_table_info('Users');`);
    if (versionAtLeast(this.version, '10.11.10') && !columns.some((c) => c.name === 'NormalizedUsername')) {
      this.log(
        'INF',
        'Applying migrations 20260522092303_AddNormalizedUsername, 20260524120336_AddUniqueNormalizedUsernameIndex',
      );
      await this.jf.run(`BEGIN IMMEDIATE;
ALTER TABLE "Users" ADD COLUMN "NormalizedUsername" TEXT NOT NULL DEFAULT '';
UPDATE "Users" SET "NormalizedUsername" = upper("Username");
CREATE UNIQUE INDEX "IX_Users_NormalizedUsername" ON "Users" ("NormalizedUsername");
INSERT OR IGNORE INTO "__EFMigrationsHistory" VALUES ('20260522092303_AddNormalizedUsername', '9.0.11'), ('20260524120336_AddUniqueNormalizedUsernameIndex', '9.0.11');
COMMIT;`);
    }
    if (versionAtLeast(this.version, '12.0')) {
      const idx = await this.jf.query(
        `SELECT name FROM sqlite_master WHERE type = 'index' AND name = 'IX_UserData_UserId';`,
      );
      if (idx.length > 0) await this.jf.run(USERDATA_INDEXES_12);
    }
  }

  async item(id) {
    const sets =
      await this.jf.run(`SELECT Id, Type, Name, Path, RunTimeTicks, ProductionYear, IsFolder, DateCreated FROM BaseItems WHERE Id = ${sql(id)} AND Type <> 'PLACEHOLDER';
SELECT ProviderId, ProviderValue FROM BaseItemProviders WHERE ItemId = ${sql(id)};`);
    // sqlite3 prints nothing for an empty result set: with no item row, the one set (if any) is the providers'.
    const row = sets[0]?.[0];
    if (!row || !('Type' in row)) return null;
    return this.toItem(row, sets[1] ?? []);
  }

  async items() {
    const rows =
      await this.jf.query(`SELECT Id, Type, Name, Path, RunTimeTicks, ProductionYear, IsFolder, DateCreated FROM BaseItems
  WHERE Type IN (${CONTENT_TYPES.map(sql).join(', ')}) AND IsVirtualItem = 0 ORDER BY SortName, Name;`);
    const providers =
      await this.jf.query(`SELECT p.ItemId, p.ProviderId, p.ProviderValue FROM BaseItemProviders p
  JOIN BaseItems b ON b.Id = p.ItemId WHERE b.Type IN (${CONTENT_TYPES.map(sql).join(', ')});`);
    const byItem = new Map();
    for (const p of providers) {
      if (!byItem.has(p.ItemId)) byItem.set(p.ItemId, []);
      byItem.get(p.ItemId).push(p);
    }
    return rows.map((r) => this.toItem(r, byItem.get(r.Id) ?? []));
  }

  toItem(r, providerRows) {
    const id = guidD(r.Id);
    const providers = {};
    for (const p of providerRows) providers[p.ProviderId] = p.ProviderValue;
    return {
      id,
      type: r.Type,
      name: r.Name,
      path: r.Path,
      runTimeTicks: r.RunTimeTicks,
      productionYear: r.ProductionYear,
      isFolder: bool(r.IsFolder),
      providers,
      dateCreated: parseDbDate(r.DateCreated),
      keys: userDataKeys(r.Type, id, providers, r.Name),
    };
  }

  /** UserDataManager.GetUserData: the first of item.UserData for this user (by key), as writes/10.11-*.sql read it. */
  async readUserData(user, item) {
    const rows =
      await this.jf.query(`SELECT CustomDataKey, AudioStreamIndex, IsFavorite, LastPlayedDate, Likes, PlayCount, PlaybackPositionTicks, Played, Rating, SubtitleStreamIndex
  FROM UserData WHERE ItemId = ${sql(item.id)} AND UserId = ${sql(user.dbId)} ORDER BY CustomDataKey LIMIT 1;`);
    return rows[0] ? fromNewRow(rows[0]) : null;
  }

  async readUserDataMany(user, items) {
    const rows =
      await this.jf.query(`SELECT ItemId, CustomDataKey, AudioStreamIndex, IsFavorite, LastPlayedDate, Likes, PlayCount, PlaybackPositionTicks, Played, Rating, SubtitleStreamIndex
  FROM UserData WHERE UserId = ${sql(user.dbId)} ORDER BY ItemId, CustomDataKey;`);
    const first = new Map();
    for (const r of rows) if (!first.has(guidD(r.ItemId))) first.set(guidD(r.ItemId), fromNewRow(r));
    return new Map(items.map((i) => [i.id, first.get(i.id) ?? null]));
  }

  /**
   * UserDataManager.SaveUserData: one transaction; for each key an UPDATE of every non-key column when the row exists,
   * else an INSERT. Map(UserItemData) never carries RetentionDate (NULL) and writes Likes from Rating.
   */
  async saveUserData(user, item, data) {
    const likes = data.rating === null ? null : data.rating >= 6.5;
    const values = {
      AudioStreamIndex: sql(data.audioStreamIndex),
      IsFavorite: sql(data.isFavorite),
      LastPlayedDate: sql(efDate(data.lastPlayedDate)),
      Likes: sql(likes),
      PlayCount: String(data.playCount),
      PlaybackPositionTicks: String(data.playbackPositionTicks),
      Played: sql(data.played),
      Rating: sql(data.rating),
      RetentionDate: 'NULL',
      SubtitleStreamIndex: sql(data.subtitleStreamIndex),
    };
    const cols = Object.keys(values);
    const where = (key) =>
      `ItemId = ${sql(item.id)} AND UserId = ${sql(user.dbId)} AND CustomDataKey = ${sql(key)}`;
    const statements = ['BEGIN IMMEDIATE;'];
    for (const key of item.keys) {
      statements.push(
        `UPDATE UserData SET ${cols.map((c) => `${c} = ${values[c]}`).join(', ')} WHERE ${where(key)};`,
      );
      statements.push(`INSERT INTO UserData (ItemId, UserId, CustomDataKey, ${cols.join(', ')})
  SELECT ${sql(item.id)}, ${sql(user.dbId)}, ${sql(key)}, ${cols.map((c) => values[c]).join(', ')} WHERE NOT EXISTS (SELECT 1 FROM UserData WHERE ${where(key)});`);
    }
    statements.push('COMMIT;');
    await this.jf.run(statements.join('\n'));
  }

  /** Bench-only: BaseItemRepository.DeleteItem as writes/10.11-library-removes-item.sql (detach to the placeholder). */
  async removeItem(item) {
    const now = sql(efDate(nowCanonical()));
    await this.jf.run(`BEGIN IMMEDIATE;
DELETE FROM UserData WHERE ItemId = ${sql(PLACEHOLDER_ID)}
  AND EXISTS (SELECT 1 FROM UserData d WHERE d.ItemId = ${sql(item.id)} AND d.UserId = UserData.UserId AND d.CustomDataKey = UserData.CustomDataKey);
UPDATE UserData SET RetentionDate = ${now}, ItemId = ${sql(PLACEHOLDER_ID)} WHERE ItemId = ${sql(item.id)};
DELETE FROM BaseItems WHERE Id = ${sql(item.id)};
COMMIT;`);
  }

  /** SqliteDatabaseProvider.RunScheduledOptimisation (10.11). */
  async optimise() {
    await this.jf.run(
      'PRAGMA wal_checkpoint(TRUNCATE); PRAGMA optimize; VACUUM; PRAGMA wal_checkpoint(TRUNCATE);',
    );
  }

  /** RunShutdownTask (PRAGMA optimize), then the -wal is checkpointed and the connection closed. */
  async shutdown() {
    await this.jf.run('PRAGMA optimize; PRAGMA wal_checkpoint(TRUNCATE);');
    await this.jf.close();
  }
}

function fromNewRow(r) {
  return {
    key: r.CustomDataKey,
    rating: r.Rating,
    playbackPositionTicks: r.PlaybackPositionTicks,
    playCount: r.PlayCount,
    isFavorite: bool(r.IsFavorite),
    lastPlayedDate: parseDbDate(r.LastPlayedDate),
    played: bool(r.Played),
    audioStreamIndex: r.AudioStreamIndex,
    subtitleStreamIndex: r.SubtitleStreamIndex,
  };
}

export function createStore(opts) {
  const family = versionFamily(opts.version);
  if (family === 'old') return new OldStore(opts);
  if (family === 'new') return new NewStore(opts);
  throw new FatalStartupError(
    `JF_VERSION=${opts.version} is not a version the stand-in knows: use 10.8.x, 10.9.x, 10.10.x, 10.11.x or 12.x`,
  );
}

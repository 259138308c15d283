import { createCipheriv, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { type Layout, layoutPaths } from '../../src/domain/layout.js';

/**
 * Generator of realistic Jellyfin config trees (the host dir mounted as `/config`) for the bench: XML configs,
 * a branding.xml with a login disclaimer, library definitions, metadata images, plugins, cache, logs,
 * transcodes (which sync must leave out) and the databases of the Jellyfin version asked for, made with the
 * reference schema (test/fixtures/jellyfin-reference) and filled with users, devices, an API key, movies and watch
 * state in the value formats that version writes. Everything is derived from the seed, so two runs with the same
 * options produce the same files.
 */

export interface ConfigTreeOptions {
  layout: Layout;
  /** About how many files to create (never fewer than the ~25 fixed ones). */
  files: number;
  /** About how many bytes all files should hold together. */
  totalBytes: number;
  seed?: number;
  serverName?: string;
  /** Jellyfin version whose databases to create (default 10.11.3): 10.8.x-10.10.x, 10.11.x, 12.x. */
  version?: string;
  /** Owner of every file (`chown -R`), like a linuxserver container run with PUID/PGID. */
  uid?: number;
  gid?: number;
  /** Users, each with a device (default 3; the first is an administrator). */
  users?: number;
  /** Movies in the library (default: one per metadata folder the file budget gives). */
  items?: number;
  /**
   * Pads the live database(s) (jellyfin.db, plus library.db for 10.10 and older) to about this many bytes with
   * realistic rows: people, media streams, chapters and activity history.
   */
  databaseBytes?: number;
}

export interface GeneratedUser {
  /** As the API writes it: lower-case "N". */
  id: string;
  /** As jellyfin.db stores it: upper-case "D". */
  guid: string;
  name: string;
  internalId: number;
  isAdmin: boolean;
  /** The user's logged-in device: its access token acts as this user. */
  device: { accessToken: string; deviceId: string; deviceName: string; appName: string; appVersion: string };
}

export interface GeneratedItem {
  /** As the API writes it: lower-case "N". */
  id: string;
  /** As jellyfin.db (10.11+) stores it: upper-case "D". */
  guid: string;
  name: string;
  path: string;
  runTimeTicks: number;
  productionYear: number;
  providerIds: { Tmdb: string; Imdb?: string };
  /** item.GetUserDataKeys(): [Tmdb id, Imdb id (when there is one), item id lower-case "D"]. */
  keys: string[];
}

export interface ConfigTreeResult {
  /** Files actually written. */
  files: number;
  /** Bytes actually written, databases included. */
  bytes: number;
  /** Absolute path of jellyfin.db. */
  database: string;
  version: string;
  /** 'old' = 10.8-10.10 (jellyfin.db + library.db), 'new' = 10.11+ (jellyfin.db, library.db.old). */
  family: 'old' | 'new';
  /** Absolute paths; `library` only for 10.10 and older, `libraryOld` only for 10.11+. */
  databases: { jellyfin: string; library: string | null; libraryOld: string | null };
  /** The server id in device.txt ("N"). */
  serverId: string;
  /** An ApiKeys.AccessToken: an administrator without a user of its own. */
  apiKey: string;
  users: GeneratedUser[];
  items: GeneratedItem[];
}

/** The login disclaimer the generator writes into branding.xml (before XML escaping). */
export const GENERATED_LOGIN_DISCLAIMER = 'Welcome to <b>Home & Family</b> "media" server';

/** The reference schema and writes (copied from Jellyfin's source; see its README). */
export const REFERENCE_DIR = fileURLToPath(new URL('../fixtures/jellyfin-reference/', import.meta.url));

const MOVIE = 'MediaBrowser.Controller.Entities.Movies.Movie';
const PERSON = 'MediaBrowser.Controller.Entities.Person';
const COLLECTION_FOLDER = 'MediaBrowser.Controller.Entities.CollectionFolder';
const AGGREGATE_FOLDER = 'MediaBrowser.Controller.Entities.AggregateFolder';
const TICKS_PER_MINUTE = 600_000_000;

/** 'old' (10.8-10.10) or 'new' (10.11, 12.x); throws on a version the bench does not model. */
export function versionFamily(version: string): 'old' | 'new' {
  const m = /^(\d+)\.(\d+)/.exec(version);
  const [major, minor] = [Number(m?.[1]), Number(m?.[2])];
  if (major === 10 && minor >= 8 && minor <= 10) return 'old';
  if ((major === 10 && minor === 11) || major === 12) return 'new';
  throw new Error(
    `version ${JSON.stringify(version)} is not one the bench models: use 10.8.x-10.10.x, 10.11.x or 12.x`,
  );
}

function versionAtLeast(version: string, wanted: string): boolean {
  const a = version.split(/[.-]/).map((p) => Number.parseInt(p, 10) || 0);
  const b = wanted.split('.').map(Number);
  for (let i = 0; i < b.length; i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x > y;
  }
  return true;
}

/**
 * SQL turning a jellyfin.db made with schema-10.11.sql (10.11.11) into the one `version` has: no
 * Users.NormalizedUsername before 10.11.10, 12.0's UserData indexes, the code migrations recorded by this version.
 * (The stand-in has the same statements in images/jellyfin-standin/store.mjs.)
 */
function newSchemaAdjustments(version: string): string {
  const parts: string[] = [];
  if (!versionAtLeast(version, '10.11.10')) {
    parts.push(`DROP INDEX IF EXISTS "IX_Users_NormalizedUsername";
ALTER TABLE "Users" DROP COLUMN "NormalizedUsername";
DELETE FROM "__EFMigrationsHistory" WHERE "MigrationId" IN ('20260522092303_AddNormalizedUsername', '20260524120336_AddUniqueNormalizedUsernameIndex');`);
  }
  if (versionAtLeast(version, '12.0')) {
    parts.push(`DROP INDEX IF EXISTS "IX_UserData_UserId";
CREATE INDEX IF NOT EXISTS "IX_UserData_UserId_ItemId_LastPlayedDate" ON "UserData" ("UserId", "ItemId", "LastPlayedDate");
CREATE INDEX IF NOT EXISTS "IX_UserData_UserId_IsFavorite_ItemId" ON "UserData" ("UserId", "IsFavorite", "ItemId");
CREATE INDEX IF NOT EXISTS "IX_UserData_UserId_Played_ItemId" ON "UserData" ("UserId", "Played", "ItemId");`);
  }
  parts.push(
    `UPDATE "__EFMigrationsHistory" SET "ProductVersion" = ${sqlString(`${version.replace(/-.*$/, '')}.0`)} WHERE "ProductVersion" LIKE '1%.%.%.0';`,
  );
  return parts.join('\n');
}

/** Where Jellyfin puts things inside the config dir, per image (see src/domain/layout.ts). */
function treeDirs(layout: Layout): { programData: string; configDir: string; transcodes: string } {
  switch (layout) {
    case 'linuxserver':
      // JELLYFIN_DATA_DIR=/config/data, JELLYFIN_CONFIG_DIR=/config, cache /config/cache, log /config/log.
      return { programData: 'data', configDir: '.', transcodes: 'data/transcodes' };
    case 'official':
      // JELLYFIN_DATA_DIR=/config, JELLYFIN_CONFIG_DIR=/config/config, log /config/log (cache often /config/cache).
      return { programData: '.', configDir: 'config', transcodes: 'transcodes' };
  }
}

/** mulberry32: small, fast, deterministic. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function xmlEscape(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

function sqlString(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/** A SQL literal: text quoted, numbers as they are, booleans 0/1, null NULL. */
function lit(value: string | number | boolean | null | undefined): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'boolean') return value ? '1' : '0';
  if (typeof value === 'number') return String(value);
  return sqlString(value);
}

/** A flat Jellyfin XML config file, as its XmlSerializer writes them. */
function xmlDoc(root: string, fields: Record<string, string | number | boolean>): string {
  const body = Object.entries(fields)
    .map(([k, v]) => `  <${k}>${xmlEscape(String(v))}</${k}>`)
    .join('\n');
  const ns =
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema"';
  return `<?xml version="1.0" encoding="utf-8"?>\n<${root} ${ns}>\n${body}\n</${root}>\n`;
}

type BlobKind = 'jpeg' | 'webp' | 'dll' | 'ts' | 'log';

interface Blob {
  path: string;
  kind: BlobKind;
  weight: number;
}

const MAGIC: Record<Exclude<BlobKind, 'log'>, Buffer> = {
  jpeg: Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00]),
  webp: Buffer.from('RIFF\0\0\0\0WEBPVP8 ', 'latin1'),
  dll: Buffer.from('MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff', 'latin1'),
  ts: Buffer.from([0x47, 0x40, 0x00, 0x10]),
};

/** Deterministic, incompressible bytes for one file: AES-128-CTR keystream keyed by seed and path. */
function blobBytes(seed: number, path: string, size: number, kind: BlobKind): Buffer {
  if (kind === 'log') return logText(seed, path, size);
  const digest = createHash('sha256').update(`${seed}:${path}`).digest();
  const cipher = createCipheriv('aes-128-ctr', digest.subarray(0, 16), digest.subarray(16, 32));
  const bytes = cipher.update(Buffer.alloc(size));
  MAGIC[kind].copy(bytes, 0, 0, Math.min(size, MAGIC[kind].length));
  return bytes;
}

function logText(seed: number, path: string, size: number): Buffer {
  const rand = prng(seed ^ createHash('sha256').update(path).digest().readUInt32LE(0));
  const sources = [
    'Emby.Server.Implementations.ScheduledTasks.TaskManager',
    'MediaBrowser.MediaEncoding.Transcoding.TranscodeManager',
    'Jellyfin.Api.Controllers.PlaystateController',
    'Emby.Server.Implementations.Library.LibraryManager',
  ];
  const lines: string[] = [];
  let length = 0;
  for (let i = 0; length < size; i++) {
    const source = sources[Math.floor(rand() * sources.length)] ?? sources[0];
    const line = `[2024-05-0${1 + (i % 9)} 12:${String(i % 60).padStart(2, '0')}:00.000 +00:00] [INF] [${i % 40}] ${source}: event ${i} took ${Math.floor(rand() * 900)} ms\n`;
    lines.push(line);
    length += line.length;
  }
  return Buffer.from(lines.join('')).subarray(0, size);
}

function hex(rand: () => number, digits: number): string {
  let out = '';
  for (let i = 0; i < digits; i++) out += Math.floor(rand() * 16).toString(16);
  return out;
}

/** A random Guid as 32 lower-case hex digits (version-4 shaped). */
function guidN(rand: () => number): string {
  const h = hex(rand, 32);
  return `${h.slice(0, 12)}4${h.slice(13, 16)}${'89ab'[Math.floor(rand() * 4)]}${h.slice(17)}`;
}

function guidD(n: string): string {
  const h = n.replace(/-/g, '').toUpperCase();
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Guid.ToByteArray() as a SQL blob literal (10.10 library.db): the first three groups little-endian. */
function guidBlob(n: string): string {
  const h = n.replace(/-/g, '').toUpperCase();
  const swap = (s: string) => (s.match(/../g) ?? []).reverse().join('');
  return `X'${swap(h.slice(0, 8))}${swap(h.slice(8, 12))}${swap(h.slice(12, 16))}${h.slice(16)}'`;
}

/** A UTC date as jellyfin.db (EF Core) writes it: 'yyyy-MM-dd HH:mm:ss.FFFFFFF'. */
function efDate(ms: number, subTicks = 0): string {
  const iso = new Date(ms).toISOString();
  const frac = `${iso.slice(20, 23)}${String(subTicks).padStart(4, '0')}`.replace(/0+$/, '');
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${frac ? `.${frac}` : ''}`;
}

/** The same in 10.10 library.db: with a trailing 'Z'. */
function libDate(ms: number, subTicks = 0): string {
  return `${efDate(ms, subTicks)}Z`;
}

async function writeAt(root: string, rel: string, content: string | Buffer): Promise<void> {
  const full = join(root, rel);
  await mkdir(dirname(full), { recursive: true });
  await writeFile(full, content);
}

async function runPool<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  });
  await Promise.all(workers);
}

async function measure(dir: string): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    files++;
    bytes += (await stat(join(entry.parentPath, entry.name))).size;
  }
  return { files, bytes };
}

async function fileSize(path: string | null): Promise<number> {
  if (!path) return 0;
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

/** Runs SQL with the sqlite3 CLI in the database's dir (schema-10.10.sql ATTACHes 'library.db' relative to it). */
async function sqlite(db: string, sql: string): Promise<void> {
  const fast = `PRAGMA synchronous=OFF;\n${sql.replace(/^ATTACH DATABASE 'library.db' AS library;$/gm, '$&\nPRAGMA library.synchronous=OFF;')}`;
  const r = await execa('sqlite3', ['-batch', '-bail', db], {
    cwd: dirname(db),
    input: fast,
    reject: false,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.exitCode !== 0) throw new Error(`sqlite3 ${db} failed: ${r.stderr || r.stdout}`);
}

const MOVIES = ['Arrival', 'Heat', 'Alien', 'Amélie', 'Metropolis', 'Ran', 'Brazil', 'Solaris', 'Up', 'Her'];
const PLUGINS = ['Trakt_25.0.0.0', 'OpenSubtitles_20.0.0.0', 'Fanart_12.0.0.0'];
const USER_NAMES = ['alice', 'bob', 'kids', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi', 'ivan'];
const DEVICES: Array<[string, string]> = [
  ['Chrome', 'Jellyfin Web'],
  ['Firefox', 'Jellyfin Web'],
  ['Living Room TV', 'Jellyfin Android TV'],
  ["Carol's iPhone", 'Jellyfin Mobile (iOS)'],
  ['Kodi', 'Jellyfin for Kodi'],
];
const FIRST = [
  'Anna',
  'Ben',
  'Chloé',
  'David',
  'Emma',
  'Félix',
  'Greta',
  'Hugo',
  'Ines',
  'Jonas',
  'Kira',
  'Lars',
];
const LAST = [
  'Berg',
  'Costa',
  'Dupont',
  'Eriksen',
  'Fischer',
  'García',
  'Hansen',
  'Ito',
  'Jansen',
  'Kowalski',
];
const GENRES = ['Drama', 'Thriller', 'Science Fiction', 'Comedy', 'Action', 'Romance', 'Crime', 'Animation'];
const STUDIOS = ['Warner Bros. Pictures', 'Toho', 'Gaumont', 'Universal Pictures', 'Studio Ghibli'];
const WORDS =
  'the a of and to in is that with for on as by an at from his her their film story life world night city man woman young old war love journey secret past future family friend home'.split(
    ' ',
  );

function prose(rand: () => number, words: number): string {
  const out: string[] = [];
  for (let i = 0; i < words; i++) out.push(WORDS[Math.floor(rand() * WORDS.length)] ?? 'the');
  const text = out.join(' ');
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}.`;
}

interface Movie extends GeneratedItem {
  year: number;
  genres: string[];
  studio: string;
  overview: string;
  dateCreated: number;
  rating: number;
}

interface WatchState {
  user: GeneratedUser;
  movie: Movie;
  played: boolean;
  playCount: number;
  position: number;
  favorite: boolean;
  rating: number | null;
  lastPlayed: number;
  subTicks: number;
}

interface Person {
  id: string;
  name: string;
  overview: string;
}

/** Writes a Jellyfin config tree for `opts.layout` under `dir` (created if missing). */
export async function generateConfigTree(dir: string, opts: ConfigTreeOptions): Promise<ConfigTreeResult> {
  const seed = opts.seed ?? 1;
  const version = opts.version ?? '10.11.3';
  const family = versionFamily(version);
  const rand = prng(seed);
  const d = treeDirs(opts.layout);
  const paths = layoutPaths(opts.layout);
  const serverName = opts.serverName ?? `jellyfin-${seed}`;
  const at = (base: string, ...parts: string[]) => join(base, ...parts);
  /** The data dir as the container sees it (paths stored in the database). */
  const containerData = opts.layout === 'linuxserver' ? '/config/data' : '/config';
  await mkdir(dir, { recursive: true });

  const serverId = guidN(prng(seed * 7919 + 1));
  const userCount = Math.max(1, opts.users ?? 3);
  const users: GeneratedUser[] = Array.from({ length: userCount }, (_, i) => {
    const [deviceName, appName] = DEVICES[i % DEVICES.length] ?? DEVICES[0] ?? ['Chrome', 'Jellyfin Web'];
    const id = guidN(rand);
    return {
      id,
      guid: guidD(id),
      name: USER_NAMES[i] ?? `user${i + 1}`,
      internalId: i + 1,
      isAdmin: i === 0,
      device: {
        accessToken: hex(rand, 32),
        deviceId: Buffer.from(`${appName}|${hex(rand, 16)}`).toString('base64'),
        deviceName,
        appName,
        appVersion: version,
      },
    };
  });
  const apiKey = hex(rand, 32);

  // Configs, in Jellyfin's config dir.
  const text: Array<[string, string]> = [
    [
      paths.system,
      xmlDoc('ServerConfiguration', {
        ServerName: serverName,
        IsStartupWizardCompleted: true,
        UICulture: 'en-US',
        MetadataCountryCode: 'US',
        PreferredMetadataLanguage: 'en',
        EnableMetrics: false,
        LibraryScanFanoutConcurrency: 0,
      }),
    ],
    [
      at(d.configDir, 'network.xml'),
      xmlDoc('NetworkConfiguration', {
        BaseUrl: '',
        EnableHttps: false,
        InternalHttpPort: 8096,
        InternalHttpsPort: 8920,
        PublicHttpPort: 8096,
        EnableRemoteAccess: true,
        KnownProxies: '',
      }),
    ],
    [
      at(d.configDir, 'encoding.xml'),
      xmlDoc('EncodingOptions', {
        EncodingThreadCount: -1,
        TranscodingTempPath: `/config/${d.transcodes.replace(/^\.\//, '')}`,
        HardwareAccelerationType: 'none',
        EnableThrottling: false,
      }),
    ],
    [
      paths.branding,
      xmlDoc('BrandingOptions', {
        LoginDisclaimer: GENERATED_LOGIN_DISCLAIMER,
        CustomCss: '.loginDisclaimer { color: #ffb300; }',
        SplashscreenEnabled: false,
      }),
    ],
    [
      at(d.configDir, 'logging.default.json'),
      `${JSON.stringify({ Serilog: { MinimumLevel: 'Information' } }, null, 2)}\n`,
    ],
    [at(d.programData, 'data', 'device.txt'), serverId],
  ];
  // Legacy per-user config dirs (pre-10.7 Jellyfin kept them; upgraded installs still carry them).
  for (const u of users) {
    text.push([
      at(d.configDir, 'users', u.id, 'config.xml'),
      xmlDoc('UserConfiguration', { PlayDefaultAudioTrack: true }),
    ]);
  }
  // Libraries: <data dir>/root/default/<Library>/options.xml and a .mblink per folder.
  for (const [lib, folder] of [
    ['Movies', '/media/movies'],
    ['Shows', '/media/tv'],
  ] as const) {
    text.push([
      at(d.programData, 'root', 'default', lib, 'options.xml'),
      xmlDoc('LibraryOptions', { Enabled: true }),
    ]);
    text.push([at(d.programData, 'root', 'default', lib, `${lib.toLowerCase()}.mblink`), folder]);
  }

  const blobs: Blob[] = [];
  for (const plugin of PLUGINS) {
    const [name, pluginVersion] = plugin.split('_') as [string, string];
    text.push([
      at(d.programData, 'plugins', plugin, 'meta.json'),
      `${JSON.stringify({ name, version: pluginVersion, guid: guidN(rand), status: 'Active', targetAbi: family === 'new' ? '10.11.0.0' : '10.10.0.0' }, null, 2)}\n`,
    ]);
    text.push([
      at(d.programData, 'plugins', 'configurations', `Jellyfin.Plugin.${name}.xml`),
      xmlDoc('PluginConfiguration', { Enabled: true }),
    ]);
    blobs.push({
      path: at(d.programData, 'plugins', plugin, `Jellyfin.Plugin.${name}.dll`),
      kind: 'dll',
      weight: 4,
    });
  }

  // What is left of the file budget: logs, cache, transcodes, and metadata images for the rest.
  const fixed = text.length + blobs.length + 2; // + jellyfin.db and library.db (10.10) / library.db.old (10.11+)
  const spare = Math.max(opts.files - fixed, 6);
  const logs = Math.max(1, Math.round(spare * 0.03));
  const cache = Math.max(1, Math.round(spare * 0.1));
  const transcodes = Math.max(2, Math.round(spare * 0.05));
  const metadata = Math.max(2, spare - logs - cache - transcodes);
  for (let i = 0; i < logs; i++) {
    const name =
      i === 0 ? 'log_20240505.log' : `FFmpeg.Transcode-2024-05-05_12-${String(i).padStart(2, '0')}-00.log`;
    blobs.push({ path: at('log', name), kind: 'log', weight: 0.5 });
  }
  for (let i = 0; i < cache; i++) {
    const id = guidN(rand);
    blobs.push({
      path: at('cache', 'images', 'resized-images', id[0] ?? '0', `${id}.webp`),
      kind: 'webp',
      weight: 0.3,
    });
  }
  for (let i = 0; i < transcodes; i++) {
    blobs.push({ path: at(d.transcodes, `${guidN(rand)}${i}.ts`), kind: 'ts', weight: 3 });
  }

  // The library: movies (poster, backdrop, sometimes a landscape image each; by default as many movies as take
  // about 60 % of the metadata images), and people (one image each) for the images left over.
  const movieCount = Math.max(1, opts.items ?? Math.max(2, Math.round(metadata / 4)));
  const movies: Movie[] = [];
  const base2024 = Date.UTC(2024, 0, 2, 3, 4, 5);
  const usedIds = new Set<string>();
  for (let i = 0; i < movieCount; i++) {
    const id = guidN(rand);
    const year = 1950 + Math.floor(rand() * 74);
    const name = `${MOVIES[i % MOVIES.length]} ${Math.floor(i / MOVIES.length) + 1} (${year})`;
    // Provider ids are unique per movie (two movies sharing one would share their watch state, as in Jellyfin).
    let tmdb = String(10_000 + Math.floor(rand() * 900_000));
    while (usedIds.has(tmdb)) tmdb = String(Number(tmdb) + 1);
    usedIds.add(tmdb);
    // One movie in six has no IMDb id: its user data then has two keys, not three.
    let imdb = rand() < 1 / 6 ? undefined : `tt${String(Math.floor(rand() * 9_999_999)).padStart(7, '0')}`;
    while (imdb && usedIds.has(imdb)) imdb = `tt${String(Number(imdb.slice(2)) + 1).padStart(7, '0')}`;
    if (imdb) usedIds.add(imdb);
    const providerIds: { Tmdb: string; Imdb?: string } = imdb ? { Tmdb: tmdb, Imdb: imdb } : { Tmdb: tmdb };
    const lowerD = guidD(id).toLowerCase();
    movies.push({
      id,
      guid: guidD(id),
      name,
      path: `/media/movies/${name}/${name}.mkv`,
      runTimeTicks: (80 + Math.floor(rand() * 100)) * TICKS_PER_MINUTE + Math.floor(rand() * 60) * 10_000_000,
      productionYear: year,
      providerIds,
      keys: imdb ? [tmdb, imdb, lowerD] : [tmdb, lowerD],
      year,
      genres: [
        GENRES[Math.floor(rand() * GENRES.length)] ?? 'Drama',
        GENRES[Math.floor(rand() * GENRES.length)] ?? 'Crime',
      ],
      studio: STUDIOS[Math.floor(rand() * STUDIOS.length)] ?? 'Toho',
      overview: prose(rand, 40 + Math.floor(rand() * 40)),
      dateCreated: base2024 + Math.floor(rand() * 90) * 86_400_000,
      rating: Math.round((5 + rand() * 4) * 10) / 10,
    });
  }
  let images = 0;
  for (const movie of movies) {
    if (images >= metadata) break;
    // Jellyfin shards item metadata by the first two hex digits of the item id.
    const folder = at(d.programData, 'metadata', 'library', movie.id.slice(0, 2), movie.id);
    blobs.push({ path: at(folder, 'poster.jpg'), kind: 'jpeg', weight: 1 });
    images++;
    if (images < metadata && rand() < 0.7) {
      blobs.push({ path: at(folder, 'backdrop.jpg'), kind: 'jpeg', weight: 2 });
      images++;
    }
    if (images < metadata && rand() < 0.3) {
      blobs.push({ path: at(folder, 'landscape.jpg'), kind: 'jpeg', weight: 1 });
      images++;
    }
  }
  const people: Person[] = [];
  const newPerson = (): Person => {
    const i = people.length;
    const name = `${FIRST[i % FIRST.length]} ${LAST[Math.floor(i / FIRST.length) % LAST.length]}${i >= FIRST.length * LAST.length ? ` ${Math.floor(i / (FIRST.length * LAST.length)) + 1}` : ''}`;
    const p = { id: guidN(rand), name, overview: prose(rand, 60 + Math.floor(rand() * 60)) };
    people.push(p);
    return p;
  };
  while (images < metadata) {
    const p = newPerson();
    blobs.push({
      path: at(d.programData, 'metadata', 'People', p.name.charAt(0), p.name, 'folder.jpg'),
      kind: 'jpeg',
      weight: 0.6,
    });
    images++;
  }

  // Watch state: about 40 % of (user, movie) pairs were watched or started; one row per user-data key.
  const watch: WatchState[] = [];
  for (const movie of movies) {
    for (const user of users) {
      if (rand() >= 0.4) continue;
      const played = rand() < 0.7;
      watch.push({
        user,
        movie,
        played,
        playCount: played ? 1 + Math.floor(rand() * 3) : 1,
        position: played ? 0 : Math.round(movie.runTimeTicks * (0.1 + rand() * 0.7)),
        favorite: rand() < 0.1,
        rating: rand() < 0.05 ? (rand() < 0.7 ? 10 : 1) : null,
        lastPlayed:
          movie.dateCreated + Math.floor(rand() * 120) * 86_400_000 + Math.floor(rand() * 86_400_000),
        subTicks: Math.floor(rand() * 10_000),
      });
    }
  }

  for (const [rel, content] of text) await writeAt(dir, rel, content);

  // The databases.
  const dataDir = join(dir, d.programData, 'data');
  await mkdir(dataDir, { recursive: true });
  const jellyfinDb = join(dir, paths.database);
  const libraryDb = family === 'old' ? join(dataDir, 'library.db') : null;
  const libraryOld = family === 'new' ? join(dataDir, 'library.db.old') : null;
  const ctx: DbContext = { version, family, users, apiKey, movies, people, watch, containerData, rand };
  if (family === 'old') {
    await sqlite(
      jellyfinDb,
      [
        readReference('schema-10.10.sql'),
        jellyfinSeedSql(ctx),
        "ATTACH DATABASE 'library.db' AS library;",
        librarySeedSql(ctx, 'library.'),
        'DETACH DATABASE library;',
      ].join('\n'),
    );
    // 10.8 keeps library.db in a rollback journal (TRUNCATE, exclusive locking) rather than WAL.
    if (/^10\.8\./.test(version) && libraryDb) await sqlite(libraryDb, 'PRAGMA journal_mode=DELETE;');
  } else {
    await sqlite(
      jellyfinDb,
      [
        readReference('schema-10.11.sql'),
        jellyfinSeedSql(ctx),
        newLibrarySeedSql(ctx),
        newSchemaAdjustments(version),
      ].join('\n'),
    );
    if (libraryOld) await writeLibraryDbOld(ctx, libraryOld);
  }
  if (opts.databaseBytes !== undefined)
    await padDatabases(ctx, opts.databaseBytes, jellyfinDb, libraryDb, (n) => newPeople(n, newPerson));

  // Spread the remaining bytes over the blobs by weight, with some spread inside each kind.
  const sofar = await measure(dir);
  const budget = Math.max(opts.totalBytes - sofar.bytes, blobs.length * 64);
  const weights = blobs.map((b) => b.weight * Math.exp((rand() - 0.5) * 1.6));
  const sum = weights.reduce((a, b) => a + b, 0);
  const sized = blobs.map((b, i) => ({
    ...b,
    size: Math.max(16, Math.floor((budget * (weights[i] ?? 0)) / sum)),
  }));
  await runPool(sized, 8, (b) => writeAt(dir, b.path, blobBytes(seed, b.path, b.size, b.kind)));

  if (opts.uid !== undefined || opts.gid !== undefined) {
    await execa('chown', ['-R', `${opts.uid ?? ''}:${opts.gid ?? opts.uid ?? ''}`, dir]);
  }

  const total = await measure(dir);
  return {
    files: total.files,
    bytes: total.bytes,
    database: jellyfinDb,
    version,
    family,
    databases: { jellyfin: jellyfinDb, library: libraryDb, libraryOld },
    serverId,
    apiKey,
    users,
    items: movies.map(({ id, guid, name, path, runTimeTicks, productionYear, providerIds, keys }) => ({
      id,
      guid,
      name,
      path,
      runTimeTicks,
      productionYear,
      providerIds,
      keys,
    })),
  };
}

function newPeople(n: number, make: () => Person): Person[] {
  return Array.from({ length: n }, make);
}

function readReference(name: string): string {
  return readFileSync(join(REFERENCE_DIR, name), 'utf8');
}

interface DbContext {
  version: string;
  family: 'old' | 'new';
  users: GeneratedUser[];
  apiKey: string;
  movies: Movie[];
  people: Person[];
  watch: WatchState[];
  containerData: string;
  rand: () => number;
}

const USER_COLUMNS =
  'Id, Username, InternalId, AuthenticationProviderId, PasswordResetProviderId, DisplayCollectionsView, DisplayMissingEpisodes, EnableAutoLogin, EnableLocalPassword, EnableNextEpisodeAutoPlay, EnableUserPreferenceAccess, HidePlayedInLatest, InvalidLoginAttemptCount, MaxActiveSessions, MustUpdatePassword, PlayDefaultAudioTrack, RememberAudioSelections, RememberSubtitleSelections, RowVersion, SubtitleMode, SyncPlayAccess, LastActivityDate, LastLoginDate, Password';

/** jellyfin.db rows both families share: users, permissions, devices, the API key, the activity log. */
function jellyfinSeedSql(ctx: DbContext): string {
  const sql: string[] = ['BEGIN;'];
  const lastSeen = Date.UTC(2024, 4, 5, 19, 30, 0);
  for (const u of ctx.users) {
    const normalized = ctx.family === 'new' ? ', NormalizedUsername' : '';
    const normalizedValue = ctx.family === 'new' ? `, ${lit(u.name.toUpperCase())}` : '';
    // Password: the PBKDF2 hash format Jellyfin stores ($PBKDF2-SHA512$iterations=210000$salt$hash).
    const password = `$PBKDF2-SHA512$iterations=210000$${hex(ctx.rand, 64).toUpperCase()}$${hex(ctx.rand, 128).toUpperCase()}`;
    sql.push(
      `INSERT INTO Users (${USER_COLUMNS}${normalized}) VALUES (${lit(u.guid)}, ${lit(u.name)}, ${u.internalId}, 'Jellyfin.Server.Implementations.Users.DefaultAuthenticationProvider', 'Jellyfin.Server.Implementations.Users.DefaultPasswordResetProvider', 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1, ${1 + Math.floor(ctx.rand() * 40)}, 0, 0, ${lit(efDate(lastSeen - u.internalId * 3_600_000, 1234))}, ${lit(efDate(lastSeen - u.internalId * 7_200_000, 5678))}, ${lit(password)}${normalizedValue});`,
    );
    const permissions = Array.from({ length: 24 }, (_, kind) => {
      // IsAdministrator for the admin only, IsHidden / IsDisabled off, every other right on.
      const value = kind === 0 ? u.isAdmin : kind !== 1 && kind !== 2;
      return `(${kind}, NULL, 0, ${lit(u.guid)}, ${lit(value)})`;
    });
    sql.push(
      `INSERT INTO Permissions (Kind, Permission_Permissions_Guid, RowVersion, UserId, Value) VALUES ${permissions.join(', ')};`,
    );
    const dev = u.device;
    const created = efDate(Date.UTC(2024, 0, 1) + u.internalId * 86_400_000);
    sql.push(
      `INSERT INTO Devices (AccessToken, AppName, AppVersion, DateCreated, DateLastActivity, DateModified, DeviceId, DeviceName, IsActive, UserId) VALUES (${lit(dev.accessToken)}, ${lit(dev.appName)}, ${lit(dev.appVersion)}, ${lit(created)}, ${lit(efDate(lastSeen - u.internalId * 3_600_000, 4321))}, ${lit(created)}, ${lit(dev.deviceId)}, ${lit(dev.deviceName)}, 1, ${lit(u.guid)});`,
    );
  }
  const keyDate = efDate(Date.UTC(2024, 1, 1, 12, 0, 0));
  sql.push(
    `INSERT INTO ApiKeys (AccessToken, DateCreated, DateLastActivity, Name) VALUES (${lit(ctx.apiKey)}, ${lit(keyDate)}, ${lit(keyDate)}, 'jellyfin-failover');`,
  );
  // Activity history: a login per user, and for each watch a playback start / stop pair.
  for (const u of ctx.users) {
    sql.push(
      activityInsert(
        `${u.name} successfully authenticated`,
        'AuthenticationSucceeded',
        u.guid,
        null,
        Date.UTC(2024, 0, 3) + u.internalId * 3_600_000,
        'IP address: 192.168.1.20',
      ),
    );
  }
  for (const w of ctx.watch) {
    const device = w.user.device.deviceName;
    const itemN = w.movie.id;
    const startMs = w.lastPlayed - Math.round(w.movie.runTimeTicks / 10_000);
    sql.push(
      activityInsert(
        `${w.user.name} is playing ${w.movie.name} on ${device}`,
        'VideoPlayback',
        w.user.guid,
        itemN,
        startMs,
        null,
      ),
    );
    sql.push(
      activityInsert(
        `${w.user.name} has finished playing ${w.movie.name} on ${device}`,
        'VideoPlaybackStopped',
        w.user.guid,
        itemN,
        w.lastPlayed,
        null,
      ),
    );
  }
  sql.push('COMMIT;');
  return sql.join('\n');
}

function activityInsert(
  name: string,
  type: string,
  userId: string,
  itemId: string | null,
  ms: number,
  shortOverview: string | null,
): string {
  return `INSERT INTO ActivityLogs (Name, Overview, ShortOverview, Type, UserId, ItemId, DateCreated, LogSeverity, RowVersion) VALUES (${lit(name)}, NULL, ${lit(shortOverview)}, ${lit(type)}, ${lit(userId)}, ${lit(itemId)}, ${lit(efDate(ms, ms % 10_000))}, 2, 0);`;
}

/** The library folders every install has: the root AggregateFolder and the Movies / Shows CollectionFolders. */
function folders(
  ctx: DbContext,
): Array<{ id: string; type: string; name: string; path: string; parent: string | null }> {
  const root = '6d2fa5ba8d5b4f0c9e2d4c1a0b9f8e7d';
  return [
    { id: root, type: AGGREGATE_FOLDER, name: 'root', path: `${ctx.containerData}/root`, parent: null },
    {
      id: 'f137a2dd21bbc1b99aa5c0f6bf02a805',
      type: COLLECTION_FOLDER,
      name: 'Movies',
      path: `${ctx.containerData}/root/default/Movies`,
      parent: root,
    },
    {
      id: 'a656b907eb3a73532e40e44b968d0225',
      type: COLLECTION_FOLDER,
      name: 'Shows',
      path: `${ctx.containerData}/root/default/Shows`,
      parent: root,
    },
  ];
}

const MOVIES_FOLDER = 'f137a2dd21bbc1b99aa5c0f6bf02a805';

function movieData(m: Movie): string {
  return JSON.stringify({
    Tagline: null,
    Width: 1920,
    Height: 1080,
    Genres: m.genres,
    Studios: [m.studio],
    ProviderIds: m.providerIds,
    LockedFields: [],
  });
}

/** 10.11+ jellyfin.db: folders, movies, their provider ids, watch state (one UserData row per key). */
function newLibrarySeedSql(ctx: DbContext): string {
  const sql: string[] = ['PRAGMA foreign_keys=ON;', 'BEGIN;'];
  for (const f of folders(ctx)) {
    sql.push(
      `INSERT INTO BaseItems (Id, Type, Name, Path, ParentId, IsFolder, IsInMixedFolder, IsLocked, IsMovie, IsRepeat, IsSeries, IsVirtualItem, PresentationUniqueKey, DateCreated, DateModified, SortName) VALUES (${lit(guidD(f.id))}, ${lit(f.type)}, ${lit(f.name)}, ${lit(f.path)}, ${lit(f.parent ? guidD(f.parent) : null)}, 1, 0, 0, 0, 0, 0, 0, ${lit(f.id)}, '2024-01-01 00:00:00', '2024-01-01 00:00:00', ${lit(f.name.toLowerCase())});`,
    );
  }
  for (const m of ctx.movies) {
    const created = efDate(m.dateCreated);
    sql.push(
      `INSERT INTO BaseItems (Id, Type, Name, Path, ParentId, TopParentId, MediaType, RunTimeTicks, IsFolder, IsInMixedFolder, IsLocked, IsMovie, IsRepeat, IsSeries, IsVirtualItem, PresentationUniqueKey, DateCreated, DateModified, DateLastSaved, DateLastRefreshed, ProductionYear, PremiereDate, SortName, CleanName, OfficialRating, CommunityRating, Overview, Genres, Studios, Data, Width, Height, Size, TotalBitrate, PreferredMetadataLanguage, PreferredMetadataCountryCode) VALUES (${lit(m.guid)}, ${lit(MOVIE)}, ${lit(m.name)}, ${lit(m.path)}, ${lit(guidD(MOVIES_FOLDER))}, ${lit(guidD(MOVIES_FOLDER))}, 'Video', ${m.runTimeTicks}, 0, 0, 0, 0, 0, 0, 0, ${lit(m.id)}, ${lit(created)}, ${lit(created)}, ${lit(created)}, ${lit(created)}, ${m.year}, ${lit(`${m.year}-06-01 00:00:00`)}, ${lit(m.name.toLowerCase())}, ${lit(m.name.toLowerCase().replace(/[^a-z0-9 ]/g, ''))}, 'PG-13', ${m.rating}, ${lit(m.overview)}, ${lit(m.genres.join('|'))}, ${lit(m.studio)}, ${lit(movieData(m))}, 1920, 1080, ${Math.round(m.runTimeTicks / 10_000_000) * 1_000_000}, 8000000, 'en', 'US');`,
    );
    for (const [provider, value] of Object.entries(m.providerIds)) {
      sql.push(
        `INSERT INTO BaseItemProviders (ItemId, ProviderId, ProviderValue) VALUES (${lit(m.guid)}, ${lit(provider)}, ${lit(value)});`,
      );
    }
  }
  for (const p of ctx.people) sql.push(personBaseItem(ctx, p));
  for (const w of ctx.watch) {
    for (const key of w.movie.keys) {
      sql.push(
        `INSERT INTO UserData (ItemId, UserId, CustomDataKey, AudioStreamIndex, IsFavorite, LastPlayedDate, Likes, PlayCount, PlaybackPositionTicks, Played, Rating, RetentionDate, SubtitleStreamIndex) VALUES (${lit(w.movie.guid)}, ${lit(w.user.guid)}, ${lit(key)}, 1, ${lit(w.favorite)}, ${lit(efDate(w.lastPlayed, w.subTicks))}, ${lit(w.rating === null ? null : w.rating >= 6.5)}, ${w.playCount}, ${w.position}, ${lit(w.played)}, ${lit(w.rating)}, NULL, -1);`,
      );
    }
  }
  sql.push('COMMIT;');
  return sql.join('\n');
}

function personBaseItem(ctx: DbContext, p: Person): string {
  const path = `${ctx.containerData}/metadata/People/${p.name.charAt(0)}/${p.name}`;
  return `INSERT INTO BaseItems (Id, Type, Name, Path, IsFolder, IsInMixedFolder, IsLocked, IsMovie, IsRepeat, IsSeries, IsVirtualItem, PresentationUniqueKey, DateCreated, DateModified, SortName, Overview, Data) VALUES (${lit(guidD(p.id))}, ${lit(PERSON)}, ${lit(p.name)}, ${lit(path)}, 1, 0, 0, 0, 0, 0, 0, ${lit(p.id)}, '2024-01-05 10:00:00', '2024-01-05 10:00:00', ${lit(p.name.toLowerCase())}, ${lit(p.overview)}, ${lit(JSON.stringify({ ProductionLocations: ['Berlin, Germany'], LockedFields: [] }))});`;
}

/** 10.8-10.10 library.db rows (tables prefixed with `prefix`): folders, movies, ancestors, genres, UserDatas. */
function librarySeedSql(ctx: DbContext, prefix: string): string {
  const sql: string[] = ['BEGIN;'];
  const fs = folders(ctx);
  for (const f of fs) {
    sql.push(
      `INSERT INTO ${prefix}TypedBaseItems (guid, type, data, ParentId, Path, Name, IsFolder, IsVirtualItem, IsMovie, IsSeries, IsRepeat, IsLocked, IsInMixedFolder, PresentationUniqueKey, UserDataKey, DateCreated, DateModified, SortName) VALUES (${guidBlob(f.id)}, ${lit(f.type)}, CAST('{}' AS BLOB), ${f.parent ? guidBlob(f.parent) : 'NULL'}, ${lit(f.path)}, ${lit(f.name)}, 1, 0, 0, 0, 0, 0, 0, ${lit(f.id)}, ${lit(guidD(f.id).toLowerCase())}, '2024-01-01 00:00:00Z', '2024-01-01 00:00:00Z', ${lit(f.name.toLowerCase())});`,
    );
  }
  const rootId = fs[0]?.id ?? MOVIES_FOLDER;
  for (const m of ctx.movies) {
    const created = libDate(m.dateCreated);
    // ProviderIds as 10.10 serializes them: "Key=Value" pairs, sorted, '|'-separated.
    const providerIds = Object.entries(m.providerIds)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}=${v}`)
      .join('|');
    sql.push(
      `INSERT INTO ${prefix}TypedBaseItems (guid, type, data, ParentId, Path, Name, MediaType, RunTimeTicks, IsFolder, IsVirtualItem, IsMovie, IsSeries, IsRepeat, IsLocked, IsInMixedFolder, UserDataKey, ProviderIds, PresentationUniqueKey, DateCreated, DateModified, DateLastSaved, DateLastRefreshed, ProductionYear, PremiereDate, SortName, CleanName, OfficialRating, CommunityRating, Overview, Genres, Studios, TopParentId, Width, Height, Size, TotalBitrate, PreferredMetadataLanguage, PreferredMetadataCountryCode) VALUES (${guidBlob(m.id)}, ${lit(MOVIE)}, CAST(${lit(movieData(m))} AS BLOB), ${guidBlob(MOVIES_FOLDER)}, ${lit(m.path)}, ${lit(m.name)}, 'Video', ${m.runTimeTicks}, 0, 0, 0, 0, 0, 0, 0, ${lit(m.keys[0] ?? null)}, ${lit(providerIds)}, ${lit(m.id)}, ${lit(created)}, ${lit(created)}, ${lit(created)}, ${lit(created)}, ${m.year}, ${lit(`${m.year}-06-01 00:00:00Z`)}, ${lit(m.name.toLowerCase())}, ${lit(m.name.toLowerCase().replace(/[^a-z0-9 ]/g, ''))}, 'PG-13', ${m.rating}, ${lit(m.overview)}, ${lit(m.genres.join('|'))}, ${lit(m.studio)}, ${lit(MOVIES_FOLDER)}, 1920, 1080, ${Math.round(m.runTimeTicks / 10_000_000) * 1_000_000}, 8000000, 'en', 'US');`,
    );
    for (const ancestor of [MOVIES_FOLDER, rootId]) {
      sql.push(
        `INSERT INTO ${prefix}AncestorIds (ItemId, AncestorId, AncestorIdText) VALUES (${guidBlob(m.id)}, ${guidBlob(ancestor)}, ${lit(ancestor)});`,
      );
    }
    for (const genre of new Set(m.genres)) {
      sql.push(
        `INSERT INTO ${prefix}ItemValues (ItemId, Type, Value, CleanValue) VALUES (${guidBlob(m.id)}, 2, ${lit(genre)}, ${lit(genre.toLowerCase())});`,
      );
    }
  }
  for (const p of ctx.people) sql.push(personTypedBaseItem(ctx, p, prefix));
  for (const w of ctx.watch) {
    for (const key of w.movie.keys) {
      sql.push(
        `INSERT INTO ${prefix}UserDatas (key, userId, rating, played, playCount, isFavorite, playbackPositionTicks, lastPlayedDate, AudioStreamIndex, SubtitleStreamIndex) VALUES (${lit(key)}, ${w.user.internalId}, ${lit(w.rating)}, ${lit(w.played)}, ${w.playCount}, ${lit(w.favorite)}, ${w.position}, ${lit(libDate(w.lastPlayed, w.subTicks))}, 1, -1);`,
      );
    }
  }
  sql.push('COMMIT;');
  return sql.join('\n');
}

function personTypedBaseItem(ctx: DbContext, p: Person, prefix: string): string {
  const path = `${ctx.containerData}/metadata/People/${p.name.charAt(0)}/${p.name}`;
  const data = JSON.stringify({
    Overview: p.overview,
    ProductionLocations: ['Berlin, Germany'],
    LockedFields: [],
  });
  return `INSERT INTO ${prefix}TypedBaseItems (guid, type, data, Path, Name, IsFolder, IsVirtualItem, PresentationUniqueKey, UserDataKey, DateCreated, DateModified, SortName, Overview) VALUES (${guidBlob(p.id)}, ${lit(PERSON)}, CAST(${lit(data)} AS BLOB), ${lit(path)}, ${lit(p.name)}, 1, 0, ${lit(p.id)}, ${lit(`Person-${p.name.normalize('NFD').replace(/[\u0300-\u036f]/g, '')}`)}, '2024-01-05 10:00:00Z', '2024-01-05 10:00:00Z', ${lit(p.name.toLowerCase())}, ${lit(p.overview)});`;
}

/**
 * library.db.old: the 10.10 library.db as the 10.10 -> 10.11 upgrade left it (MigrateLibraryDb renames it and
 * keeps it for good): the same items and watch state in 10.10's tables and formats.
 */
async function writeLibraryDbOld(ctx: DbContext, target: string): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'jf-library-old-'));
  try {
    const schema = readReference('schema-10.10.sql');
    const start = schema.indexOf("ATTACH DATABASE 'library.db' AS library;");
    const end = schema.indexOf('DETACH DATABASE library;');
    const libraryPart = schema.slice(start, end);
    await sqlite(
      join(work, 'scratch.db'),
      `${libraryPart}\n${librarySeedSql(ctx, 'library.')}\nDETACH DATABASE library;`,
    );
    await rename(join(work, 'library.db'), target);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * Grows the live database(s) to about `target` bytes with what makes real libraries big: people (items with
 * biographies), cast lists, media streams and chapters (10.10 library.db), and years of activity history.
 */
async function padDatabases(
  ctx: DbContext,
  target: number,
  jellyfinDb: string,
  libraryDb: string | null,
  makePeople: (n: number) => Person[],
): Promise<void> {
  const size = async () => (await fileSize(jellyfinDb)) + (await fileSize(libraryDb));
  let round = 0;
  let perUnit = 0;
  let activityMs = Date.UTC(2021, 0, 1);
  for (;;) {
    const now = await size();
    if (now >= target * 0.97 || round >= 6) return;
    // First a small batch to learn the bytes per unit, then most of the rest, then top up.
    const units = round === 0 ? 400 : Math.max(50, Math.ceil((0.95 * target - now) / Math.max(perUnit, 1)));
    const before = now;
    const people = makePeople(Math.ceil(units / 4));
    const sqlMain: string[] = ['BEGIN;'];
    const sqlLib: string[] = ['BEGIN;'];
    for (let i = 0; i < units; i++) {
      const u = ctx.users[i % ctx.users.length];
      const m = ctx.movies[i % ctx.movies.length];
      if (!u || !m) break;
      activityMs += 60_000 + Math.floor(ctx.rand() * 3_600_000);
      const kind = i % 3;
      if (kind === 0)
        sqlMain.push(
          activityInsert(
            `${u.name} is playing ${m.name} on ${u.device.deviceName}`,
            'VideoPlayback',
            u.guid,
            m.id,
            activityMs,
            null,
          ),
        );
      else if (kind === 1)
        sqlMain.push(
          activityInsert(
            `${u.name} has finished playing ${m.name} on ${u.device.deviceName}`,
            'VideoPlaybackStopped',
            u.guid,
            m.id,
            activityMs,
            null,
          ),
        );
      else
        sqlMain.push(
          activityInsert(
            `${u.name} is online from ${u.device.deviceName}`,
            'SessionStarted',
            u.guid,
            null,
            activityMs,
            `IP address: 192.168.1.${20 + (i % 30)}`,
          ),
        );
    }
    for (const [i, p] of people.entries()) {
      if (ctx.family === 'new') {
        sqlMain.push(personBaseItem(ctx, p));
        sqlMain.push(
          `INSERT INTO BaseItemProviders (ItemId, ProviderId, ProviderValue) VALUES (${lit(guidD(p.id))}, 'Tmdb', ${lit(String(100_000 + people.length * round + i))});`,
        );
      } else {
        sqlLib.push(personTypedBaseItem(ctx, p, ''));
        const m = ctx.movies[i % ctx.movies.length];
        if (!m) continue;
        sqlLib.push(
          `INSERT INTO People (ItemId, Name, Role, PersonType, SortOrder, ListOrder) VALUES (${guidBlob(m.id)}, ${lit(p.name)}, ${lit(prose(ctx.rand, 2).slice(0, -1))}, 'Actor', ${i % 20}, ${round * people.length + i});`,
        );
        const streamBase = round * 1_000_000 + i * 4;
        sqlLib.push(
          `INSERT OR IGNORE INTO mediastreams (ItemId, StreamIndex, StreamType, Codec, Language, ChannelLayout, Profile, AspectRatio, Path, IsInterlaced, BitRate, Channels, SampleRate, IsDefault, IsForced, IsExternal, Height, Width, AverageFrameRate, RealFrameRate, Level, PixelFormat, BitDepth, IsAnamorphic, RefFrames, CodecTag, Comment, NalLengthSize, IsAvc, Title, TimeBase, CodecTimeBase, ColorPrimaries, ColorSpace, ColorTransfer) VALUES (${guidBlob(m.id)}, ${streamBase}, 'Audio', 'eac3', 'eng', '5.1', 'Dolby Digital Plus', NULL, NULL, 0, 640000, 6, 48000, ${i % 2}, 0, 0, NULL, NULL, NULL, NULL, 0, NULL, NULL, NULL, NULL, 'ec-3', ${lit(prose(ctx.rand, 6))}, NULL, 0, ${lit(`Track ${i}`)}, '1/1000', NULL, NULL, NULL, NULL);`,
        );
        sqlLib.push(
          `INSERT OR IGNORE INTO Chapters2 (ItemId, ChapterIndex, StartPositionTicks, Name, ImagePath) VALUES (${guidBlob(m.id)}, ${streamBase}, ${i * 3_000_000_000}, ${lit(`Chapter ${i}`)}, ${lit(`${ctx.containerData}/metadata/library/${m.id.slice(0, 2)}/${m.id}/chapters/${i}.jpg`)});`,
        );
      }
    }
    sqlMain.push('COMMIT;');
    sqlLib.push('COMMIT;');
    await sqlite(jellyfinDb, sqlMain.join('\n'));
    if (libraryDb && sqlLib.length > 2) await sqlite(libraryDb, sqlLib.join('\n'));
    const grown = (await size()) - before;
    perUnit = grown > 0 ? grown / units : perUnit || 500;
    round++;
  }
}

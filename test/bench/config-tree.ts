import { createCipheriv, createHash } from 'node:crypto';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { type Layout, layoutPaths } from '../../src/domain/layout.js';

/**
 * Generator of realistic Jellyfin config trees (the host dir mounted as `/config`) for the bench: XML configs,
 * a branding.xml with a login disclaimer, library definitions, metadata images, plugins, cache, logs,
 * transcodes (which sync must leave out) and a WAL-mode SQLite database with the stand-in's schema.
 * Everything is derived from the seed, so two runs with the same options produce the same files.
 */

export interface ConfigTreeOptions {
  layout: Layout;
  /** About how many files to create (never fewer than the ~25 fixed ones). */
  files: number;
  /** About how many bytes all files should hold together. */
  totalBytes: number;
  seed?: number;
  serverName?: string;
}

export interface ConfigTreeResult {
  /** Files actually written. */
  files: number;
  /** Bytes actually written, database included. */
  bytes: number;
  /** Absolute path of jellyfin.db. */
  database: string;
}

/** The login disclaimer the generator writes into branding.xml (before XML escaping). */
export const GENERATED_LOGIN_DISCLAIMER = 'Welcome to <b>Home & Family</b> "media" server';

/**
 * The schema of the stand-in's database; the same statements are in
 * test/bench/images/jellyfin-standin/standin.mjs, which must stay plain JS without imports from the tree.
 */
const SCHEMA = `
PRAGMA journal_mode=WAL;
CREATE TABLE IF NOT EXISTS Users(Id TEXT PRIMARY KEY, Username TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS BaseItems(Id TEXT PRIMARY KEY, Name TEXT, Path TEXT);
CREATE TABLE IF NOT EXISTS UserData(UserId TEXT NOT NULL, ItemId TEXT NOT NULL, PlaybackPositionTicks INTEGER NOT NULL DEFAULT 0,
  PlayCount INTEGER NOT NULL DEFAULT 0, LastPlayedDate TEXT, PRIMARY KEY(UserId, ItemId));
CREATE TABLE IF NOT EXISTS ActivityLogs(Id INTEGER PRIMARY KEY AUTOINCREMENT, Name TEXT NOT NULL, Type TEXT NOT NULL,
  UserId TEXT, ItemId TEXT, DateCreated TEXT NOT NULL);
`;

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

function guidN(rand: () => number): string {
  let out = '';
  for (let i = 0; i < 32; i++) out += Math.floor(rand() * 16).toString(16);
  return out;
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

const MOVIES = ['Arrival', 'Heat', 'Alien', 'Amélie', 'Metropolis', 'Ran', 'Brazil', 'Solaris', 'Up', 'Her'];
const PLUGINS = ['Trakt_25.0.0.0', 'OpenSubtitles_20.0.0.0', 'Fanart_12.0.0.0'];

/** Writes a Jellyfin config tree for `opts.layout` under `dir` (created if missing). */
export async function generateConfigTree(dir: string, opts: ConfigTreeOptions): Promise<ConfigTreeResult> {
  const seed = opts.seed ?? 1;
  const rand = prng(seed);
  const d = treeDirs(opts.layout);
  const paths = layoutPaths(opts.layout);
  const serverName = opts.serverName ?? `jellyfin-${seed}`;
  const at = (base: string, ...parts: string[]) => join(base, ...parts);
  await mkdir(dir, { recursive: true });

  // Configs, in Jellyfin's config dir.
  const users = Array.from({ length: 3 }, (_, i) => ({
    id: guidN(rand),
    name: ['alice', 'bob', 'kids'][i] ?? 'u',
  }));
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
    [at(d.programData, 'data', 'device.txt'), guidN(prng(seed * 7919 + 1))],
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
    const [name, version] = plugin.split('_') as [string, string];
    text.push([
      at(d.programData, 'plugins', plugin, 'meta.json'),
      `${JSON.stringify({ name, version, guid: guidN(rand), status: 'Active', targetAbi: '10.11.0.0' }, null, 2)}\n`,
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
  const fixed = text.length + blobs.length + 1; // + jellyfin.db
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
  const items: Array<{ id: string; name: string }> = [];
  for (let written = 0, i = 0; written < metadata; i++) {
    const id = guidN(rand);
    const year = 1950 + Math.floor(rand() * 74);
    items.push({ id, name: `${MOVIES[i % MOVIES.length]} ${Math.floor(i / MOVIES.length) + 1} (${year})` });
    // Jellyfin shards item metadata by the first two hex digits of the item id.
    const base = at(d.programData, 'metadata', 'library', id.slice(0, 2), id);
    blobs.push({ path: at(base, 'poster.jpg'), kind: 'jpeg', weight: 1 });
    written++;
    if (written < metadata && rand() < 0.5) {
      blobs.push({ path: at(base, 'backdrop.jpg'), kind: 'jpeg', weight: 2 });
      written++;
    }
  }

  for (const [rel, content] of text) await writeAt(dir, rel, content);

  // The database, created with the sqlite3 CLI (WAL mode persists in the file header).
  const database = join(dir, paths.database);
  await mkdir(dirname(database), { recursive: true });
  const start = Date.UTC(2024, 0, 1);
  const day = 86_400_000;
  const sql = [SCHEMA, 'BEGIN;'];
  for (const u of users)
    sql.push(`INSERT OR REPLACE INTO Users VALUES(${sqlString(u.id)}, ${sqlString(u.name)});`);
  for (const item of items) {
    sql.push(
      `INSERT OR REPLACE INTO BaseItems VALUES(${sqlString(item.id)}, ${sqlString(item.name)}, ${sqlString(`/media/movies/${item.name}/${item.name}.mkv`)});`,
    );
  }
  for (const item of items) {
    for (const u of users) {
      if (rand() < 0.4) {
        const when = new Date(start + Math.floor(rand() * 120) * day).toISOString();
        sql.push(
          `INSERT OR REPLACE INTO UserData VALUES(${sqlString(u.id)}, ${sqlString(item.id)}, ${Math.floor(rand() * 6e10)}, ${Math.floor(rand() * 3)}, ${sqlString(when)});`,
        );
        sql.push(
          `INSERT INTO ActivityLogs(Name, Type, UserId, ItemId, DateCreated) VALUES(${sqlString(`${u.name} played ${item.name}`)}, 'VideoPlayback', ${sqlString(u.id)}, ${sqlString(item.id)}, ${sqlString(when)});`,
        );
      }
    }
  }
  sql.push('COMMIT;');
  await execa('sqlite3', ['-batch', database], { input: `${sql.join('\n')}\n` });

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

  const total = await measure(dir);
  return { files: total.files, bytes: total.bytes, database };
}

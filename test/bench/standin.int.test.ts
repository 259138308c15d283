import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Docker from 'dockerode';
import { execa } from 'execa';
import { afterEach, describe, expect, inject, it } from 'vitest';
import type { Layout } from '../../src/domain/layout.js';
import { GENERATED_LOGIN_DISCLAIMER, generateConfigTree, REFERENCE_DIR } from './config-tree.js';
import { dbFacts } from './faults.js';
import { clientAsAdmin, clientAsUser, JellyfinClient } from './jellyfin-client.js';
import type { BenchInfo } from './provided.js';
import {
  execInContainer,
  removeContainer,
  type StandinOptions,
  startStandin,
  startSwag,
  waitForHealth,
  writeSwagSite,
} from './standin.js';

// The bench proof: the Jellyfin stand-in behaves like the Jellyfin version it claims, as
// test/fixtures/jellyfin-reference describes it: startup phases, databases (schema, value formats, VACUUM,
// library.db.old), every user action written exactly as the reference writes/*.sql write it, the server's
// user-data cache, idle writes that never touch watch state, auth and error answers, PUID/PGID; and the SWAG
// stand-in is a working nginx. (The stand-in itself is a fake: Jellyfin cannot run here.)

const bench: BenchInfo = inject('bench');
const docker = new Docker({ socketPath: bench.dockerSocket });
/** This file's loopback ports: 18100-18139. */
const PORT_BASE = 18100;
const containers: string[] = [];

function containerName(label: string): string {
  const name = `jfb-test-${label}-${randomUUID().slice(0, 8)}`;
  containers.push(name);
  return name;
}

afterEach(async () => {
  for (const name of containers.splice(0)) await removeContainer(docker, name);
});

type Row = Record<string, string | number | null>;

/** Rows of a query, read-only (safe beside a running stand-in: WAL). */
async function rows(db: string, sql: string): Promise<Row[]> {
  const { stdout } = await execa('sqlite3', ['-readonly', '-json', db, sql]);
  return stdout.trim() ? (JSON.parse(stdout) as Row[]) : [];
}

async function scalar(db: string, sql: string): Promise<string> {
  return (await execa('sqlite3', ['-readonly', db, sql])).stdout.trim();
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} not seen within ${timeoutMs} ms`, { cause: lastError });
}

async function getJson(url: string): Promise<{ body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return { body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

async function logsOf(container: Docker.Container): Promise<string> {
  const buf = (await container.logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer;
  return buf.toString('utf8');
}

/** waitForHealth, with the log of the container started last in the error when it does not come up. */
async function healthy(baseUrl: string): Promise<void> {
  try {
    await waitForHealth(baseUrl, 'Healthy', 30_000);
  } catch (err) {
    const log = await logsOf(docker.getContainer(containers.at(-1) ?? '')).catch((e: unknown) => String(e));
    throw new Error(`${(err as Error).message}\n--- container log ---\n${log}`);
  }
}

/** Starts a stand-in (startup 200 ms unless told) and waits until it is Healthy; the container. */
async function runStandin(
  label: string,
  opts: Omit<StandinOptions, 'name' | 'image'>,
): Promise<Docker.Container> {
  const container = await startStandin(docker, {
    name: containerName(label),
    image: bench.standinImage,
    startupDelayMs: 200,
    ...opts,
  });
  await healthy(`http://127.0.0.1:${opts.port}`);
  return container;
}

/** Data dir (with the databases) inside a config dir. */
function dataDirOf(configDir: string, layout: Layout): string {
  return layout === 'linuxserver' ? join(configDir, 'data', 'data') : join(configDir, 'data');
}

async function tree(label: string, opts: Partial<Parameters<typeof generateConfigTree>[1]> = {}) {
  const configDir = await mkdtemp(join(bench.workDir, `standin-${label}-`));
  const result = await generateConfigTree(configDir, {
    layout: 'linuxserver',
    files: 120,
    totalBytes: 2_000_000,
    seed: 11,
    serverName: `bench-${label}`,
    ...opts,
  });
  return { configDir, tree: result };
}

// ================================================================================================ startup

type Phase = 'refused' | 'setup' | 'loading' | 'healthy' | 'other';

/** What the server answers right now on /health, as the phases of the reference README tell them apart. */
async function phaseNow(
  baseUrl: string,
  seen: { setupInfo?: Record<string, unknown>; pingWhileLoading?: string },
): Promise<Phase> {
  let res: Response;
  try {
    res = await fetch(`${baseUrl}/health`, { signal: AbortSignal.timeout(1000) });
  } catch {
    return 'refused';
  }
  const body = (await res.text()).trim();
  if (res.status === 200 && body === 'Healthy') return 'healthy';
  if (res.status === 200 && body === 'Degraded') {
    if (!seen.setupInfo) {
      const info = await fetch(`${baseUrl}/System/Info/Public`, { signal: AbortSignal.timeout(1000) }).catch(
        () => null,
      );
      if (info?.ok) seen.setupInfo = (await info.json()) as Record<string, unknown>;
    }
    return 'setup';
  }
  if (
    res.status === 503 &&
    (res.headers.get('content-type') ?? '').startsWith('text/html') &&
    body === 'Jellyfin Server is loading. Please try again shortly.'
  ) {
    if (!seen.pingWhileLoading) {
      const ping = await fetch(`${baseUrl}/System/Ping`, { signal: AbortSignal.timeout(1000) }).catch(
        () => null,
      );
      if (ping) seen.pingWhileLoading = `${ping.status} ${await ping.text()}`;
    }
    return 'loading';
  }
  return 'other';
}

/** Polls from container start until Healthy; the distinct phases in order, with their first times. */
async function watchStartup(
  baseUrl: string,
  startedAt: number,
  timeoutMs: number,
): Promise<{
  phases: Phase[];
  times: number[];
  seen: { setupInfo?: Record<string, unknown>; pingWhileLoading?: string };
}> {
  const phases: Phase[] = [];
  const times: number[] = [];
  const seen: { setupInfo?: Record<string, unknown>; pingWhileLoading?: string } = {};
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const phase = await phaseNow(baseUrl, seen);
    if (phases.at(-1) !== phase) {
      phases.push(phase);
      times.push(Date.now() - startedAt);
    }
    if (phase === 'healthy') return { phases, times, seen };
    await new Promise((r) => setTimeout(r, 15));
  }
  throw new Error(`no Healthy within ${timeoutMs} ms; phases so far: ${phases.join(' > ')}`);
}

describe('Jellyfin stand-in startup, info and shutdown', () => {
  it('10.11 (linuxserver): setup server Degraded with camelCase info, a refused gap, 503 loading, Healthy; branding cached until restart; clean stop', async () => {
    const port = PORT_BASE;
    const { configDir, tree: t } = await tree('start11', { version: '10.11.3', layout: 'linuxserver' });
    const baseUrl = `http://127.0.0.1:${port}`;
    const startedAt = Date.now();
    const container = await startStandin(docker, {
      name: containerName('start11'),
      image: bench.standinImage,
      configDir,
      port,
      version: '10.11.3',
      startupDelayMs: 3000,
      idleWriteMs: 0,
      writeIntervalMs: 100,
    });
    const { phases, seen } = await watchStartup(baseUrl, startedAt, 30_000);
    // The container's own start may show as refused before the setup server listens.
    expect(phases.filter((p, i) => !(i === 0 && p === 'refused'))).toEqual([
      'setup',
      'refused',
      'loading',
      'healthy',
    ]);
    expect(seen.setupInfo).toEqual({
      localAddress: `http://127.0.0.1:${port}`,
      serverName: 'bench-start11',
      version: '10.11.3',
      productName: 'Jellyfin Server',
      operatingSystem: '',
      id: t.serverId,
      startupWizardCompleted: false,
    });
    expect(seen.pingWhileLoading).toBe('200 "Jellyfin Server"');

    const { body: info } = await getJson(`${baseUrl}/System/Info/Public`);
    expect(info).toEqual({
      LocalAddress: `http://127.0.0.1:${port}`,
      ServerName: 'bench-start11',
      Version: '10.11.3',
      ProductName: 'Jellyfin Server',
      OperatingSystem: '',
      Id: (await readFile(join(configDir, 'data', 'data', 'device.txt'), 'utf8')).trim(),
      StartupWizardCompleted: true,
    });
    const { body: branding } = await getJson(`${baseUrl}/Branding/Configuration`);
    expect(branding).toEqual({
      LoginDisclaimer: GENERATED_LOGIN_DISCLAIMER,
      CustomCss: '.loginDisclaimer { color: #ffb300; }',
      SplashscreenEnabled: false,
    });
    expect((await container.inspect()).Config.Labels['org.opencontainers.image.version']).toBe('10.11.3');

    // Users watching (writeIntervalMs): playback reports change watch state and log playback activity.
    const db = t.databases.jellyfin;
    const before = await dbFacts(configDir);
    await until('simulated playback in the activity log', 20_000, async () =>
      (await dbFacts(configDir)).activity >= before.activity + 4 ? true : undefined,
    );
    expect(
      Number(
        await scalar(
          db,
          "SELECT count(*) FROM ActivityLogs WHERE Type = 'VideoPlayback' AND DateCreated > '2025'",
        ),
      ),
    ).toBeGreaterThan(0);

    // branding.xml is read once: a change shows only after a restart.
    await writeFile(
      join(configDir, 'branding.xml'),
      '<BrandingOptions><LoginDisclaimer>changed</LoginDisclaimer></BrandingOptions>',
    );
    expect((await getJson(`${baseUrl}/Branding/Configuration`)).body.LoginDisclaimer).toBe(
      GENERATED_LOGIN_DISCLAIMER,
    );

    await container.stop({ t: 10 });
    expect((await container.inspect()).State.ExitCode).toBe(0);
    // Checked before any sqlite3 opens the file again (an open connection recreates the -wal).
    expect(existsSync(`${db}-wal`)).toBe(false);
    expect(await scalar(db, 'PRAGMA integrity_check')).toBe('ok');
    expect(await scalar(db, 'PRAGMA journal_mode')).toBe('wal');
    expect((await dbFacts(configDir)).userData).toBeGreaterThanOrEqual(before.userData);

    await container.start();
    await healthy(baseUrl);
    expect((await getJson(`${baseUrl}/Branding/Configuration`)).body).toEqual({
      LoginDisclaimer: 'changed',
      SplashscreenEnabled: false,
    });
  });

  it('10.10 (official): refused while the databases open (library.db is VACUUMed), then 503 loading but /System/Ping, then Healthy', async () => {
    const port = PORT_BASE + 1;
    const { configDir, tree: t } = await tree('start10', { version: '10.10.7', layout: 'official' });
    const library = t.databases.library ?? '';
    expect(library).toBe(join(configDir, 'data', 'library.db'));
    // Free pages in library.db (as deleted rows leave): a VACUUM at start leaves none.
    await execa('sqlite3', [
      library,
      'CREATE TABLE scratch AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400) SELECT randomblob(2000) AS b FROM n; DROP TABLE scratch;',
    ]);
    expect(Number(await scalar(library, 'PRAGMA freelist_count'))).toBeGreaterThan(100);
    const jfFree = join(configDir, 'data', 'jellyfin.db');
    await execa('sqlite3', [
      jfFree,
      'CREATE TABLE scratch AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100) SELECT randomblob(2000) AS b FROM n; DROP TABLE scratch;',
    ]);
    const jfFreeBefore = Number(await scalar(jfFree, 'PRAGMA freelist_count'));

    const baseUrl = `http://127.0.0.1:${port}`;
    const startedAt = Date.now();
    const container = await startStandin(docker, {
      name: containerName('start10'),
      image: bench.standinImage,
      configDir,
      port,
      layout: 'official',
      version: '10.10.7',
      startupDelayMs: 3000,
      idleWriteMs: 0,
    });
    const { phases, times, seen } = await watchStartup(baseUrl, startedAt, 30_000);
    expect(phases).toEqual(['refused', 'loading', 'healthy']);
    // Nothing listened during the database init: about 30 % of the 3 s startup.
    expect(times[1]).toBeGreaterThanOrEqual(800);
    expect(seen.pingWhileLoading).toBe('200 "Jellyfin Server"');
    expect(seen.setupInfo).toBeUndefined();
    const logs = await logsOf(container);
    expect(logs.indexOf('library.db vacuumed')).toBeGreaterThan(-1);
    expect(logs.indexOf('library.db vacuumed')).toBeLessThan(logs.indexOf('Web listening'));
    expect(Number(await scalar(library, 'PRAGMA freelist_count'))).toBe(0);
    // jellyfin.db (EF Core) is not vacuumed at start.
    expect(Number(await scalar(jfFree, 'PRAGMA freelist_count'))).toBe(jfFreeBefore);

    const { body: info } = await getJson(`${baseUrl}/System/Info/Public`);
    expect(info).toMatchObject({
      Version: '10.10.7',
      ServerName: 'bench-start10',
      Id: t.serverId,
      StartupWizardCompleted: true,
    });
    const { body: branding } = await getJson(`${baseUrl}/Branding/Configuration`);
    expect(branding.LoginDisclaimer).toBe(GENERATED_LOGIN_DISCLAIMER);

    await container.stop({ t: 10 });
    expect((await container.inspect()).State.ExitCode).toBe(0);
    expect(existsSync(`${library}-wal`)).toBe(false);
    expect(existsSync(`${jfFree}-wal`)).toBe(false);
    for (const db of [library, jfFree]) {
      expect(await scalar(db, 'PRAGMA integrity_check')).toBe('ok');
      expect(await scalar(db, 'PRAGMA journal_mode')).toBe('wal');
    }
  });

  it('a 10.10 server on a database 10.11 migrated fails at start (never listens, exit 1)', async () => {
    const port = PORT_BASE + 2;
    const { configDir } = await tree('downgrade', { version: '10.11.3', layout: 'linuxserver' });
    const container = await startStandin(docker, {
      name: containerName('downgrade'),
      image: bench.standinImage,
      configDir,
      port,
      version: '10.10.7',
      startupDelayMs: 200,
    });
    await until('the stand-in to exit', 20_000, async () =>
      (await container.inspect()).State.Running ? undefined : true,
    );
    expect((await container.inspect()).State.ExitCode).toBe(1);
    expect(await logsOf(container)).toContain('no such column: u.MaxParentalAgeRating');
    await expect(fetch(`http://127.0.0.1:${port}/health`)).rejects.toThrow();
  });
});

// ================================================================================================ user actions

const ALICE = '4E3D2F1A-9B8C-4D7E-A6F5-0123456789AB';
const MATRIX = '3F2504E0-4F89-11D3-9A0C-0305E82C3301';
const HEAT = '9B1C7E52-5A43-4C1E-8F5D-2A6B3C4D5E6F';
const HEAT_KEYS = ['949', 'tt0113277', '9b1c7e52-5a43-4c1e-8f5d-2a6b3c4d5e6f'];
const ALICE_TOKEN = 'a11ce0000000000000000000000000c1';
const API_KEY = 'b3c4000000000000000000000000a91e';
const n = (guid: string) => guid.replace(/-/g, '').toLowerCase();

/**
 * The reference starting point: schema-<ver>.sql + writes/seed-<ver>.sql (alice, The Matrix unwatched, Heat
 * watched), plus what a logged-in alice has (her Chrome device) and an API key, in place of a generated tree's DBs.
 */
async function referenceDatabases(dataDir: string, family: 'old' | 'new', version: string): Promise<void> {
  for (const f of ['jellyfin.db', 'library.db', 'library.db.old'])
    await rm(join(dataDir, f), { force: true });
  const ver = family === 'old' ? '10.10' : '10.11';
  const now = '2024-05-01 10:00:00';
  const extras = `
INSERT INTO Permissions (Kind, Permission_Permissions_Guid, RowVersion, UserId, Value) VALUES (0, NULL, 0, '${ALICE}', 1);
INSERT INTO Devices (AccessToken, AppName, AppVersion, DateCreated, DateLastActivity, DateModified, DeviceId, DeviceName, IsActive, UserId)
  VALUES ('${ALICE_TOKEN}', 'Jellyfin Web', '${version}', '${now}', '${now}', '${now}', 'alice-chrome', 'Chrome', 1, '${ALICE}');
INSERT INTO ApiKeys (AccessToken, DateCreated, DateLastActivity, Name) VALUES ('${API_KEY}', '${now}', '${now}', 'bench');`;
  const script = [
    await readFile(join(REFERENCE_DIR, `schema-${ver}.sql`), 'utf8'),
    await readFile(join(REFERENCE_DIR, 'writes', `seed-${ver}.sql`), 'utf8'),
    extras,
  ].join('\n');
  await execa('sqlite3', ['-bail', 'jellyfin.db'], { cwd: dataDir, input: script });
}

/** The Matrix's ids in the reference scripts, in every form they take there, and Heat's. */
const MATRIX_TO_HEAT: Array<[string, string]> = [
  ["X'E004253F894FD3119A0C0305E82C3301'", "X'527E1C9B435A1E4C8F5D2A6B3C4D5E6F'"],
  [`'${MATRIX}'`, `'${HEAT}'`],
  [`'${MATRIX.toLowerCase()}'`, `'${HEAT.toLowerCase()}'`],
  [`'${n(MATRIX)}'`, `'${n(HEAT)}'`],
  ["'603'", "'949'"],
  ["'tt0133093'", "'tt0113277'"],
  ['The Matrix', 'Heat'],
];

/**
 * Runs writes/<file> (or SQL text) on the reference copy, as the README says: `sqlite3 jellyfin.db < file`;
 * `onHeat` runs a script written for The Matrix on Heat (the same action on the other item).
 */
async function applyReference(refDir: string, sqlOrFile: string, onHeat = false): Promise<void> {
  let input = sqlOrFile.endsWith('.sql')
    ? await readFile(join(REFERENCE_DIR, 'writes', sqlOrFile), 'utf8')
    : sqlOrFile.includes('library.')
      ? // SQL of the test's own (no reference script) naming `library.` tables: library.db is attached for it.
        `ATTACH DATABASE 'library.db' AS library;\n${sqlOrFile}\nDETACH DATABASE library;`
      : sqlOrFile;
  if (onHeat) for (const [from, to] of MATRIX_TO_HEAT) input = input.split(from).join(to);
  await execa('sqlite3', ['-bail', 'jellyfin.db'], { cwd: refDir, input });
}

const DATE_FORMAT = {
  /** 10.10 library.db: 'yyyy-MM-dd HH:mm:ss.FFFFFFFZ' */
  library: /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,7})?Z$/,
  /** jellyfin.db (EF Core): 'yyyy-MM-dd HH:mm:ss.FFFFFFF' (no T, no Z) */
  ef: /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,7})?$/,
};

/**
 * Rows with every date that is not one of the starting database's replaced by its format: the "now" of the
 * reference SQL and of the stand-in differ by milliseconds, everything else must be equal.
 */
function normalized(list: Row[], known: Set<string>, format: RegExp): Row[] {
  return list.map((row) => {
    const out: Row = {};
    for (const [k, v] of Object.entries(row)) {
      if (/date/i.test(k) && typeof v === 'string' && !known.has(v)) {
        out[k] = format.test(v) ? '<now, right format>' : `<wrong format: ${v}>`;
      } else out[k] = v;
    }
    return out;
  });
}

interface Sides {
  family: 'old' | 'new';
  live: string;
  ref: string;
}

async function watchRows(side: Sides, dir: string): Promise<Row[]> {
  return side.family === 'old'
    ? rows(join(dir, 'library.db'), 'SELECT * FROM UserDatas ORDER BY key, userId')
    : rows(join(dir, 'jellyfin.db'), 'SELECT * FROM UserData ORDER BY ItemId, UserId, CustomDataKey');
}

async function playbackActivity(dir: string): Promise<Row[]> {
  return rows(
    join(dir, 'jellyfin.db'),
    "SELECT Name, Overview, ShortOverview, Type, UserId, ItemId, LogSeverity, RowVersion, DateCreated FROM ActivityLogs WHERE Type IN ('VideoPlayback', 'VideoPlaybackStopped') ORDER BY Id",
  );
}

async function knownDates(side: Sides, dir: string): Promise<Set<string>> {
  const known = new Set<string>();
  for (const r of await watchRows(side, dir))
    for (const [k, v] of Object.entries(r)) if (/date/i.test(k) && typeof v === 'string') known.add(v);
  return known;
}

async function expectSameWrites(side: Sides, known: Set<string>, step: string): Promise<void> {
  const format = side.family === 'old' ? DATE_FORMAT.library : DATE_FORMAT.ef;
  const live = normalized(await watchRows(side, side.live), known, format);
  const ref = normalized(await watchRows(side, side.ref), known, format);
  expect(live, `watch state after ${step}`).toEqual(ref);
  const liveActivity = normalized(await playbackActivity(side.live), known, DATE_FORMAT.ef);
  const refActivity = normalized(await playbackActivity(side.ref), known, DATE_FORMAT.ef);
  expect(liveActivity, `activity after ${step}`).toEqual(refActivity);
}

describe.each([
  { version: '10.10.7', layout: 'official' as Layout, family: 'old' as const, port: PORT_BASE + 3 },
  { version: '10.11.11', layout: 'linuxserver' as Layout, family: 'new' as const, port: PORT_BASE + 4 },
])(
  'Jellyfin stand-in $version ($layout): user actions write what the reference writes',
  ({ version, layout, family, port }) => {
    it('each action through the HTTP API leaves the database as writes/*.sql on a copy of the same database', async () => {
      const { configDir } = await tree(`ref-${family}`, { version, layout });
      const dataDir = dataDirOf(configDir, layout);
      await referenceDatabases(dataDir, family, version);
      const refDir = await mkdtemp(join(bench.workDir, `reference-${family}-`));
      for (const f of ['jellyfin.db', 'library.db'])
        if (existsSync(join(dataDir, f))) await copyFile(join(dataDir, f), join(refDir, f));
      const side: Sides = { family, live: dataDir, ref: refDir };
      const known = await knownDates(side, refDir);
      const ver = family === 'old' ? '10.10' : '10.11';

      const baseUrl = `http://127.0.0.1:${port}`;
      await runStandin(`ref-${family}`, { configDir, port, layout, version, idleWriteMs: 0 });
      const alice = new JellyfinClient(baseUrl, ALICE_TOKEN, undefined, {
        client: 'Jellyfin Web',
        device: 'Chrome',
        deviceId: 'alice-chrome',
        version,
      });
      const admin = new JellyfinClient(baseUrl, API_KEY, n(ALICE));
      await expectSameWrites(side, known, 'start');

      // The README's actions in a row, each compared right after it (the reference SQL reads the state it changes).
      const fav = await alice.favorite(n(HEAT));
      await applyReference(refDir, `${ver}-favorite.sql`);
      await expectSameWrites(side, known, 'favorite');
      expect(fav).toMatchObject({
        IsFavorite: true,
        Played: true,
        PlayCount: 1,
        Key: HEAT_KEYS[2],
        LastPlayedDate: '2024-03-01T20:00:00.1234567Z',
      });
      expect(fav.ItemId).toBe(family === 'new' ? n(HEAT) : '00000000000000000000000000000000');

      const unplayed = await admin.markUnplayed(n(HEAT));
      await applyReference(refDir, `${ver}-mark-unplayed.sql`);
      await expectSameWrites(side, known, 'mark-unplayed');
      expect(unplayed).toMatchObject({ Played: false, PlayCount: 0, IsFavorite: true });
      expect(unplayed.LastPlayedDate).toBeUndefined();

      // The same actions on an item with PlayCount 0 and no date: "at least 1", "now when it was NULL".
      await alice.markPlayed(n(HEAT));
      await applyReference(refDir, `${ver}-mark-played-nodate.sql`, true);
      await expectSameWrites(side, known, 'mark-played-nodate on Heat');
      await alice.playbackProgress(n(HEAT), 27_000_000_000);
      await applyReference(refDir, `${ver}-playback-progress.sql`, true);
      await expectSameWrites(side, known, 'playback-progress on Heat (played stays)');

      const played = await alice.markPlayed(n(MATRIX), { datePlayed: new Date() });
      await applyReference(refDir, `${ver}-mark-played.sql`);
      await expectSameWrites(side, known, 'mark-played');
      expect(played).toMatchObject({ Played: true, PlayCount: 1, PlaybackPositionTicks: 0 });

      await alice.markPlayed(n(MATRIX));
      await applyReference(refDir, `${ver}-mark-played-nodate.sql`);
      await expectSameWrites(side, known, 'mark-played-nodate');

      await alice.playbackStart(n(MATRIX));
      await applyReference(refDir, `${ver}-playback-start.sql`);
      await expectSameWrites(side, known, 'playback-start');

      await alice.playbackProgress(n(MATRIX), 27_000_000_000);
      await applyReference(refDir, `${ver}-playback-progress.sql`);
      await expectSameWrites(side, known, 'playback-progress');
      expect(await alice.userData(n(MATRIX))).toMatchObject({
        PlaybackPositionTicks: 27_000_000_000,
        Played: false,
        PlayCount: 2,
      });

      await alice.playbackStop(n(MATRIX), 1_000_000_000);
      await applyReference(refDir, `${ver}-playback-stop-early.sql`);
      await expectSameWrites(side, known, 'playback-stop-early');

      await alice.playbackStart(n(MATRIX));
      await applyReference(refDir, `${ver}-playback-start.sql`);
      await alice.playbackStop(n(MATRIX), 81_000_000_000);
      await applyReference(refDir, `${ver}-playback-stop.sql`);
      await expectSameWrites(side, known, 'playback-start + playback-stop');
      expect(await alice.userData(n(MATRIX))).toMatchObject({
        Played: true,
        PlaybackPositionTicks: 0,
        PlayCount: 3,
      });

      // Rating and UpdateUserItemDataDto (no reference script: the README's table, on every key row).
      const [table, where] =
        family === 'old'
          ? ['library.UserDatas', `userId = 1 AND key IN (${HEAT_KEYS.map((k) => `'${k}'`).join(', ')})`]
          : ['UserData', `ItemId = '${HEAT}' AND UserId = '${ALICE}'`];
      const rating = (value: string) =>
        family === 'old'
          ? `rating = ${value}`
          : `Rating = ${value}, Likes = ${value === 'NULL' ? 'NULL' : Number(value) >= 6.5 ? 1 : 0}`;
      expect((await alice.like(n(HEAT))).Likes).toBe(true);
      await applyReference(refDir, `UPDATE ${table} SET ${rating('10.0')} WHERE ${where};`);
      await expectSameWrites(side, known, 'like');
      expect(await alice.dislike(n(HEAT))).toMatchObject({ Likes: false, Rating: 1 });
      await applyReference(refDir, `UPDATE ${table} SET ${rating('1.0')} WHERE ${where};`);
      await expectSameWrites(side, known, 'dislike');
      const cleared = await alice.clearRating(n(HEAT));
      expect(cleared.Likes).toBeUndefined();
      await applyReference(refDir, `UPDATE ${table} SET ${rating('NULL')} WHERE ${where};`);
      await expectSameWrites(side, known, 'clear rating');
      await alice.setUserData(n(HEAT), { PlaybackPositionTicks: 12_345_678_900, PlayCount: 5 });
      const setCols =
        family === 'old'
          ? 'playbackPositionTicks = 12345678900, playCount = 5'
          : 'PlaybackPositionTicks = 12345678900, PlayCount = 5';
      await applyReference(refDir, `UPDATE ${table} SET ${setCols} WHERE ${where};`);
      await expectSameWrites(side, known, 'set user data');

      // Side effects of the requests that log session activity (played / unplayed, the session reports): a session
      // per device, logged once: alice's Chrome, and the API key's client, which acted for alice.
      const sessions = await rows(
        join(dataDir, 'jellyfin.db'),
        "SELECT Name, Type, UserId FROM ActivityLogs WHERE Type = 'SessionStarted' ORDER BY Name",
      );
      expect(sessions).toEqual([
        { Name: 'alice is online from Chrome', Type: 'SessionStarted', UserId: ALICE },
        { Name: 'alice is online from bench', Type: 'SessionStarted', UserId: ALICE },
      ]);

      if (family === 'new') {
        // A library scan finds Heat's file gone: its rows are detached to the placeholder item.
        await admin.removeItemAsLibraryScan(n(HEAT));
        await applyReference(refDir, '10.11-library-removes-item.sql');
        await expectSameWrites(side, known, 'library-removes-item');
        expect(
          Number(
            await scalar(
              join(dataDir, 'jellyfin.db'),
              "SELECT count(*) FROM UserData WHERE ItemId = '00000000-0000-0000-0000-000000000001'",
            ),
          ),
        ).toBe(3);
        const gone = await alice.request('GET', `/UserItems/${n(HEAT)}/UserData`);
        expect(gone.status).toBe(404);
      }
    });
  },
);

// ================================================================================================ cache, errors

describe.each([
  { version: '10.10.7', layout: 'official' as Layout, family: 'old' as const, port: PORT_BASE + 5 },
  { version: '10.11.3', layout: 'linuxserver' as Layout, family: 'new' as const, port: PORT_BASE + 6 },
])(
  'Jellyfin stand-in $version ($layout): the server caches user data',
  ({ version, layout, family, port }) => {
    it('a row changed under the running server is not seen, and the next save writes the cached values back over it', async () => {
      const { configDir, tree: t } = await tree(`cache-${family}`, { version, layout, items: 8 });
      const baseUrl = `http://127.0.0.1:${port}`;
      await runStandin(`cache-${family}`, {
        configDir,
        port,
        layout,
        version,
        idleWriteMs: 0,
      });
      const user = t.users[0];
      if (!user) throw new Error('no user');
      const client = clientAsAdmin(baseUrl, t);
      const [read, unread] = t.items;
      if (!read || !unread) throw new Error('too few items');
      const db = family === 'old' ? (t.databases.library ?? '') : t.databases.jellyfin;
      const setPlayCount = (item: typeof read, count: number) =>
        family === 'old'
          ? `UPDATE UserDatas SET playCount = ${count}, played = 1 WHERE userId = ${user.internalId} AND key IN (${item.keys.map((k) => `'${k}'`).join(', ')});`
          : `UPDATE UserData SET PlayCount = ${count}, Played = 1 WHERE ItemId = '${item.guid}' AND UserId = '${user.guid}';`;
      const playCounts = async (item: typeof read) =>
        family === 'old'
          ? (
              await rows(
                db,
                `SELECT playCount AS c FROM UserDatas WHERE userId = ${user.internalId} AND key IN (${item.keys.map((k) => `'${k}'`).join(', ')})`,
              )
            ).map((r) => r.c)
          : (
              await rows(
                db,
                `SELECT PlayCount AS c FROM UserData WHERE ItemId = '${item.guid}' AND UserId = '${user.guid}'`,
              )
            ).map((r) => r.c);

      // Give both items one row per key (a save through the API), then read `read` so the server caches it.
      await client.markPlayed(read.id, { datePlayed: '2024-04-01T10:00:00Z' });
      const unreadCount = (await client.markPlayed(unread.id, { datePlayed: '2024-04-01T10:00:00Z' }))
        .PlayCount;
      const cachedCount = (await client.userData(read.id)).PlayCount;
      expect(await playCounts(read)).toEqual(read.keys.map(() => cachedCount));

      // Someone changes the rows under the running server (as a file copy onto a live standby would).
      await execa('sqlite3', [db, setPlayCount(read, 42)]);
      expect(await playCounts(read)).toEqual(read.keys.map(() => 42));
      expect((await client.userData(read.id)).PlayCount).toBe(cachedCount);
      const items = await client.items();
      expect(items.Items.find((i) => i.Id === read.id)?.UserData?.PlayCount).toBe(cachedCount);

      // The next save for the item writes the cached values back over the changed rows.
      await client.favorite(read.id);
      expect(await playCounts(read)).toEqual(read.keys.map(() => cachedCount));

      // What a server saved last is its cache too: a change under it after that is not seen either...
      await execa('sqlite3', [db, setPlayCount(unread, 7)]);
      expect((await client.userData(unread.id)).PlayCount).toBe(unreadCount);
      // ...while a restarted server reads the database afresh.
      const container = docker.getContainer(containers.at(-1) ?? '');
      await container.restart({ t: 10 });
      await healthy(baseUrl);
      expect((await client.userData(unread.id)).PlayCount).toBe(7);
    });
  },
);

describe('Jellyfin stand-in answers like the server to bad requests', () => {
  it('401 without or with a wrong key (empty body), 404 for unknown users and items, 400 for malformed ids, bools and dates', async () => {
    const port = PORT_BASE + 7;
    const { configDir, tree: t } = await tree('errors', { version: '10.11.3', items: 4 });
    const baseUrl = `http://127.0.0.1:${port}`;
    await runStandin('errors', {
      configDir,
      port,
      idleWriteMs: 0,
    });
    const item = t.items[0]?.id ?? '';
    const user = t.users[0];
    if (!user) throw new Error('no user');

    const anonymous = await fetch(`${baseUrl}/UserItems/${item}/UserData?userId=${user.id}`);
    expect(anonymous.status).toBe(401);
    expect(await anonymous.text()).toBe('');
    const wrong = new JellyfinClient(baseUrl, 'not-a-token', user.id);
    expect(await wrong.request('POST', `/UserFavoriteItems/${item}`)).toMatchObject({
      status: 401,
      text: '',
    });

    // The token forms the server accepts.
    for (const [path, headers] of [
      [`/Users?api_key=${t.apiKey}`, {}],
      [`/Users?ApiKey=${t.apiKey}`, {}],
      ['/Users', { 'X-Emby-Token': t.apiKey }],
      ['/Users', { 'X-MediaBrowser-Token': t.apiKey }],
      ['/Users', { Authorization: `MediaBrowser Token="${user.device.accessToken}"` }],
    ] as Array<[string, Record<string, string>]>) {
      const res = await fetch(`${baseUrl}${path}`, { headers });
      expect(res.status, path).toBe(200);
      expect(((await res.json()) as Array<{ Name: string }>).map((u) => u.Name)).toEqual(
        t.users.map((u) => u.name).sort(),
      );
    }

    const admin = clientAsAdmin(baseUrl, t);
    const unknownGuid = '0123456789abcdef0123456789abcdef';
    expect((await admin.request('GET', `/UserItems/${unknownGuid}/UserData?userId=${user.id}`)).status).toBe(
      404,
    );
    expect((await admin.request('POST', `/UserPlayedItems/${item}?userId=${unknownGuid}`)).status).toBe(404);
    // An API key is nobody: without userId a per-user call finds no user.
    expect(
      (await new JellyfinClient(baseUrl, t.apiKey).request('POST', `/UserFavoriteItems/${item}`)).status,
    ).toBe(404);
    const badId = await admin.request('POST', `/UserFavoriteItems/not-a-guid?userId=${user.id}`);
    expect(badId.status).toBe(400);
    expect(badId.contentType).toContain('application/problem+json');
    expect(JSON.parse(badId.text)).toMatchObject({
      status: 400,
      errors: { itemId: ["The value 'not-a-guid' is not valid."] },
    });
    expect(
      (await admin.request('POST', `/UserItems/${item}/Rating?userId=${user.id}&likes=maybe`)).status,
    ).toBe(400);
    expect(
      (await admin.request('POST', `/UserPlayedItems/${item}?userId=${user.id}&datePlayed=yesterday`)).status,
    ).toBe(400);
    expect(
      (await admin.request('POST', `/UserItems/${item}/UserData?userId=${user.id}`, { PlayCount: 'many' }))
        .status,
    ).toBe(400);
    // A malformed id is still 401 first without a key (authorization runs before model binding).
    expect((await fetch(`${baseUrl}/UserFavoriteItems/not-a-guid`, { method: 'POST' })).status).toBe(401);

    // A user may not act for another; the legacy /Users/{userId}/... form works for oneself.
    const other = t.users[1];
    if (!other) throw new Error('no second user');
    const otherClient = clientAsUser(baseUrl, t, other.name);
    expect((await otherClient.request('POST', `/UserFavoriteItems/${item}?userId=${user.id}`)).status).toBe(
      403,
    );
    const legacy = await otherClient.request('POST', `/Users/${other.id}/PlayedItems/${item}`);
    expect(legacy.status).toBe(200);
    expect(JSON.parse(legacy.text)).toMatchObject({ Played: true, ItemId: item });
    expect((await otherClient.items({ isPlayed: true })).Items.map((i) => i.Id)).toContain(item);
  });
});

// ================================================================================================ idle writes

describe.each([
  { version: '10.10.7', layout: 'official' as Layout, family: 'old' as const, port: PORT_BASE + 8 },
  { version: '10.11.3', layout: 'linuxserver' as Layout, family: 'new' as const, port: PORT_BASE + 9 },
])('Jellyfin stand-in $version ($layout): an idle server', ({ version, layout, family, port }) => {
  it('writes sessions, logins, user and device activity and optimises the database, but never watch state', async () => {
    const { configDir, tree: t } = await tree(`idle-${family}`, { version, layout, items: 10 });
    const jf = t.databases.jellyfin;
    const watchDb = family === 'old' ? (t.databases.library ?? '') : jf;
    const watchSql =
      family === 'old'
        ? 'SELECT * FROM UserDatas ORDER BY key, userId'
        : 'SELECT * FROM UserData ORDER BY ItemId, UserId, CustomDataKey';
    const itemsSql =
      family === 'old'
        ? 'SELECT hex(guid), Name FROM TypedBaseItems ORDER BY 1'
        : 'SELECT Id, Name FROM BaseItems ORDER BY 1';
    const watchBefore = await rows(watchDb, watchSql);
    const itemsBefore = await rows(watchDb, itemsSql);
    const usersBefore = await rows(
      jf,
      'SELECT Id, LastActivityDate, LastLoginDate, RowVersion FROM Users ORDER BY Id',
    );
    const devicesBefore = await rows(jf, 'SELECT Id, DateLastActivity FROM Devices ORDER BY Id');
    const factsBefore = await dbFacts(configDir);

    const container = await runStandin(`idle-${family}`, {
      configDir,
      port,
      layout,
      version,
      idleWriteMs: 100,
    });
    await until('the optimise-database task', 20_000, async () =>
      (await logsOf(container)).includes('Optimize database task') ? true : undefined,
    );
    await container.stop({ t: 10 });
    // Checked before any sqlite3 opens the file again (an open connection recreates the -wal).
    expect(existsSync(`${jf}-wal`)).toBe(false);

    expect(await rows(watchDb, watchSql)).toEqual(watchBefore);
    expect(await rows(watchDb, itemsSql)).toEqual(itemsBefore);
    const facts = await dbFacts(configDir);
    expect(facts).toMatchObject({
      integrity: 'ok',
      users: factsBefore.users,
      items: factsBefore.items,
      userData: factsBefore.userData,
    });
    expect(facts.activity).toBeGreaterThanOrEqual(factsBefore.activity + 5);
    const types = (
      await rows(
        jf,
        `SELECT DISTINCT Type FROM ActivityLogs WHERE Id > ${factsBefore.activity} ORDER BY Type`,
      )
    ).map((r) => r.Type);
    expect(types).toEqual(['AuthenticationSucceeded', 'SessionEnded', 'SessionStarted']);
    const usersAfter = await rows(
      jf,
      'SELECT Id, LastActivityDate, LastLoginDate, RowVersion FROM Users ORDER BY Id',
    );
    expect(usersAfter).not.toEqual(usersBefore);
    for (const u of usersAfter) expect(String(u.LastActivityDate)).toMatch(DATE_FORMAT.ef);
    expect(await rows(jf, 'SELECT Id, DateLastActivity FROM Devices ORDER BY Id')).not.toEqual(devicesBefore);
  });
});

// ================================================================================================ databases on disk

describe('Jellyfin stand-in databases on disk', () => {
  it('the generated trees hold the real schema and value formats of their version', async () => {
    const { tree: t11 } = await tree('formats11', { version: '10.11.3', items: 12 });
    const jf = t11.databases.jellyfin;
    expect(t11.databases.library).toBeNull();
    expect(existsSync(join(jf, '..', 'library.db'))).toBe(false);
    // Upper-case "D" GUID text; dates without T or Z; one UserData row per user-data key (2 or 3 per movie).
    for (const r of await rows(jf, 'SELECT ItemId, UserId, CustomDataKey, LastPlayedDate FROM UserData')) {
      expect(r.ItemId).toMatch(/^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/);
      expect(r.UserId).toMatch(/^[0-9A-F-]{36}$/);
      expect(String(r.LastPlayedDate)).toMatch(DATE_FORMAT.ef);
    }
    const keyCounts = await rows(
      jf,
      'SELECT ItemId, UserId, count(*) AS keys FROM UserData GROUP BY ItemId, UserId',
    );
    expect(keyCounts.length).toBeGreaterThan(0);
    for (const r of keyCounts) {
      const item = t11.items.find((i) => i.guid === r.ItemId);
      expect(item?.keys.length).toBe(r.keys);
      expect([2, 3]).toContain(r.keys);
    }
    const movie = t11.items[0];
    if (!movie) throw new Error('no item');
    expect(movie.keys).toEqual([
      movie.providerIds.Tmdb,
      ...(movie.providerIds.Imdb ? [movie.providerIds.Imdb] : []),
      movie.guid.toLowerCase(),
    ]);
    expect(
      await rows(
        jf,
        `SELECT ProviderId, ProviderValue FROM BaseItemProviders WHERE ItemId = '${movie.guid}' ORDER BY 1 DESC`,
      ),
    ).toEqual(
      Object.entries(movie.providerIds)
        .map(([ProviderId, ProviderValue]) => ({ ProviderId, ProviderValue }))
        .sort((a, b) => b.ProviderId.localeCompare(a.ProviderId)),
    );
    expect(
      await scalar(jf, "SELECT Type FROM BaseItems WHERE Id = '00000000-0000-0000-0000-000000000001'"),
    ).toBe('PLACEHOLDER');
    expect(await scalar(jf, 'PRAGMA journal_mode')).toBe('wal');
    // 10.11.3 has no Users.NormalizedUsername yet (10.11.10 added it); 12.0 has its own UserData indexes.
    expect(
      (await rows(jf, "SELECT name FROM pragma_table_info('Users') WHERE name = 'NormalizedUsername'"))
        .length,
    ).toBe(0);
    const { tree: t12 } = await tree('formats12', { version: '12.0.0', items: 3 });
    expect(
      (
        await rows(
          t12.databases.jellyfin,
          "SELECT name FROM pragma_table_info('Users') WHERE name = 'NormalizedUsername'",
        )
      ).length,
    ).toBe(1);
    expect(
      await scalar(
        t12.databases.jellyfin,
        "SELECT group_concat(name) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'UserData' AND name LIKE 'IX_UserData_UserId%' ORDER BY name",
      ),
    ).toBe(
      'IX_UserData_UserId_ItemId_LastPlayedDate,IX_UserData_UserId_IsFavorite_ItemId,IX_UserData_UserId_Played_ItemId',
    );
    // library.db.old: the 10.10 library the upgrade renamed, kept with its items and watch state.
    const old = t11.databases.libraryOld ?? '';
    expect(old).toBe(join(jf, '..', 'library.db.old'));
    expect(Number(await scalar(old, 'SELECT count(*) FROM UserDatas'))).toBe(
      Number(await scalar(jf, 'SELECT count(*) FROM UserData')),
    );

    const { tree: t10 } = await tree('formats10', { version: '10.10.7', layout: 'official', items: 12 });
    const lib = t10.databases.library ?? '';
    expect(t10.databases.libraryOld).toBeNull();
    // Guid.ToByteArray() BLOBs: the first three groups byte-swapped.
    const m10 = t10.items[0];
    if (!m10) throw new Error('no item');
    const h = m10.guid.replace(/-/g, '');
    const swapped = `${h.slice(6, 8)}${h.slice(4, 6)}${h.slice(2, 4)}${h.slice(0, 2)}${h.slice(10, 12)}${h.slice(8, 10)}${h.slice(14, 16)}${h.slice(12, 14)}${h.slice(16)}`;
    expect(
      await scalar(
        lib,
        `SELECT hex(guid) || '|' || UserDataKey || '|' || ProviderIds FROM TypedBaseItems WHERE Name = '${m10.name.replace(/'/g, "''")}'`,
      ),
    ).toBe(
      `${swapped}|${m10.keys[0]}|${Object.entries(m10.providerIds)
        .sort()
        .map(([k, v]) => `${k}=${v}`)
        .join('|')}`,
    );
    // UserDatas: key = each user-data key, userId = Users.InternalId, dates with a trailing Z.
    const internalIds = new Set(t10.users.map((u) => u.internalId));
    const allKeys = new Set(t10.items.flatMap((i) => i.keys));
    for (const r of await rows(lib, 'SELECT key, userId, lastPlayedDate FROM UserDatas')) {
      expect(internalIds.has(Number(r.userId))).toBe(true);
      expect(allKeys.has(String(r.key))).toBe(true);
      expect(String(r.lastPlayedDate)).toMatch(DATE_FORMAT.library);
    }
    expect(
      await scalar(
        t10.databases.jellyfin,
        "SELECT count(*) FROM sqlite_master WHERE name IN ('BaseItems', 'UserData')",
      ),
    ).toBe('0');
    for (const db of [lib, t10.databases.jellyfin])
      expect(await scalar(db, 'PRAGMA journal_mode')).toBe('wal');

    // databaseBytes pads with realistic rows to about the size asked for.
    const { tree: padded } = await tree('padded', {
      version: '10.11.3',
      items: 20,
      databaseBytes: 6_000_000,
    });
    const size = (await stat(padded.databases.jellyfin)).size;
    expect(size).toBeGreaterThan(5_000_000);
    expect(size).toBeLessThan(7_500_000);
    expect(
      Number(await scalar(padded.databases.jellyfin, 'SELECT count(*) FROM ActivityLogs')),
    ).toBeGreaterThan(1000);
  });

  it('10.11: library.db.old stays as the upgrade left it; the server never opens it', async () => {
    const port = PORT_BASE + 10;
    const { configDir, tree: t } = await tree('libold', { version: '10.11.3' });
    const old = t.databases.libraryOld ?? '';
    const before = await stat(old);
    const bytes = await readFile(old);
    const container = await runStandin('libold', {
      configDir,
      port,
      idleWriteMs: 100,
      writeIntervalMs: 100,
    });
    await new Promise((r) => setTimeout(r, 1500));
    expect(existsSync(`${old}-wal`)).toBe(false);
    await container.stop({ t: 10 });
    expect((await readFile(old)).equals(bytes)).toBe(true);
    expect((await stat(old)).mtimeMs).toBe(before.mtimeMs);
  });

  it('PUID/PGID: the server runs as that user, and what it creates belongs to it (linuxserver)', async () => {
    const port = PORT_BASE + 11;
    const { configDir, tree: t } = await tree('puid', { version: '10.11.3', uid: 1000, gid: 1000 });
    expect((await stat(t.databases.jellyfin)).uid).toBe(1000);
    await rm(join(configDir, 'data', 'data', 'device.txt'));
    const container = await runStandin('puid', {
      configDir,
      port,
      idleWriteMs: 100,
      puid: 1000,
      pgid: 1000,
    });
    const pid = (await container.inspect()).State.Pid;
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    expect(/^Uid:\s+(\d+)/m.exec(status)?.[1]).toBe('1000');
    expect(/^Gid:\s+(\d+)/m.exec(status)?.[1]).toBe('1000');
    const device = await stat(join(configDir, 'data', 'data', 'device.txt'));
    expect([device.uid, device.gid]).toEqual([1000, 1000]);
    const wal = await until('a -wal while running', 10_000, async () =>
      existsSync(`${t.databases.jellyfin}-wal`) ? stat(`${t.databases.jellyfin}-wal`) : undefined,
    );
    expect([wal.uid, wal.gid]).toEqual([1000, 1000]);
    await container.stop({ t: 10 });
    expect((await container.inspect()).State.ExitCode).toBe(0);

    // An empty config dir: the dirs and databases the server creates are the PUID's too.
    const empty = await mkdtemp(join(bench.workDir, 'standin-puid-empty-'));
    await mkdir(empty, { recursive: true });
    await runStandin('puid-empty', {
      configDir: empty,
      port: port + 1,
      idleWriteMs: 0,
      puid: 1000,
      pgid: 1000,
    });
    for (const p of ['data', 'data/data', 'data/data/jellyfin.db', 'log', 'cache']) {
      const s = await stat(join(empty, p));
      expect([p, s.uid, s.gid]).toEqual([p, 1000, 1000]);
    }
  });
});

// ================================================================================================ SWAG

describe('bench SWAG stand-in', () => {
  it('checks, serves and reloads an nginx site that proxies to a Jellyfin stand-in', async () => {
    const [portA, portB, portProxy] = [PORT_BASE + 13, PORT_BASE + 14, PORT_BASE + 15];
    for (const [port, serverName] of [
      [portA, 'standin-a'],
      [portB, 'standin-b'],
    ] as const) {
      await runStandin(serverName, {
        configDir: await mkdtemp(join(bench.workDir, `${serverName}-`)),
        port,
        serverName,
        startupDelayMs: 0,
        writeIntervalMs: 0,
      });
    }

    const swagConfig = await mkdtemp(join(bench.workDir, 'swag-'));
    const upstreamFile = join(swagConfig, 'nginx', 'jellyfin-upstream.conf');
    const upstream = (port: number) => `upstream jellyfin_failover {\n  server 127.0.0.1:${port};\n}\n`;
    await writeSwagSite(swagConfig, {
      listen: `127.0.0.1:${portProxy}`,
      upstreamInclude: '/config/nginx/jellyfin-upstream.conf',
    });
    await writeFile(upstreamFile, upstream(portA));
    const swag = await startSwag(docker, {
      name: containerName('swag'),
      image: bench.swagImage,
      configDir: swagConfig,
    });

    const test = await execInContainer(swag, ['nginx', '-t']);
    expect(test.exitCode, test.stderr).toBe(0);
    expect(test.stderr).toContain('test is successful');

    const proxyUrl = `http://127.0.0.1:${portProxy}/System/Info/Public`;
    const viaA = await until('an answer through nginx', 20_000, () => getJson(proxyUrl));
    expect(viaA.body.ServerName).toBe('standin-a');
    expect(viaA.headers.get('x-jellyfin-backend')).toBe(`127.0.0.1:${portA}`);

    // A broken include fails `nginx -t` (what the service relies on before reloading)...
    await writeFile(upstreamFile, 'upstream jellyfin_failover {\n  server ;\n}\n');
    expect((await execInContainer(swag, ['nginx', '-t'])).exitCode).not.toBe(0);

    // ...and a good one is picked up by `nginx -s reload`.
    await writeFile(upstreamFile, upstream(portB));
    expect((await execInContainer(swag, ['nginx', '-t'])).exitCode).toBe(0);
    const reload = await execInContainer(swag, ['nginx', '-s', 'reload']);
    expect(reload.exitCode, reload.stderr).toBe(0);
    const viaB = await until('stand-in B through nginx after reload', 20_000, async () => {
      const answer = await getJson(proxyUrl);
      return answer.body.ServerName === 'standin-b' ? answer : undefined;
    });
    expect(viaB.headers.get('x-jellyfin-backend')).toBe(`127.0.0.1:${portB}`);
  });
});

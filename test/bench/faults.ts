/**
 * Fault injection and outcome checks for the engine's fault tests: find and signal the rsync processes of one
 * test (never another test's), watch an operation's step, and record what "untouched" and "restored" mean for a
 * site (bytes on disk, database health, container state, Jellyfin health).
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { access, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { LocalShell } from '../../src/adapters/host/local.js';
import { readWatchState } from '../../src/adapters/sqlite/watch-state.js';
import type { App } from '../../src/compose.js';
import type { FailoverEvent, OperationStatus } from '../../src/domain/events.js';
import type { Journal } from '../../src/domain/journal.js';
import type { SiteName } from '../../src/domain/sites.js';
import { watchDigest } from '../../src/domain/watch-state.js';
import { treeDigest } from './tree-digest.js';

const exec = promisify(execFile);

/** Database path inside a linuxserver-layout config dir (the bench's default layout). */
export const DB_REL = 'data/data/jellyfin.db';

/** Polls `probe` until it returns a value other than undefined/false, or throws after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs: number,
  intervalMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** Pids of processes named exactly `name` whose command line contains `marker` (e.g. the test's base dir). */
export async function pidsOf(name: string, marker: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const comm = (await readFile(`/proc/${entry}/comm`, 'utf8')).trim();
      if (comm !== name) continue;
      const cmdline = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0').join(' ');
      if (cmdline.includes(marker)) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

/** Sends `signal` to every pid; returns how many were still there. */
export function signalAll(pids: number[], signal: NodeJS.Signals): number {
  let hit = 0;
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
      hit++;
    } catch {
      // gone
    }
  }
  return hit;
}

/** Records every event and operation status a runtime's engine reports. */
export class Recorder {
  readonly events: FailoverEvent[] = [];
  readonly steps: string[] = [];
  current: OperationStatus | null = null;

  attach(rt: App): this {
    rt.observers.add({
      event: (e) => this.events.push(e),
      operation: (s) => {
        this.current = s;
        if (s.step && this.steps.at(-1) !== s.step) this.steps.push(s.step);
      },
    });
    return this;
  }

  types(): string[] {
    return this.events.map((e) => e.event_type);
  }

  /** Resolves once the engine entered `step`. */
  waitStep(step: string, timeoutMs: number): Promise<true> {
    return waitFor(`step ${step}`, () => this.steps.includes(step), timeoutMs, 10);
  }
}

async function sqlite(db: string, sql: string): Promise<string> {
  const { stdout } = await exec('sqlite3', ['-readonly', db, sql]);
  return stdout.trim();
}

export interface DbFacts {
  integrity: string;
  users: number;
  items: number;
  userData: number;
  activity: number;
}

/**
 * integrity_check and row counts of a config dir's databases (safe while a stand-in writes, WAL mode), whatever
 * the layout (linuxserver `data/data/`, official `data/`) and version: 10.11+ keeps everything in jellyfin.db
 * (BaseItems, UserData); 10.10 and older keep items and watch state in library.db (TypedBaseItems, UserDatas).
 * `integrity` is 'ok' only when every database is.
 */
export async function dbFacts(configDir: string): Promise<DbFacts> {
  const linuxserver = join(configDir, DB_REL);
  const db = (await exists(linuxserver)) ? linuxserver : join(configDir, 'data', 'jellyfin.db');
  const library = join(db, '..', 'library.db');
  const tables = await sqlite(
    db,
    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'BaseItems';",
  );
  const old = tables === '0' && (await exists(library));
  const checks = [await sqlite(db, 'PRAGMA integrity_check;')];
  let counts: string;
  if (old) {
    checks.push(await sqlite(library, 'PRAGMA integrity_check;'));
    const main = await sqlite(
      db,
      'SELECT (SELECT count(*) FROM Users), (SELECT count(*) FROM ActivityLogs);',
    );
    const lib = await sqlite(
      library,
      'SELECT (SELECT count(*) FROM TypedBaseItems), (SELECT count(*) FROM UserDatas);',
    );
    const [users, activity] = main.split('|');
    const [items, userData] = lib.split('|');
    counts = [users, items, userData, activity].join('|');
  } else {
    counts = await sqlite(
      db,
      'SELECT (SELECT count(*) FROM Users), (SELECT count(*) FROM BaseItems), (SELECT count(*) FROM UserData), (SELECT count(*) FROM ActivityLogs);',
    );
  }
  const [users, items, userData, activity] = counts.split('|').map(Number) as [
    number,
    number,
    number,
    number,
  ];
  const integrity = checks.every((c) => c === 'ok') ? 'ok' : checks.filter((c) => c !== 'ok').join('; ');
  return { integrity, users, items, userData, activity };
}

/**
 * What a watching user has written to a linuxserver-layout config dir's databases, read synchronously (the state
 * at the very moment of the call, for an observer that must not race the step it sees): ActivityLogs rows (in
 * jellyfin.db in every version; a playback start or stop adds one), and the play state of all user data (play
 * counts, positions, played flags: every playback report changes it) from UserData, or 10.10's UserDatas.
 */
export function writesNow(configDir: string): { activity: number; playState: string } {
  const db = join(configDir, DB_REL);
  const read = (file: string, sql: string) =>
    execFileSync('sqlite3', ['-readonly', file, sql], { encoding: 'utf8' }).trim();
  const activity = Number(read(db, 'SELECT count(*) FROM ActivityLogs;'));
  const newLayout = read(db, "SELECT count(*) FROM sqlite_master WHERE name = 'UserData';") === '1';
  const playState = read(
    newLayout ? db : join(db, '..', 'library.db'),
    `SELECT total(PlayCount) || '/' || total(PlaybackPositionTicks) || '/' || total(Played) FROM ${newLayout ? 'UserData' : 'UserDatas'};`,
  );
  return { activity, playState };
}

/**
 * What a site's data is: every file's bytes and mode except the SQLite files (a running stand-in rewrites
 * those), the databases' health and row counts, and the digest of what its users own (watch state, read as the
 * product reads it): a running server's own writes change `db.activity`, never `watch`.
 */
export interface SiteData {
  files: Record<string, string>;
  db: DbFacts;
  watch: string;
}

export async function siteData(configDir: string): Promise<SiteData> {
  return {
    files: await treeDigest(configDir, { skipDb: true }),
    db: await dbFacts(configDir),
    watch: await watchOf(configDir),
  };
}

/** The watch-state digest of a config dir (either layout, either version family), read with this host's sqlite3. */
export async function watchOf(configDir: string): Promise<string> {
  const linuxserver = (await exists(join(configDir, DB_REL))) ? 'data/data' : 'data';
  const paths = {
    database: join(configDir, linuxserver, 'jellyfin.db'),
    library: join(configDir, linuxserver, 'library.db'),
  };
  if (!(await exists(paths.database))) return 'no database';
  const family = (await exists(paths.library)) ? 'library-db' : 'jellyfin-db';
  return watchDigest(await readWatchState(new LocalShell(), paths, family));
}

/** Everything but the running server's own bookkeeping: files, database health and rows users own, watch state. */
export function userOwned(d: SiteData) {
  return { files: d.files, integrity: d.db.integrity, users: d.db.users, items: d.db.items, watch: d.watch };
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** The trees the service keeps beside a config dir that exist now (staging, snapshot, discard). */
export async function ownedTreesBeside(configDir: string): Promise<string[]> {
  const found: string[] = [];
  for (const suffix of ['.jf-failover-staging', '.jf-failover-snapshot', '.jf-failover-discard']) {
    if (await exists(`${configDir}${suffix}`)) found.push(suffix);
  }
  return found;
}

export interface SiteOutcome {
  status: string;
  restartPolicy: string;
  health: string;
}

/** Container state, restart policy and Jellyfin health of a site, as the product's own adapters see them. */
export async function siteOutcome(rt: App, site: SiteName): Promise<SiteOutcome> {
  const info = await rt.sites[site].container.inspect();
  return {
    status: info.status,
    restartPolicy: info.restartPolicy,
    health: await rt.sites[site].jellyfin.health(),
  };
}

/** Waits until a site's Jellyfin answers Healthy (an undo starts a container without waiting for it). */
export async function waitSiteHealthy(rt: App, site: SiteName, timeoutMs = 30_000): Promise<void> {
  await waitFor(
    `${site} healthy`,
    async () => (await rt.sites[site].jellyfin.health()) === 'healthy',
    timeoutMs,
    100,
  );
}

export interface CliRun {
  child: ChildProcess;
  /** Resolves when the process has exited, with what it printed. */
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

/**
 * Runs the real CLI (`node --import tsx src/main.ts <args>`) from the repository root, with only PATH and HOME
 * from this environment: its configuration comes from the `--env-file` given in `args`.
 */
const children = new Set<ChildProcess>();

/** SIGKILLs every CLI process `spawnCli` started that still runs (for a test's cleanup). */
export function killCliProcesses(): void {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  children.clear();
}

export function spawnCli(args: string[]): CliRun {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const done = new Promise<{
    code: number | null;
    signal: NodeJS.Signals | null;
    stdout: string;
    stderr: string;
  }>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done };
}

/** The journal on disk (STATE_DIR/journal.json) as the engine last wrote it, or null. */
export async function readJournalFile(stateDir: string): Promise<Journal | null> {
  try {
    return JSON.parse(await readFile(join(stateDir, 'journal.json'), 'utf8')) as Journal;
  } catch {
    return null; // absent, or being replaced this instant
  }
}

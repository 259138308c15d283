/**
 * The small interfaces the domain talks to. Adapters (src/adapters) implement them for the real world: a local or
 * SSH shell, a Docker endpoint, Jellyfin's HTTP API, rsync, SQLite, SWAG, files in STATE_DIR. The engine's fast
 * tests implement them in memory (test/support/memory-world.ts).
 */
import type { Journal } from './journal.js';
import type { Layout } from './layout.js';
import type { FieldsChange, MergeRecord, WatchBase } from './merge.js';
import type { SiteName } from './sites.js';
import type { PersistentState } from './state.js';
import type { VersionFamily } from './version.js';
import type { WatchState } from './watch-state.js';

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  /** Written to the command's stdin, then stdin is closed. */
  input?: string | Buffer;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Called with each chunk of stdout as it arrives (progress parsing). */
  onStdout?: (chunk: string) => void;
}

/**
 * Runs programs on one host: the local machine, or a site over SSH. Arguments are an array; an SSH implementation
 * quotes each one for the remote shell in exactly one place, so no config value is ever interpolated into a shell
 * string (rule 9).
 */
export interface HostShell {
  /** `local` or `user@host:port`, for messages. */
  readonly label: string;
  readonly isLocal: boolean;
  /** Resolves with the exit code (non-zero included); rejects (HostUnreachableError) when the host is unreachable. */
  exec(argv: readonly string[], options?: ExecOptions): Promise<ExecResult>;
}

export type ContainerStatus = 'running' | 'exited' | 'missing' | 'unknown';

/**
 * Whether a container may serve or be started by Docker on its own: running, or restarting or paused (`unknown`),
 * which a restart policy brings back. Only `exited` and `missing` are safely stopped.
 */
export function mayRun(status: ContainerStatus): boolean {
  return status !== 'exited' && status !== 'missing';
}

export interface ContainerInfo {
  status: ContainerStatus;
  /** Docker restart policy name: no, always, unless-stopped, on-failure. */
  restartPolicy: string;
  /** Jellyfin version from the image labels, when they say. */
  imageVersion: string | null;
  image: string;
  /** When the container last started (Docker's State.StartedAt), null when never. */
  startedAt: string | null;
  /** Who Jellyfin runs as: linuxserver's PUID/PGID, else the container's user; null when it does not say. */
  runsAs: { uid: string; gid: string; from: string } | null;
  /** Container paths of the mounts besides /config (the media the database points at), sorted. */
  mediaMounts: string[];
}

export interface ContainerControl {
  readonly name: string;
  inspect(): Promise<ContainerInfo>;
  /** Stops with a grace period; resolves when the container has exited. Stopping a stopped container is fine. */
  stop(graceS: number): Promise<void>;
  start(): Promise<void>;
  setRestartPolicy(name: string): Promise<void>;
  /** Runs a command inside the running container. */
  exec(argv: readonly string[]): Promise<ExecResult>;
}

/** `starting`: Jellyfin answers but is still loading (10.10: 503 "loading"; 10.11: `Degraded`). */
export type JellyfinHealth = 'healthy' | 'starting' | 'unhealthy' | 'unreachable';

export interface JellyfinInfo {
  version: string;
  id: string;
  serverName: string;
}

export interface JellyfinProbe {
  health(): Promise<JellyfinHealth>;
  info(): Promise<JellyfinInfo | null>;
}

/**
 * Users' watch state on a running Jellyfin, through its own HTTP API with JELLYFIN_API_KEY (the server caches user
 * data in memory: its database is never written under it).
 */
export interface UserDataApi {
  /** Resolves when the server accepts the key; rejects with MergeApiError saying what is wrong. */
  check(): Promise<void>;
  /**
   * Sets `change` on every user-data key of the item for the user (absolute values: applying it twice is the
   * same as once). 'missing' when the server has no such user or item.
   */
  apply(user: string, itemId: string, change: FieldsChange): Promise<'applied' | 'missing'>;
}

export interface TrafficSwitch {
  /** Sends users to `primary`, with `standby` as the passive backup. Verifies, or throws. */
  switchTo(primary: SiteName, standby: SiteName): Promise<void>;
}

export interface TransferProgress {
  percent: number;
  bytes: number;
}

export interface TransferStats {
  bytes: number;
  files: number;
}

/** STATE_DIR: the persistent state and the journal of the operation in progress. */
export interface StateStore {
  load(): Promise<PersistentState>;
  save(state: PersistentState): Promise<void>;
  readJournal(): Promise<Journal | null>;
  writeJournal(journal: Journal): Promise<void>;
  clearJournal(): Promise<void>;
  /**
   * Keeps the watch state of a copy (the base of a later merge), replacing the last one but one: the previous base
   * stays, for the fingerprint a rollback puts back.
   */
  saveBase(base: WatchBase): Promise<void>;
  /** The saved base whose digest is `digest`, or null when none matches (copies before merging existed). */
  loadBase(digest: string): Promise<WatchBase | null>;
  /** The merge in progress or last applied (what was set on the primary, change by change). */
  loadMerge(): Promise<MergeRecord | null>;
  saveMerge(record: MergeRecord): Promise<void>;
}

/** Who holds the operation lock. */
export interface LockHolder {
  pid: number;
  owner: string;
  at: string;
}

/** The one-operation-at-a-time lock shared by the service and the CLI, across processes (STATE_DIR/lock). */
export interface OperationLock {
  /**
   * Takes the lock. Rejects with a RefusedError (`busy`) when a live process holds it; a lock left by a dead
   * process is taken over (`staleOwner` says whose it was; the journal says what it was doing).
   */
  acquire(owner: string): Promise<{ release(): Promise<void>; staleOwner: string | null }>;
  /** The live holder, if any (a dead holder's lock counts as free). */
  holder(): Promise<LockHolder | null>;
}

/** File work on one site's host (adapters/files/site-files over its shell). */
export interface SiteFilesPort {
  readonly label: string;
  reachable(): Promise<boolean>;
  unreachableReason(): Promise<string | null>;
  exists(path: string): Promise<boolean>;
  isDir(path: string): Promise<boolean>;
  hasCommand(name: string): Promise<boolean>;
  detectLayout(configDir: string): Promise<Layout | null>;
  /** Regular files under `dir` (top-level dirs `skipTopDirs` left out): how many, and their bytes. */
  treeStats(dir: string, skipTopDirs: readonly string[]): Promise<{ files: number; bytes: number }>;
  freeBytes(path: string): Promise<number>;
  mkdir(path: string): Promise<void>;
  removeOwnedTree(path: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  readText(path: string): Promise<string | null>;
  writeTextAtomic(path: string, text: string): Promise<void>;
  /** SQLite databases (DATABASE_PATTERNS) under `root`, as paths relative to it, outside the excluded ones. */
  listDatabases(root: string, excludes: readonly string[]): Promise<string[]>;
  /** Gives every SQLite file under `dir` with more than one hard link a copy of its own (rule 5). */
  breakDatabaseLinks(dir: string): Promise<number>;
}

/** A Jellyfin data dir's databases: `jellyfin.db`, and `library.db` beside it (10.8-10.10). */
export interface DatabasePaths {
  database: string;
  library: string;
}

/** SQLite work on one site's databases: with the host's sqlite3, or on a copy read by the service's host. */
export interface SiteDatabasesPort {
  /** `PRAGMA quick_check`: 'ok', the problem text, or null when no sqlite3 can read it. */
  quickCheck(database: string): Promise<string | null>;
  /**
   * The users' watch state, from where `family` keeps it. Rejects with WatchStateUnavailable when it cannot be
   * read (no sqlite3 anywhere, an unknown schema, a locked database): never an empty state instead.
   */
  watchState(paths: DatabasePaths, family: VersionFamily): Promise<WatchState>;
  /**
   * A cheap token that changes whenever the user-data tables change (a hash computed by the site's own sqlite3), so
   * a watcher reads the whole watch state only when it changed; null where no cheap token is available.
   */
  changeToken(paths: DatabasePaths, family: VersionFamily): Promise<string | null>;
  /** Whether the site's own host reads its databases (else each read fetches a copy: slow on big libraries). */
  readsOnHost(): Promise<boolean>;
  /** Names of the items `ids` (upper-case GUIDs); ids it does not find are left out. */
  itemNames(
    paths: DatabasePaths,
    family: VersionFamily,
    ids: readonly string[],
  ): Promise<Map<string, string>>;
  /**
   * How this site can take transaction-consistent snapshots of the running databases (relative to `root`), or why
   * it cannot (no sqlite3 and no helper image, a database not in WAL mode or locked).
   */
  snapshotMethod(
    root: string,
    databases: readonly string[],
  ): Promise<{ ok: true; how: string } | { ok: false; why: string }>;
  /**
   * Snapshots of the running databases `databases` (relative to `root`) into `intoDir` (same relative paths), each
   * one transaction-consistent (taken while Jellyfin writes) and checked; owner and mode as the original's.
   */
  snapshot(root: string, databases: readonly string[], intoDir: string): Promise<SnapshotReport[]>;
}

/** One database's snapshot, as checked: quick_check, the tables (same as the source's) and their rows. */
export interface SnapshotReport {
  database: string;
  bytes: number;
  tables: number;
  rows: number;
}

/** What a copy takes from the source tree; the copier turns it into its own filter syntax. */
export type CopySelection =
  /** Everything but the excluded paths. */
  | 'everything'
  /** Everything but the excluded paths and the SQLite files (those wait for a stopped container). */
  | 'files'
  /** Only the SQLite files outside the excluded paths. */
  | 'databases'
  /** Only the database files themselves (no -wal, -shm, -journal): the basis a later pass sends deltas against. */
  | 'main-databases'
  /** Only what the excludes name (cache, logs): the destination's own, carried into its staging tree. */
  | 'carried';

export interface CopyRequest {
  from: SiteName;
  fromPath: string;
  to: SiteName;
  toPath: string;
  select: CopySelection;
  /** Paths (rsync patterns anchored at the tree root) the copy leaves out: built-in plus SYNC_EXCLUDES. */
  excludes: readonly string[];
  /** A tree on the destination host: unchanged files are hard-linked from it instead of copied. */
  linkDest?: string;
  /**
   * A tree on the destination host whose files are copied locally when unchanged and serve as the basis of a delta
   * otherwise, never linked (databases: rule 5).
   */
  copyDest?: string;
  /** Delete files in the destination that the source does not have (within the selection). */
  delete: boolean;
  dryRun?: boolean;
  onProgress?: (p: TransferProgress) => void;
}

/** Copies a tree between sites (rsync over SSH, or locally). */
export interface Copier {
  copy(request: CopyRequest): Promise<TransferStats>;
}

/** One site as the domain sees it. */
export interface Site {
  name: SiteName;
  configDir: string;
  /** true when the service runs on this site's host. */
  isLocal: boolean;
  files: SiteFilesPort;
  databases: SiteDatabasesPort;
  container: ContainerControl;
  jellyfin: JellyfinProbe;
  /** The user-data API with JELLYFIN_API_KEY; null without a key. */
  userData: UserDataApi | null;
}

/**
 * The small interfaces the domain talks to. Adapters (src/adapters) implement them for the real world:
 * a local or SSH shell, a Docker endpoint, Jellyfin's HTTP API, rsync, SWAG.
 */
import type { SiteName } from '../config/schema.js';

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
 * Runs programs on one host: the local machine, or a site over SSH. Arguments are an array; an SSH
 * implementation quotes each one for the remote shell in exactly one place, so no config value is ever
 * interpolated into a shell string.
 */
export interface HostShell {
  /** `local` or `user@host:port`, for messages. */
  readonly label: string;
  readonly isLocal: boolean;
  /** Resolves with the exit code (non-zero included); rejects only when the host cannot be reached. */
  exec(argv: readonly string[], options?: ExecOptions): Promise<ExecResult>;
  close(): Promise<void>;
}

export type ContainerStatus = 'running' | 'exited' | 'missing' | 'unknown';

export interface ContainerInfo {
  status: ContainerStatus;
  /** Docker restart policy name: no, always, unless-stopped, on-failure. */
  restartPolicy: string;
  /** Jellyfin version from the image labels, when they say. */
  imageVersion: string | null;
  image: string;
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

/** STATE_DIR: the persistent state, the journal of the operation in progress, and the lock. */
export interface StateStore {
  load(): Promise<import('./state.js').PersistentState>;
  save(state: import('./state.js').PersistentState): Promise<void>;
  readJournal(): Promise<import('./journal.js').Journal | null>;
  writeJournal(journal: import('./journal.js').Journal): Promise<void>;
  clearJournal(): Promise<void>;
  /**
   * Takes the one-operation-at-a-time lock shared by the service and the CLI. Rejects with a RefusedError
   * (`busy`) when a live process holds it; a lock left by a dead process is taken over (the journal says what
   * it was doing).
   */
  lock(owner: string): Promise<{ release(): Promise<void>; staleOwner: string | null }>;
}

/** File work on one site's host (implemented over its shell by adapters/files/site-files). */
export interface SiteFilesPort {
  readonly label: string;
  reachable(): Promise<boolean>;
  unreachableReason(): Promise<string | null>;
  exists(path: string): Promise<boolean>;
  isDir(path: string): Promise<boolean>;
  hasCommand(name: string): Promise<boolean>;
  detectLayout(configDir: string): Promise<import('./layout.js').Layout | null>;
  countFiles(dir: string, skipTopDirs: readonly string[]): Promise<number>;
  freeBytes(path: string): Promise<number>;
  mkdir(path: string): Promise<void>;
  removeOwnedTree(path: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  readText(path: string): Promise<string | null>;
  writeTextAtomic(path: string, text: string): Promise<void>;
  quickCheck(database: string): Promise<string | null>;
  userDataFingerprint(database: string): Promise<string | null>;
}

/** Copies a tree between sites (rsync over SSH, or locally). */
export interface Copier {
  copy(request: {
    from: SiteName;
    fromPath: string;
    to: SiteName;
    toPath: string;
    filters: string[];
    linkDest?: string;
    delete: boolean;
    dryRun?: boolean;
    onProgress?: (p: TransferProgress) => void;
  }): Promise<TransferStats>;
}

/** One site as the domain sees it. */
export interface Site {
  name: SiteName;
  configDir: string;
  /** true when the service runs on this site's host. */
  isLocal: boolean;
  files: SiteFilesPort;
  container: ContainerControl;
  jellyfin: JellyfinProbe;
}

/**
 * Reads a site's database on the service's own host, for sites whose host has no sqlite3 (Unraid ships none):
 * a copy is fetched and queried locally. Null when that is not possible either.
 */
export interface DatabaseReader {
  /** `quickCheck`: 'ok' or sqlite3's complaint; `fingerprint`: as SiteFilesPort.userDataFingerprint. */
  inspect(
    site: SiteName,
    database: string,
  ): Promise<{ quickCheck: string | null; fingerprint: string | null } | null>;
}

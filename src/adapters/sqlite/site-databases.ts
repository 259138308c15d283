/**
 * A site's databases, read with sqlite3 on the site's own host; where that host has none (Unraid ships none), on
 * a copy fetched to the service's host (with its -wal) and read with this host's sqlite3, so neither
 * verification nor divergence detection is lost.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { SshTarget } from '../../config/schema.js';
import type { Log } from '../../domain/log.js';
import type { DatabasePaths, HostShell, SiteDatabasesPort, SnapshotReport } from '../../domain/ports.js';
import type { VersionFamily } from '../../domain/version.js';
import { type WatchState, WatchStateUnavailable } from '../../domain/watch-state.js';
import type { HelperContainer } from '../docker/helper.js';
import type { SiteFiles } from '../files/site-files.js';
import { rshCommand, type SshOptions } from '../rsync/argv.js';
import { quickCheckWith } from './queries.js';
import { PROBE_SCRIPT, parseProbe, parseSnapshot, snapshotArgv } from './snapshot.js';
import { readChangeToken, readItemNames, readWatchState } from './watch-state.js';

/** How long a host's answer to "do you have sqlite3" is kept. */
const COMMAND_CACHE_MS = 60_000;

export interface FetchFrom {
  target: SshTarget;
  ssh: SshOptions;
}

export class SiteDatabases implements SiteDatabasesPort {
  private hostHas: { value: boolean; at: number } | null = null;

  constructor(
    private readonly host: { shell: HostShell; files: SiteFiles },
    /** This machine, for reading fetched copies; null where the site is this machine. */
    private readonly local: { shell: HostShell; files: SiteFiles } | null,
    private readonly fetchFrom: FetchFrom | null,
    private readonly log: Log,
    /** Runs sqlite3 in a container on the site's Docker where its host has none (online snapshots). */
    private readonly helper: HelperContainer | null = null,
  ) {}

  async snapshotMethod(
    root: string,
    databases: readonly string[],
  ): Promise<{ ok: true; how: string } | { ok: false; why: string }> {
    const where = this.host.shell.label;
    let how: string;
    if (await this.readsOnHost()) how = `sqlite3 on ${where}`;
    else if (!this.helper) return { ok: false, why: `${where} has no sqlite3 and no helper image is set` };
    else {
      const available = await this.helper.available();
      if (!available.ok) return { ok: false, why: `${where} has no sqlite3, and ${available.why}` };
      how = `a helper container of ${this.helper.image} on ${where}'s Docker`;
    }
    const refused = parseProbe(
      await this.runSqlite(['sh', '-c', PROBE_SCRIPT, 'sh', root, ...databases], [root], null),
    );
    if (refused.length > 0)
      return { ok: false, why: `not every database can be read while Jellyfin runs: ${refused.join('; ')}` };
    return { ok: true, how };
  }

  /** Runs an sqlite3 script on the site's host, or in the helper container with `readOnly` and `writable` mounted. */
  private async runSqlite(argv: string[], readOnly: string[], writable: string | null) {
    if (await this.readsOnHost()) return this.host.shell.exec(argv, { timeoutMs: 30 * 60_000 });
    if (!this.helper) throw new Error(`${this.host.shell.label} has no sqlite3 to read its databases`);
    if (writable) await this.host.files.mkdir(writable);
    const binds = [...readOnly.map((d) => `${d}:${d}:ro`), ...(writable ? [`${writable}:${writable}`] : [])];
    return this.helper.run(argv, binds, 30 * 60_000);
  }

  /**
   * Online snapshots into `intoDir`, with the site's sqlite3 or in a helper container. Each database is probed
   * first: one that is not in WAL mode or is locked (10.8 keeps library.db exclusively) is refused, naming it.
   */
  async snapshot(root: string, databases: readonly string[], intoDir: string): Promise<SnapshotReport[]> {
    const probe = ['sh', '-c', PROBE_SCRIPT, 'sh', root, ...databases];
    const refused = parseProbe(await this.runSqlite(probe, [root], null));
    if (refused.length > 0) {
      throw new Error(`the databases cannot be snapshotted while Jellyfin runs: ${refused.join('; ')}`);
    }
    const r = await this.runSqlite(snapshotArgv(root, intoDir, databases), [root], intoDir);
    return parseSnapshot(r, this.host.shell.label);
  }

  async quickCheck(database: string): Promise<string | null> {
    return this.read([database], (shell, [path]) => quickCheckWith(shell, path ?? database)).catch(
      (err: unknown) => {
        if (err instanceof WatchStateUnavailable) return null;
        throw err;
      },
    );
  }

  watchState(paths: DatabasePaths, family: VersionFamily): Promise<WatchState> {
    const files = family === 'library-db' ? [paths.database, paths.library] : [paths.database];
    return this.read(files, (shell, [database = paths.database, library = paths.library]) =>
      readWatchState(shell, { database, library }, family),
    );
  }

  itemNames(
    paths: DatabasePaths,
    family: VersionFamily,
    ids: readonly string[],
  ): Promise<Map<string, string>> {
    if (ids.length === 0) return Promise.resolve(new Map());
    const files = family === 'library-db' ? [paths.database, paths.library] : [paths.database];
    return this.read(files, (shell, [database = paths.database, library = paths.library]) =>
      readItemNames(shell, { database, library }, family, ids),
    );
  }

  async changeToken(paths: DatabasePaths, family: VersionFamily): Promise<string | null> {
    if (!(await this.readsOnHost())) return null;
    return readChangeToken(this.host.shell, paths, family);
  }

  async readsOnHost(): Promise<boolean> {
    const now = Date.now();
    if (this.hostHas && now - this.hostHas.at < COMMAND_CACHE_MS) return this.hostHas.value;
    const value = await this.host.files.hasCommand('sqlite3');
    this.hostHas = { value, at: now };
    return value;
  }

  /** Runs `query` on the site's host, or on fetched copies of `databases` here. */
  private async read<T>(
    databases: string[],
    query: (shell: HostShell, paths: string[]) => Promise<T>,
  ): Promise<T> {
    if (await this.readsOnHost()) return query(this.host.shell, databases);
    const { local, fetchFrom } = this;
    if (local === null || fetchFrom === null || !(await local.files.hasCommand('sqlite3'))) {
      throw new WatchStateUnavailable(
        `neither ${this.host.shell.label} nor this host has sqlite3 to read ${databases.join(' and ')}: install sqlite3 on one of them`,
      );
    }
    const dir = await mkdtemp(join(tmpdir(), 'jf-failover-db-'));
    try {
      const copies: string[] = [];
      for (const [i, database] of databases.entries()) {
        const into = join(dir, String(i));
        await this.fetch(local.shell, fetchFrom, database, into);
        copies.push(join(into, basename(database)));
      }
      this.log.info(
        { databases },
        `no sqlite3 on ${this.host.shell.label}: read a copy of its databases here`,
      );
      return await query(local.shell, copies);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Copies a database and its -wal (a consistent pair only while its Jellyfin is stopped) into `dir`. */
  private async fetch(shell: HostShell, from: FetchFrom, database: string, dir: string): Promise<void> {
    const { target } = from;
    const host = target.host.includes(':') ? `[${target.host}]` : target.host;
    const argv = [
      'rsync',
      '-t',
      '--protect-args',
      '--ignore-missing-args',
      '--mkpath',
      '-e',
      rshCommand(target, from.ssh),
    ];
    for (const suffix of ['', '-wal']) argv.push(`${target.user}@${host}:${database}${suffix}`);
    argv.push(`${dir}/`);
    const r = await shell.exec(argv, { timeoutMs: 10 * 60_000 });
    if (r.exitCode !== 0) {
      this.log.warn(
        { exitCode: r.exitCode, stderr: r.stderr.trim() },
        'could not fetch a database to read it',
      );
      throw new WatchStateUnavailable(
        `cannot fetch ${database} from ${this.host.shell.label} to read it here: ${r.stderr.trim().split('\n').at(-1) ?? `rsync exit ${r.exitCode}`}`,
      );
    }
  }
}

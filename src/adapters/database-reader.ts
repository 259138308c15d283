import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { SiteName, SshTarget } from '../config/schema.js';
import type { DatabaseReader } from '../domain/ports.js';
import type { Logger } from '../log.js';
import { SiteFiles } from './files/site-files.js';
import { LocalShell } from './host/local.js';
import { rshCommand, type SshOptions } from './rsync.js';

/**
 * Fetches a database (with its -wal) from a remote site with rsync over the site's SSH and reads it with the
 * service host's sqlite3. Used only where the site's own host has no sqlite3.
 */
export class FetchingDatabaseReader implements DatabaseReader {
  private readonly local = new LocalShell();

  constructor(
    private readonly sites: Record<SiteName, { ssh: SshTarget | null }>,
    private readonly ssh: SshOptions,
    private readonly logger: Logger,
  ) {}

  async inspect(
    site: SiteName,
    database: string,
  ): Promise<{ quickCheck: string | null; fingerprint: string | null } | null> {
    const target = this.sites[site].ssh;
    const localFiles = new SiteFiles(this.local);
    if (target === null || !(await localFiles.hasCommand('sqlite3'))) return null;
    const dir = await mkdtemp(join(tmpdir(), 'jf-failover-db-'));
    try {
      const host = target.host.includes(':') ? `[${target.host}]` : target.host;
      const argv = [
        'rsync',
        '-t',
        '--protect-args',
        '--ignore-missing-args',
        '-e',
        rshCommand(target, this.ssh),
      ];
      for (const suffix of ['', '-wal']) argv.push(`${target.user}@${host}:${database}${suffix}`);
      argv.push(`${dir}/`);
      const r = await this.local.exec(argv, { timeoutMs: 10 * 60_000 });
      if (r.exitCode !== 0) {
        this.logger.warn(
          { site, exitCode: r.exitCode, stderr: r.stderr.trim() },
          'could not fetch the database to read it',
        );
        return null;
      }
      const copy = join(dir, basename(database));
      const fingerprint = await localFiles.userDataFingerprint(copy);
      return { quickCheck: await localFiles.quickCheck(copy), fingerprint };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

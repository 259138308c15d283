/**
 * The online snapshot script (src/adapters/sqlite/snapshot.ts) run with the real sqlite3 on a WAL database. Where
 * a test must put an event at an exact moment of the script (a table created by Jellyfin right after the
 * `VACUUM INTO`, a snapshot that lost a table), a wrapper named `sqlite3` first in PATH runs the real one and then
 * does it: the script and sqlite3 are real, only the timing is forced.
 */
import { chmod, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseSnapshot, snapshotArgv } from '../../../src/adapters/sqlite/snapshot.js';

const REL = 'data/jellyfin.db';
let work: string;
let root: string;
let into: string;

beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'jf-snapshot-'));
  root = join(work, 'config');
  into = join(work, 'config.jf-failover-dbsnap');
  await mkdir(join(root, 'data'), { recursive: true });
  await execa('sqlite3', [
    join(root, REL),
    'PRAGMA journal_mode=WAL; CREATE TABLE Users(Id TEXT); CREATE TABLE ActivityLogs(Id INTEGER PRIMARY KEY, Name TEXT);' +
      "INSERT INTO Users VALUES ('a'), ('b'); INSERT INTO ActivityLogs(Name) VALUES ('x'), ('y'), ('z');",
  ]);
});

afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Runs the script as a site's host would, with `wrapper` (a sh script body) as the sqlite3 found first. */
async function snapshot(wrapper?: string) {
  const env: Record<string, string> = {};
  if (wrapper !== undefined) {
    const bin = join(work, 'bin');
    await mkdir(bin, { recursive: true });
    const real = (await execa('sh', ['-c', 'command -v sqlite3'])).stdout.trim();
    await writeFile(join(bin, 'sqlite3'), `#!/bin/sh\nREAL=${real}\n${wrapper}\n`);
    await chmod(join(bin, 'sqlite3'), 0o755);
    env.PATH = `${bin}:${process.env.PATH ?? ''}`;
  }
  const [cmd = 'sh', ...args] = snapshotArgv(root, into, [REL]);
  const r = await execa(cmd, args, { reject: false, env });
  return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
}

describe('online snapshot script', () => {
  it('takes a checked WAL copy with every table and row, and the original file mode', async () => {
    await chmod(join(root, REL), 0o640);
    const reports = parseSnapshot(await snapshot(), 'local');
    expect(reports).toEqual([{ database: REL, bytes: expect.any(Number), tables: 2, rows: 5 }]);
    const copy = join(into, REL);
    expect((await execa('sqlite3', [copy, 'PRAGMA journal_mode;'])).stdout).toBe('wal');
    expect((await stat(copy)).mode & 0o777).toBe(0o640);
  });

  it('a table Jellyfin creates right after the snapshot (PRAGMA optimize: sqlite_stat1) is no mismatch', async () => {
    const late = `"$REAL" "$@"; rc=$?
case "$*" in *"VACUUM INTO"*) "$REAL" '${join(root, REL)}' 'CREATE INDEX ix ON ActivityLogs(Name); ANALYZE;' ;; esac
exit $rc`;
    const reports = parseSnapshot(await snapshot(late), 'local');
    expect(reports).toMatchObject([{ database: REL, tables: 2, rows: 5 }]);
    const live = await execa('sqlite3', [
      join(root, REL),
      "SELECT count(*) FROM sqlite_master WHERE type='table';",
    ]);
    expect(live.stdout).toBe('3');
  });

  it('a snapshot missing a table the database has is refused, naming both lists', async () => {
    const lossy = `"$REAL" "$@"; rc=$?
case "$*" in *"VACUUM INTO"*) "$REAL" '${join(into, REL)}' 'DROP TABLE Users;' ;; esac
exit $rc`;
    const r = await snapshot(lossy);
    expect(r.exitCode).toBe(3);
    expect(() => parseSnapshot(r, 'local')).toThrow(
      /snapshot of data\/jellyfin.db has the tables ActivityLogs, the database ActivityLogs,Users/,
    );
  });
});

/**
 * Online snapshots of running Jellyfin databases (SPEC section 2, SYNC_MODE=online): each database is copied with
 * `VACUUM INTO`, which reads it in one read transaction (WAL: Jellyfin keeps writing meanwhile) and writes one
 * transaction-consistent file; the copy gets the original's journal mode, owner and mode, and is checked
 * (`quick_check`, the tables the original had just before or just after it, their rows counted) before anything
 * uses it. One portable sh script does every database in one call, on the site's host or in a helper container
 * with the same paths.
 */
import type { ExecResult, SnapshotReport } from '../../domain/ports.js';

// Read-only: a read-only connection never checkpoints or recovers the WAL, so the primary's files are never written.
const SOURCE = `sqlite3 -readonly -cmd '.timeout 10000' "$src"`;
const TABLES = `"SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master WHERE type='table' ORDER BY name);"`;
const COUNT_SQL =
  `"SELECT 'SELECT ' || coalesce(group_concat('(SELECT count(*) FROM \\"' || replace(name, '\\"', '\\"\\"') || ` +
  `'\\")', '+'), '0') FROM sqlite_master WHERE type='table';"`;

/** The script: $1 the config dir, $2 the snapshot dir, then the databases relative to them. */
export const SNAPSHOT_SCRIPT = [
  'set -eu',
  'root="$1"; into="$2"; shift 2',
  'for rel in "$@"; do',
  '  src="$root/$rel"; dst="$into/$rel"',
  '  mkdir -p "$(dirname "$dst")"',
  '  rm -f "$dst" "$dst-wal" "$dst-shm" "$dst-journal"',
  `  mode=$(${SOURCE} 'PRAGMA journal_mode;')`,
  `  q=$(printf %s "$dst" | sed "s/'/''/g")`,
  // Jellyfin may create a table meanwhile (sqlite_stat1 at its first PRAGMA optimize): the snapshot must have
  // the tables the database had just before it or just after it.
  `  before=$(${SOURCE} ${TABLES})`,
  `  ${SOURCE} "VACUUM INTO '$q';"`,
  `  after=$(${SOURCE} ${TABLES})`,
  `  if [ "$mode" = wal ]; then sqlite3 "$dst" 'PRAGMA journal_mode=WAL;' >/dev/null; fi`,
  `  check=$(sqlite3 "$dst" 'PRAGMA quick_check;')`,
  '  [ "$check" = ok ] || { echo "quick_check of the snapshot of $rel: $check" >&2; exit 3; }',
  `  dt=$(sqlite3 "$dst" ${TABLES})`,
  '  [ "$dt" = "$before" ] || [ "$dt" = "$after" ] || {',
  '    echo "the snapshot of $rel has the tables $dt, the database $after" >&2; exit 3; }',
  `  rows=$(sqlite3 "$dst" "$(sqlite3 "$dst" ${COUNT_SQL});")`,
  `  tables=$(sqlite3 "$dst" "SELECT count(*) FROM sqlite_master WHERE type='table';")`,
  '  chown --reference="$src" "$dst" 2>/dev/null || true',
  '  chmod --reference="$src" "$dst"',
  `  printf 'snapshot\\t%s\\t%s\\t%s\\t%s\\n' "$rel" "$(wc -c < "$dst" | tr -d ' ')" "$tables" "$rows"`,
  'done',
].join('\n');

/** argv that takes the snapshots with a host's sqlite3. */
export function snapshotArgv(root: string, intoDir: string, databases: readonly string[]): string[] {
  return ['sh', '-c', SNAPSHOT_SCRIPT, 'sh', root, intoDir, ...databases];
}

/** What the script reports, or why it failed (its last words name the database and the check). */
export function parseSnapshot(r: ExecResult, where: string): SnapshotReport[] {
  if (r.exitCode !== 0) {
    const why = (r.stderr || r.stdout).trim().split('\n').filter(Boolean).slice(-2).join(' | ');
    throw new Error(
      `taking the database snapshots on ${where} failed (exit ${r.exitCode}): ${why || 'no output'}`,
    );
  }
  return r.stdout
    .split('\n')
    .filter((l) => l.startsWith('snapshot\t'))
    .map((l) => {
      const [, database = '', bytes = '0', tables = '0', rows = '0'] = l.split('\t');
      return { database, bytes: Number(bytes), tables: Number(tables), rows: Number(rows) };
    });
}

/**
 * Whether each database can be snapshotted while it runs: readable now (not exclusively locked, as 10.8 locks
 * library.db) and in WAL mode. Prints `mode<TAB><relpath><TAB><journal mode or the error>` per database.
 */
export const PROBE_SCRIPT = [
  'root="$1"; shift',
  'for rel in "$@"; do',
  `  m=$(sqlite3 -readonly -cmd '.timeout 3000' "$root/$rel" 'PRAGMA journal_mode;' 2>&1) || m="unreadable: $m"`,
  `  printf 'mode\\t%s\\t%s\\n' "$rel" "$m"`,
  'done',
].join('\n');

/** The databases that cannot be snapshotted online, with why; empty when all can. */
export function parseProbe(r: ExecResult): string[] {
  if (r.exitCode !== 0) {
    return [
      `probing the databases failed (exit ${r.exitCode}): ${(r.stderr || r.stdout).trim().slice(-300) || 'no output'}`,
    ];
  }
  return r.stdout
    .split('\n')
    .filter((l) => l.startsWith('mode\t'))
    .map((l) => l.split('\t'))
    .filter(([, , mode]) => mode?.trim().toLowerCase() !== 'wal')
    .map(
      ([, rel, mode]) =>
        `${rel} is ${mode?.startsWith('unreadable') ? mode : `in ${mode} journal mode, not WAL`}`,
    );
}

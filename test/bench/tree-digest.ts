import { createHash } from 'node:crypto';
import { lstat, readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';

/**
 * A map of relative path -> sha256 (and mode) for every regular file under `dir`, for byte-identity checks.
 * `exclude` drops top-level relative paths; `skipDb` drops SQLite files (their bytes change on every open);
 * `skipWal` drops only `-wal`/`-shm`, which exist while a database is open and vanish on a clean close.
 */
export async function treeDigest(
  dir: string,
  options: { exclude?: string[]; skipDb?: boolean; skipWal?: boolean } = {},
): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const exclude = new Set(options.exclude ?? []);
  async function walk(d: string): Promise<void> {
    for (const entry of await readdir(d, { withFileTypes: true })) {
      const full = join(d, entry.name);
      const rel = relative(dir, full);
      if (exclude.has(rel)) continue;
      if (entry.isDirectory()) {
        await walk(full);
      } else if (entry.isFile()) {
        if (options.skipDb && /\.(db|sqlite)(-wal|-shm|-journal)?$/.test(entry.name)) continue;
        if (options.skipWal && /-(wal|shm)$/.test(entry.name)) continue;
        const st = await lstat(full);
        out[rel] = `${createHash('sha256')
          .update(await readFile(full))
          .digest('hex')} ${(st.mode & 0o7777).toString(8)}`;
      } else if (entry.isSymbolicLink()) {
        out[rel] = 'symlink';
      }
    }
  }
  await walk(dir);
  return out;
}

import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

export interface DigestOptions {
  exclude?: string[];
  skipDb?: boolean;
  skipWal?: boolean;
}

/**
 * A map of relative path -> sha256 (and mode) for every regular file under `dir`, for byte-identity checks.
 * `exclude` drops top-level relative paths; `skipDb` drops SQLite files (their bytes change on every open);
 * `skipWal` drops only `-wal`/`-shm`, which exist while a database is open and vanish on a clean close.
 */
export async function treeDigest(dir: string, options: DigestOptions = {}): Promise<Record<string, string>> {
  return treeDigestNow(dir, options);
}

/**
 * The same digest taken synchronously: nothing else in this process runs until it is complete, so an
 * observer callback can capture a tree exactly as it is at the moment an operation reports a step.
 */
export function treeDigestNow(dir: string, options: DigestOptions = {}): Record<string, string> {
  const out: Record<string, string> = {};
  const exclude = new Set(options.exclude ?? []);
  const walk = (d: string): void => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const full = join(d, entry.name);
      const rel = relative(dir, full);
      if (exclude.has(rel)) continue;
      if (entry.isDirectory()) {
        walk(full);
      } else if (entry.isFile()) {
        if (options.skipDb && /\.(db|sqlite)(-wal|-shm|-journal)?$/.test(entry.name)) continue;
        if (options.skipWal && /-(wal|shm)$/.test(entry.name)) continue;
        const mode = (lstatSync(full).mode & 0o7777).toString(8);
        out[rel] = `${createHash('sha256').update(readFileSync(full)).digest('hex')} ${mode}`;
      } else if (entry.isSymbolicLink()) {
        out[rel] = 'symlink';
      }
    }
  };
  walk(dir);
  return out;
}

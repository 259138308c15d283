/**
 * Jellyfin versions as the rules need them: rule 4 compares versions, and the watch-state rule reads a different
 * database per version family (SPEC section 4, rule 3).
 */

/** `10.11.3` from `10.11.3`, `10.11.3ubu2404-ls87`, `v12.0.0-rc5`; the text itself when it holds no version. */
export function normalizeVersion(v: string): string {
  const m = /(\d+\.\d+(?:\.\d+)?)/.exec(v);
  if (!m?.[1]) return v.trim();
  return m[1].split('.').length === 2 ? `${m[1]}.0` : m[1];
}

/**
 * Where a version keeps its users' watch state: 10.8-10.10 in `library.db` (`UserDatas`), 10.11 and later
 * (10.11.x, 12.x) in `jellyfin.db` (`UserData`). Null for a version before 10.8 or not a version at all.
 */
export type VersionFamily = 'library-db' | 'jellyfin-db';

export function versionFamily(version: string): VersionFamily | null {
  const m = /^(\d+)\.(\d+)/.exec(normalizeVersion(version));
  if (!m?.[1] || !m[2]) return null;
  const major = Number(m[1]);
  const minor = Number(m[2]);
  if (major === 10 && minor >= 8 && minor <= 10) return 'library-db';
  if ((major === 10 && minor >= 11) || major >= 11) return 'jellyfin-db';
  return null;
}

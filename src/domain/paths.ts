/** Trees the service keeps beside a site's config dir. Nothing outside these and the config dir is touched. */
export const STAGING_SUFFIX = '.jf-failover-staging';
export const SNAPSHOT_SUFFIX = '.jf-failover-snapshot';
export const DISCARD_SUFFIX = '.jf-failover-discard';
/** On the source of an online sync: the databases' consistent snapshots, until they are copied. */
export const DBSNAP_SUFFIX = '.jf-failover-dbsnap';
export const OWNED_SUFFIXES = [STAGING_SUFFIX, SNAPSHOT_SUFFIX, DISCARD_SUFFIX, DBSNAP_SUFFIX] as const;

export function treePaths(configDir: string): {
  staging: string;
  snapshot: string;
  discard: string;
  dbsnap: string;
} {
  return {
    staging: `${configDir}${STAGING_SUFFIX}`,
    snapshot: `${configDir}${SNAPSHOT_SUFFIX}`,
    discard: `${configDir}${DISCARD_SUFFIX}`,
    dbsnap: `${configDir}${DBSNAP_SUFFIX}`,
  };
}

/** SQLite databases: what an online sync takes a snapshot of. */
export const DATABASE_PATTERNS: readonly string[] = ['*.db', '*.sqlite', '*.sqlite3'];

/** SQLite files: never copied while their container runs, never hard-linked into a live tree. */
export const SQLITE_PATTERNS: readonly string[] = [
  '*.db',
  '*.db-wal',
  '*.db-shm',
  '*.db-journal',
  '*.sqlite',
  '*.sqlite-wal',
  '*.sqlite-shm',
  '*.sqlite3',
];

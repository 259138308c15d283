/**
 * Where Jellyfin keeps its files inside the config dir (the host path mounted as `/config`).
 *
 * linuxserver/jellyfin: data dir `/config/data`, config dir `/config`, cache `/config/cache`, log `/config/log`.
 * jellyfin/jellyfin (official): data dir `/config`, config dir `/config/config`, log `/config/log`
 * (cache usually a separate `/cache` volume, sometimes `/config/cache`).
 */
export type Layout = 'linuxserver' | 'official';

export const LAYOUTS: readonly Layout[] = ['linuxserver', 'official'];

export interface LayoutPaths {
  /** `jellyfin.db`, relative to the config dir: users, devices, activity; from 10.11 also items and watch state. */
  database: string;
  /** `library.db` beside it: items and watch state of 10.8-10.10 (10.11 renames it `library.db.old`). */
  library: string;
  /** `branding.xml` (login disclaimer), relative to the config dir. */
  branding: string;
  /** `system.xml`, relative to the config dir. */
  system: string;
}

export function layoutPaths(layout: Layout): LayoutPaths {
  switch (layout) {
    case 'linuxserver':
      return {
        database: 'data/data/jellyfin.db',
        library: 'data/data/library.db',
        branding: 'branding.xml',
        system: 'system.xml',
      };
    case 'official':
      return {
        database: 'data/jellyfin.db',
        library: 'data/library.db',
        branding: 'config/branding.xml',
        system: 'config/system.xml',
      };
  }
}

/** The SQLite companions that belong to a database file and must move with it. */
export function sqliteCompanions(databasePath: string): string[] {
  return [databasePath, `${databasePath}-wal`, `${databasePath}-shm`, `${databasePath}-journal`];
}

/**
 * Directories rsync never copies: they are rebuilt by Jellyfin, are large, or belong to one host.
 * Patterns are rsync filter patterns anchored at the config dir root.
 */
export const BUILTIN_EXCLUDES: readonly string[] = [
  '/cache/',
  '/transcodes/',
  '/log/',
  '/data/transcodes/',
  '/data/data/backups/',
  '/data/backups/',
  '/backups/',
];

/**
 * Where a Jellyfin data dir keeps its databases and its users' watch state: by the layout (linuxserver or official)
 * and by the version it runs (10.8-10.10 in library.db, 10.11+ in jellyfin.db), else by the files it holds. The
 * operations, the monitor and `check` all ask here.
 */
import { type Layout, layoutPaths } from './layout.js';
import type { DatabasePaths, Site } from './ports.js';
import { type VersionFamily, versionFamily } from './version.js';
import { type WatchState, WatchStateUnavailable, watchDigest } from './watch-state.js';

export function databasesIn(root: string, layout: Layout): DatabasePaths {
  const paths = layoutPaths(layout);
  return { database: `${root}/${paths.database}`, library: `${root}/${paths.library}` };
}

/** 10.8-10.10 keep watch state in library.db, 10.11+ in jellyfin.db; an unknown version is read off the files. */
export async function familyOf(
  site: Site,
  version: string | null,
  paths: DatabasePaths,
): Promise<VersionFamily> {
  const known = version === null ? null : versionFamily(version);
  if (known) return known;
  return (await site.files.exists(paths.library)) ? 'library-db' : 'jellyfin-db';
}

/** A site's config dir as it is now: its layout (configured or detected), databases and watch-state family. */
export async function locateDatabases(
  site: Site,
  layout: Layout | 'auto',
  version: string | null,
): Promise<{ layout: Layout; paths: DatabasePaths; family: VersionFamily } | null> {
  const found = layout === 'auto' ? await site.files.detectLayout(site.configDir) : layout;
  if (!found) return null;
  const paths = databasesIn(site.configDir, found);
  return { layout: found, paths, family: await familyOf(site, version, paths) };
}

export type WatchRead = { ok: true; state: WatchState; digest: string } | { ok: false; why: string };

/** The watch state and its digest, or why it cannot be read (never an empty state instead). */
export async function readWatch(site: Site, paths: DatabasePaths, family: VersionFamily): Promise<WatchRead> {
  try {
    const state = await site.databases.watchState(paths, family);
    return { ok: true, state, digest: watchDigest(state) };
  } catch (err) {
    if (err instanceof WatchStateUnavailable) return { ok: false, why: err.message };
    throw err;
  }
}

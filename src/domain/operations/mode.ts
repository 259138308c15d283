import { locateDatabases } from '../databases.js';
import { RefusedError } from '../errors.js';
import type { Layout } from '../layout.js';
import { treePaths } from '../paths.js';
import type { Site } from '../ports.js';
import type { SyncMode } from './sync.js';

/**
 * SYNC_MODE for a routine sync (SPEC section 2): `online` where the source site can take consistent snapshots of
 * its running databases, `stopped` otherwise, saying why. `online` asked for but impossible is refused: the user
 * asked that the primary never stop.
 */
export async function chooseSyncMode(
  setting: 'auto' | 'online' | 'stopped',
  source: Site,
  layout: Layout | 'auto',
  excludes: readonly string[],
): Promise<SyncMode> {
  if (setting === 'stopped') return { mode: 'stopped', why: 'SYNC_MODE=stopped' };
  const why = await onlineImpossible(source, layout, excludes);
  if (why === null) return { mode: 'online', why: `SYNC_MODE=${setting}` };
  if (setting === 'online') {
    throw new RefusedError(
      `SYNC_MODE=online, but ${source.name} cannot take consistent snapshots of its running databases: ${why}. Nothing was changed; fix that or set SYNC_MODE=auto to stop the primary for the final pass instead.`,
      'online_unavailable',
    );
  }
  return { mode: 'stopped', why: `SYNC_MODE=auto and an online sync is not possible: ${why}` };
}

async function onlineImpossible(
  source: Site,
  layout: Layout | 'auto',
  excludes: readonly string[],
): Promise<string | null> {
  try {
    if (!(await locateDatabases(source, layout, null)))
      return `no Jellyfin database found in ${source.configDir}`;
    const databases = await source.files.listDatabases(source.configDir, excludes);
    const method = await source.databases.snapshotMethod(source.configDir, databases);
    if (!method.ok) return method.why;
    return await snapshotDirRefused(source);
  } catch (err) {
    return `checking it failed: ${(err as Error).message}`;
  }
}

/**
 * The snapshots go beside the config dir (rule 5 keeps them out of it): where the service's user cannot create
 * that dir (a container user and a root-owned parent), online is not possible, and the user is told how to fix it.
 */
async function snapshotDirRefused(source: Site): Promise<string | null> {
  const dir = treePaths(source.configDir).dbsnap;
  if (await source.files.exists(dir)) return null;
  try {
    await source.files.mkdir(dir);
  } catch (err) {
    return `the snapshots need ${dir}, and it cannot be created (${(err as Error).message}): make the config dir's parent writable for the user the service runs as`;
  }
  await source.files.removeOwnedTree(dir);
  return null;
}

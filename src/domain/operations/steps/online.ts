/**
 * The steps only an online sync has: the primary's databases taken as transaction-consistent snapshots on its own
 * host (or in a helper container there) while it runs, and those snapshots copied into the standby's staging tree.
 * The snapshots sit beside the primary's config dir (`<config>.jf-failover-dbsnap`), never inside it (rule 5).
 */
import { type Step, step } from '../../engine/plan.js';
import { treePaths } from '../../paths.js';
import { operationExcludes } from './copy.js';

/** Snapshots of every database of the source tree, checked; the undo removes them. */
export function snapshotDatabases(): Step {
  return step('snapshot-databases', 10, async (run) => {
    const { from } = run;
    const dir = treePaths(from.configDir).dbsnap;
    const databases = await from.files.listDatabases(from.configDir, operationExcludes(run));
    if (databases.length === 0)
      throw new Error(`${from.name} has no database under ${from.configDir} to snapshot`);
    await run.undoFirst({ kind: 'remove-staging', site: from.name, path: dir });
    if (await from.files.exists(dir)) await from.files.removeOwnedTree(dir);
    const reports = await from.databases.snapshot(from.configDir, databases, dir);
    run.details.snapshots = reports;
    run.log.info({ site: from.name, snapshots: reports }, 'databases snapshotted while Jellyfin runs');
  });
}

/** The snapshots into staging, as deltas against the standby's previous databases (copied, never linked). */
export function copySnapshots(): Step {
  return step('copy-snapshots', 10, async (run) => {
    await run.copy({
      from: run.from.name,
      fromPath: treePaths(run.from.configDir).dbsnap,
      to: run.to.name,
      toPath: treePaths(run.to.configDir).staging,
      select: 'everything',
      excludes: [],
      copyDest: run.to.configDir,
      delete: false,
    });
  });
}

/** The snapshots are not needed once the standby runs its new tree. */
export function removeSnapshots(): Step {
  return step('remove-snapshots', 1, async (run) => {
    const dir = treePaths(run.from.configDir).dbsnap;
    if (await run.from.files.exists(dir)) await run.from.files.removeOwnedTree(dir);
  });
}

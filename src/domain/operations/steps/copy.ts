/**
 * The steps that build the destination's new tree: a staging tree beside its config dir, filled while both sites
 * run (pre-copy) and finished while they are stopped (final copy), verified, stamped with the banner, then swapped
 * in place; the previous tree stays beside it as the snapshot rollback restores.
 */
import { applyBanner } from '../../branding.js';
import { databasesIn, familyOf, readWatch } from '../../databases.js';
import { type Step, step } from '../../engine/plan.js';
import type { OperationRun } from '../../engine/run.js';
import { layoutPaths } from '../../layout.js';
import { treePaths } from '../../paths.js';
import { mayRun } from '../../ports.js';

/** What no copy of this operation takes: the settings' excludes, and for failback master's own branding.xml. */
export function operationExcludes(run: OperationRun): string[] {
  const layout = run.layout ?? 'linuxserver';
  const extra = run.to.name === 'master' ? [`/${layoutPaths(layout).branding}`] : [];
  return [...run.settings.excludes, ...extra];
}

/** A fresh staging tree beside the destination, holding the destination's own excluded content (hard links). */
export function prepareStaging(): Step {
  return step('prepare-staging', 2, async (run) => {
    const { to } = run;
    const { staging } = treePaths(to.configDir);
    await run.undoFirst({ kind: 'remove-staging', site: to.name, path: staging });
    if (await to.files.exists(staging)) await to.files.removeOwnedTree(staging);
    await to.files.mkdir(staging);
    await run.copy({
      from: to.name,
      fromPath: to.configDir,
      to: to.name,
      toPath: staging,
      select: 'carried',
      excludes: operationExcludes(run),
      linkDest: to.configDir,
      delete: false,
    });
  });
}

/**
 * Copies everything but SQLite files while the source still serves; unchanged files are hard links. Skipped with
 * SYNC_PRECOPY=false (the final pass then carries everything), unless `always` (an online sync has no other pass).
 */
export function preCopy(name = 'pre-copy', options: { always: boolean } = { always: false }): Step {
  return step(name, 40, async (run) => {
    if (!run.settings.precopy && !options.always) return;
    await run.copy({
      from: run.from.name,
      fromPath: run.from.configDir,
      to: run.to.name,
      toPath: treePaths(run.to.configDir).staging,
      select: 'files',
      excludes: operationExcludes(run),
      linkDest: run.to.configDir,
      delete: true,
    });
  });
}

/**
 * The databases as they are while the source still runs: not a copy anyone opens (the final pass replaces
 * them), but the basis its deltas are computed against, so only what changed crosses the link while the primary
 * is down. Copied from the standby's previous files where unchanged, never hard-linked.
 */
export function preCopyDatabases(): Step {
  return step('pre-copy-databases', 10, async (run) => {
    if (!run.settings.precopy) return;
    await run.copy({
      from: run.from.name,
      fromPath: run.from.configDir,
      to: run.to.name,
      toPath: treePaths(run.to.configDir).staging,
      select: 'main-databases',
      excludes: operationExcludes(run),
      copyDest: run.to.configDir,
      delete: false,
    });
  });
}

/**
 * With both containers stopped: one pass over the whole tree (files and databases, deltas against what the
 * pre-copy put into staging), then every database in staging gets a copy of its own wherever a hard link crept in
 * (rule 5: a live database never has a second link).
 */
export function finalCopy(): Step {
  return step('final-copy', 20, async (run) => {
    const staging = treePaths(run.to.configDir).staging;
    for (const site of [run.from, run.to]) {
      const { status } = await site.container.inspect();
      if (mayRun(status)) {
        throw new Error(
          `${site.name}'s container is ${status} again; SQLite files are only copied while it is stopped`,
        );
      }
    }
    await run.copy(
      {
        from: run.from.name,
        fromPath: run.from.configDir,
        to: run.to.name,
        toPath: staging,
        select: 'everything',
        excludes: operationExcludes(run),
        linkDest: run.to.configDir,
        delete: true,
      },
      [0, 0.95],
    );
    const unlinked = await run.to.files.breakDatabaseLinks(staging);
    if (unlinked > 0)
      run.log.info({ site: run.to.name, unlinked }, 'databases linked from the old tree were copied');
  });
}

/**
 * The copy is checked before it replaces anything: `PRAGMA quick_check` on every database of the layout (jellyfin.db,
 * and library.db where there is one), and its users' watch state read (rule 3's fingerprint after the copy).
 */
export function verifyCopy(): Step {
  return step('verify', 5, async (run) => {
    if (!run.layout) throw new Error('layout unknown');
    const paths = databasesIn(treePaths(run.to.configDir).staging, run.layout);
    if (!(await run.to.files.exists(paths.database)))
      throw new Error(`the copy has no database at ${paths.database}`);
    const databases = [
      paths.database,
      ...((await run.to.files.exists(paths.library)) ? [paths.library] : []),
    ];
    for (const database of databases) {
      const check = await run.to.databases.quickCheck(database);
      if (check === null) {
        run.log.warn(
          { site: run.to.name, database },
          'no sqlite3 on the destination host nor on this one: the copied database is not verified',
        );
      } else if (check !== 'ok') {
        throw new Error(`PRAGMA quick_check on the copied ${database} says: ${check.slice(0, 300)}`);
      }
    }
    const version = typeof run.details.sourceVersion === 'string' ? run.details.sourceVersion : null;
    const family = await familyOf(run.to, version, paths);
    const watch = await readWatch(run.to, paths, family);
    if (watch.ok) {
      const token = await run.to.databases.changeToken(paths, family);
      run.fingerprint = { value: watch.digest, ...(token ? { token } : {}) };
      run.watchBase = watch.state;
    } else {
      run.log.warn(
        { site: run.to.name, why: watch.why },
        'cannot read the copied watch state: the next sync will refuse until it can',
      );
      run.fingerprint = { value: null, unknown: watch.why };
    }
  });
}

/** The slave's login banner, written into the staging tree by rename (the live tree is not touched). */
export function stampBanner(): Step {
  return step('banner', 1, async (run) => {
    const banner = run.settings.slaveBanner;
    if (run.to.name !== 'slave' || banner === '' || !run.layout) return;
    const path = `${treePaths(run.to.configDir).staging}/${layoutPaths(run.layout).branding}`;
    await run.to.files.writeTextAtomic(path, applyBanner(await run.to.files.readText(path), banner));
  });
}

/** Staging becomes the config dir; the previous tree becomes the snapshot that rollback restores. */
export function swapTrees(): Step {
  return step('swap', 2, async (run) => {
    const { to } = run;
    const paths = treePaths(to.configDir);
    const { status } = await to.container.inspect();
    if (mayRun(status)) {
      throw new Error(
        `${to.name}'s container is ${status}; its config dir is only replaced while it is stopped`,
      );
    }
    if (await to.files.exists(paths.snapshot)) {
      await to.files.removeOwnedTree(paths.snapshot);
      run.next.lastOperation = null; // its snapshot is gone
    }
    await run.undoFirst({
      kind: 'restore-tree',
      site: to.name,
      configDir: to.configDir,
      snapshotPath: paths.snapshot,
      discardPath: paths.discard,
    });
    await to.files.rename(to.configDir, paths.snapshot);
    await to.files.rename(paths.staging, to.configDir);
  });
}

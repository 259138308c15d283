/**
 * The steps operations are made of. Each changes one thing and records its undo (run.undoFirst) before the
 * change, so the journal on disk always knows how to put things back.
 */
import { RefusedError } from '../../errors.js';
import { applyBanner } from '../branding.js';
import type { OperationRun, Step } from '../engine.js';
import { makeEvent } from '../events.js';
import {
  checkDivergence,
  checkFreeSpace,
  checkSourceLooksLikeJellyfin,
  checkVersions,
  type Refusal,
} from '../guards.js';
import { type Layout, layoutPaths } from '../layout.js';
import { SQLITE_PATTERNS, treePaths } from '../paths.js';
import type { Site } from '../ports.js';

export function step(name: string, weight: number, run: (r: OperationRun) => Promise<void>): Step {
  return { name, weight, run };
}

function refuse(r: Refusal): never {
  throw new RefusedError(r.message, r.reason);
}

/** Top-level directories of BUILTIN_EXCLUDES, for counting files comparably on both sides. */
function topLevelExcludedDirs(excludes: readonly string[]): string[] {
  return excludes
    .filter((p) => p.startsWith('/') && p.endsWith('/'))
    .map((p) => p.slice(1, -1))
    .filter((p) => p.length > 0);
}

/** Extra paths an operation must not copy: failback keeps master's own branding.xml. */
export function operationExcludes(run: OperationRun): string[] {
  const layout = run.layout ?? 'linuxserver';
  const extra = run.to.name === 'master' ? [`/${layoutPaths(layout).branding}`] : [];
  return [...run.deps.settings.excludes, ...extra];
}

/** Filters: copy everything but the excluded paths and SQLite files (those wait for stopped containers). */
function filesFilters(excludes: readonly string[]): string[] {
  return [...excludes.map((p) => `--exclude=${p}`), ...SQLITE_PATTERNS.map((p) => `--exclude=${p}`)];
}

/**
 * Filters: only SQLite files, outside the excluded paths. Directories are protected on the receiver (a `P`
 * rule for every directory): with --delete rsync would otherwise try to delete each directory that holds no
 * database (the files pass already mirrored them) and would remove the empty ones.
 */
export function databaseFilters(excludes: readonly string[]): string[] {
  return [
    ...excludes.map((p) => `--exclude=${p}`),
    '--filter=P */',
    '--include=*/',
    ...SQLITE_PATTERNS.map((p) => `--include=${p}`),
    '--exclude=*',
  ];
}

/** Filters: only what the copy excludes (cache, logs, ...), so the destination keeps its own. */
function carryFilters(excludes: readonly string[]): string[] {
  const include = excludes.flatMap((p) =>
    p.endsWith('/') ? [`--include=${p}`, `--include=${p}***`] : [`--include=${p}`],
  );
  return [
    ...SQLITE_PATTERNS.map((p) => `--exclude=${p}`),
    ...include,
    '--include=*/',
    '--exclude=*',
    '--prune-empty-dirs',
  ];
}

async function resolveLayout(run: OperationRun, site: Site): Promise<Layout | null> {
  const configured = run.deps.settings.layout;
  if (configured !== 'auto') return configured;
  return site.files.detectLayout(site.configDir);
}

/** Observed version: the running server's own answer, else the image label. */
export async function siteVersion(site: Site): Promise<string | null> {
  const info = await site.jellyfin.info();
  if (info) return info.version;
  try {
    return (await site.container.inspect()).imageVersion;
  } catch {
    return null;
  }
}

/**
 * Preflight for a copy from `run.from` to `run.to`: both hosts reachable, the containers exist, the source is
 * a Jellyfin config (rule 2), the destination has not diverged (rule 3), versions match when roles move
 * (rule 4), and the destination disk can hold the copy.
 */
export function preflightCopy(options: { checkVersions: boolean }): Step {
  return step('preflight', 2, async (run) => {
    const { from, to } = run;
    for (const site of [from, to]) {
      const unreachable = await site.files.unreachableReason();
      if (unreachable) {
        throw new RefusedError(
          `${site.name} (${site.files.label}) cannot be reached: ${unreachable}. Nothing was changed.`,
          'unreachable',
        );
      }
      const info = await site.container.inspect();
      if (info.status === 'missing') {
        throw new RefusedError(
          `container ${site.container.name} does not exist on ${site.name}: check ${site.name.toUpperCase()}_CONTAINER.`,
          'container_missing',
        );
      }
      run.containersBefore[site.name] = {
        running: info.status === 'running',
        restartPolicy: info.restartPolicy,
      };
    }
    if (!(await to.files.isDir(to.configDir))) {
      throw new RefusedError(
        `${to.name} config dir ${to.configDir} does not exist on ${to.files.label}: create it (empty is fine) or fix ${to.name.toUpperCase()}_CONFIG_DIR.`,
        'destination_missing',
      );
    }
    run.layout = await resolveLayout(run, from);
    const database = run.layout ? `${from.configDir}/${layoutPaths(run.layout).database}` : null;
    const databaseFound = database !== null && (await from.files.exists(database));
    const skip = topLevelExcludedDirs(run.deps.settings.excludes);
    const sourceFiles = (await from.files.isDir(from.configDir))
      ? await from.files.countFiles(from.configDir, skip)
      : 0;
    const destinationFiles = await to.files.countFiles(to.configDir, skip);
    run.details.sourceFiles = sourceFiles;
    run.details.destinationFiles = destinationFiles;
    const checks: Array<Refusal | null> = [
      checkSourceLooksLikeJellyfin({
        sourceLabel: from.name,
        sourceDir: from.configDir,
        databaseFound,
        sourceFiles,
        destinationFiles,
      }),
    ];
    const recorded = run.before.standbyFingerprint;
    if (recorded && recorded.site === to.name && run.layout) {
      const current = (await readDatabase(run, to, `${to.configDir}/${layoutPaths(run.layout).database}`))
        .fingerprint;
      const diverged = checkDivergence({ standbyLabel: to.name, recorded: recorded.value, current });
      if (diverged) {
        run.deps.observer.event(makeEvent('standby_diverged', diverged.message, { site: to.name }));
      }
      checks.push(diverged);
    }
    if (options.checkVersions) {
      checks.push(
        checkVersions({
          from: { label: from.name, version: await siteVersion(from) },
          to: { label: to.name, version: await siteVersion(to) },
        }),
      );
    }
    for (const refusal of checks) {
      if (refusal && !run.force) refuse(refusal);
      if (refusal) run.log.warn({ reason: refusal.reason }, `forced past: ${refusal.message}`);
    }
    if (!run.layout)
      throw new RefusedError(
        `cannot tell the Jellyfin layout of ${from.configDir}: set JELLYFIN_LAYOUT.`,
        'layout',
      );
    const estimate = await run.deps.copier.copy({
      from: from.name,
      fromPath: from.configDir,
      to: to.name,
      toPath: to.configDir,
      filters: operationExcludes(run).map((p) => `--exclude=${p}`),
      delete: true,
      dryRun: true,
    });
    const space = checkFreeSpace({
      label: `${to.name} (${to.configDir})`,
      freeBytes: await to.files.freeBytes(to.configDir),
      needBytes: estimate.bytes,
    });
    if (space) refuse(space); // never forced: a full disk mid-copy helps nobody
  });
}

/** A fresh staging tree beside the destination, holding the destination's own excluded content (hard links). */
export function prepareStaging(): Step {
  return step('prepare-staging', 2, async (run) => {
    const { to } = run;
    const { staging } = treePaths(to.configDir);
    await run.undoFirst({ kind: 'remove-staging', site: to.name, path: staging });
    if (await to.files.exists(staging)) await to.files.removeOwnedTree(staging);
    await to.files.mkdir(staging);
    await run.deps.copier.copy({
      from: to.name,
      fromPath: to.configDir,
      to: to.name,
      toPath: staging,
      filters: carryFilters(operationExcludes(run)),
      linkDest: to.configDir,
      delete: false,
    });
  });
}

/** Copies everything but SQLite files while the source still serves; unchanged files are hard links. */
export function preCopy(): Step {
  return step('pre-copy', 40, async (run) => {
    if (!run.deps.settings.precopy) return;
    const stats = await run.deps.copier.copy({
      from: run.from.name,
      fromPath: run.from.configDir,
      to: run.to.name,
      toPath: treePaths(run.to.configDir).staging,
      filters: filesFilters(operationExcludes(run)),
      linkDest: run.to.configDir,
      delete: true,
      onProgress: (p) => run.stepProgress(p.percent / 100),
    });
    run.bytes += stats.bytes;
    run.files += stats.files;
  });
}

/** Stops a site's container if it runs; the undo starts it again. */
export function stopSite(name: string, which: 'from' | 'to', options: { downtime: boolean }): Step {
  return step(name, 3, async (run) => {
    const site = run[which];
    const info = await site.container.inspect();
    if (info.status !== 'running') return;
    await run.undoFirst({ kind: 'start-container', site: site.name });
    if (options.downtime) run.downtimeFrom = Date.now();
    await site.container.stop(run.deps.settings.stopTimeoutS);
  });
}

/** With both containers stopped: the rest of the files, then the databases (copied, never linked). */
export function finalCopy(): Step {
  return step('final-copy', 20, async (run) => {
    const staging = treePaths(run.to.configDir).staging;
    const excludes = operationExcludes(run);
    for (const site of [run.from, run.to]) {
      if ((await site.container.inspect()).status === 'running') {
        throw new Error(
          `${site.name}'s container is running again; SQLite files are only copied while it is stopped`,
        );
      }
    }
    const files = await run.deps.copier.copy({
      from: run.from.name,
      fromPath: run.from.configDir,
      to: run.to.name,
      toPath: staging,
      filters: filesFilters(excludes),
      linkDest: run.to.configDir,
      delete: true,
      onProgress: (p) => run.stepProgress((p.percent / 100) * 0.5),
    });
    const databases = await run.deps.copier.copy({
      from: run.from.name,
      fromPath: run.from.configDir,
      to: run.to.name,
      toPath: staging,
      filters: databaseFilters(excludes),
      delete: true,
      onProgress: (p) => run.stepProgress(0.5 + (p.percent / 100) * 0.5),
    });
    run.bytes += files.bytes + databases.bytes;
    run.files += files.files + databases.files;
  });
}

/** Waits for `/health` to say Healthy; fails early if the container exits. */
export async function waitHealthy(run: OperationRun, site: Site): Promise<void> {
  const deadline = Date.now() + run.deps.settings.startTimeoutS * 1000;
  let last = 'unreachable';
  while (Date.now() < deadline) {
    last = await site.jellyfin.health();
    if (last === 'healthy') return;
    const info = await site.container.inspect();
    if (info.status !== 'running') {
      throw new Error(
        `${site.name}'s container ${site.container.name} stopped while starting (status ${info.status})`,
      );
    }
    await new Promise((r) => setTimeout(r, run.deps.settings.healthPollMs));
  }
  throw new Error(
    `${site.name} did not become healthy within START_TIMEOUT_S=${run.deps.settings.startTimeoutS} s (last: ${last})`,
  );
}

/** Starts the copy source again right after the final pass, so its downtime stays short. */
export function restartSource(name: string): Step {
  return step(name, 5, async (run) => {
    const before = run.containersBefore[run.from.name];
    if (!before?.running) return;
    await run.from.container.start();
    await waitHealthy(run, run.from);
    run.downtimeTo = Date.now();
  });
}

/**
 * Reads a database with sqlite3 on its own host; where that host has none (Unraid ships none), with the
 * service host's sqlite3 on a fetched copy, so neither verification nor divergence detection is lost.
 */
async function readDatabase(
  run: OperationRun,
  site: Site,
  database: string,
): Promise<{ quickCheck: string | null; fingerprint: string | null }> {
  if (site.isLocal || (await site.files.hasCommand('sqlite3'))) {
    return {
      quickCheck: await site.files.quickCheck(database),
      fingerprint: await site.files.userDataFingerprint(database),
    };
  }
  const fetched = await run.deps.databases?.inspect(site.name, database);
  if (fetched)
    run.log.info({ site: site.name }, `no sqlite3 on ${site.name}: read a copy of its database here`);
  return fetched ?? { quickCheck: null, fingerprint: null };
}

/** PRAGMA quick_check on the copied database (where sqlite3 exists), and the fingerprint for rule 3. */
export function verifyCopy(): Step {
  return step('verify', 5, async (run) => {
    if (!run.layout) throw new Error('layout unknown');
    const staging = treePaths(run.to.configDir).staging;
    const database = `${staging}/${layoutPaths(run.layout).database}`;
    if (!(await run.to.files.exists(database))) throw new Error(`the copy has no database at ${database}`);
    const { quickCheck: check, fingerprint } = await readDatabase(run, run.to, database);
    if (check === null) {
      run.log.warn(
        { site: run.to.name },
        'no sqlite3 on the destination host nor on this one: the copied database is not verified',
      );
    } else if (check !== 'ok') {
      throw new Error(`PRAGMA quick_check on the copied database says: ${check.slice(0, 300)}`);
    }
    run.fingerprint = fingerprint;
  });
}

/** The slave's login banner, written into the staging tree by rename (the live tree is not touched). */
export function stampBanner(): Step {
  return step('banner', 1, async (run) => {
    const banner = run.deps.settings.slaveBanner;
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
    if ((await to.container.inspect()).status === 'running') {
      throw new Error(
        `${to.name}'s container is running; its config dir is only replaced while it is stopped`,
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

/** Starts the destination if it ran before (or `always`), and waits for Healthy. */
export function startDestination(name: string, options: { always: boolean }): Step {
  return step(name, 10, async (run) => {
    const before = run.containersBefore[run.to.name];
    if (!options.always && !before?.running) return;
    await run.undoFirst({ kind: 'stop-container', site: run.to.name });
    await run.to.container.start();
    await waitHealthy(run, run.to);
  });
}

/** Fences a site: stopped, restart policy `no`, so a reboot cannot bring stale data online (rule 8). */
export function fence(name: string, which: 'from' | 'to'): Step {
  return step(name, 1, async (run) => {
    const site = run[which];
    const info = await site.container.inspect();
    const previous =
      run.before.fence?.site === site.name ? run.before.fence.previousRestartPolicy : info.restartPolicy;
    await run.undoFirst({ kind: 'set-restart-policy', site: site.name, policy: info.restartPolicy });
    await site.container.setRestartPolicy('no');
    if (info.status === 'running') {
      await run.undoFirst({ kind: 'start-container', site: site.name });
      await site.container.stop(run.deps.settings.stopTimeoutS);
    }
    run.next.fence = { site: site.name, previousRestartPolicy: previous, pending: false };
  });
}

/** Gives a fenced site its restart policy back (it is primary again). */
export function unfence(name: string, which: 'from' | 'to'): Step {
  return step(name, 1, async (run) => {
    const site = run[which];
    const fenceInfo = run.before.fence;
    if (!fenceInfo || fenceInfo.site !== site.name) return;
    const info = await site.container.inspect();
    await run.undoFirst({ kind: 'set-restart-policy', site: site.name, policy: info.restartPolicy });
    await site.container.setRestartPolicy(fenceInfo.previousRestartPolicy);
    run.next.fence = null;
  });
}

/** Sends users to the new primary; the undo sends them back. */
export function switchTraffic(primary: 'from' | 'to'): Step {
  return step('switch-traffic', 2, async (run) => {
    const target = run[primary].name;
    await run.undoFirst({ kind: 'switch-traffic', primary: run.before.primary });
    await run.deps.traffic.switchTo(target, target === 'master' ? 'slave' : 'master');
  });
}

/** Records the new facts; the undo writes the old state back. */
export function commitState(): Step {
  return step('commit', 1, async (run) => {
    await run.undoFirst({ kind: 'restore-state', state: run.before });
  });
}

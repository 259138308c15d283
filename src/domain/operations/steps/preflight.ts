/**
 * Preflight for a copy from `run.from` to `run.to`: both hosts reachable, the containers exist, the source is a
 * Jellyfin config (rule 2), the destination has not diverged (rule 3), versions match when roles move (rule 4),
 * and the destination disk can hold the copy. Nothing is changed; a refusal names the rule.
 */

import { databasesIn, familyOf, readWatch } from '../../databases.js';
import { type Step, step } from '../../engine/plan.js';
import type { OperationRun } from '../../engine/run.js';
import { errorMessage, RefusedError } from '../../errors.js';
import { makeEvent } from '../../events.js';
import {
  checkContainersAlike,
  checkDivergence,
  checkFreeSpace,
  checkSourceLooksLikeJellyfin,
  checkVersions,
  type Refusal,
} from '../../guards.js';
import { type Layout, layoutPaths } from '../../layout.js';
import { previewMerge } from '../../merging.js';
import { siteVersion } from '../../observe.js';
import type { ContainerInfo, Site } from '../../ports.js';
import { operationExcludes } from './copy.js';
import { checkMergePossible } from './merge.js';

export function refuse(r: Refusal): never {
  throw new RefusedError(r.message, r.reason);
}

/** Top-level directories of the excludes, for counting files comparably on both sides. */
function topLevelExcludedDirs(excludes: readonly string[]): string[] {
  return excludes
    .filter((p) => p.startsWith('/') && p.endsWith('/'))
    .map((p) => p.slice(1, -1))
    .filter((p) => p.length > 0);
}

export async function resolveLayout(run: OperationRun, site: Site): Promise<Layout | null> {
  const configured = run.settings.layout;
  if (configured !== 'auto') return configured;
  return site.files.detectLayout(site.configDir);
}

/** Both hosts answer and both containers exist; records how the containers were before the operation. */
async function checkReachable(run: OperationRun): Promise<Record<'from' | 'to', ContainerInfo>> {
  const infos: Partial<Record<'from' | 'to', ContainerInfo>> = {};
  for (const site of [run.from, run.to]) {
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
    infos[site === run.from ? 'from' : 'to'] = info;
  }
  return infos as Record<'from' | 'to', ContainerInfo>;
}

/** A diverged standby's refusal, with what a merge would carry (when it can be told). */
async function divergedRefusal(
  run: OperationRun,
  refusal: Refusal,
  versions: { from: string | null; to: string | null },
) {
  const preview = await previewMerge({
    store: run.merges,
    primary: run.from,
    standby: run.to,
    recorded: run.before.standbyFingerprint,
    layout: run.layout ?? run.settings.layout,
    versions: { primary: versions.from, standby: versions.to },
  }).catch((err: unknown) => ({ ok: false as const, why: errorMessage(err) }));
  const counts = preview.ok
    ? { mergeChanges: preview.preview.changes.length, mergeConflicts: preview.preview.conflicts.length }
    : {};
  const hint = preview.ok
    ? ` A merge would carry ${preview.preview.changes.length} change(s) into ${run.from.name} (jellyfin-failover merge --dry-run lists them${run.from.userData ? '' : '; merging needs JELLYFIN_API_KEY'}).`
    : '';
  run.emit(
    makeEvent('standby_diverged', refusal.message + hint, {
      site: run.to.name,
      reason: refusal.reason,
      ...counts,
    }),
  );
  return { ...refusal, message: refusal.message + hint };
}

export function preflightCopy(options: { checkVersions: boolean; merge?: boolean }): Step {
  return step('preflight', 2, async (run) => {
    const { from, to } = run;
    const containers = await checkReachable(run);
    if (!(await to.files.isDir(to.configDir))) {
      throw new RefusedError(
        `${to.name} config dir ${to.configDir} does not exist on ${to.files.label}: create it (empty is fine) or fix ${to.name.toUpperCase()}_CONFIG_DIR.`,
        'destination_missing',
      );
    }
    run.layout = await resolveLayout(run, from);
    const layout = run.layout;
    const skip = topLevelExcludedDirs(run.settings.excludes);
    // Independent reads on two hosts: at once (each one a command over its site's connection).
    const [databaseFound, source, destination, versions, freeBytes] = await Promise.all([
      layout
        ? from.files.exists(`${from.configDir}/${layoutPaths(layout).database}`)
        : Promise.resolve(false),
      from.files
        .isDir(from.configDir)
        .then((is) => (is ? from.files.treeStats(from.configDir, skip) : { files: 0, bytes: 0 })),
      to.files.treeStats(to.configDir, skip),
      Promise.all([siteVersion(from), siteVersion(to)]).then(([f, t]) => ({ from: f, to: t })),
      to.files.freeBytes(to.configDir),
    ]);
    run.details.sourceFiles = source.files;
    run.details.destinationFiles = destination.files;
    const checks: Array<Refusal | null> = [
      checkSourceLooksLikeJellyfin({
        sourceLabel: from.name,
        sourceDir: from.configDir,
        databaseFound,
        sourceFiles: source.files,
        destinationFiles: destination.files,
      }),
    ];
    run.details.sourceVersion = versions.from;
    run.details.destinationVersion = versions.to;
    const recorded = run.before.standbyFingerprint;
    if (recorded?.site === to.name && run.layout) {
      const paths = databasesIn(to.configDir, run.layout);
      const family = await familyOf(to, versions.to, paths);
      // The same cheap hash of the user-data tables as after the copy: the same rows, no need to read them all.
      const token = recorded.token && recorded.value ? await to.databases.changeToken(paths, family) : null;
      const current =
        token !== null && token === recorded.token && recorded.value
          ? { ok: true as const, digest: recorded.value }
          : await readWatch(to, paths, family);
      const diverged = checkDivergence({ standbyLabel: to.name, recorded, current });
      if (diverged?.reason === 'standby_diverged') {
        run.details.diverged = true;
        if (options.merge) await checkMergePossible(run);
        else checks.push(await divergedRefusal(run, diverged, versions));
      } else if (diverged) {
        run.emit(makeEvent('standby_diverged', diverged.message, { site: to.name, reason: diverged.reason }));
        checks.push(diverged);
      }
    }
    if (options.checkVersions) {
      checks.push(
        checkVersions({
          from: { label: from.name, version: versions.from },
          to: { label: to.name, version: versions.to },
        }),
      );
    }
    const master = from.name === 'master' ? containers.from : containers.to;
    const slave = from.name === 'master' ? containers.to : containers.from;
    checks.push(checkContainersAlike({ master, slave }));
    for (const refusal of checks) {
      if (refusal && !run.force) refuse(refusal);
      if (refusal) run.log.warn({ reason: refusal.reason }, `forced past: ${refusal.message}`);
    }
    if (!run.layout) {
      throw new RefusedError(
        `cannot tell the Jellyfin layout of ${from.configDir}: set JELLYFIN_LAYOUT.`,
        'layout',
      );
    }
    // Room for the whole source tree is room for any copy of it; only a tighter disk needs rsync's exact estimate
    // (a walk of both trees across the link).
    const label = `${to.name} (${to.configDir})`;
    if (checkFreeSpace({ label, freeBytes, needBytes: source.bytes }) !== null) {
      const estimate = await run.estimate({
        from: from.name,
        fromPath: from.configDir,
        to: to.name,
        toPath: to.configDir,
        select: 'everything',
        excludes: operationExcludes(run),
        delete: true,
      });
      const space = checkFreeSpace({ label, freeBytes, needBytes: estimate.bytes });
      if (space) refuse(space); // never forced: a full disk mid-copy helps nobody
    }
  });
}

/** Preflight of a promote without a copy: slave answers and its container exists. */
export function preflightSlaveOnly(): Step {
  return step('preflight', 1, async (run) => {
    if (!(await run.to.files.reachable())) {
      throw new RefusedError('neither master nor slave can be reached; nothing was changed.', 'unreachable');
    }
    const info = await run.to.container.inspect();
    if (info.status === 'missing') {
      throw new RefusedError(
        `container ${run.to.container.name} does not exist on slave.`,
        'container_missing',
      );
    }
    run.containersBefore.slave = { running: info.status === 'running', restartPolicy: info.restartPolicy };
  });
}

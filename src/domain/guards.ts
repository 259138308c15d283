/**
 * The preflight safety rules of SPEC section 4 as pure decisions over what was observed. Each returns null
 * (go) or a refusal that names the rule, what was seen, and how to proceed.
 */

import type { RefusalReason } from './errors.js';
import { formatBytes } from './format.js';
import { normalizeVersion } from './version.js';

export interface Refusal {
  reason: RefusalReason;
  message: string;
}

/** Below this share of the destination's file count, a source looks like an unmounted share (rule 2). */
export const MIN_SOURCE_FILE_RATIO = 0.5;

/** Rule 2: no sync from a source that does not look like a Jellyfin config. */
export function checkSourceLooksLikeJellyfin(input: {
  sourceLabel: string;
  sourceDir: string;
  databaseFound: boolean;
  sourceFiles: number;
  destinationFiles: number;
}): Refusal | null {
  if (!input.databaseFound) {
    return {
      reason: 'source_not_jellyfin',
      message:
        `${input.sourceLabel} ${input.sourceDir} has no Jellyfin database (is the share mounted? is JELLYFIN_LAYOUT right?). ` +
        'Nothing was copied. Use --force only if you really want to copy it.',
    };
  }
  if (input.destinationFiles > 0 && input.sourceFiles < input.destinationFiles * MIN_SOURCE_FILE_RATIO) {
    return {
      reason: 'source_not_jellyfin',
      message:
        `${input.sourceLabel} ${input.sourceDir} has ${input.sourceFiles} files but the destination has ` +
        `${input.destinationFiles}: the source looks incomplete (an unmounted share?). Nothing was copied. ` +
        'Use --force only if the source is right.',
    };
  }
  return null;
}

/**
 * Rule 3: no copy over a standby that users wrote to since the last sync. `recorded` is the fingerprint taken after
 * the last copy into it (null: none was, nothing to compare); `current` its watch state now. Where either could
 * not be read, the rule fails closed.
 */
export function checkDivergence(input: {
  standbyLabel: string;
  recorded: { value: string | null; unknown?: string } | null;
  current: { ok: true; digest: string } | { ok: false; why: string };
}): Refusal | null {
  const { recorded, current, standbyLabel } = input;
  if (recorded === null) return null;
  const unknown =
    recorded.value === null
      ? `after the last copy: ${recorded.unknown ?? 'it could not be read'}`
      : !current.ok
        ? `now: ${current.why}`
        : null;
  if (unknown !== null) {
    return {
      reason: 'divergence_unknown',
      message:
        `cannot tell whether users wrote to ${standbyLabel} since the last sync (its watch state could not be read ${unknown}). ` +
        'Copying over it could lose what they watched. Fix that, or use --force if nobody used the standby.',
    };
  }
  if (current.ok && current.digest === recorded.value) return null;
  return {
    reason: 'standby_diverged',
    message:
      `${standbyLabel} was written to since the last sync (its users' watch data changed): copying over it ` +
      'would lose that. Merge it into the primary (jellyfin-failover merge, needs JELLYFIN_API_KEY), or use --force to overwrite it.',
  };
}

/**
 * Both Jellyfin containers must run as the same user (files keep their numeric owners, --numeric-ids) and see the
 * media at the same paths (the database stores absolute media paths).
 */
export function checkContainersAlike(input: {
  master: { runsAs: { uid: string; gid: string; from: string } | null; mediaMounts: readonly string[] };
  slave: { runsAs: { uid: string; gid: string; from: string } | null; mediaMounts: readonly string[] };
}): Refusal | null {
  const { master, slave } = input;
  const who = (r: typeof master.runsAs) => (r ? `${r.uid}:${r.gid} (${r.from})` : 'unknown');
  const problems: string[] = [];
  if (
    master.runsAs &&
    slave.runsAs &&
    (master.runsAs.uid !== slave.runsAs.uid || master.runsAs.gid !== slave.runsAs.gid)
  ) {
    problems.push(
      `master runs Jellyfin as ${who(master.runsAs)} but slave as ${who(slave.runsAs)}: copied files keep their owners, so set the same PUID/PGID (or --user) on both`,
    );
  }
  if (master.mediaMounts.join('\n') !== slave.mediaMounts.join('\n')) {
    problems.push(
      `master mounts media at ${master.mediaMounts.join(', ') || 'no path'} but slave at ${slave.mediaMounts.join(', ') || 'no path'}: the database names media by path, so mount it at the same container paths on both`,
    );
  }
  if (problems.length === 0) return null;
  return {
    reason: 'container_mismatch',
    message: `${problems.join('; ')}. Use --force only if you know why they differ.`,
  };
}

/** Rule 4: Jellyfin migrates its database forward only, so roles never move between versions. */
export function checkVersions(input: {
  from: { label: string; version: string | null };
  to: { label: string; version: string | null };
}): Refusal | null {
  const { from, to } = input;
  if (from.version === null || to.version === null) {
    const unknown = [from, to].filter((s) => s.version === null).map((s) => s.label);
    return {
      reason: 'version_unknown',
      message:
        `cannot tell the Jellyfin version of ${unknown.join(' and ')} (not answering and no image label). ` +
        'Jellyfin cannot downgrade its database; use --force if you are sure both run the same version.',
    };
  }
  if (normalizeVersion(from.version) !== normalizeVersion(to.version)) {
    return {
      reason: 'version_mismatch',
      message:
        `${from.label} runs Jellyfin ${from.version} but ${to.label} runs ${to.version}: Jellyfin cannot downgrade ` +
        'its database. Update both containers to the same image, or use --force.',
    };
  }
  return null;
}

/** Free space must hold what the copy will write, with a margin. */
export function checkFreeSpace(input: {
  label: string;
  freeBytes: number;
  needBytes: number;
}): Refusal | null {
  const need = Math.ceil(input.needBytes * 1.1) + 64 * 1024 * 1024;
  if (input.freeBytes >= need) return null;
  return {
    reason: 'low_disk_space',
    message:
      `${input.label} has ${formatBytes(input.freeBytes)} free but the copy needs about ${formatBytes(need)}. ` +
      'Free some space (old snapshots: *.jf-failover-snapshot) and try again.',
  };
}

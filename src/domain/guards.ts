/**
 * The preflight safety rules of SPEC section 4 as pure decisions over what was observed. Each returns null
 * (go) or a refusal that names the rule, what was seen, and how to proceed.
 */

export interface Refusal {
  reason:
    | 'source_not_jellyfin'
    | 'standby_diverged'
    | 'version_mismatch'
    | 'version_unknown'
    | 'low_disk_space';
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

/** Rule 3: no copy over a standby that users wrote to since the last sync. */
export function checkDivergence(input: {
  standbyLabel: string;
  recorded: string | null;
  current: string | null;
}): Refusal | null {
  if (input.recorded === null || input.current === null) return null;
  if (input.recorded === input.current) return null;
  return {
    reason: 'standby_diverged',
    message:
      `${input.standbyLabel} was written to since the last sync (its users' watch data changed): copying over it ` +
      'would lose that. Fail back first to carry it over, or use --force to overwrite it.',
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

export function normalizeVersion(v: string): string {
  const m = /(\d+\.\d+\.\d+)/.exec(v);
  return m?.[1] ?? v.trim();
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

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

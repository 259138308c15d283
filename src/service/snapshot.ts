/**
 * The retained `B/state` snapshot of SPEC section 3, derived from what the service knows: the persistent state
 * (owned by state.json), the operation in progress (owned by the engine, or the journal of another process),
 * and the monitor's latest look at each site. Pure: same input, same snapshot.
 */

import type { OperationStatus } from '../domain/events.js';
import { formatBytes } from '../domain/format.js';
import type { SiteObservation } from '../domain/observe.js';
import type { ContainerStatus, JellyfinHealth } from '../domain/ports.js';
import { SITE_NAMES, type SiteName } from '../domain/sites.js';
import { type LastSync, type OperationKind, type PersistentState, standbyOf } from '../domain/state.js';
import { normalizeVersion } from '../domain/version.js';
import { type DownReason, downReason } from './announcer.js';
import type { SiteVerdict } from './site-status.js';

export interface SiteSnapshot {
  /** Debounced: true once `/health` said `Healthy`, false after HEALTH_FAILURES failed polls or a stop. */
  online: boolean;
  jellyfin: JellyfinHealth;
  container: ContainerStatus;
  version: string | null;
  /** Null until the first look. */
  checkedAt: string | null;
  /** Whether its host runs commands; null before the first look (beyond SPEC: for the blueprint's messages). */
  hostReachable: boolean | null;
  /** Why it is down (the `site_down` reasons), null while it is up (beyond SPEC, as above). */
  downReason: DownReason | null;
}

export interface StateSnapshot {
  primary: SiteName;
  epoch: number;
  operation: OperationStatus;
  sites: Record<SiteName, SiteSnapshot>;
  lastSync: LastSync | null;
  standbyDiverged: boolean;
  /** While the standby diverged: what a merge would carry (beyond SPEC: issue 13's preview); else null. */
  mergePreview: { changes: number; conflicts: number } | null;
  problems: string[];
}

/** What the monitor knows about one site. */
export interface SiteView {
  observation: SiteObservation | null;
  verdict: SiteVerdict;
  /** Whether its host runs commands (always true for the local site); null before the first look. */
  hostReachable: boolean | null;
}

export interface SnapshotInput {
  state: PersistentState;
  operation: OperationStatus;
  sites: Record<SiteName, SiteView>;
  standby: {
    /** Free bytes on the standby's config filesystem; null when unknown. */
    freeBytes: number | null;
    diverged: boolean;
    /** What a merge would carry while diverged; null when not diverged or not known. */
    merge?: { changes: number; conflicts: number } | null;
    /** Why rule 3 cannot be evaluated between operations right now; null when it can. */
    divergenceUnknown?: string | null;
  };
  /** A journal left by a process that is gone: recovered at the next start or operation. */
  interrupted: { kind: OperationKind; step: string } | null;
  /** Below this much free space on the standby, `problems` says so. */
  lowSpaceBytes: number;
  /** Problems of the service itself (e.g. an unreadable state file), listed last. */
  serviceProblems?: readonly string[];
}

function siteSnapshot(view: SiteView): SiteSnapshot {
  const o = view.observation;
  return {
    online: view.verdict === 'up',
    jellyfin: o?.jellyfin ?? 'unreachable',
    container: o?.container ?? 'unknown',
    version: o?.version ?? null,
    checkedAt: o?.checkedAt ?? null,
    hostReachable: view.hostReachable,
    downReason: view.verdict === 'down' ? downReason(view) : null,
  };
}

export function buildSnapshot(input: SnapshotInput): StateSnapshot {
  const { state } = input;
  const sites = { master: siteSnapshot(input.sites.master), slave: siteSnapshot(input.sites.slave) };
  return {
    primary: state.primary,
    epoch: state.epoch,
    operation: { ...input.operation },
    sites,
    lastSync: state.lastSync,
    standbyDiverged: input.standby.diverged,
    mergePreview: input.standby.diverged ? (input.standby.merge ?? null) : null,
    problems: problemsOf(input, sites),
  };
}

/** One sentence per current problem, for the `problem` entity's attribute and notifications. */
export function problemsOf(input: SnapshotInput, sites: Record<SiteName, SiteSnapshot>): string[] {
  const { state } = input;
  const problems: string[] = [];
  const standby = standbyOf(state);
  const role = (site: SiteName) => (site === state.primary ? 'primary' : 'standby');
  for (const site of SITE_NAMES) {
    const view = input.sites[site];
    const s = sites[site];
    if (view.hostReachable === false) {
      problems.push(`${site} (${role(site)}): its host cannot be reached`);
    }
    const fencedHere = state.fence?.site === site && !state.fence.pending;
    if (view.verdict === 'down' && !fencedHere) {
      problems.push(`${site} (${role(site)}) is down: Jellyfin ${s.jellyfin}, container ${s.container}`);
    }
  }
  if (state.fence?.pending) {
    const s = sites[state.fence.site];
    problems.push(
      s.online
        ? `${state.fence.site} was demoted while unreachable and is serving again with stale data: it is fenced at the next operation`
        : `${state.fence.site} was demoted while unreachable: it is fenced (stopped) as soon as it can be reached`,
    );
  }
  if (input.standby.diverged) {
    problems.push(
      `${standby} (standby) was written to since the last sync: merge it into the primary to keep that data (Merge button, jellyfin-failover merge), or force a sync to discard it`,
    );
  }
  if (input.standby.divergenceUnknown) {
    problems.push(
      `cannot tell whether users wrote to ${standby} (standby) since the last sync: ${input.standby.divergenceUnknown}; the next sync refuses (divergence_unknown) until it can`,
    );
  }
  const free = input.standby.freeBytes;
  if (free !== null && free < input.lowSpaceBytes) {
    problems.push(`${standby} (standby) has only ${formatBytes(free)} free for its config directory`);
  }
  const vm = sites.master.version;
  const vs = sites.slave.version;
  if (vm && vs && normalizeVersion(vm) !== normalizeVersion(vs)) {
    problems.push(`master runs Jellyfin ${vm} and slave ${vs}: promote and failback are refused`);
  }
  const last = state.lastSync;
  if (last && last.result !== 'success') {
    const what =
      last.result === 'failed' ? 'failed and was not fully rolled back' : 'failed and was rolled back';
    problems.push(`the last operation ${what}${last.error ? `: ${last.error}` : ''}`);
  }
  if (input.interrupted) {
    problems.push(
      `${input.interrupted.kind} was interrupted at ${input.interrupted.step}: it is recovered at the next start or operation`,
    );
  }
  problems.push(...(input.serviceProblems ?? []));
  return problems;
}

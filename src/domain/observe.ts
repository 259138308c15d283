import { orFallback } from './deadline.js';
import type { ContainerStatus, JellyfinHealth, Site } from './ports.js';

/** One look at a site, as `B/state.sites.<site>` and `status` show it. */
export interface SiteObservation {
  online: boolean;
  jellyfin: JellyfinHealth;
  container: ContainerStatus;
  version: string | null;
  /** When the container last started; null when unknown. */
  startedAt: string | null;
  checkedAt: string;
}

/**
 * One look at a site. `startingForS`: a Jellyfin that refuses connections within this many seconds of its
 * container's start is `starting` (10.10 and older refuse while the database loads), not `unreachable`.
 */
export async function observeSite(
  site: Site,
  timeoutMs = 10_000,
  startingForS = 0,
  /** The last observation: its version is kept while the container runs since the same start (no new request). */
  last: SiteObservation | null = null,
): Promise<SiteObservation> {
  const [health, container] = await Promise.all([
    orFallback(site.jellyfin.health(), timeoutMs, 'unreachable' as JellyfinHealth),
    orFallback(
      site.container.inspect().then((i) => ({ status: i.status, startedAt: i.startedAt })),
      timeoutMs,
      { status: 'unknown' as ContainerStatus, startedAt: null },
    ),
  ]);
  const sameRun =
    last?.version != null &&
    container.startedAt !== null &&
    last.startedAt === container.startedAt &&
    health === 'healthy';
  const info = sameRun ? { version: last.version } : await orFallback(site.jellyfin.info(), timeoutMs, null);
  const sinceStartS = container.startedAt ? (Date.now() - Date.parse(container.startedAt)) / 1000 : Infinity;
  const starting = health === 'unreachable' && container.status === 'running' && sinceStartS < startingForS;
  const jellyfin = starting ? 'starting' : health;
  return {
    online: jellyfin === 'healthy',
    jellyfin,
    container: container.status,
    version: info?.version ?? null,
    startedAt: container.startedAt,
    checkedAt: new Date().toISOString(),
  };
}

/** Whether the service can work on a site at all: its host answers and its Docker engine answers. */
export async function siteReachable(site: Site, timeoutMs = 20_000): Promise<boolean> {
  if (!(await orFallback(site.files.reachable(), timeoutMs, false))) return false;
  const status = await orFallback(
    site.container.inspect().then((i) => i.status),
    timeoutMs,
    'unknown' as ContainerStatus,
  );
  return status !== 'unknown';
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

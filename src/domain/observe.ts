import type { SiteName } from '../config/schema.js';
import type { ContainerStatus, JellyfinHealth, Site } from './ports.js';

/** One look at a site, as `B/state.sites.<site>` and `status` show it. */
export interface SiteObservation {
  online: boolean;
  jellyfin: JellyfinHealth;
  container: ContainerStatus;
  version: string | null;
  checkedAt: string;
}

export async function withTimeout<T>(promise: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(fallback), ms);
  });
  try {
    return await Promise.race([promise.catch(() => fallback), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export async function observeSite(site: Site, timeoutMs = 10_000): Promise<SiteObservation> {
  const [jellyfin, container, info] = await Promise.all([
    withTimeout(site.jellyfin.health(), timeoutMs, 'unreachable' as JellyfinHealth),
    withTimeout(
      site.container.inspect().then((i) => i.status),
      timeoutMs,
      'unknown' as ContainerStatus,
    ),
    withTimeout(site.jellyfin.info(), timeoutMs, null),
  ]);
  return {
    online: jellyfin === 'healthy',
    jellyfin,
    container,
    version: info?.version ?? null,
    checkedAt: new Date().toISOString(),
  };
}

/** Whether the service can work on a site at all: its host answers and its Docker engine answers. */
export async function siteReachable(site: Site, timeoutMs = 20_000): Promise<boolean> {
  const host = await withTimeout(site.files.reachable(), timeoutMs, false);
  if (!host) return false;
  const status = await withTimeout(
    site.container.inspect().then((i) => i.status),
    timeoutMs,
    'unknown' as ContainerStatus,
  );
  return status !== 'unknown';
}

export type Observations = Record<SiteName, SiteObservation>;

/**
 * What a site going up or down means for Home Assistant: a `site_down` / `site_up` event, or nothing (an operation
 * stopping and starting containers on purpose, a fenced site staying down, the first look at a healthy site).
 * Pure: the service hands in what it knows and keeps the returned quiet period.
 */
import { type FailoverEvent, makeEvent } from '../domain/events.js';
import type { SiteName } from '../domain/sites.js';
import type { Fence } from '../domain/state.js';
import type { SiteTransition } from './site-status.js';
import type { SiteView } from './snapshot.js';

/** Why a site is down, as `site_down.reason` and the notification say it (SPEC section 3). */
export type DownReason = 'jellyfin_unhealthy' | 'container_stopped' | 'host_unreachable';

export function downReason(view: SiteView): DownReason {
  if (view.hostReachable === false) return 'host_unreachable';
  const container = view.observation?.container;
  if (container === 'exited' || container === 'missing') return 'container_stopped';
  if (container === 'unknown' && view.observation?.jellyfin === 'unreachable') return 'host_unreachable';
  return 'jellyfin_unhealthy';
}

export interface AnnounceContext {
  /** An operation runs (here or in another process). */
  operationRunning: boolean;
  primary: SiteName;
  fence: Fence | null;
  now: number;
  /** Until when this site's coming back is not news (it was stopped by an operation); undefined: no quiet. */
  quietUntil: number | undefined;
}

export interface Announcement {
  event: FailoverEvent | null;
  /** The site's quiet period from now on: a time, Infinity (until the operation ends), or undefined (none). */
  quietUntil: number | undefined;
}

const REASON_TEXT: Record<DownReason, string> = {
  jellyfin_unhealthy: 'Jellyfin does not answer healthy',
  container_stopped: 'its container stopped',
  host_unreachable: 'its host cannot be reached',
};

export function announceTransition(
  site: SiteName,
  t: SiteTransition,
  view: SiteView,
  ctx: AnnounceContext,
): Announcement {
  if (t.from === 'unknown' && t.to === 'up') return { event: null, quietUntil: ctx.quietUntil };
  if (ctx.operationRunning) {
    // Operations stop and start containers on purpose; that is not news, nor is the site's coming back.
    return { event: null, quietUntil: t.to === 'down' ? Number.POSITIVE_INFINITY : undefined };
  }
  if (t.to === 'up' && ctx.quietUntil !== undefined && ctx.now < ctx.quietUntil) {
    return { event: null, quietUntil: undefined };
  }
  const role = site === ctx.primary ? 'primary' : 'standby';
  const fenced = ctx.fence?.site === site;
  // A fenced site is stopped on purpose: its going down is expected.
  if (t.to === 'down' && fenced && !ctx.fence?.pending) return { event: null, quietUntil: undefined };
  const o = view.observation;
  if (t.to === 'up') {
    return {
      event: makeEvent('site_up', `${site} (${role}) is up again`, {
        site,
        role,
        fenced,
        version: o?.version ?? null,
      }),
      quietUntil: undefined,
    };
  }
  const reason = downReason(view);
  return {
    event: makeEvent('site_down', `${site} (${role}) is down: ${REASON_TEXT[reason]}`, {
      site,
      role,
      reason,
      fenced,
      jellyfin: o?.jellyfin ?? 'unreachable',
      container: o?.container ?? 'unknown',
      hostReachable: view.hostReachable,
      failures: t.failures,
    }),
    quietUntil: undefined,
  };
}

/** An operation ended: sites it stopped have until `deadline` to come back quietly. */
export function endQuiet(quiet: ReadonlyMap<SiteName, number>, deadline: number): Map<SiteName, number> {
  const next = new Map(quiet);
  for (const [site, until] of next) if (until === Number.POSITIVE_INFINITY) next.set(site, deadline);
  return next;
}

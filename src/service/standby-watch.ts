/**
 * Between operations: has anybody written to the standby since the last sync (the `standby_diverged` sensor)?
 * The watch state is read again only when the site's own sqlite3 says the user-data tables changed (a cheap hash),
 * or, on a host without sqlite3 (a copy of the databases is fetched each time), at most every FETCH_EVERY_MS.
 * Whatever cannot be read is said so (`unknown`, with the reason), never taken for "not diverged".
 */

import { locateDatabases } from '../domain/databases.js';
import { orFallback } from '../domain/deadline.js';
import { checkDivergence } from '../domain/guards.js';
import type { Layout } from '../domain/layout.js';
import type { Site } from '../domain/ports.js';
import type { Fingerprint } from '../domain/state.js';
import { WatchStateUnavailable, watchDigest } from '../domain/watch-state.js';

const FETCH_EVERY_MS = 15 * 60_000;

export type Divergence =
  | { kind: 'unchecked' }
  | { kind: 'same' }
  | { kind: 'diverged'; message: string }
  | { kind: 'unknown'; why: string };

export class StandbyWatch {
  private last: {
    site: string;
    recordedAt: string;
    token: string | null;
    result: Divergence;
    at: number;
  } | null = null;

  constructor(
    private readonly layout: Layout | 'auto',
    private readonly timeoutMs: number,
  ) {}

  /** The answer for `site` against `recorded`, read again only when it may have changed. */
  async check(site: Site, recorded: Fingerprint | null, version: string | null): Promise<Divergence> {
    if (!recorded || recorded.site !== site.name) return { kind: 'unchecked' };
    const located = await orFallback(locateDatabases(site, this.layout, version), this.timeoutMs, null);
    if (!located) return { kind: 'unknown', why: `no Jellyfin database found in ${site.configDir}` };
    const { paths, family } = located;
    const same =
      this.last && this.last.site === site.name && this.last.recordedAt === recorded.at ? this.last : null;
    const onHost = await orFallback(site.databases.readsOnHost(), this.timeoutMs, false);
    if (!onHost && same && Date.now() - same.at < FETCH_EVERY_MS) return same.result;
    const token = onHost
      ? await orFallback(site.databases.changeToken(paths, family), this.timeoutMs, null)
      : null;
    if (same && token !== null && token === same.token) return same.result;
    let result: Divergence;
    try {
      const state = await site.databases.watchState(paths, family);
      const refusal = checkDivergence({
        standbyLabel: site.name,
        recorded,
        current: { ok: true, digest: watchDigest(state) },
      });
      result =
        refusal === null
          ? { kind: 'same' }
          : refusal.reason === 'standby_diverged'
            ? { kind: 'diverged', message: refusal.message }
            : {
                kind: 'unknown',
                why: recorded.unknown ?? 'the fingerprint after the last copy could not be taken',
              };
    } catch (err) {
      if (!(err instanceof WatchStateUnavailable)) throw err;
      result = { kind: 'unknown', why: err.message };
    }
    this.last = { site: site.name, recordedAt: recorded.at, token, result, at: Date.now() };
    return result;
  }
}

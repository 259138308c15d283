/**
 * Whether a site is up or down, debounced (SPEC section 2, HEALTH_FAILURES): one lost poll does not flap the
 * site; `failuresNeeded` consecutive failed polls do. A container seen stopped (Docker `die`/`stop` event, or
 * an inspect that says exited/missing) is a fact, not a flaky network: the site is down at once. Pure.
 */

export type SiteVerdict = 'unknown' | 'up' | 'down';

/**
 * One look at a site:
 * - `healthy`: `/health` said `Healthy`;
 * - `starting`: `/health` said `Degraded` (Jellyfin is starting): counts neither way;
 * - `failed`: no answer, another body, or the host could not be reached;
 * - `stopped`: the container is not running.
 */
export type SiteSample = 'healthy' | 'starting' | 'failed' | 'stopped';

export interface SiteTransition {
  from: SiteVerdict;
  to: Exclude<SiteVerdict, 'unknown'>;
  /** What made it change: the sample that tipped it. */
  cause: SiteSample;
  /** Consecutive failed samples when it went down (0 when it went up). */
  failures: number;
}

export class SiteStatusTracker {
  private verdict: SiteVerdict = 'unknown';
  private failures = 0;

  constructor(private readonly failuresNeeded: number) {}

  get status(): SiteVerdict {
    return this.verdict;
  }

  get consecutiveFailures(): number {
    return this.failures;
  }

  /** Records one sample; returns the transition it caused, or null. */
  record(sample: SiteSample): SiteTransition | null {
    switch (sample) {
      case 'healthy':
        this.failures = 0;
        return this.moveTo('up', sample);
      case 'starting':
        return null;
      case 'failed':
        this.failures += 1;
        return this.failures >= Math.max(1, this.failuresNeeded) ? this.moveTo('down', sample) : null;
      case 'stopped':
        this.failures = Math.max(this.failures + 1, this.failuresNeeded);
        return this.moveTo('down', sample);
    }
  }

  private moveTo(to: 'up' | 'down', cause: SiteSample): SiteTransition | null {
    if (this.verdict === to) return null;
    const from = this.verdict;
    this.verdict = to;
    return { from, to, cause, failures: to === 'down' ? this.failures : 0 };
  }
}

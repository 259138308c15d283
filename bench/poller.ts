/**
 * A client polling a Jellyfin's `/health` every 100 ms, as a user's app would hit the server: every request that
 * does not come back `Healthy` within 2 s is a failed request, and the primary's downtime is the time
 * from the first failed request of an outage to the next request that succeeds (to within one poll period).
 * Requests are started on the clock, not after the previous one returns, so a hung server still counts.
 */

export interface PollReport {
  /** Requests started. */
  requests: number;
  /** Requests that did not answer `Healthy` (error, timeout, other status or body). */
  failed: number;
  /** Sum of the outages, seconds. */
  downtimeS: number;
  /** The slowest answer that came back Healthy, ms. */
  maxLatencyMs: number;
  /** Each outage: start and end in ms since the poller started. */
  outages: Array<{ fromMs: number; toMs: number }>;
}

export class HealthPoller {
  private readonly results: Array<{ at: number; ok: boolean; ms: number }> = [];
  private readonly inflight = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | null = null;
  private startedAt = 0;

  constructor(
    private readonly url: string,
    private readonly periodMs = 100,
    private readonly timeoutMs = 2000,
  ) {}

  start(): void {
    this.startedAt = Date.now();
    this.timer = setInterval(() => this.poll(), this.periodMs);
    this.poll();
  }

  private poll(): void {
    const at = Date.now();
    const p = (async () => {
      let ok = false;
      try {
        const res = await fetch(`${this.url.replace(/\/+$/, '')}/health`, {
          signal: AbortSignal.timeout(this.timeoutMs),
        });
        ok = res.ok && (await res.text()).trim() === 'Healthy';
      } catch {
        ok = false;
      }
      this.results.push({ at, ok, ms: Date.now() - at });
    })();
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
  }

  /** Stops polling, waits for the requests still out, and reports. */
  async stop(): Promise<PollReport> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await Promise.allSettled([...this.inflight]);
    const sorted = [...this.results].sort((a, b) => a.at - b.at);
    const outages: PollReport['outages'] = [];
    let from: number | null = null;
    for (const r of sorted) {
      if (!r.ok && from === null) from = r.at;
      if (r.ok && from !== null) {
        outages.push({ fromMs: from - this.startedAt, toMs: r.at - this.startedAt });
        from = null;
      }
    }
    const last = sorted.at(-1);
    if (from !== null && last)
      outages.push({ fromMs: from - this.startedAt, toMs: last.at - this.startedAt });
    return {
      requests: sorted.length,
      failed: sorted.filter((r) => !r.ok).length,
      maxLatencyMs: Math.max(0, ...sorted.filter((r) => r.ok).map((r) => r.ms)),
      downtimeS: outages.reduce((s, o) => s + (o.toMs - o.fromMs), 0) / 1000,
      outages,
    };
  }
}

import { describe, expect, it } from 'vitest';
import { type SiteSample, SiteStatusTracker } from '../../src/service/site-status.js';

function feed(tracker: SiteStatusTracker, samples: SiteSample[]) {
  return samples.map((s) => tracker.record(s));
}

describe('site up/down debounce (HEALTH_FAILURES)', () => {
  it('goes up on the first healthy answer, and only once', () => {
    const t = new SiteStatusTracker(3);
    const changes = feed(t, ['healthy', 'healthy']);
    expect(changes[0]).toEqual({ from: 'unknown', to: 'up', cause: 'healthy', failures: 0 });
    expect(changes[1]).toBeNull();
    expect(t.status).toBe('up');
  });

  it('does not flap on one or two lost polls out of three', () => {
    const t = new SiteStatusTracker(3);
    const changes = feed(t, ['healthy', 'failed', 'healthy', 'failed', 'failed', 'healthy', 'failed']);
    expect(changes.filter(Boolean)).toHaveLength(1);
    expect(t.status).toBe('up');
  });

  it('goes down after exactly HEALTH_FAILURES consecutive failures', () => {
    const t = new SiteStatusTracker(3);
    const changes = feed(t, ['healthy', 'failed', 'failed', 'failed', 'failed']);
    expect(changes.slice(1, 3)).toEqual([null, null]);
    expect(changes[3]).toEqual({ from: 'up', to: 'down', cause: 'failed', failures: 3 });
    expect(changes[4]).toBeNull();
  });

  it('goes down at once when the container stops, whatever HEALTH_FAILURES says', () => {
    const t = new SiteStatusTracker(5);
    const [, down] = feed(t, ['healthy', 'stopped']);
    expect(down).toMatchObject({ from: 'up', to: 'down', cause: 'stopped' });
  });

  it('treats "starting" (Degraded) as neither up nor a failure', () => {
    const t = new SiteStatusTracker(2);
    feed(t, ['healthy', 'failed', 'starting', 'starting']);
    expect(t.status).toBe('up');
    expect(t.consecutiveFailures).toBe(1);
    const down = new SiteStatusTracker(2);
    feed(down, ['stopped', 'starting', 'starting']);
    expect(down.status).toBe('down');
    expect(down.record('healthy')).toMatchObject({ from: 'down', to: 'up' });
  });

  it('reports a site that is down from the start once the failures add up', () => {
    const t = new SiteStatusTracker(2);
    const changes = feed(t, ['failed', 'failed']);
    expect(changes).toEqual([null, { from: 'unknown', to: 'down', cause: 'failed', failures: 2 }]);
  });

  it('with HEALTH_FAILURES=1 a single failure is enough', () => {
    const t = new SiteStatusTracker(1);
    expect(feed(t, ['healthy', 'failed'])[1]).toMatchObject({ to: 'down' });
  });
});

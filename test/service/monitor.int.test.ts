import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTwoSites, type TwoSites } from '../bench/sites.js';
import {
  benchTopics,
  MqttProbe,
  type RunningService,
  serviceEnv,
  startService,
} from '../support/mqtt-probe.js';

/*
 * The health monitor on a remote slave (SSH, Docker over SSH): with a 30 s poll period, only Docker's event
 * stream can report a stopped container within seconds, and only the `start` event can bring it back that fast.
 */
describe('health monitor with a remote slave', () => {
  let sites: TwoSites;
  let svc: RunningService;
  let t: ReturnType<typeof benchTopics>;
  let ha: MqttProbe;

  beforeAll(async () => {
    sites = await createTwoSites({
      name: 'svc-mon',
      remote: 'slave',
      extraEnv: { ...serviceEnv('svc-mon'), HEALTH_INTERVAL_S: '30', HEALTH_FAILURES: '3' },
    });
    t = benchTopics(sites);
    svc = await startService(sites);
    ha = await MqttProbe.connect(sites.config.mqtt.url, [t.state, t.event]);
  });

  afterAll(async () => {
    await ha?.close();
    await svc?.stop();
    await sites?.cleanup();
  });

  it('sees the remote slave, then its container stopping and starting, within seconds', async () => {
    const first = await ha.waitForState(
      t.state,
      'both online',
      (s) => s.sites.master.online && s.sites.slave.online,
    );
    expect(first.problems).toEqual([]);
    expect(first.sites.slave).toMatchObject({
      jellyfin: 'healthy',
      container: 'running',
      version: '10.11.3',
    });
    // Give the event stream over SSH a moment to be subscribed.
    await new Promise((r) => setTimeout(r, 2_000));

    const stoppedAt = Date.now();
    await sites.docker.getContainer(sites.containers.slave).stop({ t: 1 });
    const down = await ha.waitForEvent(t.event, 'site_down', 10_000, stoppedAt);
    expect(down).toMatchObject({ site: 'slave', role: 'standby', container: 'exited', hostReachable: true });
    expect(Date.parse(down.at) - stoppedAt).toBeLessThan(8_000);
    const shown = await ha.waitForState(
      t.state,
      'slave offline',
      (s) => !s.sites.slave.online,
      5_000,
      stoppedAt,
    );
    expect(shown.problems).toEqual(['slave (standby) is down: Jellyfin unreachable, container exited']);

    const startedAt = Date.now();
    await sites.docker.getContainer(sites.containers.slave).start();
    const up = await ha.waitForEvent(t.event, 'site_up', 15_000, startedAt);
    expect(up).toMatchObject({ site: 'slave', role: 'standby' });
    const back = await ha.waitForState(
      t.state,
      'slave online',
      (s) => s.sites.slave.online,
      5_000,
      startedAt,
    );
    expect(back.problems).toEqual([]);
  });
});

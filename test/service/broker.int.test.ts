import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { type MosquittoHandle, startMosquitto } from '../bench/mosquitto.js';
import { createTwoSites, type TwoSites } from '../bench/sites.js';
import {
  benchTopics,
  MqttProbe,
  type RunningService,
  serviceEnv,
  startService,
} from '../support/mqtt-probe.js';

/*
 * A private Mosquitto (without persistence, so a restart forgets every retained message) restarted while the
 * service runs a sync: the service reconnects, says `online` again and republishes discovery and state.
 */
describe('broker restart', () => {
  let broker: MosquittoHandle;
  let sites: TwoSites;
  let svc: RunningService;
  let t: ReturnType<typeof benchTopics>;

  beforeAll(async () => {
    broker = await startMosquitto(inject('bench').workDir);
    sites = await createTwoSites({ name: 'svc-broker', remote: 'none', extraEnv: serviceEnv('svc-broker') });
    sites.env.MQTT_URL = broker.url;
    sites.config = loadConfig({ env: sites.env });
    t = benchTopics(sites);
    svc = await startService(sites);
  });

  afterAll(async () => {
    await svc?.stop();
    await sites?.cleanup();
    await broker?.stop();
  });

  it('reconnects after the broker restarts mid-sync and republishes availability, discovery and state', async () => {
    const ha = await MqttProbe.connect(broker.url, [t.availability, t.state, t.event, t.discovery]);
    try {
      await ha.waitForState(
        t.state,
        'both sites online',
        (s) => s.sites.master.online && s.sites.slave.online,
      );
      const since = Date.now();
      await ha.publish(t.command('sync'), 'PRESS');
      await ha.waitForEvent(t.event, 'sync_started', 15_000, since);
      await broker.restart();
      const restartedAt = Date.now();

      // The service comes back on its own (the probe reconnects too and sees it)...
      await ha.waitFor(
        'online again',
        (m) => m.topic === t.availability && m.text === 'online',
        20_000,
        restartedAt,
      );
      await ha.waitFor('state again', (m) => m.topic === t.state, 20_000, restartedAt);
      // ...and a client connecting after that finds everything retained again, without anyone asking.
      const late = await MqttProbe.connect(broker.url, [t.availability, t.state, t.discovery]);
      try {
        const online = await late.waitFor('availability online', (m) => m.topic === t.availability, 20_000);
        expect(online).toMatchObject({ text: 'online', retain: true });
        const discovery = await late.waitFor('discovery', (m) => m.topic === t.discovery, 20_000);
        expect(discovery.retain).toBe(true);
        expect(JSON.parse(discovery.text)).toHaveProperty('components.sync');
        const state = await late.waitFor('state', (m) => m.topic === t.state, 20_000);
        expect(state.retain).toBe(true);
        expect(state.at - restartedAt).toBeLessThan(15_000);
      } finally {
        await late.close();
      }
      // The sync carried on and its end reached the broker.
      const final = await ha.waitForState(
        t.state,
        'idle after a successful sync',
        (s) => s.operation.kind === 'idle' && s.lastSync?.result === 'success',
        90_000,
        restartedAt,
      );
      expect(final.primary).toBe('master');
    } finally {
      await ha.close();
    }
  });
});

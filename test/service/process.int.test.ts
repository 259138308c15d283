import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Journal } from '../../src/domain/journal.js';
import type { PersistentState } from '../../src/domain/state.js';
import { createTwoSites, type TwoSites } from '../bench/sites.js';
import {
  benchTopics,
  MqttProbe,
  type ServiceProcess,
  serviceEnv,
  spawnServiceProcess,
  writeEnvFile,
} from '../support/mqtt-probe.js';

/*
 * `jellyfin-failover run` as a real process (the CLI entry point, through tsx), killed and stopped the ways
 * Docker and systemd do it, watched from the bench's real Mosquitto.
 */
describe('the service process: last will, graceful stop, crash mid-operation', () => {
  let sites: TwoSites;
  let t: ReturnType<typeof benchTopics>;
  let envFile: string;
  let ha: MqttProbe;
  let running: ServiceProcess | null = null;

  beforeAll(async () => {
    sites = await createTwoSites({
      name: 'svc-proc',
      remote: 'none',
      extraEnv: { ...serviceEnv('svc-proc'), LOG_LEVEL: 'info' },
    });
    t = benchTopics(sites);
    envFile = await writeEnvFile(sites, 'service.env');
    ha = await MqttProbe.connect(sites.config.mqtt.url, [t.availability, t.state, t.event]);
  });

  afterEach(async () => {
    if (running && running.child.exitCode === null && running.child.signalCode === null) {
      running.child.kill('SIGKILL');
      await running.exited;
    }
    running = null;
  });

  afterAll(async () => {
    await ha?.close();
    await sites?.cleanup();
  });

  function spawnService(): ServiceProcess {
    running = spawnServiceProcess(envFile);
    return running;
  }

  async function waitOnline(since: number): Promise<void> {
    await ha.waitFor(
      'availability online',
      (m) => m.topic === t.availability && m.text === 'online',
      30_000,
      since,
    );
    await ha.waitForState(
      t.state,
      'both sites online',
      (s) => s.sites.master.online && s.sites.slave.online,
      30_000,
      since,
    );
  }

  it('publishes offline through its last will when the process is killed with SIGKILL', async () => {
    const since = Date.now();
    const svc = spawnService();
    await waitOnline(since);
    const killedAt = Date.now();
    svc.child.kill('SIGKILL');
    await svc.exited;
    const offline = await ha.waitFor(
      'offline from the last will',
      (m) => m.topic === t.availability && m.text === 'offline',
      10_000,
      killedAt,
    );
    expect(offline.at - killedAt).toBeLessThan(5_000);
    // Retained: HA starting later still sees the service as offline.
    const late = await MqttProbe.connect(sites.config.mqtt.url, [t.availability]);
    try {
      expect(
        await late.waitFor('retained availability', (m) => m.topic === t.availability, 5_000),
      ).toMatchObject({
        text: 'offline',
        retain: true,
      });
    } finally {
      await late.close();
    }
  });

  it('on SIGTERM lets the running sync finish, records it, publishes offline and exits 0', async () => {
    const since = Date.now();
    const svc = spawnService();
    await waitOnline(since);
    await ha.publish(t.command('sync'), 'PRESS');
    await ha.waitForEvent(t.event, 'sync_started', 15_000, since);
    const termAt = Date.now();
    svc.child.kill('SIGTERM');
    const { code } = await svc.exited;
    expect(code, svc.output()).toBe(0);
    const events = ha.events(t.event).filter((e) => Date.parse(e.at) >= since);
    expect(events.map((e) => e.event_type)).toContain('sync_succeeded');
    const offline = ha.on(t.availability).filter((m) => m.at >= termAt);
    expect(offline.map((m) => m.text)).toEqual(['offline']);
    // Nothing is left in flight: the result is in state.json and there is no journal.
    const state = JSON.parse(await readFile(join(sites.dirs.state, 'state.json'), 'utf8')) as PersistentState;
    expect(state.lastSync?.result).toBe('success');
    expect(existsSync(join(sites.dirs.state, 'journal.json'))).toBe(false);
  });

  it('a SIGKILL mid-sync leaves the journal on disk, and the next start recovers it (recovered_after_crash)', async () => {
    const since = Date.now();
    const svc = spawnService();
    await waitOnline(since);
    await ha.publish(t.command('sync'), 'PRESS');
    // Kill it once the sync has made changes that need undoing (containers stopped).
    await ha.waitForState(
      t.state,
      'sync past its first container stop',
      (s) =>
        s.operation.kind === 'sync' && /stop-|final-copy|start-primary|verify|banner/.test(s.operation.step),
      30_000,
      since,
    );
    svc.child.kill('SIGKILL');
    await svc.exited;
    const journal = JSON.parse(await readFile(join(sites.dirs.state, 'journal.json'), 'utf8')) as Journal;
    expect(journal.kind).toBe('sync');
    expect(journal.undo.length).toBeGreaterThan(0);

    const restartAt = Date.now();
    spawnService();
    const recovered = await ha.waitForEvent(t.event, 'recovered_after_crash', 60_000, restartAt);
    expect(recovered).toMatchObject({ operation: 'sync', step: journal.step });
    expect(['rolled_back', 'completed']).toContain(recovered.outcome);
    await waitOnline(restartAt);
    expect(existsSync(join(sites.dirs.state, 'journal.json'))).toBe(false);
    // Both containers end up running again (master's sync-time stop was undone).
    const state = await ha.waitForState(
      t.state,
      'idle after recovery with both containers running',
      (s) =>
        s.operation.kind === 'idle' &&
        s.sites.master.container === 'running' &&
        s.sites.slave.container === 'running',
      30_000,
      restartAt,
    );
    expect(state.primary).toBe('master');
  });
});

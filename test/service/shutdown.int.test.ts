import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
 * A second SIGTERM while an operation runs: the service exits at once, but the operation is never lost. Either
 * its journal is on disk (and the next start recovers it), or it had already ended and state.json says how.
 */
describe('service stopped twice mid-operation', () => {
  let sites: TwoSites;
  let t: ReturnType<typeof benchTopics>;
  let ha: MqttProbe;
  const spawned: ServiceProcess[] = [];

  beforeAll(async () => {
    sites = await createTwoSites({ name: 'svc-stop', remote: 'none', extraEnv: serviceEnv('svc-stop') });
    t = benchTopics(sites);
    ha = await MqttProbe.connect(sites.config.mqtt.url, [t.availability, t.state, t.event]);
  });

  afterAll(async () => {
    for (const p of spawned) {
      if (p.child.exitCode === null && p.child.signalCode === null) {
        p.child.kill('SIGKILL');
        await p.exited;
      }
    }
    await ha?.close();
    await sites?.cleanup();
  });

  it('exits with code 1 on a second SIGTERM, publishes offline, and the operation is recorded', async () => {
    const envFile = await writeEnvFile(sites, 'service.env');
    const since = Date.now();
    const svc = spawnServiceProcess(envFile);
    spawned.push(svc);
    await ha.waitForState(
      t.state,
      'both online',
      (s) => s.sites.master.online && s.sites.slave.online,
      30_000,
      since,
    );
    await ha.publish(t.command('sync'), 'PRESS');
    await ha.waitForState(
      t.state,
      'sync past its first container stop',
      // Stopped mode: stop-primary, final-copy, start-primary; online mode: stop-standby, swap, start-standby.
      // B/state shows the step current when it is published (throttled), so a short step may never appear alone.
      (s) => s.operation.kind === 'sync' && /stop-|final-copy|swap|start-/.test(s.operation.step),
      30_000,
      since,
    );
    const termAt = Date.now();
    svc.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    svc.child.kill('SIGTERM');
    const { code } = await svc.exited;
    expect(code, svc.output()).toBe(1);
    expect(Date.now() - termAt).toBeLessThan(10_000);
    await ha.waitFor('offline', (m) => m.topic === t.availability && m.text === 'offline', 5_000, termAt);

    const journalPath = join(sites.dirs.state, 'journal.json');
    const inFlight = existsSync(journalPath)
      ? (JSON.parse(await readFile(journalPath, 'utf8')) as Journal)
      : null;
    if (inFlight) {
      expect(inFlight.kind).toBe('sync');
    } else {
      const state = JSON.parse(
        await readFile(join(sites.dirs.state, 'state.json'), 'utf8'),
      ) as PersistentState;
      expect(Date.parse(state.lastSync?.at ?? '')).toBeGreaterThan(since);
    }

    // The next start puts everything right and says so when there was something to recover.
    const restartAt = Date.now();
    spawned.push(spawnServiceProcess(envFile));
    if (inFlight) {
      const recovered = await ha.waitForEvent(t.event, 'recovered_after_crash', 60_000, restartAt);
      expect(recovered).toMatchObject({ operation: 'sync', step: inFlight.step });
    }
    const healthy = await ha.waitForState(
      t.state,
      'idle with both sites online',
      (s) => s.operation.kind === 'idle' && s.sites.master.online && s.sites.slave.online,
      60_000,
      restartAt,
    );
    expect(healthy.primary).toBe('master');
    expect(existsSync(journalPath)).toBe(false);
  });
});

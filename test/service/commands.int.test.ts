import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FailoverEvent } from '../../src/domain/events.js';
import type { PersistentState } from '../../src/domain/state.js';
import { createTwoSites, type TwoSites } from '../bench/sites.js';
import {
  benchTopics,
  MqttProbe,
  type RunningService,
  serviceEnv,
  startService,
} from '../support/mqtt-probe.js';

const ROOT = join(import.meta.dirname, '..', '..');

/*
 * Buttons pressed over the bench's real Mosquitto run real operations on two real stand-in containers (both
 * sites local here: the SSH path of the engine is covered by the engine tests and would only make this slower).
 */
describe('service commands: button presses run operations, one at a time', () => {
  let sites: TwoSites;
  let svc: RunningService;
  let t: ReturnType<typeof benchTopics>;
  let ha: MqttProbe;

  beforeAll(async () => {
    sites = await createTwoSites({ name: 'svc-cmd', remote: 'none', extraEnv: serviceEnv('svc-cmd') });
    t = benchTopics(sites);
    svc = await startService(sites);
    ha = await MqttProbe.connect(sites.config.mqtt.url, [`${t.base}/#`]);
    await ha.waitForState(t.state, 'both sites online', (s) => s.sites.master.online && s.sites.slave.online);
  });

  afterAll(async () => {
    await ha?.close();
    await svc?.stop();
    await sites?.cleanup();
  });

  const eventsSince = (since: number): FailoverEvent[] =>
    ha
      .on(t.event)
      .filter((m) => m.at >= since)
      .map((m) => JSON.parse(m.text) as FailoverEvent);
  const readState = async () =>
    JSON.parse(await readFile(join(sites.dirs.state, 'state.json'), 'utf8')) as PersistentState;

  it('runs a sync end to end on a PRESS, showing step and progress in B/state at least every 2 s', async () => {
    const since = Date.now();
    await ha.publish(t.command('sync'), 'PRESS');
    const started = await ha.waitForEvent(t.event, 'sync_started', 15_000, since);
    expect(started.operation).toBe('sync');
    const done = await ha.waitForEvent(t.event, 'sync_succeeded', 90_000, since);
    expect(done).toMatchObject({ operation: 'sync' });
    expect(done.files).toBeGreaterThan(0);
    const final = await ha.waitForState(
      t.state,
      'idle with a successful last sync',
      (s) => s.operation.kind === 'idle' && s.lastSync?.result === 'success',
      15_000,
      since,
    );
    expect(final.primary).toBe('master');
    expect(final.lastSync?.bytes).toBeGreaterThan(0);

    // While it ran: the snapshot showed the sync with its step and a rising percentage, never 2 s apart.
    const running = ha
      .on(t.state)
      .filter((m) => m.at >= since)
      .map((m) => ({ at: m.at, s: JSON.parse(m.text) as typeof final }))
      .filter((x) => x.s.operation.kind === 'sync');
    expect(running.length).toBeGreaterThan(2);
    expect(new Set(running.map((x) => x.s.operation.step)).size).toBeGreaterThan(2);
    for (let i = 1; i < running.length; i++) {
      const prev = running[i - 1];
      const cur = running[i];
      if (!prev || !cur) continue;
      expect(cur.at - prev.at).toBeLessThanOrEqual(2_000);
      expect(cur.s.operation.progress).toBeGreaterThanOrEqual(prev.s.operation.progress);
    }
    expect(running.at(-1)?.s.operation.startedAt).toBe(running[0]?.s.operation.startedAt);

    // What HA saw matches what is on disk.
    const state = await readState();
    expect(state.lastSync?.result).toBe('success');
    expect(existsSync(join(sites.dirs.state, 'journal.json'))).toBe(false);
    expect(await readFile(join(sites.dirs.slave, 'branding.xml'), 'utf8')).toContain(
      'standby Jellyfin server',
    );
  });

  it('rejects a press while an operation runs, with the reason, and queues nothing', async () => {
    const since = Date.now();
    await ha.publish(t.command('sync'), 'PRESS');
    await ha.waitForEvent(t.event, 'sync_started', 15_000, since);
    await ha.publish(t.command('promote'), '{"force":true}');
    await ha.publish(t.command('sync'), 'PRESS');
    await ha.waitUntil(
      'two rejections',
      () => eventsSince(since).filter((e) => e.event_type === 'command_rejected').length >= 2,
      15_000,
    );
    await ha.waitForEvent(t.event, 'sync_succeeded', 90_000, since);
    await ha.waitForState(t.state, 'idle', (s) => s.operation.kind === 'idle', 15_000, Date.now());
    await new Promise((r) => setTimeout(r, 2_000));
    const events = eventsSince(since);
    const rejections = events.filter((e) => e.event_type === 'command_rejected');
    expect(rejections.map((e) => e.command)).toEqual(['promote', 'sync']);
    for (const e of rejections) {
      expect(e.reason).toBe('busy');
      expect(e.message).toMatch(/sync is running \(step [a-z-]+\); nothing was queued/);
    }
    // Nothing was queued: exactly one operation ran, and master is still primary (no promote happened).
    expect(events.filter((e) => e.event_type === 'sync_started')).toHaveLength(1);
    expect(events.filter((e) => e.event_type === 'promoted')).toEqual([]);
    expect((await readState()).primary).toBe('master');
  });

  it('runs exactly one operation for 50 concurrent presses from 5 clients', async () => {
    const epochBefore = (await readState()).epoch;
    const syncedBefore = (await readState()).lastSync?.at;
    const since = Date.now();
    const clients = await Promise.all(
      Array.from({ length: 5 }, () => MqttProbe.connect(sites.config.mqtt.url)),
    );
    try {
      await Promise.all(
        clients.flatMap((c, i) =>
          Array.from({ length: 10 }, (_, j) =>
            c.publish(t.command('sync'), (i + j) % 2 === 0 ? 'PRESS' : '{"force":false}'),
          ),
        ),
      );
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
    await ha.waitForEvent(t.event, 'sync_succeeded', 90_000, since);
    await ha.waitUntil(
      '49 rejections',
      () => eventsSince(since).filter((e) => e.event_type === 'command_rejected').length >= 49,
      15_000,
    );
    await new Promise((r) => setTimeout(r, 2_000));
    const events = eventsSince(since);
    expect(events.filter((e) => e.event_type === 'sync_started')).toHaveLength(1);
    expect(events.filter((e) => e.event_type === 'sync_succeeded')).toHaveLength(1);
    const rejected = events.filter((e) => e.event_type === 'command_rejected');
    expect(rejected).toHaveLength(49);
    expect(new Set(rejected.map((e) => e.reason))).toEqual(new Set(['busy']));
    const after = await readState();
    expect(after.lastSync?.at).not.toBe(syncedBefore);
    expect(after.epoch).toBe(epochBefore);
  });

  it('reports a stopped container at once (site_down), and site_up when it is healthy again', async () => {
    const since = Date.now();
    await sites.docker.getContainer(sites.containers.master).stop({ t: 1 });
    const down = await ha.waitForEvent(t.event, 'site_down', 15_000, since);
    expect(down).toMatchObject({ site: 'master', role: 'primary', container: 'exited' });
    const shown = await ha.waitForState(
      t.state,
      'master offline',
      (s) => !s.sites.master.online,
      5_000,
      since,
    );
    expect(shown.sites.master.container).toBe('exited');
    expect(shown.problems.join('\n')).toContain('master (primary) is down');
    await sites.docker.getContainer(sites.containers.master).start();
    const up = await ha.waitForEvent(t.event, 'site_up', 30_000, since);
    expect(up).toMatchObject({ site: 'master', role: 'primary' });
    const healthy = await ha.waitForState(
      t.state,
      'master online again',
      (s) => s.sites.master.online && s.problems.length === 0,
      10_000,
      since,
    );
    expect(healthy.sites.master.jellyfin).toBe('healthy');
    // One stop, one start: no flapping in between.
    const siteEvents = eventsSince(since).filter(
      (e) => e.event_type === 'site_down' || e.event_type === 'site_up',
    );
    expect(siteEvents.map((e) => e.event_type)).toEqual(['site_down', 'site_up']);
  });

  it('shows a sync started from the CLI in another process, and rejects presses until it is done', async () => {
    const envFile = join(sites.base, 'cli.env');
    await writeFile(
      envFile,
      Object.entries(sites.env)
        .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
        .join('\n'),
    );
    const before = await readState();
    const since = Date.now();
    const cli = promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'src/main.ts', 'sync', '--json', '--env-file', envFile],
      { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root' } },
    );
    // The service sees the CLI's journal and shows the operation (its progress is the CLI's to show).
    const shown = await ha.waitForState(
      t.state,
      'the CLI sync',
      (s) => s.operation.kind === 'sync',
      30_000,
      since,
    );
    expect(shown.operation.startedAt).not.toBeNull();
    await ha.publish(t.command('failback'), 'PRESS');
    const rejected = await ha.waitForEvent(t.event, 'command_rejected', 10_000, since);
    expect(rejected).toMatchObject({ command: 'failback', reason: 'busy' });
    expect(rejected.message).toContain('started from the command line');
    const { stdout } = await cli;
    expect(JSON.parse(stdout)).toMatchObject({ ok: true, kind: 'sync' });
    // The CLI's result reaches HA without anything pressed: state.json changed, the service republished.
    const after = await ha.waitForState(
      t.state,
      'the CLI sync recorded',
      (s) => s.operation.kind === 'idle' && s.lastSync !== null && s.lastSync.at !== before.lastSync?.at,
      15_000,
      since,
    );
    expect(after.lastSync?.result).toBe('success');
    expect(eventsSince(since).filter((e) => e.event_type === 'site_down')).toEqual([]);
  });
});

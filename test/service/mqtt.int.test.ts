import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDiscovery, type DiscoveryPayload, entityId } from '../../src/adapters/mqtt/discovery.js';
import type { FailoverEvent } from '../../src/domain/events.js';
import { createTwoSites, type TwoSites } from '../bench/sites.js';
import {
  benchTopics,
  MqttProbe,
  type RunningService,
  serviceEnv,
  startService,
} from '../support/mqtt-probe.js';

/*
 * The service against the bench's real Mosquitto and two real stand-in containers: what Home Assistant receives
 * (discovery, availability, state), the HA birth message, and a flood of garbage on the command topics.
 */
describe('service on MQTT: discovery, availability, state, bad commands', () => {
  let sites: TwoSites;
  let svc: RunningService;
  let t: ReturnType<typeof benchTopics>;
  let ha: MqttProbe;

  beforeAll(async () => {
    sites = await createTwoSites({ name: 'svc-mqtt', remote: 'none', extraEnv: serviceEnv('svc-mqtt') });
    t = benchTopics(sites);
    svc = await startService(sites);
    ha = await MqttProbe.connect(sites.config.mqtt.url, [t.availability, t.state, t.event, t.discovery]);
  });

  afterAll(async () => {
    await ha?.close();
    await svc?.stop();
    await sites?.cleanup();
  });

  it('publishes one retained device discovery payload, availability online and a retained state', async () => {
    // A client that subscribes after the fact gets exactly what HA gets at its start: the retained messages.
    const late = await MqttProbe.connect(sites.config.mqtt.url, [t.discovery, t.availability, t.state]);
    try {
      const discovery = await late.waitFor('discovery', (m) => m.topic === t.discovery, 10_000);
      const availability = await late.waitFor('availability', (m) => m.topic === t.availability, 10_000);
      const state = await late.waitForState(
        t.state,
        'both sites seen online',
        (s) => s.sites.master.online && s.sites.slave.online,
      );
      expect(discovery.retain).toBe(true);
      expect(availability).toMatchObject({ retain: true, text: 'online' });
      expect(late.on(t.state)[0]?.retain).toBe(true);

      const payload = JSON.parse(discovery.text) as DiscoveryPayload;
      const expected = buildDiscovery({
        failoverId: sites.config.failoverId,
        baseTopic: t.base,
        discoveryPrefix: sites.env.HA_DISCOVERY_PREFIX ?? '',
        swVersion: payload.origin.sw_version,
        supportUrl: payload.origin.support_url,
      });
      expect(payload).toEqual(expected.payload);
      expect(payload.origin.name).toBe('jellyfin-failover');
      expect(payload.origin.sw_version).toMatch(/^\d+\.\d+\.\d+/);
      expect(payload.availability_topic).toBe(t.availability);
      expect(payload.components.primary.default_entity_id).toBe('sensor.svc_mqtt_failover_primary');
      expect(payload.components.promote.default_entity_id).toBe(entityId('svc_mqtt', 'promote'));
      for (const c of Object.values(payload.components)) expect(c).not.toHaveProperty('object_id');

      expect(state).toMatchObject({
        primary: 'master',
        epoch: 0,
        operation: { kind: 'idle', progress: 0, startedAt: null },
        lastSync: null,
        standbyDiverged: false,
        problems: [],
      });
      for (const s of ['master', 'slave'] as const) {
        expect(state.sites[s]).toMatchObject({
          online: true,
          jellyfin: 'healthy',
          container: 'running',
          version: '10.11.3',
        });
        expect(Number.isNaN(Date.parse(state.sites[s].checkedAt ?? ''))).toBe(false);
      }
      // Events are never retained: a late subscriber gets none.
      expect(late.on(t.event)).toEqual([]);
    } finally {
      await late.close();
    }
  });

  it('publishes discovery again when Home Assistant announces itself online', async () => {
    const before = ha.on(t.discovery).length;
    const since = Date.now();
    await ha.publish(t.haStatus, 'offline');
    await ha.publish(t.haStatus, 'online');
    const again = await ha.waitFor('discovery after HA birth', (m) => m.topic === t.discovery, 10_000, since);
    expect(JSON.parse(again.text)).toHaveProperty('components.sync.command_topic', t.command('sync'));
    const state = await ha.waitFor('state after HA birth', (m) => m.topic === t.state, 10_000, since);
    expect(JSON.parse(state.text)).toMatchObject({ primary: 'master', operation: { kind: 'idle' } });
    // Exactly one republish for one birth message ("offline" is not a reason to republish).
    await new Promise((r) => setTimeout(r, 500));
    expect(ha.on(t.discovery).length).toBe(before + 1);
  });

  it('survives 1000 random and malformed command messages: each rejected with a reason, none runs', async () => {
    const rng = mulberry32(20261126);
    const names = [
      'sync',
      'promote',
      'failback',
      'rollback',
      'check',
      'SYNC',
      'sync ',
      'nope',
      '..',
      'промоут',
    ];
    const malformed = [
      '',
      'press',
      'PRESS!',
      'ON',
      '1',
      'true',
      'null',
      '"PRESS"',
      '[]',
      '{"force":"yes"}',
      '{"force":true,"x":1}',
      '{"force":',
      '{'.repeat(500),
      'PRESS'.repeat(100),
    ];
    const sent: Array<{ topic: string; payload: Buffer; retain: boolean }> = [];
    for (let i = 0; i < 1000; i++) {
      const name = names[Math.floor(rng() * names.length)] ?? 'nope';
      let payload: Buffer;
      if (rng() < 0.5) {
        payload = Buffer.from(malformed[Math.floor(rng() * malformed.length)] ?? '');
      } else {
        payload = Buffer.from(Array.from({ length: Math.floor(rng() * 300) }, () => Math.floor(rng() * 256)));
      }
      // A valid press on a valid name would (rightly) run; the flood must hold none. (`check` runs nothing.)
      const text = payload.toString('utf8').trim();
      if (name !== 'check' && (text === 'PRESS' || text === '{}')) payload = Buffer.from('PRESSED');
      // About 5% are retained presses, which must be ignored even though the payload is valid.
      const retain = rng() < 0.05 && name !== 'check';
      sent.push({ topic: t.command(name), payload: retain ? Buffer.from('PRESS') : payload, retain });
    }
    const since = Date.now();
    const expectRejected = (m: (typeof sent)[number]) =>
      !m.retain && !(m.topic === t.command('check') && isValidCheck(m.payload));
    const rejectable = sent.filter(expectRejected);
    const flood = await MqttProbe.connect(sites.config.mqtt.url);
    try {
      // In bursts of 100, each answered before the next: the broker's per-client queue (1000 by default) must
      // not drop the probe's copies of the answers.
      for (let i = 0; i < sent.length; i += 100) {
        const burst = sent.slice(i, i + 100);
        await Promise.all(burst.map((m) => flood.publish(m.topic, m.payload, m.retain)));
        const want = sent.slice(0, i + 100).filter(expectRejected).length;
        await ha.waitUntil(
          `${want} command_rejected events`,
          () => countRejected(ha, t.event, since) >= want,
        );
      }
      // Clear the retained presses from the broker again.
      const retainedTopics = new Set(sent.filter((m) => m.retain).map((m) => m.topic));
      for (const topic of retainedTopics) await flood.publish(topic, Buffer.alloc(0), true);
    } finally {
      await flood.close();
    }
    await new Promise((r) => setTimeout(r, 1_000));
    const events = eventsSince(ha, t.event, since);
    const rejected = events.filter((e) => e.event_type === 'command_rejected');
    expect(rejected).toHaveLength(rejectable.length);
    for (const e of rejected) {
      expect(e.reason).toBe('bad_command');
      expect(typeof e.error).toBe('string');
      expect((e.error as string).length).toBeGreaterThan(10);
    }
    // Nothing ran: no other event, no operation ever shown, no journal, state.json never written.
    expect(events.filter((e) => e.event_type !== 'command_rejected')).toEqual([]);
    for (const s of ha.states(t.state)) expect(s.operation.kind).toBe('idle');
    expect(existsSync(join(sites.dirs.state, 'journal.json'))).toBe(false);
    expect(existsSync(join(sites.dirs.state, 'state.json'))).toBe(false);
    expect(ha.on(t.availability).map((m) => m.text)).not.toContain('offline');

    // Still alive and answering: `check` makes it look again and republish the state.
    const checkSince = Date.now();
    await ha.publish(t.command('check'), 'PRESS');
    const fresh = await ha.waitForState(t.state, 'a fresh state after check', () => true, 10_000, checkSince);
    expect(fresh.sites.master.online).toBe(true);
    const journalOrState = await readFile(join(sites.dirs.state, 'state.json'), 'utf8').catch(() => null);
    expect(journalOrState).toBeNull();
  });
});

function eventsSince(probe: MqttProbe, topic: string, since: number): FailoverEvent[] {
  return probe
    .on(topic)
    .filter((m) => m.at >= since)
    .map((m) => JSON.parse(m.text) as FailoverEvent);
}

function countRejected(probe: MqttProbe, topic: string, since: number): number {
  let n = 0;
  for (const m of probe.messages) {
    if (m.at >= since && m.topic === topic && m.text.includes('"command_rejected"')) n++;
  }
  return n;
}

function isValidCheck(payload: Buffer): boolean {
  const text = payload.toString('utf8').trim();
  if (text === 'PRESS') return true;
  try {
    const json: unknown = JSON.parse(text);
    return (
      typeof json === 'object' &&
      json !== null &&
      !Array.isArray(json) &&
      Object.keys(json).every((k) => k === 'force') &&
      ['undefined', 'boolean'].includes(typeof (json as { force?: unknown }).force)
    );
  } catch {
    return false;
  }
}

/** Small seeded PRNG so the flood is the same on every run. */
function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x + 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

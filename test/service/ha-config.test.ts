import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ENTITY_KEYS, EVENT_TYPES, entityId } from '../../src/adapters/mqtt/discovery.js';

/** The shipped Home Assistant configuration must name only entities and events the service really publishes. */
const ROOT = join(import.meta.dirname, '..', '..', 'ha-config');

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? yamlFiles(join(dir, e.name)) : e.name.endsWith('.yaml') ? [join(dir, e.name)] : [],
  );
}

const files = yamlFiles(ROOT);
const discovered = new Set(ENTITY_KEYS.map((k) => entityId('jellyfin', k)));

describe('ha-config', () => {
  it('ships a package, a blueprint and a dashboard', () => {
    const names = files.map((f) => f.slice(ROOT.length + 1));
    expect(names).toEqual(
      expect.arrayContaining([
        'packages/jellyfin_failover.yaml',
        'blueprints/automation/jellyfin_failover/notify_events.yaml',
        'dashboards/jellyfin_failover.yaml',
      ]),
    );
  });

  it.each(files.map((f) => [f.slice(ROOT.length + 1), f]))(
    '%s uses only discovered entity ids',
    (_name, file) => {
      const text = readFileSync(file, 'utf8');
      const used = [
        ...text.matchAll(/\b(?:sensor|binary_sensor|button|event)\.jellyfin_failover_[a-z_]+/g),
      ].map((m) => m[0]);
      expect(used.length).toBeGreaterThan(0);
      for (const id of used) expect(discovered, `${id} is not created by discovery`).toContain(id);
    },
  );

  it.each(files.map((f) => [f.slice(ROOT.length + 1), f]))(
    '%s uses only published event types',
    (_name, file) => {
      const text = readFileSync(file, 'utf8');
      const compared = [...text.matchAll(/event_type == '([a-z_]+)'/g)].map((m) => m[1]);
      const listed = [...text.matchAll(/\['(site_down[^\]]*)\]/g)].flatMap((m) =>
        (m[1] ?? '').split(/'\s*,\s*'/).map((s) => s.replace(/'/g, '').trim()),
      );
      const values = [...text.matchAll(/^\s+(?:- )?value: ([a-z_]+)$/gm)].map((m) => m[1]);
      for (const type of [...compared, ...listed, ...values]) expect(EVENT_TYPES).toContain(type);
    },
  );

  it('lets the blueprint notify any of the event types', () => {
    const text = readFileSync(
      join(ROOT, 'blueprints/automation/jellyfin_failover/notify_events.yaml'),
      'utf8',
    );
    const values = [...text.matchAll(/^\s+value: ([a-z_]+)$/gm)].map((m) => m[1]);
    expect([...values].sort()).toEqual([...EVENT_TYPES].sort());
  });
});

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { BUTTON_COMMANDS, ENTITY_KEYS, EVENT_TYPES, entityId } from '../../src/adapters/mqtt/discovery.js';

/** The shipped Home Assistant configuration must name only entities and events the service really publishes. */
const ROOT = join(import.meta.dirname, '..', '..', 'ha-config');

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? yamlFiles(join(dir, e.name)) : e.name.endsWith('.yaml') ? [join(dir, e.name)] : [],
  );
}

const files = yamlFiles(ROOT);
const discovered = new Set(ENTITY_KEYS.map((k) => entityId('jellyfin', k)));
const MERGE_BUTTON = entityId('jellyfin', 'merge');

/** A file of ha-config/ as HA reads it; a blueprint's `!input name` becomes `{ input: name }`. */
function load(relative: string): unknown {
  return parse(readFileSync(join(ROOT, relative), 'utf8'), {
    customTags: [{ tag: '!input', resolve: (name: string) => ({ input: name }) }],
  });
}

const PACKAGE = load('packages/jellyfin_failover.yaml') as {
  automation: Array<{ id: string; conditions: Array<{ value_template?: string }>; actions: unknown[] }>;
};
const BLUEPRINT = load('blueprints/automation/jellyfin_failover/notify_events.yaml') as {
  blueprint: { input: Record<string, { default?: unknown }> };
  variables: Record<string, unknown>;
};
const notifyEvents = PACKAGE.automation.find((a) => a.id === 'jellyfin_failover_notify_events');
const packageMessage = (notifyEvents?.actions[0] as { data?: { message?: string } } | undefined)?.data
  ?.message;
const blueprintText = BLUEPRINT.variables.ev_text;

/**
 * The notification template's branches: `merged`, `standby_diverged` with a merge preview, and the rest (the
 * service's message), split at the template's own `{%- elif` / `{%- else`.
 */
function branches(template: string): { merged: string; diverged: string; other: string } {
  const [merged = '', rest = ''] = template.split('{%- elif');
  const [diverged = '', other = ''] = rest.split('{%- else');
  return { merged, diverged, other };
}

/** The event fields a template branch reads from the event entity's attributes (`a.<field>`). */
function fieldsRead(branch: string, variable: string): string[] {
  return [
    ...new Set([...branch.matchAll(new RegExp(`\\b${variable}\\.([A-Za-z_]+)`, 'g'))].map((m) => m[1] ?? '')),
  ];
}

/** The words of `type`'s row in docs/home-assistant.md's event table: its fields are among them. */
function documentedFields(type: string): Set<string> {
  const docs = readFileSync(join(ROOT, '..', 'docs', 'home-assistant.md'), 'utf8');
  const row = docs.split('\n').find((line) => line.startsWith(`| \`${type}\` |`)) ?? '';
  const words = [...row.matchAll(/[A-Za-z_]+/g)].map((m) => m[0]);
  return new Set(['event_type', 'message', ...words]);
}

/** Every card of a dashboard, each with the cards it sits in (outermost first). */
function cards(
  node: unknown,
  parents: unknown[] = [],
): Array<{ card: Record<string, unknown>; parents: unknown[] }> {
  if (Array.isArray(node)) return node.flatMap((n) => cards(n, parents));
  if (typeof node !== 'object' || node === null) return [];
  const record = node as Record<string, unknown>;
  const here = typeof record.type === 'string' ? [{ card: record, parents }] : [];
  const inner = typeof record.type === 'string' ? [...parents, record] : parents;
  return [...here, ...Object.values(record).flatMap((v) => cards(v, inner))];
}

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

  it('notifies merged in the package as in the blueprint', () => {
    const listed = notifyEvents?.conditions[0]?.value_template ?? '';
    expect(listed).toMatch(/'standby_diverged', 'merged'/);
    const defaults = BLUEPRINT.blueprint.input.event_types?.default as string[];
    expect(defaults).toEqual(expect.arrayContaining(['standby_diverged', 'merged']));
  });

  it.each([
    ['package', packageMessage],
    ['blueprint', blueprintText],
  ])('%s spells out merged and standby_diverged from fields those events carry', (_name, template) => {
    if (typeof template !== 'string') throw new Error('no notification template found');
    // the templates name the event entity's attributes `a` ({%- set a = trigger.to_state.attributes -%})
    expect(template).toContain('{%- set a = trigger.to_state.attributes -%}');
    const { merged, diverged, other } = branches(template);
    expect(merged).toMatch(/a\.event_type == 'merged'/);
    expect(diverged).toMatch(/a\.event_type == 'standby_diverged' and a\.mergeChanges is defined/);
    // merged: counts, users, and each conflict's user, item and field
    const mergedFields = fieldsRead(merged, 'a');
    expect(mergedFields).toEqual(expect.arrayContaining(['changes', 'users', 'conflicts', 'site', 'into']));
    for (const f of mergedFields) expect(documentedFields('merged'), `merged.${f}`).toContain(f);
    const conflictFields = fieldsRead(merged, 'c');
    expect(conflictFields.sort()).toEqual(['field', 'item', 'user']);
    for (const f of conflictFields) expect(documentedFields('merged'), `conflicts[].${f}`).toContain(f);
    // standby_diverged: what a merge would carry, and the Merge button
    const divergedFields = fieldsRead(diverged, 'a');
    expect(divergedFields).toEqual(expect.arrayContaining(['mergeChanges', 'mergeConflicts']));
    for (const f of divergedFields)
      expect(documentedFields('standby_diverged'), `standby_diverged.${f}`).toContain(f);
    expect(diverged).toMatch(/Press the Merge button/);
    expect(diverged).toMatch(/JELLYFIN_API_KEY/);
    // anything else: the service's own sentence
    expect(fieldsRead(other, 'a')).toEqual(['message']);
  });

  it('suggests the Merge button only while it exists (the service creates it only with JELLYFIN_API_KEY)', () => {
    expect(packageMessage).toContain(`expand('${MERGE_BUTTON}') | count > 0`);
    expect(blueprintText).toContain('expand(merge_button) | count > 0');
    expect(BLUEPRINT.variables.merge_button).toEqual({ input: 'merge_button' });
    expect(BLUEPRINT.blueprint.input.merge_button?.default).toBe(MERGE_BUTTON);
  });

  it('has a dashboard button for every command button, Merge only in a card shown while it exists', () => {
    const all = cards(load('dashboards/jellyfin_failover.yaml'));
    const buttons = all.filter(({ card }) => card.type === 'button');
    expect(buttons.map(({ card }) => card.entity).sort()).toEqual(
      BUTTON_COMMANDS.map((k) => entityId('jellyfin', k)).sort(),
    );
    const merge = all.filter(({ card }) => JSON.stringify(card).includes(MERGE_BUTTON));
    expect(merge.length).toBeGreaterThan(0);
    for (const { card, parents } of merge) {
      const guard = [card, ...parents].find(
        (c) =>
          (c as { type?: string }).type === 'conditional' &&
          JSON.stringify((c as { conditions?: unknown }).conditions) ===
            JSON.stringify([{ condition: 'state', entity: MERGE_BUTTON, state_not: 'unavailable' }]),
      );
      expect(
        guard,
        `${String(card.type)} card with ${MERGE_BUTTON} outside the conditional card`,
      ).toBeDefined();
    }
  });
});

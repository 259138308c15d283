import { ConfigError } from '../../config/errors.js';
import { isValidFailoverId, MAX_FAILOVER_ID_LENGTH } from '../../config/schema.js';
import { EVENT_TYPES } from '../../domain/events.js';
import { SITE_NAMES } from '../../domain/sites.js';
import { OPERATION_KINDS, SYNC_RESULTS } from '../../domain/state.js';

/**
 * Home Assistant MQTT discovery for the failover service (SPEC section 3): one device-based payload
 * (HA 2024.11+) at `<prefix>/device/<FAILOVER_ID>/config` holding every entity as a component.
 *
 * Pure functions, no I/O: the MQTT bridge publishes what these return.
 *
 * Key names are HA's full option names throughout (`device`, `origin`, `components`, `platform`, ...); HA
 * also accepts the abbreviations (`dev`, `o`, `cmps`, `p`, ...) and maps them to exactly these names
 * (homeassistant/components/mqtt/abbreviations.py), so the two spellings are the same payload to HA.
 */

/** Every event type the service publishes on `B/event` (SPEC section 3). HA drops events not listed here. */
export { EVENT_TYPES, type EventType } from '../../domain/events.js';

import type { EventType } from '../../domain/events.js';

/** The HA platforms (entity domains) the service uses. */
export type Platform = 'binary_sensor' | 'sensor' | 'button' | 'event';

/**
 * The commands that have an HA button, in SPEC order. Their key is also the `B/command/<name>`. `merge` is only
 * discovered with JELLYFIN_API_KEY set (DiscoveryOptions.merge).
 */
export const BUTTON_COMMANDS = [...OPERATION_KINDS, 'merge'] as const;
export type ButtonCommand = (typeof BUTTON_COMMANDS)[number];

/** The entities of SPEC section 3's table, in its order; each is a key of `components`. */
export const ENTITY_KEYS = [
  'master_online',
  'slave_online',
  'primary',
  'operation',
  'sync_progress',
  'last_sync',
  'last_sync_result',
  'last_sync_duration',
  'primary_downtime',
  'last_sync_transferred',
  'standby_diverged',
  'problem',
  ...BUTTON_COMMANDS,
  'events',
] as const;
export type EntityKey = (typeof ENTITY_KEYS)[number];

/** Which platform each entity is on (the domain of its entity id). */
export const ENTITY_PLATFORMS: Readonly<Record<EntityKey, Platform>> = {
  master_online: 'binary_sensor',
  slave_online: 'binary_sensor',
  primary: 'sensor',
  operation: 'sensor',
  sync_progress: 'sensor',
  last_sync: 'sensor',
  last_sync_result: 'sensor',
  last_sync_duration: 'sensor',
  primary_downtime: 'sensor',
  last_sync_transferred: 'sensor',
  standby_diverged: 'binary_sensor',
  problem: 'binary_sensor',
  sync: 'button',
  promote: 'button',
  failback: 'button',
  rollback: 'button',
  merge: 'button',
  events: 'event',
};

/** The values the enum sensors can take (SPEC section 3's state snapshot). */
export const SITE_OPTIONS = SITE_NAMES;
export const OPERATION_OPTIONS = ['idle', ...OPERATION_KINDS] as const;
export const SYNC_RESULT_OPTIONS = SYNC_RESULTS;

export { FAILOVER_ID_PATTERN, isValidFailoverId, MAX_FAILOVER_ID_LENGTH } from '../../config/schema.js';

/** HA's `payload_available` / `payload_not_available` defaults, which are also what the service publishes. */
export const AVAILABILITY_ONLINE = 'online';
export const AVAILABILITY_OFFLINE = 'offline';
/** `payload_press` of every button; the command handler accepts it (SPEC section 3). */
export const PAYLOAD_PRESS = 'PRESS';
/** What a value template renders for "no value": HA's MQTT `PAYLOAD_NONE`, which makes the state `unknown`. */
export const PAYLOAD_NONE = 'None';
const PAYLOAD_ON = 'ON';
const PAYLOAD_OFF = 'OFF';
/** QoS of every subscription and button command: commands must not be lost, state arrives at least once. */
const QOS = 1;

export interface DeviceInfo {
  identifiers: string[];
  name: string;
  manufacturer: string;
  model: string;
  sw_version: string;
}

export interface OriginInfo {
  name: string;
  sw_version: string;
  support_url: string;
}

/** Options every component carries. Availability is not among them: it is shared at payload level. */
interface ComponentBase {
  platform: Platform;
  unique_id: string;
  /** `<domain>.<object id>`: the entity id HA gives the entity when it is first registered. */
  default_entity_id: string;
  name: string;
  qos: 0 | 1 | 2;
  icon?: string;
  entity_category?: 'config' | 'diagnostic';
}

export interface SensorComponent extends ComponentBase {
  platform: 'sensor';
  state_topic: string;
  value_template: string;
  device_class?: 'enum' | 'timestamp' | 'duration' | 'data_size';
  unit_of_measurement?: string;
  state_class?: 'measurement' | 'total' | 'total_increasing';
  suggested_display_precision?: number;
  options?: string[];
}

export interface BinarySensorComponent extends ComponentBase {
  platform: 'binary_sensor';
  state_topic: string;
  value_template: string;
  payload_on: string;
  payload_off: string;
  device_class: 'connectivity' | 'problem';
  json_attributes_topic?: string;
  json_attributes_template?: string;
}

export interface ButtonComponent extends ComponentBase {
  platform: 'button';
  command_topic: string;
  payload_press: string;
  retain: false;
}

export interface EventComponent extends ComponentBase {
  platform: 'event';
  state_topic: string;
  event_types: EventType[];
}

export type DiscoveryComponent = SensorComponent | BinarySensorComponent | ButtonComponent | EventComponent;

/** The device-based discovery payload (HA's DEVICE_DISCOVERY_SCHEMA, homeassistant/components/mqtt/schemas.py). */
export interface DiscoveryPayload {
  device: DeviceInfo;
  origin: OriginInfo;
  /** Shared by every component: the service's own last will, never a site's health. */
  availability_topic: string;
  payload_available: string;
  payload_not_available: string;
  /** Every entity key; `merge` only with JELLYFIN_API_KEY. */
  components: Record<Exclude<EntityKey, 'merge'>, DiscoveryComponent> & { merge?: DiscoveryComponent };
}

export interface DiscoveryOptions {
  failoverId: string;
  /** `MQTT_BASE_TOPIC/FAILOVER_ID`, the `B` of SPEC section 3. */
  baseTopic: string;
  discoveryPrefix: string;
  swVersion: string;
  supportUrl: string;
  /** JELLYFIN_API_KEY is set: the `merge` button is discovered. */
  merge?: boolean;
}

export interface DiscoveryMessage {
  topic: string;
  payload: DiscoveryPayload;
}

/** The device discovery topic: `<prefix>/device/<failoverId>/config`. */
export function discoveryTopic(discoveryPrefix: string, failoverId: string): string {
  return `${discoveryPrefix}/device/${failoverId}/config`;
}

/**
 * The device name, chosen so that the entity ids HA derives from names (device name + entity name, slugified)
 * equal the `default_entity_id`s: `jellyfin` -> "Jellyfin failover", `movies_2` -> "Movies 2 failover". HA
 * before 2025.10 ignores `default_entity_id` and still ends up with the same entity ids.
 */
export function deviceName(failoverId: string): string {
  const words = failoverId.split('_').join(' ');
  return `${words.charAt(0).toUpperCase()}${words.slice(1)} failover`;
}

/** The stable unique id of an entity: derived from FAILOVER_ID and the entity key only. */
export function uniqueId(failoverId: string, key: EntityKey): string {
  return `${failoverId}_failover_${key}`;
}

/** The entity id HA gives the entity on first discovery, e.g. `sensor.jellyfin_failover_primary`. */
export function entityId(failoverId: string, key: EntityKey): string {
  return `${ENTITY_PLATFORMS[key]}.${uniqueId(failoverId, key)}`;
}

/** The topics of SPEC section 3 under `B`. */
export function serviceTopics(baseTopic: string) {
  return {
    availability: `${baseTopic}/availability`,
    state: `${baseTopic}/state`,
    event: `${baseTopic}/event`,
    command: (name: string) => `${baseTopic}/command/${name}`,
  };
}

/**
 * What removes the device and all its entities from HA: an empty payload on the discovery topic, published
 * retained so it also clears a retained discovery payload ("To remove the components, publish an empty
 * (retained) string payload to the discovery topic", HA MQTT docs, device discovery payload).
 */
export function emptyDiscovery(discoveryPrefix: string, failoverId: string): { topic: string; payload: '' } {
  return { topic: discoveryTopic(discoveryPrefix, failoverId), payload: '' };
}

// Value templates. HA renders them with `value_json` = the parsed `B/state` snapshot and uses the output as
// a string: `None` (PAYLOAD_NONE) means unknown. An empty string is not "no value" to HA: a timestamp sensor
// logs "Invalid state message" for it, a numeric one keeps its old value. `lastSync` is null until the first
// sync; a null field inside it renders as `None` too.
const lastSyncField = (field: string) =>
  `{{ value_json.lastSync.${field} if value_json.lastSync else '${PAYLOAD_NONE}' }}`;
const onWhen = (condition: string) => `{{ 'ON' if ${condition} else 'OFF' }}`;

/** Builds the one discovery message of SPEC section 3. Throws ConfigError for a FAILOVER_ID HA cannot use. */
export function buildDiscovery(opts: DiscoveryOptions): DiscoveryMessage {
  const { failoverId, baseTopic, discoveryPrefix } = opts;
  if (!isValidFailoverId(failoverId)) {
    throw new ConfigError([
      {
        variable: 'FAILOVER_ID',
        message: `"${failoverId}" cannot be used in Home Assistant entity ids: use at most ${MAX_FAILOVER_ID_LENGTH} lowercase letters and digits, words joined by single _ (e.g. jellyfin, jellyfin_2)`,
      },
    ]);
  }
  for (const [variable, topic] of [
    ['MQTT_BASE_TOPIC', baseTopic],
    ['HA_DISCOVERY_PREFIX', discoveryPrefix],
  ] as const) {
    if (topic === '' || /[#+]/.test(topic)) {
      throw new ConfigError([
        { variable, message: `"${topic}" must be an MQTT topic without wildcards (# +)` },
      ]);
    }
  }

  const t = serviceTopics(baseTopic);
  const base = (key: EntityKey, name: string): Omit<ComponentBase, 'platform'> => ({
    unique_id: uniqueId(failoverId, key),
    default_entity_id: entityId(failoverId, key),
    name,
    qos: QOS,
  });
  const sensor = (key: EntityKey, name: string, template: string, extra: Partial<SensorComponent>) =>
    ({
      platform: 'sensor',
      ...base(key, name),
      state_topic: t.state,
      value_template: template,
      ...extra,
    }) satisfies SensorComponent;
  const binarySensor = (
    key: EntityKey,
    name: string,
    condition: string,
    deviceClass: BinarySensorComponent['device_class'],
    extra: Partial<BinarySensorComponent> = {},
  ) =>
    ({
      platform: 'binary_sensor',
      ...base(key, name),
      state_topic: t.state,
      value_template: onWhen(condition),
      payload_on: PAYLOAD_ON,
      payload_off: PAYLOAD_OFF,
      device_class: deviceClass,
      ...extra,
    }) satisfies BinarySensorComponent;
  const button = (key: ButtonCommand, name: string, icon: string) =>
    ({
      platform: 'button',
      ...base(key, name),
      command_topic: t.command(key),
      payload_press: PAYLOAD_PRESS,
      retain: false,
      icon,
    }) satisfies ButtonComponent;
  const diagnosticDuration: Partial<SensorComponent> = {
    device_class: 'duration',
    unit_of_measurement: 's',
    state_class: 'measurement',
    suggested_display_precision: 1,
    entity_category: 'diagnostic',
  };

  const components: Record<EntityKey, DiscoveryComponent> = {
    master_online: binarySensor(
      'master_online',
      'Master online',
      'value_json.sites.master.online',
      'connectivity',
    ),
    slave_online: binarySensor(
      'slave_online',
      'Slave online',
      'value_json.sites.slave.online',
      'connectivity',
    ),
    primary: sensor('primary', 'Primary', '{{ value_json.primary }}', {
      device_class: 'enum',
      options: [...SITE_OPTIONS],
      icon: 'mdi:server-network',
    }),
    operation: sensor('operation', 'Operation', '{{ value_json.operation.kind }}', {
      device_class: 'enum',
      options: [...OPERATION_OPTIONS],
      icon: 'mdi:cog-sync',
    }),
    sync_progress: sensor(
      'sync_progress',
      'Sync progress',
      `{{ value_json.operation.progress if value_json.operation.progress is number else '${PAYLOAD_NONE}' }}`,
      { unit_of_measurement: '%', suggested_display_precision: 0, icon: 'mdi:progress-clock' },
    ),
    last_sync: sensor('last_sync', 'Last sync', lastSyncField('at'), { device_class: 'timestamp' }),
    last_sync_result: sensor('last_sync_result', 'Last sync result', lastSyncField('result'), {
      device_class: 'enum',
      options: [...SYNC_RESULT_OPTIONS],
      icon: 'mdi:sync-alert',
    }),
    last_sync_duration: sensor('last_sync_duration', 'Last sync duration', lastSyncField('durationS'), {
      ...diagnosticDuration,
    }),
    primary_downtime: sensor('primary_downtime', 'Primary downtime', lastSyncField('primaryDowntimeS'), {
      ...diagnosticDuration,
    }),
    last_sync_transferred: sensor('last_sync_transferred', 'Last sync transferred', lastSyncField('bytes'), {
      device_class: 'data_size',
      unit_of_measurement: 'B',
      state_class: 'measurement',
      entity_category: 'diagnostic',
    }),
    standby_diverged: binarySensor(
      'standby_diverged',
      'Standby diverged',
      'value_json.standbyDiverged',
      'problem',
    ),
    problem: binarySensor('problem', 'Problem', 'value_json.problems | length > 0', 'problem', {
      json_attributes_topic: t.state,
      json_attributes_template: "{{ {'problems': value_json.problems} | tojson }}",
    }),
    sync: button('sync', 'Sync', 'mdi:sync'),
    promote: button('promote', 'Promote', 'mdi:swap-horizontal-bold'),
    failback: button('failback', 'Failback', 'mdi:backup-restore'),
    rollback: button('rollback', 'Rollback', 'mdi:undo-variant'),
    merge: button('merge', 'Merge watch state and sync', 'mdi:call-merge'),
    events: {
      platform: 'event',
      ...base('events', 'Events'),
      state_topic: t.event,
      event_types: [...EVENT_TYPES],
      icon: 'mdi:bell-ring',
    },
  };

  const { merge: _merge, ...always } = components;
  const discovered: DiscoveryPayload['components'] = opts.merge ? components : always;
  return {
    topic: discoveryTopic(discoveryPrefix, failoverId),
    payload: {
      device: {
        identifiers: [`jellyfin_failover_${failoverId}`],
        name: deviceName(failoverId),
        manufacturer: 'jellyfin-failover',
        model: 'Jellyfin master/slave failover',
        sw_version: opts.swVersion,
      },
      origin: { name: 'jellyfin-failover', sw_version: opts.swVersion, support_url: opts.supportUrl },
      availability_topic: t.availability,
      payload_available: AVAILABILITY_ONLINE,
      payload_not_available: AVAILABILITY_OFFLINE,
      components: discovered,
    },
  };
}

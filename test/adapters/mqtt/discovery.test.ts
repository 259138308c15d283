import { describe, expect, it } from 'vitest';
import {
  buildDiscovery,
  type DiscoveryComponent,
  type DiscoveryOptions,
  type DiscoveryPayload,
  ENTITY_KEYS,
  EVENT_TYPES,
  emptyDiscovery,
  entityId,
  FAILOVER_ID_PATTERN,
  isValidFailoverId,
} from '../../../src/adapters/mqtt/discovery.js';
import { ConfigError } from '../../../src/config/errors.js';

/*
 * Home Assistant's rules for MQTT discovery, written down as data and checked against every component of the
 * payload the service publishes. Each table names where HA states the rule (home-assistant/core paths are at
 * its `dev` branch, 2025-2026; docs at https://www.home-assistant.io/integrations/mqtt/ and the per-platform
 * pages such as https://www.home-assistant.io/integrations/sensor.mqtt/).
 */

/** A whitespace-separated list, to keep the long tables readable. */
import { type JsonValue, renderTemplate } from '../../support/jinja.js';

const words = (list: string): string[] => list.trim().split(/\s+/);

// ---------------------------------------------------------------------------------------------- SPEC tables

/** SPEC section 3, entity table, as data. */
const SPEC_ENTITIES: Record<
  string,
  {
    platform: string;
    deviceClass?: string;
    unit?: string;
    options?: string[];
    category?: string;
  }
> = {
  master_online: { platform: 'binary_sensor', deviceClass: 'connectivity' },
  slave_online: { platform: 'binary_sensor', deviceClass: 'connectivity' },
  primary: { platform: 'sensor', deviceClass: 'enum', options: ['master', 'slave'] },
  operation: {
    platform: 'sensor',
    deviceClass: 'enum',
    options: ['idle', 'sync', 'promote', 'failback', 'rollback'],
  },
  sync_progress: { platform: 'sensor', unit: '%' },
  last_sync: { platform: 'sensor', deviceClass: 'timestamp' },
  last_sync_result: {
    platform: 'sensor',
    deviceClass: 'enum',
    options: ['success', 'failed', 'rolled_back'],
  },
  last_sync_duration: { platform: 'sensor', deviceClass: 'duration', unit: 's', category: 'diagnostic' },
  primary_downtime: { platform: 'sensor', deviceClass: 'duration', unit: 's', category: 'diagnostic' },
  last_sync_transferred: { platform: 'sensor', deviceClass: 'data_size', unit: 'B', category: 'diagnostic' },
  standby_diverged: { platform: 'binary_sensor', deviceClass: 'problem' },
  problem: { platform: 'binary_sensor', deviceClass: 'problem' },
  sync: { platform: 'button' },
  promote: { platform: 'button' },
  failback: { platform: 'button' },
  rollback: { platform: 'button' },
  merge: { platform: 'button' },
  events: { platform: 'event' },
};

/** SPEC section 3, `B/event` types. */
const SPEC_EVENT_TYPES = words(`
  sync_started sync_succeeded sync_failed promoted failed_back rolled_back rollback_failed
  site_down site_up standby_diverged merged command_rejected recovered_after_crash
`);

// ------------------------------------------------------------------------------------------- HA rule tables

/**
 * Top-level keys of a device discovery payload. The schema rejects any other key (a voluptuous Schema without
 * `extra=` prevents extras): homeassistant/components/mqtt/schemas.py DEVICE_DISCOVERY_SCHEMA
 * (= _MQTT_AVAILABILITY_SCHEMA + device, components, origin, state_topic, command_topic, qos, encoding,
 * message_expiry_interval). `device` and `origin` are required there, and so is `components`.
 */
const DEVICE_PAYLOAD_KEYS = new Set(
  words(`
  device components origin availability availability_mode availability_template
  availability_topic payload_available payload_not_available state_topic command_topic qos
  encoding message_expiry_interval
`),
);
const DEVICE_PAYLOAD_REQUIRED = ['device', 'components', 'origin'];

/** Device block: schemas.py MQTT_ENTITY_DEVICE_INFO_SCHEMA; needs identifiers or connections. */
const DEVICE_INFO_KEYS = new Set(
  words(`
  identifiers connections manufacturer model model_id name hw_version serial_number sw_version
  via_device suggested_area configuration_url
`),
);

/** Origin block: schemas.py MQTT_ORIGIN_INFO_SCHEMA; `name` required, `support_url` a configuration URL. */
const ORIGIN_KEYS = new Set(['name', 'sw_version', 'support_url']);

/**
 * Options each platform knows. Discovery schemas drop unknown keys silently (`extra=vol.REMOVE_EXTRA` in
 * mqtt/sensor.py, binary_sensor.py, button.py, event.py), so a misspelt key would vanish without an error:
 * every key we send must be one of these.
 * Common: schemas.py MQTT_ENTITY_COMMON_SCHEMA + _MQTT_AVAILABILITY_SCHEMA; config.py MQTT_BASE_SCHEMA (qos,
 * encoding). Read-only platforms: config.py MQTT_RO_SCHEMA (state_topic, value_template).
 */
const COMMON_OPTIONS = words(`
  platform availability availability_mode availability_template availability_topic
  payload_available payload_not_available device origin default_entity_id enabled_by_default
  entity_category entity_picture icon json_attributes_template json_attributes_topic
  message_expiry_interval unique_id visible_by_default qos encoding name
`);
const RO_OPTIONS = ['state_topic', 'value_template'];
const PLATFORM_OPTIONS: Record<string, Set<string>> = {
  // mqtt/sensor.py _PLATFORM_SCHEMA_BASE
  sensor: new Set([
    ...COMMON_OPTIONS,
    ...RO_OPTIONS,
    'device_class',
    'expire_after',
    'force_update',
    'last_reset_value_template',
    'options',
    'suggested_display_precision',
    'state_class',
    'unit_of_measurement',
  ]),
  // mqtt/binary_sensor.py _PLATFORM_SCHEMA_BASE
  binary_sensor: new Set([
    ...COMMON_OPTIONS,
    ...RO_OPTIONS,
    'device_class',
    'expire_after',
    'force_update',
    'off_delay',
    'payload_off',
    'payload_on',
  ]),
  // mqtt/button.py PLATFORM_SCHEMA_MODERN (no state_topic: a button has no state)
  button: new Set([
    ...COMMON_OPTIONS,
    'command_template',
    'command_topic',
    'device_class',
    'payload_press',
    'retain',
  ]),
  // mqtt/event.py _PLATFORM_SCHEMA_BASE
  event: new Set([...COMMON_OPTIONS, ...RO_OPTIONS, 'device_class', 'event_types']),
};

/**
 * Required options per platform: config.py MQTT_RO_SCHEMA `vol.Required(CONF_STATE_TOPIC)` (sensor,
 * binary_sensor, event); button.py `vol.Required(CONF_COMMAND_TOPIC)`; event.py `vol.Required(CONF_EVENT_TYPES)`.
 * Device-based discovery adds `unique_id` for every entity platform: schemas.py check_unique_id.
 */
const REQUIRED_OPTIONS: Record<string, string[]> = {
  sensor: ['platform', 'unique_id', 'state_topic'],
  binary_sensor: ['platform', 'unique_id', 'state_topic'],
  button: ['platform', 'unique_id', 'command_topic'],
  event: ['platform', 'unique_id', 'state_topic', 'event_types'],
};

/** Device classes per platform. */
const DEVICE_CLASSES: Record<string, Set<string>> = {
  // homeassistant/components/sensor/const.py SensorDeviceClass
  sensor: new Set(
    words(`
    date enum timestamp apparent_power aqi area atmospheric_pressure battery
    blood_glucose_concentration carbon_monoxide carbon_dioxide conductivity current data_rate
    data_size distance duration energy energy_distance energy_storage frequency gas humidity
    illuminance irradiance moisture monetary nitrogen_dioxide nitrogen_monoxide nitrous_oxide ozone
    ph pm1 pm10 pm25 power_factor power precipitation precipitation_intensity pressure
    reactive_power signal_strength sound_pressure speed sulphur_dioxide temperature
    volatile_organic_compounds volatile_organic_compounds_parts voltage volume volume_storage
    volume_flow_rate water weight wind_direction wind_speed
  `),
  ),
  // homeassistant/components/binary_sensor/__init__.py BinarySensorDeviceClass
  binary_sensor: new Set(
    words(`
    battery battery_charging carbon_monoxide cold connectivity door garage_door gas heat light lock
    moisture motion moving occupancy opening plug power presence problem running safety smoke sound
    tamper update vibration window
  `),
  ),
  // homeassistant/components/button/__init__.py ButtonDeviceClass
  button: new Set(['identify', 'restart', 'update']),
  // homeassistant/components/event/__init__.py EventDeviceClass
  event: new Set(['doorbell', 'button', 'motion']),
};

/** sensor/const.py NON_NUMERIC_DEVICE_CLASSES: their state is a string, a date or a datetime, never a number. */
const NON_NUMERIC_DEVICE_CLASSES = new Set(['date', 'enum', 'timestamp']);

/**
 * Allowed units per sensor device class: sensor/const.py DEVICE_CLASS_UNITS (for the classes this service
 * uses; `null` = no unit). UnitOfTime and UnitOfInformation values from homeassistant/const.py.
 */
const DEVICE_CLASS_UNITS: Record<string, Set<string | null>> = {
  duration: new Set(['d', 'h', 'min', 's', 'ms', '\u03bcs']),
  data_size: new Set(
    words(`
    bit kbit Mbit Gbit B kB MB GB TB PB EB ZB YB KiB MiB GiB TiB PiB EiB ZiB YiB
  `),
  ),
  // No unit: sensor/const.py SensorDeviceClass docstrings ("Unit of measurement: `None`") and
  // mqtt/sensor.py validate_sensor_state_and_device_class_config (options exclude a unit).
  enum: new Set([null]),
  timestamp: new Set([null]),
  date: new Set([null]),
};

/** Allowed state classes per device class: sensor/const.py DEVICE_CLASS_STATE_CLASSES (used classes). */
const STATE_CLASSES = new Set(['measurement', 'total', 'total_increasing']);
const DEVICE_CLASS_STATE_CLASSES: Record<string, Set<string>> = {
  duration: new Set(['measurement', 'total', 'total_increasing']),
  data_size: new Set(['measurement', 'total', 'total_increasing']),
  enum: new Set(),
  timestamp: new Set(),
  date: new Set(),
};

/**
 * Entity categories: homeassistant/const.py EntityCategory (config, diagnostic). Sensors and binary sensors
 * refuse `config` ("cannot be added as the entity category is set to config": sensor/__init__.py and
 * binary_sensor/__init__.py async_internal_added_to_hass).
 */
const ENTITY_CATEGORIES = new Set(['config', 'diagnostic']);
const PLATFORMS_REFUSING_CONFIG_CATEGORY = new Set(['sensor', 'binary_sensor']);

/** homeassistant/core.py VALID_ENTITY_ID (slug domain, `.`, slug object id; no `__`, no leading/trailing `_`). */
const VALID_ENTITY_ID = /^(?!.+__)(?!_)[\da-z_]+(?<!_)\.(?!_)[\da-z_]+(?<!_)$/;
/** homeassistant/const.py MAX_LENGTH_STATE_ENTITY_ID. */
const MAX_ENTITY_ID_LENGTH = 255;

/** mqtt/discovery.py TOPIC_MATCHER, applied to the topic with `<prefix>/` removed. */
const TOPIC_MATCHER =
  /^(?<component>\w+)\/(?:(?<nodeId>[a-zA-Z0-9_-]+)\/)?(?<objectId>[a-zA-Z0-9_-]+)\/config$/;

/**
 * Keys that only exist as abbreviations (mqtt/abbreviations.py ABBREVIATIONS, DEVICE_ABBREVIATIONS,
 * ORIGIN_ABBREVIATIONS) for the options this payload uses. The payload spells every key in full.
 */
const ABBREVIATIONS: Record<string, string> = {
  dev: 'device',
  o: 'origin',
  cmps: 'components',
  p: 'platform',
  uniq_id: 'unique_id',
  def_ent_id: 'default_entity_id',
  obj_id: 'object_id',
  stat_t: 'state_topic',
  cmd_t: 'command_topic',
  val_tpl: 'value_template',
  dev_cla: 'device_class',
  unit_of_meas: 'unit_of_measurement',
  stat_cla: 'state_class',
  sug_dsp_prc: 'suggested_display_precision',
  ent_cat: 'entity_category',
  ops: 'options',
  ic: 'icon',
  pl_on: 'payload_on',
  pl_off: 'payload_off',
  pl_prs: 'payload_press',
  ret: 'retain',
  json_attr_t: 'json_attributes_topic',
  json_attr_tpl: 'json_attributes_template',
  avty: 'availability',
  avty_t: 'availability_topic',
  pl_avail: 'payload_available',
  pl_not_avail: 'payload_not_available',
  evt_typ: 'event_types',
  ids: 'identifiers',
  mf: 'manufacturer',
  mdl: 'model',
  sw: 'sw_version',
  url: 'support_url',
};

/**
 * `object_id` was deprecated in HA 2025.10 in favour of `default_entity_id` and stops working in 2026.4
 * (home-assistant/core PR #151775; the deprecation warning in mqtt/entity.py names 2026.4).
 */
const REMOVED_OPTIONS = ['object_id', 'obj_id'];

/** mqtt/const.py PAYLOAD_NONE: a rendered "None" sets a sensor or binary sensor to unknown. */
const HA_PAYLOAD_NONE = 'None';

/**
 * Attribute names HA drops from json_attributes (mqtt/entity.py MQTT_ATTRIBUTES_BLOCKED; sensor.py adds
 * last_reset and state_class).
 */
const MQTT_ATTRIBUTES_BLOCKED = new Set(
  words(`
  assumed_state available device_class device_info entity_category entity_picture
  entity_registry_enabled_default extra_state_attributes force_update icon name should_poll state
  supported_features unique_id unit_of_measurement last_reset state_class
`),
);

// --------------------------------------------------------------------------------------------- fixtures

const OPTS: DiscoveryOptions = {
  failoverId: 'jellyfin',
  baseTopic: 'jellyfin-failover/jellyfin',
  discoveryPrefix: 'homeassistant',
  swVersion: '0.1.0',
  supportUrl: 'https://github.com/example/jellyfin-failover/issues',
};
const B = OPTS.baseTopic;

function build(overrides: Partial<DiscoveryOptions> = {}) {
  return buildDiscovery({ ...OPTS, ...overrides });
}

function components(payload: DiscoveryPayload): Array<[string, DiscoveryComponent]> {
  return Object.entries(payload.components);
}

/** Every key of every object in the payload, with its path. */
function allKeys(value: unknown, path = ''): string[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => allKeys(v, `${path}[${i}]`));
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).flatMap(([k, v]) => [`${path}.${k}`, ...allKeys(v, `${path}.${k}`)]);
  }
  return [];
}

const site = (online: boolean, jellyfin: string) => ({
  online,
  jellyfin,
  container: online ? 'running' : 'unknown',
  version: '10.11.3',
  checkedAt: '2026-05-01T03:00:00.000Z',
});

/** `B/state` snapshots in SPEC section 3's shape. */
const SNAPSHOTS: Record<string, JsonValue> = {
  freshInstall: {
    primary: 'master',
    epoch: 0,
    operation: { kind: 'idle', step: '', progress: 0, startedAt: null },
    sites: { master: site(true, 'healthy'), slave: site(true, 'healthy') },
    lastSync: null,
    standbyDiverged: false,
    problems: [],
  },
  afterSync: {
    primary: 'master',
    epoch: 3,
    operation: { kind: 'idle', step: '', progress: 100, startedAt: null },
    sites: { master: site(true, 'healthy'), slave: site(true, 'healthy') },
    lastSync: {
      at: '2026-05-01T03:00:12.345Z',
      result: 'success',
      durationS: 12.3,
      bytes: 123456789,
      files: 45,
      primaryDowntimeS: 4.1,
      error: null,
    },
    standbyDiverged: false,
    problems: [],
  },
  promoteWhileMasterDown: {
    primary: 'master',
    epoch: 4,
    operation: {
      kind: 'promote',
      step: 'start-standby',
      progress: 42.5,
      startedAt: '2026-05-02T10:00:00.000Z',
    },
    sites: { master: site(false, 'unreachable'), slave: site(true, 'starting') },
    lastSync: {
      at: '2026-05-01T03:00:12.345+02:00',
      result: 'rolled_back',
      durationS: 30,
      bytes: 0,
      files: 0,
      primaryDowntimeS: null,
      error: 'final pass failed',
    },
    standbyDiverged: true,
    problems: ['master unreachable', "standby written after the last sync (users' changes)"],
  },
};

/** What HA shows for each state-driven entity, per snapshot (the rendered template output). */
const EXPECTED_STATES: Record<string, Record<string, string>> = {
  freshInstall: {
    master_online: 'ON',
    slave_online: 'ON',
    primary: 'master',
    operation: 'idle',
    sync_progress: '0',
    last_sync: 'None',
    last_sync_result: 'None',
    last_sync_duration: 'None',
    primary_downtime: 'None',
    last_sync_transferred: 'None',
    standby_diverged: 'OFF',
    problem: 'OFF',
  },
  afterSync: {
    master_online: 'ON',
    slave_online: 'ON',
    primary: 'master',
    operation: 'idle',
    sync_progress: '100',
    last_sync: '2026-05-01T03:00:12.345Z',
    last_sync_result: 'success',
    last_sync_duration: '12.3',
    primary_downtime: '4.1',
    last_sync_transferred: '123456789',
    standby_diverged: 'OFF',
    problem: 'OFF',
  },
  promoteWhileMasterDown: {
    master_online: 'OFF',
    slave_online: 'ON',
    primary: 'master',
    operation: 'promote',
    sync_progress: '42.5',
    last_sync: '2026-05-01T03:00:12.345+02:00',
    last_sync_result: 'rolled_back',
    last_sync_duration: '30',
    primary_downtime: 'None',
    last_sync_transferred: '0',
    standby_diverged: 'ON',
    problem: 'ON',
  },
};

/** An ISO 8601 datetime with a timezone: sensor/__init__.py refuses a timestamp state without one. */
const ISO_WITH_TZ = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/;

function isNumericSensor(c: DiscoveryComponent): boolean {
  if (c.platform !== 'sensor') return false;
  if (c.device_class && NON_NUMERIC_DEVICE_CLASSES.has(c.device_class)) return false;
  return c.device_class !== undefined || c.unit_of_measurement !== undefined || c.state_class !== undefined;
}

// ------------------------------------------------------------------------------------------------ tests

describe('discovery topic and removal', () => {
  it('publishes one device-based payload at <prefix>/device/<FAILOVER_ID>/config', () => {
    expect(build().topic).toBe('homeassistant/device/jellyfin/config');
    expect(build({ discoveryPrefix: 'ha', failoverId: 'movies_2' }).topic).toBe('ha/device/movies_2/config');
  });

  it('is a topic HA subscribes to and routes to device discovery', () => {
    // discovery.py subscribes `<prefix>/device/+/config` and matches the rest with TOPIC_MATCHER.
    const { topic } = build();
    const trimmed = topic.slice(`${OPTS.discoveryPrefix}/`.length);
    const m = TOPIC_MATCHER.exec(trimmed);
    expect(m?.groups).toMatchObject({ component: 'device', nodeId: undefined, objectId: 'jellyfin' });
  });

  it('removes the device with an empty payload on the same topic', () => {
    // HA docs, device discovery: "To remove the components, publish an empty (retained) string payload".
    expect(emptyDiscovery('homeassistant', 'jellyfin')).toEqual({ topic: build().topic, payload: '' });
  });
});

describe('device-based payload (mqtt/schemas.py DEVICE_DISCOVERY_SCHEMA)', () => {
  const { payload } = build();

  it('has only the top-level keys the schema accepts, and the required ones', () => {
    for (const key of Object.keys(payload)) expect(DEVICE_PAYLOAD_KEYS, key).toContain(key);
    for (const key of DEVICE_PAYLOAD_REQUIRED) expect(payload).toHaveProperty(key);
  });

  it('describes the device with an identifier derived from FAILOVER_ID', () => {
    for (const key of Object.keys(payload.device)) expect(DEVICE_INFO_KEYS, key).toContain(key);
    expect(payload.device.identifiers).toEqual(['jellyfin_failover_jellyfin']);
    expect(payload.device).toMatchObject({ name: 'Jellyfin failover', sw_version: '0.1.0' });
    expect(build({ failoverId: 'movies' }).payload.device.identifiers).toEqual(['jellyfin_failover_movies']);
  });

  it('names its origin: jellyfin-failover, its version and a support URL', () => {
    for (const key of Object.keys(payload.origin)) expect(ORIGIN_KEYS, key).toContain(key);
    expect(payload.origin).toEqual({
      name: 'jellyfin-failover',
      sw_version: '0.1.0',
      support_url: OPTS.supportUrl,
    });
    // cv.configuration_url: an http(s) URL.
    expect(['http:', 'https:']).toContain(new URL(payload.origin.support_url).protocol);
  });

  it('spells every key in full, never as an HA abbreviation', () => {
    const keys = allKeys(payload).map((p) => p.slice(p.lastIndexOf('.') + 1));
    const components = new Set(ENTITY_KEYS as readonly string[]);
    for (const key of keys) {
      if (components.has(key)) continue; // component ids are ours, not options
      expect(Object.keys(ABBREVIATIONS), key).not.toContain(key);
    }
  });

  it('survives JSON serialisation unchanged (no undefined options that would silently vanish)', () => {
    expect(JSON.parse(JSON.stringify(payload))).toEqual(payload);
  });
});

describe('components against the SPEC section 3 table', () => {
  const { payload } = build({ merge: true });

  it('has exactly the SPEC entities, keyed as in the SPEC', () => {
    expect([...ENTITY_KEYS]).toEqual(Object.keys(SPEC_ENTITIES));
    expect(Object.keys(payload.components)).toEqual(Object.keys(SPEC_ENTITIES));
  });

  it('has the merge button only when JELLYFIN_API_KEY is set (SPEC: present when the key is set)', () => {
    const without = build().payload.components;
    expect(Object.keys(without)).toEqual(Object.keys(SPEC_ENTITIES).filter((k) => k !== 'merge'));
    expect(payload.components.merge).toMatchObject({
      platform: 'button',
      command_topic: `${B}/command/merge`,
    });
  });

  it.each(Object.entries(SPEC_ENTITIES))(
    '%s has the platform, class, unit, options and category of the SPEC',
    (key, spec) => {
      const c = payload.components[key as keyof typeof payload.components] as unknown as Record<
        string,
        unknown
      >;
      expect(c.platform).toBe(spec.platform);
      expect(c.device_class).toBe(spec.deviceClass);
      expect(c.unit_of_measurement).toBe(spec.unit);
      expect(c.options).toEqual(spec.options);
      expect(c.entity_category).toBe(spec.category);
      expect(typeof c.name === 'string' && c.name.length > 0).toBe(true);
    },
  );

  it('lists every SPEC event type on the event entity, and exports the same list', () => {
    expect([...EVENT_TYPES]).toEqual(SPEC_EVENT_TYPES);
    expect(payload.components.events).toMatchObject({ platform: 'event', state_topic: `${B}/event` });
    expect(payload.components.events.platform === 'event' && payload.components.events.event_types).toEqual(
      SPEC_EVENT_TYPES,
    );
  });

  it('buttons publish PRESS with QoS 1, unretained, on B/command/<name>', () => {
    for (const name of ['sync', 'promote', 'failback', 'rollback', 'merge'] as const) {
      expect(payload.components[name]).toMatchObject({
        platform: 'button',
        command_topic: `${B}/command/${name}`,
        payload_press: 'PRESS',
        qos: 1,
        retain: false,
      });
    }
  });

  it('reads every state-driven entity from B/state', () => {
    for (const [key, c] of components(payload)) {
      if (c.platform === 'sensor' || c.platform === 'binary_sensor')
        expect(c.state_topic, key).toBe(`${B}/state`);
    }
  });
});

describe("every component follows HA's option rules", () => {
  const { payload } = build();

  it.each(components(payload))('%s: known options only, required ones present', (key, c) => {
    const known = PLATFORM_OPTIONS[c.platform];
    expect(known, `platform ${c.platform}`).toBeDefined();
    for (const option of Object.keys(c)) expect(known, `${key}.${option}`).toContain(option);
    for (const option of REQUIRED_OPTIONS[c.platform] ?? [])
      expect(c, `${key} needs ${option}`).toHaveProperty(option);
  });

  it.each(components(payload))('%s: device class allowed for its platform', (key, c) => {
    if ('device_class' in c && c.device_class !== undefined) {
      expect(DEVICE_CLASSES[c.platform], `${key}: ${c.device_class}`).toContain(c.device_class);
    }
  });

  it.each(components(payload).filter(([, c]) => c.platform === 'sensor'))(
    '%s: unit and state class fit the device class (sensor/const.py)',
    (key, c) => {
      if (c.platform !== 'sensor') throw new Error('sensor expected');
      const unit = c.unit_of_measurement ?? null;
      if (c.device_class !== undefined) {
        const units = DEVICE_CLASS_UNITS[c.device_class];
        expect(units, `no unit table for ${c.device_class}`).toBeDefined();
        expect(units, `${key}: unit ${unit}`).toContain(unit);
        const stateClasses = DEVICE_CLASS_STATE_CLASSES[c.device_class];
        expect(stateClasses, `no state class table for ${c.device_class}`).toBeDefined();
        if (c.state_class !== undefined)
          expect(stateClasses, `${key}: ${c.state_class}`).toContain(c.state_class);
      }
      if (c.state_class !== undefined) expect(STATE_CLASSES).toContain(c.state_class);
    },
  );

  it.each(components(payload).filter(([, c]) => c.platform === 'sensor'))(
    '%s: options only on enum sensors, never empty, never with a unit or state class (mqtt/sensor.py)',
    (key, c) => {
      if (c.platform !== 'sensor') throw new Error('sensor expected');
      if (c.device_class === 'enum') {
        expect(c.options?.length, `${key} is enum: options required`).toBeGreaterThan(0);
      }
      if (c.options !== undefined) {
        expect(c.device_class).toBe('enum');
        expect(c.options.length).toBeGreaterThan(0);
        expect(c.unit_of_measurement).toBeUndefined();
        expect(c.state_class).toBeUndefined();
      }
      if (c.device_class === 'enum' || c.device_class === 'timestamp') expect(c.state_class).toBeUndefined();
    },
  );

  it.each(components(payload))(
    '%s: entity category is config/diagnostic, and never config on a sensor',
    (key, c) => {
      if (c.entity_category === undefined) return;
      expect(ENTITY_CATEGORIES).toContain(c.entity_category);
      if (PLATFORMS_REFUSING_CONFIG_CATEGORY.has(c.platform))
        expect(c.entity_category, key).not.toBe('config');
    },
  );

  it('keeps the operation buttons out of the config/diagnostic sections (a product rule, HA allows both)', () => {
    for (const [key, c] of components(payload))
      if (c.platform === 'button') expect(c.entity_category, key).toBeUndefined();
  });

  it('never uses the removed object_id option, anywhere', () => {
    const keys = allKeys(payload).map((p) => p.slice(p.lastIndexOf('.') + 1));
    for (const removed of REMOVED_OPTIONS) expect(keys).not.toContain(removed);
  });

  it.each(components(payload))(
    '%s: default_entity_id is a valid entity id in the platform domain',
    (key, c) => {
      expect(c.default_entity_id).toMatch(VALID_ENTITY_ID);
      expect(c.default_entity_id.length).toBeLessThanOrEqual(MAX_ENTITY_ID_LENGTH);
      expect(c.default_entity_id.split('.')[0]).toBe(c.platform);
      expect(c.default_entity_id).toBe(entityId('jellyfin', key as (typeof ENTITY_KEYS)[number]));
    },
  );

  it('names entities so that HA derives the same entity ids from the names (HA before 2025.10 has no default_entity_id)', () => {
    // has_entity_name: entity id = <domain>.slugify(<device name> <entity name>) (homeassistant/util slugify).
    const slugify = (text: string) =>
      text
        .toLowerCase()
        .replace(/[^a-z0-9]+/g, '_')
        .replace(/^_|_$/g, '');
    for (const failoverId of ['jellyfin', 'movies_2', 'a']) {
      const built = build({ failoverId }).payload;
      for (const [key, c] of components(built)) {
        expect(`${c.platform}.${slugify(`${built.device.name} ${c.name}`)}`, key).toBe(c.default_entity_id);
      }
    }
  });

  it('gives the entity ids the SPEC example names', () => {
    expect(payload.components.primary.default_entity_id).toBe('sensor.jellyfin_failover_primary');
    expect(entityId('jellyfin', 'promote')).toBe('button.jellyfin_failover_promote');
    expect(entityId('jellyfin', 'master_online')).toBe('binary_sensor.jellyfin_failover_master_online');
    expect(entityId('jellyfin', 'events')).toBe('event.jellyfin_failover_events');
  });
});

describe('unique ids', () => {
  it('are unique within the device', () => {
    const ids = components(build().payload).map(([, c]) => c.unique_id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('are stable across builds and depend on nothing but FAILOVER_ID and the entity key', () => {
    const ids = (p: DiscoveryPayload) => Object.fromEntries(components(p).map(([k, c]) => [k, c.unique_id]));
    const first = ids(build().payload);
    expect(ids(build().payload)).toEqual(first);
    const elsewhere = build({
      baseTopic: 'other-root/jellyfin',
      discoveryPrefix: 'ha-test',
      swVersion: '9.9.9',
      supportUrl: 'https://example.org/help',
    });
    expect(ids(elsewhere.payload)).toEqual(first);
    expect(first.primary).toBe('jellyfin_failover_primary');
  });

  it('do not collide between two instances sharing a broker', () => {
    const a = components(build({ failoverId: 'jellyfin' }).payload).map(([, c]) => c.unique_id);
    const b = components(
      build({ failoverId: 'jellyfin_2', baseTopic: 'jellyfin-failover/jellyfin_2' }).payload,
    ).map(([, c]) => c.unique_id);
    expect(a.filter((id) => b.includes(id))).toEqual([]);
  });
});

describe('availability', () => {
  const { payload } = build();

  it("is the service's own B/availability, shared by every entity", () => {
    expect(payload.availability_topic).toBe(`${B}/availability`);
    expect(payload.payload_available).toBe('online');
    expect(payload.payload_not_available).toBe('offline');
  });

  it('is never overridden per entity, so no entity follows a site: buttons work while master is down', () => {
    // discovery.py _merge_common_device_options: a component's own availability options would win over the
    // shared ones, so none may have any.
    const availabilityOptions = [
      'availability',
      'availability_mode',
      'availability_template',
      'availability_topic',
      'payload_available',
      'payload_not_available',
    ];
    for (const [key, c] of components(payload)) {
      for (const option of availabilityOptions) expect(c, key).not.toHaveProperty(option);
    }
    expect(allKeys(payload).filter((p) => /avail/.test(p))).toEqual([
      '.availability_topic',
      '.payload_available',
      '.payload_not_available',
    ]);
  });
});

describe('FAILOVER_ID', () => {
  const valid = ['jellyfin', 'jellyfin_2', 'a', '0', 'home_media_server'];
  const invalid = [
    '',
    'Jellyfin',
    'jelly-fin',
    'jelly fin',
    '_jellyfin',
    'jellyfin_',
    'jelly__fin',
    'jelly.fin',
    'x'.repeat(65),
  ];

  it('accepts lowercase words joined by single underscores: a subset of the SPEC [a-z0-9_]', () => {
    for (const id of valid) {
      expect(isValidFailoverId(id), id).toBe(true);
      expect(id).toMatch(/^[a-z0-9_]+$/);
    }
    for (const id of invalid) expect(isValidFailoverId(id), id).toBe(false);
    expect(FAILOVER_ID_PATTERN.test('jellyfin')).toBe(true);
  });

  it('yields valid HA entity ids and topic object ids for every accepted id', () => {
    for (const id of [...valid, 'x'.repeat(64)]) {
      const { topic, payload } = build({ failoverId: id });
      expect(TOPIC_MATCHER.exec(topic.slice('homeassistant/'.length))?.groups?.objectId).toBe(id);
      for (const [, c] of components(payload)) {
        expect(c.default_entity_id, id).toMatch(VALID_ENTITY_ID);
        expect(c.default_entity_id.length).toBeLessThanOrEqual(MAX_ENTITY_ID_LENGTH);
      }
    }
  });

  it('refuses an id HA cannot use, naming the variable', () => {
    // The SPEC's [a-z0-9_] lets these through, but HA's VALID_ENTITY_ID refuses the entity ids they produce.
    for (const id of ['_jellyfin', 'jellyfin_', 'jelly__fin']) {
      expect(`binary_sensor.${id}_failover_problem`).not.toMatch(VALID_ENTITY_ID);
      expect(() => build({ failoverId: id })).toThrow(ConfigError);
      expect(() => build({ failoverId: id })).toThrow(/FAILOVER_ID/);
    }
  });

  it('refuses wildcard topics', () => {
    expect(() => build({ baseTopic: 'jellyfin-failover/+' })).toThrow(/MQTT_BASE_TOPIC/);
    expect(() => build({ discoveryPrefix: 'homeassistant/#' })).toThrow(/HA_DISCOVERY_PREFIX/);
  });
});

describe('value templates, evaluated against B/state snapshots', () => {
  const { payload } = build();
  const stateDriven = components(payload).filter(
    (entry): entry is [string, Extract<DiscoveryComponent, { value_template: string }>] =>
      'value_template' in entry[1],
  );

  it('covers every sensor and binary sensor', () => {
    expect(stateDriven.map(([k]) => k)).toEqual(Object.keys(EXPECTED_STATES.freshInstall ?? {}));
  });

  describe.each(Object.keys(SNAPSHOTS))('snapshot %s', (name) => {
    const snapshot = SNAPSHOTS[name] ?? null;
    const expected = EXPECTED_STATES[name] ?? {};

    it.each(stateDriven)('%s renders the expected state', (key, c) => {
      expect(renderTemplate(c.value_template, snapshot)).toBe(expected[key]);
    });

    it.each(stateDriven)('%s renders something HA accepts for its kind', (key, c) => {
      const out = renderTemplate(c.value_template, snapshot);
      // An empty output is never "no value" to HA (binary_sensor ignores it, a numeric sensor keeps its old
      // value, a timestamp sensor logs "Invalid state message"): "None" is.
      expect(out, key).not.toBe('');
      if (out === HA_PAYLOAD_NONE) return;
      if (c.platform === 'binary_sensor') {
        expect([c.payload_on, c.payload_off], key).toContain(out);
      } else if (c.device_class === 'enum') {
        expect(c.options, key).toContain(out);
      } else if (c.device_class === 'timestamp') {
        expect(out, key).toMatch(ISO_WITH_TZ);
        expect(Number.isNaN(Date.parse(out)), key).toBe(false);
      } else if (isNumericSensor(c)) {
        expect(Number.isFinite(Number(out)), `${key}: ${out}`).toBe(true);
      }
    });
  });

  it('exposes the problems list as the problem sensor attributes', () => {
    const c = payload.components.problem;
    if (c.platform !== 'binary_sensor' || !c.json_attributes_template)
      throw new Error('attributes template expected');
    expect(c.json_attributes_topic).toBe(`${B}/state`);
    for (const snapshot of Object.values(SNAPSHOTS)) {
      const attributes: unknown = JSON.parse(renderTemplate(c.json_attributes_template, snapshot));
      // mqtt/entity.py: attributes must be a JSON object; blocked names are dropped.
      expect(attributes).toEqual({ problems: (snapshot as { problems: string[] }).problems });
      for (const name of Object.keys(attributes as object))
        expect(MQTT_ATTRIBUTES_BLOCKED).not.toContain(name);
    }
  });
});

describe('the template evaluator behaves like Jinja on the constructs used', () => {
  it('renders Python values and is lazy in conditionals', () => {
    expect(renderTemplate('{{ value_json.a }}', { a: null })).toBe('None');
    expect(renderTemplate('{{ value_json.a }}', { a: true })).toBe('True');
    expect(renderTemplate("{{ value_json.a.b if value_json.a else 'None' }}", { a: null })).toBe('None');
    expect(renderTemplate("{{ 'ON' if value_json.l | length > 0 else 'OFF' }}", { l: [] })).toBe('OFF');
    expect(renderTemplate("{{ value_json.n if value_json.n is number else 'None' }}", { n: 'x' })).toBe(
      'None',
    );
    expect(JSON.parse(renderTemplate("{{ {'k': value_json.l} | tojson }}", { l: ["it's"] }))).toEqual({
      k: ["it's"],
    });
  });

  it('throws where HA would log a template variable warning or error: a field the snapshot lacks', () => {
    expect(() => renderTemplate('{{ value_json.operation.kind }}', { primary: 'master' })).toThrow(
      /undefined/,
    );
    expect(() => renderTemplate("{{ 'ON' if value_json.missing else 'OFF' }}", {})).toThrow(/undefined/);
  });
});

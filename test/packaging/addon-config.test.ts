/**
 * The Home Assistant add-on's files against the Supervisor's own rules. The Supervisor cannot run here, so its
 * validators are restated below from home-assistant/supervisor at commit 090ef31e (2026-08-21):
 * - supervisor/store/data.py: `_find_app_configs` globs `**\/config.{yaml,yml,json}` in the repository clone,
 *   skipping paths with a part starting with "." or named "rootfs"; `_read_git_repository` reads repository.yaml
 *   against SCHEMA_REPOSITORY_CONFIG (supervisor/store/validate.py: name required, url, maintainer).
 * - supervisor/apps/validate.py: _SCHEMA_APP_CONFIG (the keys and their types), RE_VOLUME, RE_SERVICE,
 *   SCHEMA_ELEMENT, SCHEMA_TRANSLATION_CONFIGURATION / SCHEMA_APP_TRANSLATIONS, and _warn_app_config (deprecated
 *   keys, arches and map types).
 * - supervisor/apps/options.py: RE_SCHEMA_ELEMENT, AppOptions._single_validate (how each type checks a value) and
 *   _check_missing_options (a type ending in "?" is optional).
 * - supervisor/apps/const.py: MappingType, RE_SLUG; supervisor/const.py: ARCH_ALL, ARCH_DEPRECATED, AppStartup,
 *   AppBootConfig, AppStage.
 * - developers.home-assistant docs/apps/configuration.md: an optional option has "?" and no default in `options`.
 * config.yaml is read as YAML 1.1, as the Supervisor's PyYAML reads it.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  AddonConfigError,
  FIELDS,
  FIXED_VARIABLES,
  OPTION_NAMES,
  parseOptions,
} from '../../src/addon/options.js';
import { validOptions } from './addon-fixtures.js';
import { SPEC_SECRETS, specDefaultBanner, specVariables } from './spec.js';

const ADDON = 'jellyfin-failover';

function yaml11(path: string): unknown {
  const text = readFileSync(path, 'utf8');
  const v11 = parse(text, { version: '1.1' }) as unknown;
  // Nothing that YAML 1.1 (PyYAML, the Supervisor) and 1.2 read differently, such as `no` or `1:20`.
  expect(parse(text, { version: '1.2' })).toEqual(v11);
  return v11;
}

type Config = Record<string, unknown> & {
  options: Record<string, unknown>;
  schema: Record<string, unknown>;
};
const config = yaml11(join(ADDON, 'config.yaml')) as Config;
const packageVersion = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;

// supervisor/apps/options.py RE_SCHEMA_ELEMENT (Python's (?P<name>) groups written as JS (?<name>)).
const RE_SCHEMA_ELEMENT = new RegExp(
  '^(?:' +
    '|bool' +
    '|email' +
    '|url' +
    '|port' +
    '|device(?:\\((?<filter>subsystem=[a-z]+)\\))?' +
    '|str(?:\\((?<s_min>\\d+)?,(?<s_max>\\d+)?\\))?' +
    '|password(?:\\((?<p_min>\\d+)?,(?<p_max>\\d+)?\\))?' +
    '|int(?:\\((?<i_min>-?\\d+)?,(?<i_max>-?\\d+)?\\))?' +
    '|float(?:\\((?<f_min>-?\\d*\\.?\\d+)?,(?<f_max>-?\\d*\\.?\\d+)?\\))?' +
    '|match\\((?<match>.*)\\)' +
    '|list\\((?<list>.+)\\)' +
    ')\\??$',
);
// supervisor/apps/validate.py
const RE_VOLUME =
  /^(data|config|ssl|local_apps|addons|backup|share|media|homeassistant_config|all_app_configs|all_addon_configs|app_config|addon_config)(?::(rw|ro))?$/;
const RE_SERVICE = /^(?<service>mqtt|mysql):(?<rights>provide|want|need)$/;
// supervisor/apps/const.py MappingType, less the legacy ones deprecated in 2026.07 (addons, all_addon_configs,
// addon_config) and `config` (deprecated for homeassistant_config).
const MAPPING_TYPES = [
  'data',
  'ssl',
  'local_apps',
  'backup',
  'share',
  'media',
  'homeassistant_config',
  'all_app_configs',
  'app_config',
];
const RE_SLUG = /^[-_.A-Za-z0-9]+$/;
const ARCH_ALL = ['aarch64', 'amd64'];
const ARCH_DEPRECATED = ['armhf', 'armv7', 'i386'];
// The keys of _SCHEMA_APP_CONFIG; anything else is silently dropped by the Supervisor (extra=REMOVE_EXTRA), so a
// misspelt key would just vanish.
const APP_CONFIG_KEYS = [
  'name',
  'version',
  'slug',
  'description',
  'arch',
  'machine',
  'url',
  'startup',
  'boot',
  'init',
  'advanced',
  'stage',
  'ports',
  'ports_description',
  'watchdog',
  'webui',
  'ingress',
  'ingress_port',
  'ingress_entry',
  'ingress_stream',
  'panel_icon',
  'panel_title',
  'panel_admin',
  'homeassistant',
  'host_network',
  'host_pid',
  'host_ipc',
  'host_uts',
  'host_dbus',
  'devices',
  'udev',
  'tmpfs',
  'map',
  'environment',
  'privileged',
  'apparmor',
  'full_access',
  'audio',
  'video',
  'gpio',
  'usb',
  'uart',
  'devicetree',
  'kernel_modules',
  'realtime',
  'hassio_api',
  'hassio_role',
  'homeassistant_api',
  'stdin',
  'legacy',
  'docker_api',
  'auth_api',
  'services',
  'discovery',
  'backup_exclude',
  'backup_pre',
  'backup_post',
  'backup',
  'options',
  'schema',
  'image',
  'ulimits',
  'timeout',
  'journald',
  'breaking_versions',
];
// _warn_app_config / _migrate_app_config: ignored or renamed keys.
const DEPRECATED_KEYS = [
  'advanced',
  'codenotary',
  'auto_uart',
  'snapshot',
  'snapshot_exclude',
  'snapshot_pre',
];
const STARTUP = ['initialize', 'system', 'services', 'application', 'once'];
const BOOT = ['auto', 'manual', 'manual_only'];
const STAGE = ['stable', 'experimental', 'deprecated'];

function isUrl(v: unknown): boolean {
  // voluptuous Url(): urlparse has a scheme and a netloc.
  if (typeof v !== 'string') return false;
  try {
    const u = new URL(v);
    return u.protocol.length > 1 && u.host !== '';
  } catch {
    return false;
  }
}

/** SCHEMA_ELEMENT: a type string, a list of one element (not itself a list), or a dict of elements. */
function schemaElementProblems(key: string, element: unknown, depth = 0): string[] {
  if (typeof element === 'string') {
    const m = RE_SCHEMA_ELEMENT.exec(element);
    if (!m || element === '' || element === '?')
      return [`${key}: "${element}" is not a Supervisor schema type`];
    const pattern = m.groups?.match;
    if (pattern !== undefined) {
      // vol.Match uses re.match: anchored at the start only, so the pattern must end with $ itself.
      if (!pattern.startsWith('^') || !pattern.endsWith('$'))
        return [`${key}: match(${pattern}) must be ^...$`];
      try {
        new RegExp(pattern);
      } catch (err) {
        return [`${key}: match(${pattern}) does not compile: ${(err as Error).message}`];
      }
    }
    return [];
  }
  if (Array.isArray(element)) {
    if (element.length !== 1 || Array.isArray(element[0]))
      return [`${key}: a list holds exactly one element type`];
    return schemaElementProblems(key, element[0], depth + 1);
  }
  if (element !== null && typeof element === 'object' && depth < 2) {
    return Object.entries(element).flatMap(([k, v]) => schemaElementProblems(`${key}.${k}`, v, depth + 1));
  }
  return [`${key}: not a schema element`];
}

/** AppOptions._single_validate for the types this add-on uses: null when the value passes. */
function supervisorRefuses(type: string, value: unknown): string | null {
  const m = RE_SCHEMA_ELEMENT.exec(type);
  if (!m) return `unknown type ${type}`;
  if (value === null || value === undefined) return `Missing required option`;
  const g = m.groups ?? {};
  if (type.startsWith('str') || type.startsWith('password')) {
    if (typeof value !== 'string') return 'expected str';
    const min = g.s_min ?? g.p_min;
    const max = g.s_max ?? g.p_max;
    if (min !== undefined && value.length < Number(min)) return 'too short';
    if (max !== undefined && value.length > Number(max)) return 'too long';
    return null;
  }
  if (type.startsWith('int')) {
    const n = Number(value);
    if (!Number.isInteger(n)) return 'expected int';
    if (g.i_min !== undefined && n < Number(g.i_min)) return 'below the minimum';
    if (g.i_max !== undefined && n > Number(g.i_max)) return 'above the maximum';
    return null;
  }
  if (type.startsWith('bool')) return typeof value === 'boolean' ? null : 'expected boolean';
  if (type.startsWith('url')) return isUrl(value) ? null : 'expected a URL';
  if (type.startsWith('match'))
    return new RegExp(g.match ?? '').test(String(value)) ? null : 'does not match';
  if (type.startsWith('list'))
    return (g.list ?? '').split('|').includes(String(value)) ? null : 'not in the list';
  return `type ${type} not covered by this test`;
}

const isOptional = (type: unknown) =>
  (typeof type === 'string' && type.endsWith('?')) ||
  (Array.isArray(type) && typeof type[0] === 'string' && type[0].endsWith('?'));

describe('Supervisor store: repository and where the add-on is found', () => {
  it('repository.yaml is a valid repository description', () => {
    const repo = yaml11('repository.yaml') as Record<string, unknown>;
    expect(typeof repo.name).toBe('string');
    expect(isUrl(repo.url)).toBe(true);
    expect(typeof repo.maintainer).toBe('string');
    expect(Object.keys(repo).filter((k) => !['name', 'url', 'maintainer'].includes(k))).toEqual([]);
  });

  it('finds exactly one add-on: jellyfin-failover/config.yaml', () => {
    // What the Supervisor's clone holds: the repository less what .gitignore keeps out of it (these folder
    // patterns match at any depth).
    const ignored = new Set(['node_modules', 'dist', 'data', 'coverage']);
    const found: string[] = [];
    const walk = (rel: string) => {
      for (const entry of readdirSync(rel === '' ? '.' : rel, { withFileTypes: true })) {
        const path = rel === '' ? entry.name : `${rel}/${entry.name}`;
        if (
          entry.name.startsWith('.') ||
          entry.name === 'rootfs' ||
          (entry.isDirectory() && ignored.has(entry.name))
        )
          continue;
        if (entry.isDirectory()) walk(path);
        else if (/^config\.(yaml|yml|json)$/.test(entry.name)) found.push(path);
      }
    };
    walk('');
    expect(found).toEqual([`${ADDON}/config.yaml`]);
  });
});

describe('config.yaml', () => {
  it('has the required keys, valid, and only keys the Supervisor knows', () => {
    expect(typeof config.name).toBe('string');
    expect(typeof config.description).toBe('string');
    expect(config.slug).toMatch(RE_SLUG);
    expect(config.version).toBe(packageVersion);
    expect(Array.isArray(config.arch) && config.arch.length > 0).toBe(true);
    for (const arch of config.arch as string[]) {
      expect(ARCH_ALL).toContain(arch);
      expect(ARCH_DEPRECATED).not.toContain(arch);
    }
    expect(isUrl(config.url)).toBe(true);
    expect(Object.keys(config).filter((k) => !APP_CONFIG_KEYS.includes(k))).toEqual([]);
    expect(Object.keys(config).filter((k) => DEPRECATED_KEYS.includes(k))).toEqual([]);
    expect(STARTUP).toContain(config.startup);
    expect(BOOT).toContain(config.boot);
    expect(STAGE).toContain(config.stage);
    expect(config.init).toBe(false);
    expect(
      Number.isInteger(config.timeout) &&
        (config.timeout as number) >= 10 &&
        (config.timeout as number) <= 300,
    ).toBe(true);
    expect(config.homeassistant).toMatch(/^\d{4}\.\d{1,2}\.\d+$/);
    // The service reaches the sites itself: no ports, no web UI, no host network, no Docker or Supervisor API.
    for (const key of [
      'ports',
      'webui',
      'ingress',
      'host_network',
      'docker_api',
      'hassio_api',
      'full_access',
    ]) {
      expect(config[key], key).toBeUndefined();
    }
  });

  it('consumes the MQTT service: services is [mqtt:want]', () => {
    expect(config.services).toEqual(['mqtt:want']);
    for (const s of config.services as string[]) expect(s).toMatch(RE_SERVICE);
  });

  it('maps only valid, non-deprecated folders', () => {
    const map = config.map as unknown[];
    expect(Array.isArray(map)).toBe(true);
    for (const entry of map) {
      if (typeof entry === 'string') {
        const m = RE_VOLUME.exec(entry);
        expect(m, entry).not.toBeNull();
        expect(MAPPING_TYPES).toContain(m?.[1]);
      } else {
        const e = entry as Record<string, unknown>;
        expect(MAPPING_TYPES).toContain(e.type);
        expect(Object.keys(e).filter((k) => !['type', 'read_only', 'path'].includes(k))).toEqual([]);
        if ('read_only' in e) expect(typeof e.read_only).toBe('boolean');
        if ('path' in e) expect(typeof e.path === 'string' && e.path !== '' && e.path !== '/').toBe(true);
      }
    }
    expect(map).toEqual([{ type: 'ssl', read_only: true }]);
  });

  it('gives every option a valid Supervisor schema type', () => {
    expect(Object.entries(config.schema).flatMap(([k, v]) => schemaElementProblems(k, v))).toEqual([]);
  });

  it('offers exactly the options the entrypoint reads, each with a schema entry', () => {
    expect(Object.keys(config.schema).sort()).toEqual([...OPTION_NAMES].sort());
    // Required options have a default (null: the user must fill it in); optional ("?") ones have none, or the
    // Supervisor would make them required (docs/apps/configuration.md).
    for (const [key, type] of Object.entries(config.schema)) {
      if (isOptional(type)) expect(config.options, key).not.toHaveProperty(key);
      else expect(config.options, key).toHaveProperty(key);
    }
    expect(Object.keys(config.options).filter((k) => !(k in config.schema))).toEqual([]);
  });

  it('has defaults that pass both the Supervisor schema and the entrypoint', () => {
    for (const [key, value] of Object.entries(config.options)) {
      if (value === null) continue; // required, no default: the Supervisor asks the user
      const type = config.schema[key];
      const values = Array.isArray(type) ? (value as unknown[]) : [value];
      const element = Array.isArray(type) ? type[0] : type;
      for (const v of values) expect(supervisorRefuses(element as string, v), key).toBeNull();
    }
    const filled = {
      ...config.options,
      ...Object.fromEntries(Object.entries(validOptions()).filter(([k]) => config.options[k] === null)),
    };
    expect(() => parseOptions(filled)).not.toThrow();
    expect(config.options.slave_banner).toBe(specDefaultBanner());
  });

  it('uses the right types: secrets as password, numbers as int, switches as bool, choices as list', () => {
    for (const field of FIELDS) {
      const type = config.schema[field.option];
      if (SPEC_SECRETS.includes(field.variable)) expect(type, field.option).toBe('password?');
      else if (field.kind === 'integer') expect(type, field.option).toMatch(/^int\(\d+,\d+\)$/);
      else if (field.kind === 'boolean') expect(type, field.option).toBe('bool');
      else if (field.kind === 'list') expect(type, field.option).toEqual(['str']);
      else if (/_URL$/.test(field.variable)) expect(type, field.option).toMatch(/^url\??$/);
      else
        expect(typeof type === 'string' && /^(str|match\(.*\)|list\(.*\))\??$/.test(type), field.option).toBe(
          true,
        );
    }
  });

  // What the Supervisor refuses should be what the entrypoint refuses, so a user hears of it in the UI first.
  it.each([
    [
      'master_ssh',
      ['root@192.168.1.10', 'admin@tower.lan:2222', 'root@[fd00::1]:22'],
      ['tower', 'root@', '@host'],
    ],
    ['master_docker', ['ssh', 'tcp://192.168.1.10:2375'], ['unix:///var/run/docker.sock', 'ssh://root@x']],
    ['master_container', ['jellyfin', 'jf_2.0-a'], ['-jf', 'my jellyfin']],
    ['master_config_dir', ['/mnt/cache/appdata/jellyfin'], ['appdata/jellyfin']],
    [
      'failover_id',
      ['jellyfin', 'jellyfin_2', 'a'.repeat(64)],
      ['Jellyfin', 'jelly__fin', '_jf', 'a'.repeat(65)],
    ],
    ['mqtt_base_topic', ['jellyfin-failover', 'home/jf'], ['/jf', 'jf/', 'jf/#', 'a+b']],
    ['jellyfin_layout', ['auto', 'linuxserver', 'official'], ['docker']],
    ['sync_mode', ['auto', 'online', 'stopped'], ['offline']],
    ['log_level', ['info', 'trace', 'silent'], ['verbose']],
  ])('%s: the Supervisor schema and the entrypoint agree', (option, good, bad) => {
    const type = (config.schema[option] as string).replace(/\?$/, '');
    const entrypointRefuses = (value: string) => {
      try {
        parseOptions(validOptions({ [option]: value }));
        return false;
      } catch (err) {
        if (!(err instanceof AddonConfigError)) throw err;
        return err.problems.some((p) => p.option === option);
      }
    };
    for (const v of good) {
      expect(supervisorRefuses(type, v), `${option}=${v}`).toBeNull();
      expect(entrypointRefuses(v), `${option}=${v}`).toBe(false);
    }
    for (const v of bad) {
      expect(supervisorRefuses(type, v), `${option}=${v}`).not.toBeNull();
      expect(entrypointRefuses(v), `${option}=${v}`).toBe(true);
    }
  });
});

describe('SPEC section 2 coverage', () => {
  const spec = specVariables();

  it('covers every SPEC variable: as an option, or fixed by the add-on in /data', () => {
    const byOption = FIELDS.map((f) => f.variable);
    const covered = new Set([...byOption, ...FIXED_VARIABLES]);
    expect(spec.map((v) => v.name).filter((name) => !covered.has(name))).toEqual([]);
    expect([...covered].filter((name) => !spec.some((v) => v.name === name))).toEqual([]);
    expect(new Set(byOption).size).toBe(byOption.length);
  });

  it("keeps SPEC's defaults, except where the add-on's topology decides", () => {
    const topology: Record<string, { offered: unknown; because: RegExp }> = {
      // Both sites are remote from the Home Assistant host, so Docker goes through SSH.
      MASTER_DOCKER: { offered: 'ssh', because: /`ssh` for a remote site/ },
      SLAVE_DOCKER: { offered: 'ssh', because: /`ssh` for a remote site/ },
      // Empty: the broker the Supervisor offers, instead of mqtt://localhost:1883 (nothing listens there).
      MQTT_URL: { offered: undefined, because: /^`mqtt:\/\/localhost:1883`$/ },
    };
    for (const field of FIELDS) {
      const v = spec.find((s) => s.name === field.variable);
      const offered = config.options[field.option];
      const special = topology[field.variable];
      if (special) {
        expect(offered, field.option).toBe(special.offered);
        expect(v?.defaultText, field.option).toMatch(special.because);
      } else if (field.variable === 'SLAVE_BANNER') {
        expect(v?.defaultText).toBe('a default English warning');
        expect(offered).toBe(specDefaultBanner());
      } else if (v?.default === null || v?.default === '') {
        // none, empty, required: nothing offered (an empty list for a list), or null where the user must fill it in
        expect([undefined, null, []], field.option).toContainEqual(offered);
        expect(offered === null, field.option).toBe(field.required !== undefined);
      } else {
        expect(String(offered), field.option).toBe(v?.default);
      }
    }
  });
});

describe('translations/en.yaml', () => {
  it('names and describes every option, and nothing else', () => {
    const t = yaml11(join(ADDON, 'translations/en.yaml')) as {
      configuration: Record<string, { name?: unknown; description?: unknown }>;
    };
    expect(Object.keys(t)).toEqual(['configuration']);
    expect(Object.keys(t.configuration).sort()).toEqual(Object.keys(config.schema).sort());
    for (const [key, entry] of Object.entries(t.configuration)) {
      expect(typeof entry.name === 'string' && entry.name.length > 0, key).toBe(true);
      expect(typeof entry.description === 'string' && entry.description.length > 0, key).toBe(true);
      expect(
        Object.keys(entry).filter((k) => !['name', 'description'].includes(k)),
        key,
      ).toEqual([]);
    }
  });
});

describe('add-on build and documents', () => {
  const dockerfile = readFileSync(join(ADDON, 'Dockerfile'), 'utf8');

  it('builds FROM the service image named by a build argument, tagged with the version', () => {
    const arg = /^ARG JELLYFIN_FAILOVER_IMAGE=(\S+):(\S+)$/m.exec(dockerfile);
    expect(arg?.[2]).toBe(packageVersion);
    expect(dockerfile).toMatch(/^FROM \$\{JELLYFIN_FAILOVER_IMAGE\}$/m);
    // Not BUILD_FROM: older Supervisors pass their own base image in BUILD_FROM to add-ons without build.yaml.
    expect(dockerfile).not.toMatch(/^ARG BUILD_FROM/m);
    // build.yaml is deprecated since Supervisor 2026.04 (supervisor/apps/build.py warns about it).
    expect(existsSync(join(ADDON, 'build.yaml'))).toBe(false);
  });

  it('starts the compiled entrypoint of src/addon/entrypoint.ts', () => {
    const entry = /^ENTRYPOINT (\[.*\])$/m.exec(dockerfile);
    expect(JSON.parse(entry?.[1] ?? '[]')).toEqual([
      '/usr/bin/tini',
      '--',
      'node',
      '/app/dist/addon/entrypoint.js',
    ]);
    // npm run build compiles src/ into dist/ (tsconfig.build.json), and the service image copies dist/ to /app/dist.
    const build = JSON.parse(readFileSync('tsconfig.build.json', 'utf8')) as {
      compilerOptions: { rootDir: string; outDir: string };
    };
    expect(build.compilerOptions).toMatchObject({ rootDir: 'src', outDir: 'dist' });
    expect(existsSync('src/addon/entrypoint.ts')).toBe(true);
    expect(dockerfile).toMatch(/^ENV STATE_DIR=\/data$/m);
    // The Supervisor's /data belongs to root, and the service image defaults to the user node.
    const fromAt = dockerfile.search(/^FROM /m);
    expect(dockerfile.slice(fromAt)).toMatch(/^USER root$/m);
  });

  it('ships the store documents, and says the image is not published yet', () => {
    for (const file of ['README.md', 'DOCS.md', 'CHANGELOG.md']) {
      expect(readFileSync(join(ADDON, file), 'utf8').length, file).toBeGreaterThan(100);
    }
    expect(readFileSync(join(ADDON, 'CHANGELOG.md'), 'utf8')).toContain(`## ${packageVersion}`);
    const docs = readFileSync(join(ADDON, 'DOCS.md'), 'utf8');
    expect(docs).toContain('That image is not published yet');
    // The commands a user needs: authorise the key, pin each host key, check fingerprints.
    expect(docs).toContain('>> ~/.ssh/authorized_keys');
    expect(docs).toContain('restrict ssh-ed25519');
    expect(docs).toContain('cat /etc/ssh/ssh_host_ed25519_key.pub');
    expect(docs).toMatch(/ssh-keyscan -t ed25519 .*\| ssh-keygen -lf -/);
    for (const option of OPTION_NAMES) expect(docs, option).toContain(`\`${option}\``);
  });
});

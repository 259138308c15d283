/**
 * The Unraid Community Applications template. Unraid cannot run here; the template is checked against the format
 * Unraid's Docker tab writes and reads (unraid/webgui emhttp/plugins/dynamix.docker.manager/include/Helpers.php:
 * postToXML writes the elements and the Config attributes in this order, xmlToVar/xmlToCommand read them, and an
 * empty Config value is replaced by its Default) and CA's note that it only parses files in that format.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { XMLParser } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { SPEC_SECRETS, specDefaultBanner, specVariables } from './spec.js';

const FILE = 'unraid/jellyfin-failover.xml';
const text = readFileSync(FILE, 'utf8');

interface ConfigEntry {
  Name: string;
  Target: string;
  Default: string;
  Mode: string;
  Description: string;
  Type: string;
  Display: string;
  Required: string;
  Mask: string;
  '#text'?: string;
}

const parsed = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseAttributeValue: false,
  parseTagValue: false,
  trimValues: false,
  isArray: (name) => name === 'Config',
}).parse(text) as { Container: Record<string, unknown> & { version: string; Config: ConfigEntry[] } };
const container = parsed.Container;
const configs = container.Config;
const variables = configs.filter((c) => c.Type === 'Variable');
const paths = configs.filter((c) => c.Type === 'Path');
const byTarget = (target: string) => variables.find((v) => v.Target === target);
const element = (name: string) => {
  const v = container[name];
  return typeof v === 'string' ? v : v === '' || v === undefined ? '' : String(v);
};

describe('Unraid template', () => {
  it('is a version 2 container template with the elements CA shows', () => {
    expect(container.version).toBe('2');
    expect(element('Name')).toBe('jellyfin-failover');
    expect(element('Repository')).toMatch(/^ghcr\.io\/jellyfin-failover\/jellyfin-failover:[\w.-]+$/);
    for (const url of ['Registry', 'Support', 'Project', 'ReadMe', 'TemplateURL', 'Icon']) {
      expect(element(url), url).toMatch(/^https:\/\/\S+$/);
    }
    expect(element('Overview').length).toBeGreaterThan(200);
    expect(element('Overview')).not.toMatch(/<[a-z]/i);
    expect(element('Category')).toBe('HomeAutomation: MediaServer:Video Tools:Utilities');
    expect(container).toHaveProperty('WebUI');
    expect(element('WebUI')).toBe('');
    expect(element('Network')).toBe('host');
    expect(element('Privileged')).toBe('false');
    expect(element('PostArgs')).toBe('run');
    expect(element('TemplateURL').endsWith(`/${FILE}`)).toBe(true);
    // The icon is the add-on's, which is in this repository.
    const icon = element('Icon').split('/main/')[1] ?? '';
    expect(readdirSync('jellyfin-failover')).toContain(icon.replace('jellyfin-failover/', ''));
  });

  it('runs as root (it writes the local config tree, drives the socket) with a stop grace as long as the add-on', () => {
    const addon = parse(readFileSync('jellyfin-failover/config.yaml', 'utf8')) as { timeout: number };
    expect(element('ExtraParams')).toBe(`--user=0:0 --stop-timeout=${addon.timeout}`);
    // The guide the template's comment sends a user to, for running as PUID:PGID instead, has that section.
    const section = /docs\/install-unraid\.md, "([^"]+)"/.exec(text)?.[1];
    expect(section).toBeDefined();
    const headings = readFileSync('docs/install-unraid.md', 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('## '));
    expect(headings.some((h) => h.endsWith(` ${section}`))).toBe(true);
    expect(element('ReadMe').endsWith('/docs/install-unraid.md')).toBe(true);
  });

  it('writes every Config in the attribute order and spacing of Unraid (CA parses only that)', () => {
    const lines = text.split('\n').filter((l) => l.includes('<Config '));
    expect(lines).toHaveLength(configs.length);
    const format =
      /^ {2}<Config Name="[^"]+" Target="[^"]+" Default="[^"]*" Mode="[^"]*" Description="[^"]+" Type="(Variable|Path|Port|Device|Label)" Display="(always|advanced|always-hide|advanced-hide)" Required="(true|false)" Mask="(true|false)"(\/>|>[^<]*<\/Config>)$/;
    for (const line of lines) expect(line).toMatch(format);
    // The value is the default (an empty value would fall back to it anyway).
    for (const c of configs) expect(c['#text'] ?? '', c.Target).toBe(c.Default);
  });

  it('has every SPEC variable and nothing else, secrets masked', () => {
    const spec = specVariables();
    expect(variables.map((v) => v.Target).sort()).toEqual(spec.map((v) => v.name).sort());
    expect(new Set(variables.map((v) => v.Target)).size).toBe(variables.length);
    for (const v of variables)
      expect(v.Mask, v.Target).toBe(SPEC_SECRETS.includes(v.Target) ? 'true' : 'false');
  });

  it("keeps SPEC's defaults, except the paths and the remote master of the service-on-slave topology", () => {
    const state = paths.find((p) => p.Target === '/data');
    const topology: Record<string, { value: string; required: string }> = {
      // The image's state dir, with the State path mounted there; the key and known_hosts kept in it.
      STATE_DIR: { value: '/data', required: 'false' },
      SSH_KEY_FILE: { value: '/data/ssh/id_ed25519', required: 'true' },
      SSH_KNOWN_HOSTS_FILE: { value: '/data/ssh/known_hosts', required: 'true' },
      // The service runs on slave: master is remote, so its SSH login is required.
      MASTER_SSH: { value: '', required: 'true' },
      SLAVE_BANNER: { value: specDefaultBanner(), required: 'false' },
    };
    expect(state?.Target).toBe('/data');
    for (const v of specVariables()) {
      const entry = byTarget(v.name);
      const special = topology[v.name];
      if (special) {
        expect([entry?.Default, entry?.Required], v.name).toEqual([special.value, special.required]);
        continue;
      }
      const required =
        /^required\b/.test(v.defaultText) && !/with SWAG|if a site is remote/.test(v.defaultText);
      expect(entry?.Default, v.name).toBe(v.default ?? '');
      expect(entry?.Required, v.name).toBe(required ? 'true' : 'false');
    }
    for (const v of variables) {
      if (v.Required === 'true' && v.Default === '') expect(v.Display, v.Target).toBe('always');
    }
  });

  it('mounts the Docker socket, the state, and the appdata holding the config dir at the same path', () => {
    const socket = paths.find((p) => p.Target === '/var/run/docker.sock');
    expect([socket?.Default, socket?.Required]).toEqual(['/var/run/docker.sock', 'true']);
    const state = paths.find((p) => p.Target === '/data');
    expect(state?.Default).toMatch(/^\/mnt\/\S+\/jellyfin-failover$/);
    const samePath = paths.filter((p) => p.Target === p.Default && p.Target.startsWith('/mnt/'));
    expect(samePath).toHaveLength(1);
    expect(samePath[0]?.Description).toContain('SAME path');
    expect(byTarget('SLAVE_CONFIG_DIR')?.Description).toContain('inside the Appdata path');
    for (const p of paths) expect(['rw', 'ro']).toContain(p.Mode);
    expect(paths).toHaveLength(3);
  });
});

import { isIP } from 'node:net';
import type { SiteName } from '../../domain/sites.js';

/** The upstream name the proxy conf sends to (`proxy_pass http://jellyfin_failover;`). */
export const UPSTREAM_NAME = 'jellyfin_failover';

/**
 * nginx's passive health check: after `maxFails` failed attempts within `failTimeoutS`, a server is left out for
 * `failTimeoutS`, and requests go to the other one. Three failures, not one, so a single Jellyfin error does not
 * send users to the standby (where anything they do makes it diverge).
 */
export interface PassiveHealth {
  maxFails: number;
  failTimeoutS: number;
}

export const DEFAULT_PASSIVE_HEALTH: PassiveHealth = { maxFails: 3, failTimeoutS: 30 };

export interface Routing {
  primary: SiteName;
  standby: SiteName;
  /** `host:port` of each site's Jellyfin, as nginx reaches it (see `upstreamServerOf`). */
  servers: Record<SiteName, string>;
  health?: PassiveHealth;
}

/** A host name, an IPv4 address or a bracketed IPv6 address, then a port: nothing nginx could read as syntax. */
const HOST_PORT = /^(?:[A-Za-z0-9_][A-Za-z0-9_.-]*|\[[0-9A-Fa-f:.]+\]):\d{1,5}$/;

/**
 * The `host:port` nginx should reach a site's Jellyfin at, from its `*_URL`: the port is the URL's, or the scheme's
 * default. Throws, naming the variable, for anything that would not be a plain nginx server address.
 */
export function upstreamServerOf(url: string, variable: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (err) {
    throw new Error(`${variable}=${url} is not a URL`, { cause: err });
  }
  const port = parsed.port || (parsed.protocol === 'https:' ? '443' : '80');
  const server = `${parsed.hostname}:${port}`;
  if (!HOST_PORT.test(server)) {
    throw new Error(
      `${variable}=${url}: ${parsed.hostname} cannot be an nginx upstream server; use an IP address or a plain host name`,
    );
  }
  return server;
}

/**
 * The upstream include the service owns (SPEC section 5): the primary first, the standby as nginx's `backup`, both
 * with the passive health settings. Pure: the same routing always gives the same bytes, so an unchanged include
 * can be recognised on disk.
 */
export function buildUpstreamInclude(routing: Routing): string {
  const { primary, standby, servers } = routing;
  const health = routing.health ?? DEFAULT_PASSIVE_HEALTH;
  if (primary === standby) throw new Error(`the primary and the standby are both ${primary}`);
  for (const site of [primary, standby]) {
    if (!HOST_PORT.test(servers[site])) {
      throw new Error(`${servers[site]} (${site}) is not a host:port nginx accepts as an upstream server`);
    }
  }
  if (servers[primary] === servers[standby]) {
    throw new Error(
      `master and slave are both at ${servers[primary]}: MASTER_URL and SLAVE_URL must name different servers`,
    );
  }
  if (!Number.isInteger(health.maxFails) || health.maxFails < 1) {
    throw new Error(`max_fails must be a whole number of at least 1, not ${health.maxFails}`);
  }
  if (!Number.isInteger(health.failTimeoutS) || health.failTimeoutS < 1) {
    throw new Error(`fail_timeout must be a whole number of seconds, at least 1, not ${health.failTimeoutS}`);
  }
  const passive = `max_fails=${health.maxFails} fail_timeout=${health.failTimeoutS}s`;
  return [
    '# Written by jellyfin-failover on every traffic switch: do not edit, changes are overwritten.',
    `# primary: ${primary}, standby: ${standby} (nginx uses the backup only while the primary fails)`,
    `upstream ${UPSTREAM_NAME} {`,
    `    server ${servers[primary]} ${passive};`,
    `    server ${servers[standby]} backup ${passive};`,
    '}',
    '',
  ].join('\n');
}

/**
 * The servers nginx tried for a request, in order, from its `$upstream_addr` (sent back as `X-Jellyfin-Backend`):
 * one address, or several when it fell back (`a:1, b:2`, or `a:1 : b:2` after an internal redirect). The first is
 * where nginx routes; the last gave the response. Empty when the header is missing or empty.
 */
export function triedBackends(header: string | null): string[] {
  if (header === null) return [];
  return header
    .split(/\s*,\s*|\s+:\s+/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** The server that gave the response: the last one nginx tried, or null without a header. */
export function answeringBackend(header: string | null): string | null {
  return triedBackends(header).at(-1) ?? null;
}

/** The addresses nginx may report for `server` (`host:port`): itself, or each IP its host name resolves to. */
export function addressesFor(server: string, resolved: readonly string[]): Set<string> {
  const port = server.slice(server.lastIndexOf(':') + 1);
  const addresses = new Set([server]);
  for (const ip of resolved) addresses.add(isIP(ip) === 6 ? `[${ip}]:${port}` : `${ip}:${port}`);
  return addresses;
}

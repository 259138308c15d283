import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ContainerControl, ExecResult, HostShell, TrafficSwitch } from '../../domain/ports.js';
import type { SiteName } from '../../domain/sites.js';
import type { Logger } from '../../log.js';
import { SiteFiles } from '../files/site-files.js';
import { getThroughProxy } from './probe.js';
import {
  addressesFor,
  buildUpstreamInclude,
  type PassiveHealth,
  triedBackends,
  UPSTREAM_NAME,
} from './upstream.js';

/** What the verification requests through the proxy: public, cheap, answered by every Jellyfin. */
export const CHECK_PATH = '/System/Info/Public';
const PROBE_TIMEOUT_MS = 5_000;
const DEFAULT_VERIFY_TIMEOUT_MS = 20_000;
const DEFAULT_VERIFY_POLL_MS = 250;
const SAMPLE = 'swag/jellyfin-failover.subdomain.conf.sample';

export type SwagStep = 'read' | 'write' | 'test' | 'reload' | 'verify';

/** A traffic switch that failed; `step` says where it stopped, the message what was put back and what to check. */
export class SwagSwitchError extends Error {
  override readonly name = 'SwagSwitchError';
  constructor(
    message: string,
    readonly step: SwagStep,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export interface SwagTrafficSwitchOptions {
  /** Shell of the host that runs SWAG (`SWAG_SITE`): the include is written there. */
  shell: HostShell;
  /** The SWAG container, on that host's Docker. */
  container: ContainerControl;
  /** `SWAG_UPSTREAM_FILE`, a path on that host. */
  upstreamFile: string;
  /** `host:port` of each site's Jellyfin, as nginx reaches it. */
  servers: Record<SiteName, string>;
  /** `SWAG_CHECK_URL`: Jellyfin's base URL through SWAG, as this service reaches it. */
  checkUrl: string;
  logger: Logger;
  health?: PassiveHealth;
  /** How long the proxy has to show the new primary after the reload (default 20 s). */
  verifyTimeoutMs?: number;
  verifyPollMs?: number;
}

/**
 * Routes users through SWAG (SPEC section 5): rewrites the upstream include atomically, has nginx test and reload
 * it inside the SWAG container, then asks the proxy which backend answers. A switch ends with the proxy answering
 * from the new primary, or throws so that the engine rolls back. When nginx refuses the new include (or cannot be
 * reached), the previous include is put back before throwing and nginx keeps running the old one. When nginx has
 * reloaded but another server answers, the new include stays: the engine's rollback switches back.
 */
export class SwagTrafficSwitch implements TrafficSwitch {
  private readonly files: SiteFiles;

  constructor(private readonly options: SwagTrafficSwitchOptions) {
    this.files = new SiteFiles(options.shell);
  }

  private get where(): string {
    return `container ${this.options.container.name} on ${this.options.shell.label}`;
  }

  async switchTo(primary: SiteName, standby: SiteName): Promise<void> {
    const { upstreamFile, servers } = this.options;
    const log = this.options.logger.child({ primary, standby, upstreamFile });
    const started = Date.now();
    const include = buildUpstreamInclude({
      primary,
      standby,
      servers,
      ...(this.options.health ? { health: this.options.health } : {}),
    });
    const previous = await this.readInclude();

    if (previous === include) {
      // Already routed this way on disk (the undo of a switch nginx refused, a retry). Nothing to change if nginx
      // routes by it: its answer comes from the primary, or it tried the primary first and fell back because the
      // primary is down for now (an undo runs before the old primary's container is started again).
      const seen = await this.probe(primary, standby);
      if (seen.ok || seen.routedTo === primary) {
        log.info({ backend: seen.backend }, 'SWAG already routes to %s', primary);
        return;
      }
      log.info({ seen: seen.description }, 'the include is current but nginx routes otherwise: reloading it');
    }

    try {
      await this.files.writeTextAtomic(upstreamFile, include);
    } catch (err) {
      throw new SwagSwitchError(
        `Cannot write the SWAG upstream include ${upstreamFile} on ${this.options.shell.label}: ${message(err)}. ` +
          'Check SWAG_UPSTREAM_FILE and that the service may write there',
        'write',
        { cause: err },
      );
    }
    log.debug({ ms: Date.now() - started }, 'upstream include written');

    const test = await this.nginx(['nginx', '-t'], 'test', previous);
    if (test.exitCode !== 0) {
      const restored = await this.restoreFile(previous, log);
      throw new SwagSwitchError(
        `nginx -t in ${this.where} refused the configuration with the new upstream include ` +
          `(exit ${test.exitCode}): ${tail(test.stderr || test.stdout)}. ${restored} nginx was not reloaded, ` +
          'so traffic still goes where it went. Fix what nginx reports, then retry',
        'test',
      );
    }

    const reload = await this.nginx(['nginx', '-s', 'reload'], 'reload', previous);
    if (reload.exitCode !== 0) {
      const restored = await this.restoreFile(previous, log);
      throw new SwagSwitchError(
        `nginx -s reload in ${this.where} failed (exit ${reload.exitCode}): ${tail(reload.stderr || reload.stdout)}. ` +
          `${restored} Check that nginx runs in the container, then retry`,
        'reload',
      );
    }
    log.debug({ ms: Date.now() - started }, 'nginx tested and reloaded');

    // A wrong answer is not undone here: the include nginx now runs is the one asked for, and the caller (the
    // engine's rollback) switches back, which is a switch like this one.
    const backend = await this.verify(primary, standby);
    log.info({ backend, ms: Date.now() - started }, 'traffic switched: SWAG answers from %s', primary);
  }

  /** The include as it is now, or null when there is none yet. */
  private async readInclude(): Promise<string | null> {
    const { upstreamFile, shell } = this.options;
    try {
      if (!(await this.files.exists(upstreamFile))) return null;
      const text = await this.files.readText(upstreamFile);
      if (text !== null) return text;
    } catch (err) {
      throw new SwagSwitchError(
        `Cannot read the SWAG upstream include ${upstreamFile} on ${shell.label}: ${message(err)}`,
        'read',
        { cause: err },
      );
    }
    throw new SwagSwitchError(
      `The SWAG upstream include ${upstreamFile} on ${shell.label} exists but cannot be read; nothing was changed. ` +
        'Check its permissions',
      'read',
    );
  }

  /** Runs nginx in the SWAG container; a container that cannot run it puts the include back and throws. */
  private async nginx(argv: string[], step: 'test' | 'reload', previous: string | null): Promise<ExecResult> {
    try {
      return await this.options.container.exec(argv);
    } catch (err) {
      const restored = await this.restoreFile(previous, this.options.logger);
      throw new SwagSwitchError(
        `Cannot run ${argv.join(' ')} in ${this.where}: ${message(err)}. ${restored} ` +
          'Check SWAG_CONTAINER, SWAG_SITE and that the container runs',
        step,
        { cause: err },
      );
    }
  }

  /** Puts the previous include back (or removes the new one when there was none). Returns a sentence for the user. */
  private async restoreFile(previous: string | null, log: Logger): Promise<string> {
    const { upstreamFile } = this.options;
    try {
      if (previous === null) {
        const r = await this.options.shell.exec(['rm', '-f', '--', upstreamFile]);
        if (r.exitCode !== 0) throw new Error(r.stderr.trim() || `rm exit ${r.exitCode}`);
        return `${upstreamFile} did not exist before and was removed again.`;
      }
      await this.files.writeTextAtomic(upstreamFile, previous);
      return `The previous ${upstreamFile} was put back.`;
    } catch (err) {
      log.error({ err }, 'could not put the previous upstream include back');
      return `Putting the previous ${upstreamFile} back failed too (${message(err)}): check it by hand.`;
    }
  }

  /** Polls the proxy until the new primary answers; throws with the last answer seen. */
  private async verify(primary: SiteName, standby: SiteName): Promise<string> {
    const timeoutMs = this.options.verifyTimeoutMs ?? DEFAULT_VERIFY_TIMEOUT_MS;
    const pollMs = this.options.verifyPollMs ?? DEFAULT_VERIFY_POLL_MS;
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer yet';
    for (;;) {
      const seen = await this.probe(primary, standby);
      if (seen.ok) return seen.backend ?? '';
      last = seen.description;
      if (Date.now() >= deadline) break;
      await sleep(pollMs);
    }
    throw new SwagSwitchError(
      `After nginx -s reload in ${this.where}, ${this.checkUrl} did not answer from ${primary} ` +
        `(${this.options.servers[primary]}) within ${Math.round(timeoutMs / 1000)} s; last: ${last}. ` +
        `nginx runs the new ${this.options.upstreamFile}; check that ${primary} answers from the SWAG container`,
      'verify',
    );
  }

  private get checkUrl(): string {
    return `${this.options.checkUrl}${CHECK_PATH}`;
  }

  /** One request through the proxy: did the primary answer, and what was seen. */
  private async probe(primary: SiteName, standby: SiteName): Promise<Probe> {
    let status: number;
    let tried: string[];
    try {
      const answer = await getThroughProxy(this.checkUrl, PROBE_TIMEOUT_MS);
      status = answer.status;
      tried = triedBackends(answer.backendHeader);
    } catch (err) {
      return { ok: false, backend: null, routedTo: null, description: `request failed: ${message(err)}` };
    }
    const backend = tried.at(-1) ?? null;
    if (backend === null) {
      return {
        ok: false,
        backend,
        routedTo: null,
        description:
          `HTTP ${status} without an X-Jellyfin-Backend header: SWAG_CHECK_URL must reach the proxy conf ` +
          `of ${SAMPLE} (see swag/README.md)`,
      };
    }
    const [primaryAddresses, standbyAddresses] = await Promise.all([
      this.addresses(primary),
      this.addresses(standby),
    ]);
    const siteOf = (address: string | undefined): SiteName | null =>
      address === undefined
        ? null
        : primaryAddresses.has(address)
          ? primary
          : standbyAddresses.has(address)
            ? standby
            : null;
    const routedTo = siteOf(tried[0]);
    if (siteOf(backend) === primary && status < 500) return { ok: true, backend, routedTo, description: '' };
    if (backend === UPSTREAM_NAME) {
      // nginx names the upstream itself when it had no server left to try.
      return {
        ok: false,
        backend,
        routedTo,
        description: `HTTP ${status}: no server of ${UPSTREAM_NAME} answered`,
      };
    }
    const who = siteOf(backend) === standby ? `${standby}, the standby` : (siteOf(backend) ?? 'neither site');
    const via = tried.length > 1 ? ` after trying ${tried.slice(0, -1).join(', ')}` : '';
    return { ok: false, backend, routedTo, description: `HTTP ${status} from ${backend} (${who})${via}` };
  }

  /** The addresses nginx may report for a site: its host:port, or the IPs its host name resolves to. */
  private async addresses(site: SiteName): Promise<Set<string>> {
    const server = this.options.servers[site];
    const host = server.slice(0, server.lastIndexOf(':')).replace(/^\[|\]$/g, '');
    if (isIP(host) !== 0) return addressesFor(server, []);
    try {
      const resolved = await lookup(host, { all: true });
      return addressesFor(
        server,
        resolved.map((r) => r.address),
      );
    } catch {
      return addressesFor(server, []);
    }
  }
}

interface Probe {
  /** The primary answered, without a server error. */
  ok: boolean;
  /** The server that answered. */
  backend: string | null;
  /** The site nginx tried first for the request: where it routes. */
  routedTo: SiteName | null;
  /** What was seen, for messages. */
  description: string;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The last lines of nginx's output, where it says what is wrong. */
function tail(text: string): string {
  const lines = text
    .trim()
    .split('\n')
    .filter((l) => l.trim() !== '');
  return lines.slice(-3).join(' / ') || '(no output)';
}

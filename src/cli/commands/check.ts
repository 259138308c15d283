/**
 * `check`: validates the configuration (it loaded) and probes both sites without changing anything: SSH and host
 * keys, Docker endpoints, containers, config dirs, tools, free space, versions, the SWAG include.
 */
import { buildUpstreamInclude, upstreamServerOf } from '../../adapters/swag/index.js';
import type { App } from '../../compose.js';
import { locateDatabases } from '../../domain/databases.js';
import { orFallback } from '../../domain/deadline.js';
import { errorMessage } from '../../domain/errors.js';
import { formatBytes } from '../../domain/format.js';
import { checkContainersAlike } from '../../domain/guards.js';
import { layoutPaths } from '../../domain/layout.js';
import { observeSite } from '../../domain/observe.js';
import { chooseSyncMode } from '../../domain/operations/mode.js';
import { SITE_NAMES, type SiteName } from '../../domain/sites.js';
import { type PersistentState, standbyOf } from '../../domain/state.js';
import { normalizeVersion } from '../../domain/version.js';
import { WatchStateUnavailable, watchDigest } from '../../domain/watch-state.js';
import { type CommandContext, withApp } from '../context.js';
import { EXIT, type ExitCode } from '../exit.js';

type CheckStatus = 'ok' | 'warn' | 'fail';
export interface CheckLine {
  site: SiteName | 'both';
  name: string;
  status: CheckStatus;
  detail: string;
}

type Add = (site: CheckLine['site'], name: string, status: CheckStatus, detail: string) => void;

export function check(ctx: CommandContext): Promise<ExitCode> {
  return withApp(ctx, async (app) => {
    const lines: CheckLine[] = [];
    const add: Add = (site, name, status, detail) => lines.push({ site, name, status, detail });
    const state = await app.store.load();
    const versions: Partial<Record<SiteName, string | null>> = {};
    checkTopology(app, add);
    for (const name of SITE_NAMES) versions[name] = await checkSite(app, state, name, add);
    checkVersions(versions.master ?? null, versions.slave ?? null, add);
    await checkContainers(app, add);
    await checkStandbyWatch(app, state, versions[standbyOf(state)] ?? null, add);
    await checkSwag(app, state, add);
    await checkApiKey(app, state, add);
    await checkSyncMode(app, state, add);
    const failed = lines.filter((l) => l.status === 'fail').length;
    const mark = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' } as const;
    ctx.print(
      [
        'configuration: ok',
        ...lines.map((l) => `${mark[l.status]} ${l.site.padEnd(6)} ${l.name}: ${l.detail}`),
        failed ? `${failed} check(s) failed.` : 'all checks passed.',
      ].join('\n'),
      { ok: failed === 0, checks: lines },
    );
    return failed ? EXIT.failed : EXIT.ok;
  });
}

/** One site's host, Docker, container, config dir, tools and Jellyfin; returns the version it runs. */
async function checkSite(app: App, state: PersistentState, name: SiteName, add: Add): Promise<string | null> {
  const site = app.sites[name];
  const label = site.files.label;
  let hostOk = false;
  try {
    hostOk = (await app.shells[name].exec(['true'], { timeoutMs: 15_000 })).exitCode === 0;
    add(
      name,
      'host',
      hostOk ? 'ok' : 'fail',
      hostOk ? `reachable (${label})` : `cannot run commands on ${label}`,
    );
  } catch (err) {
    add(name, 'host', 'fail', errorMessage(err));
  }
  try {
    const info = await orFallback(site.container.inspect(), 15_000, null);
    if (!info) add(name, 'docker', 'fail', 'the Docker endpoint did not answer within 15 s');
    else if (info.status === 'missing') {
      add(
        name,
        'container',
        'fail',
        `container ${site.container.name} does not exist (${name.toUpperCase()}_CONTAINER)`,
      );
    } else {
      add(
        name,
        'container',
        'ok',
        `${site.container.name} is ${info.status}, restart policy ${info.restartPolicy}`,
      );
    }
  } catch (err) {
    add(name, 'docker', 'fail', errorMessage(err));
  }
  if (hostOk) await checkFiles(app, state, name, add);
  const observed = await observeSite(site);
  add(
    name,
    'jellyfin',
    observed.online ? 'ok' : 'warn',
    `${observed.jellyfin}${observed.version ? `, version ${observed.version}` : ''}`,
  );
  return observed.version ?? (await orFallback(site.container.inspect(), 10_000, null))?.imageVersion ?? null;
}

async function checkFiles(app: App, state: PersistentState, name: SiteName, add: Add): Promise<void> {
  const site = app.sites[name];
  const layout =
    app.config.layout === 'auto' ? await site.files.detectLayout(site.configDir) : app.config.layout;
  const dbOk =
    layout !== null && (await site.files.exists(`${site.configDir}/${layoutPaths(layout).database}`));
  const isStandby = standbyOf(state) === name;
  add(
    name,
    'config dir',
    dbOk ? 'ok' : isStandby ? 'warn' : 'fail',
    dbOk
      ? `${site.configDir} holds a Jellyfin database (${layout} layout)`
      : `${site.configDir} has no Jellyfin database${isStandby ? ' (fine for an empty standby before the first sync)' : ' (share not mounted? wrong JELLYFIN_LAYOUT?)'}`,
  );
  for (const tool of ['rsync', 'sqlite3'] as const) {
    const present = await site.files.hasCommand(tool);
    add(
      name,
      tool,
      present ? 'ok' : tool === 'rsync' ? 'fail' : 'warn',
      present ? 'installed' : missingTool(tool, site.isLocal),
    );
  }
  if (!isStandby) return;
  try {
    add(
      name,
      'free space',
      'ok',
      `${formatBytes(await site.files.freeBytes(site.configDir))} free on the standby`,
    );
  } catch (err) {
    add(name, 'free space', 'warn', errorMessage(err));
  }
}

function missingTool(tool: 'rsync' | 'sqlite3', local: boolean): string {
  if (tool === 'rsync') return 'not installed: install rsync on this host';
  return local
    ? 'not installed here: copied databases are not verified (PRAGMA quick_check) and users writing to the standby (standby_diverged) go unnoticed. Install sqlite3'
    : "not installed: operations read copies of its database with this host's sqlite3 instead (slower), and the standby_diverged sensor between operations is refreshed at most every 15 minutes. Install sqlite3 there";
}

/** Where the service runs: it must outlive master (SPEC section 1). */
function checkTopology(app: App, add: Add): void {
  const { master, slave } = app.config.sites;
  if (master.ssh === null) {
    add(
      'master',
      'service host',
      'warn',
      "this service runs on master's host: promote cannot run if this machine goes down. Run it on slave or on a third machine (README, Install)",
    );
  } else if (slave.ssh === null) {
    add('slave', 'service host', 'ok', 'this service runs on slave: it outlives master');
  } else {
    add('both', 'service host', 'ok', 'this service runs on a third machine: it outlives either site');
  }
}

/** The two Jellyfin containers run as the same user and see the media at the same paths (copies depend on it). */
async function checkContainers(app: App, add: Add): Promise<void> {
  const [master, slave] = await Promise.all(
    SITE_NAMES.map((s) => orFallback(app.sites[s].container.inspect(), 15_000, null)),
  );
  if (!master || !slave || master.status === 'missing' || slave.status === 'missing') return;
  const who = (i: typeof master) =>
    i.runsAs ? `${i.runsAs.uid}:${i.runsAs.gid} (${i.runsAs.from})` : 'unknown';
  const mismatch = checkContainersAlike({ master, slave });
  add(
    'both',
    'containers alike',
    mismatch ? 'fail' : 'ok',
    mismatch
      ? `${mismatch.message} (sync, promote and failback refuse: container_mismatch)`
      : `both run as ${who(master)}, media at ${master.mediaMounts.join(', ') || '(no media mounts)'}`,
  );
}

/** Rule 3 can be evaluated: the standby's watch state reads, where its version keeps it. */
async function checkStandbyWatch(
  app: App,
  state: PersistentState,
  version: string | null,
  add: Add,
): Promise<void> {
  const name = standbyOf(state);
  const site = app.sites[name];
  const located = await locateDatabases(site, app.config.layout, version);
  if (!located) return;
  const { paths, family } = located;
  const where = family === 'library-db' ? 'library.db UserDatas' : 'jellyfin.db UserData';
  try {
    const watch = await site.databases.watchState(paths, family);
    const recorded = state.standbyFingerprint;
    const since =
      recorded?.site !== name
        ? 'no sync recorded into it yet'
        : recorded.value === null
          ? `but it could not be read after the last sync (${recorded.unknown ?? 'unknown'}): the next sync refuses (divergence_unknown)`
          : recorded.value === watchDigest(watch)
            ? 'unchanged since the last sync'
            : 'CHANGED since the last sync: the next sync refuses (standby_diverged)';
    add(
      name,
      'watch state',
      'ok',
      `${watch.entries.length} user-data rows of ${watch.users.length} users in ${where}, ${since}`,
    );
  } catch (err) {
    if (!(err instanceof WatchStateUnavailable)) throw err;
    add(
      name,
      'watch state',
      'fail',
      `${err.message}: sync refuses (divergence_unknown) until it can be read`,
    );
  }
}

function checkVersions(vm: string | null, vs: string | null, add: Add): void {
  if (!vm || !vs) {
    add('both', 'versions', 'warn', 'could not read both Jellyfin versions');
    return;
  }
  const same = normalizeVersion(vm) === normalizeVersion(vs);
  add(
    'both',
    'versions',
    same ? 'ok' : 'fail',
    same ? `both run ${normalizeVersion(vm)}` : `master ${vm}, slave ${vs}: promote and failback are refused`,
  );
}

/** JELLYFIN_API_KEY, where set: the primary accepts it (a merge would be refused otherwise). */
async function checkApiKey(app: App, state: PersistentState, add: Add): Promise<void> {
  const api = app.sites[state.primary].userData;
  if (!api) {
    add('both', 'api key', 'ok', 'JELLYFIN_API_KEY not set: a diverged standby is refused, not merged');
    return;
  }
  try {
    await api.check();
    add(state.primary, 'api key', 'ok', 'JELLYFIN_API_KEY accepted: a diverged standby can be merged');
  } catch (err) {
    add(state.primary, 'api key', 'fail', `${errorMessage(err)} (a merge is refused until it is)`);
  }
}

async function checkSwag(app: App, state: PersistentState, add: Add): Promise<void> {
  const swag = app.config.swag;
  if (!swag) return;
  const expected = buildUpstreamInclude({
    primary: state.primary,
    standby: standbyOf(state),
    servers: {
      master: upstreamServerOf(app.config.sites.master.url, 'MASTER_URL'),
      slave: upstreamServerOf(app.config.sites.slave.url, 'SLAVE_URL'),
    },
  });
  const current = await app.sites[swag.site].files.readText(swag.upstreamFile).catch(() => null);
  if (current === null) {
    add(
      swag.site,
      'swag include',
      'fail',
      `${swag.upstreamFile} does not exist: create it once as swag/README.md shows`,
    );
  } else if (current !== expected) {
    add(
      swag.site,
      'swag include',
      'warn',
      `${swag.upstreamFile} does not route to ${state.primary} as primary yet; the next switch rewrites it`,
    );
  } else {
    add(swag.site, 'swag include', 'ok', `${swag.upstreamFile} routes to ${state.primary}`);
  }
}

/** What a routine sync will do now: online (the primary keeps serving) or stopped, and why. */
async function checkSyncMode(app: App, state: PersistentState, add: Add): Promise<void> {
  const { settings } = app;
  try {
    const mode = await chooseSyncMode(
      settings.syncMode,
      app.sites[state.primary],
      settings.layout,
      settings.excludes,
    );
    const online = mode.mode === 'online';
    add(
      state.primary,
      'sync mode',
      online || settings.syncMode === 'stopped' ? 'ok' : 'warn',
      online ? `online (${mode.why}): a sync never stops the primary` : `stopped: ${mode.why}`,
    );
  } catch (err) {
    add(state.primary, 'sync mode', 'fail', errorMessage(err));
  }
}

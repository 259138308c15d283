/**
 * What each CLI command does, on top of the runtime (composition root in runtime.ts).
 */
import { CliEventPublisher } from './adapters/mqtt/event-publisher.js';
import { buildUpstreamInclude, upstreamServerOf } from './adapters/swag/index.js';
import type { CommandContext, CommandHandlers } from './cli/cli.js';
import { ProgressPrinter } from './cli/progress.js';
import type { SiteName } from './config/schema.js';
import { formatBytes, normalizeVersion } from './domain/guards.js';
import { layoutPaths } from './domain/layout.js';
import { observeSite, withTimeout } from './domain/observe.js';
import { runOperation } from './domain/operations/index.js';
import { type OperationKind, standbyOf } from './domain/state.js';
import { EXIT, type ExitCode } from './errors.js';
import { createRuntime, type Runtime } from './runtime.js';
import { runService } from './service/service.js';

export function createHandlers(): CommandHandlers {
  const operation = (kind: OperationKind) => (ctx: CommandContext) => runOperationCommand(ctx, kind);
  return {
    run: (ctx) => withRuntime(ctx, (rt) => runService(rt)),
    status: (ctx) => withRuntime(ctx, (rt) => status(ctx, rt)),
    check: (ctx) => withRuntime(ctx, (rt) => check(ctx, rt)),
    sync: operation('sync'),
    promote: operation('promote'),
    failback: operation('failback'),
    rollback: operation('rollback'),
  };
}

async function withRuntime(ctx: CommandContext, body: (rt: Runtime) => Promise<ExitCode>): Promise<ExitCode> {
  const rt = createRuntime(ctx.config, ctx.logger);
  try {
    return await body(rt);
  } finally {
    await rt.close();
  }
}

async function runOperationCommand(ctx: CommandContext, kind: OperationKind): Promise<ExitCode> {
  return withRuntime(ctx, async (rt) => {
    const progress = new ProgressPrinter(ctx.io.stderr);
    const events: unknown[] = [];
    const publisher = new CliEventPublisher(ctx.config, ctx.logger.child({ module: 'mqtt' }));
    await publisher.start();
    const detach = rt.observers.add({
      operation: (s) => {
        if (!ctx.args.json) progress.update(s);
      },
      event: (e) => {
        events.push(e);
        publisher.publish(e);
        if (!ctx.args.json) {
          progress.finish();
          ctx.io.stderr.write(`${e.event_type}: ${e.message}\n`);
        }
      },
    });
    try {
      await rt.engine.recover();
      const result = await runOperation(rt.engine, rt.sites, kind, ctx.args.force);
      progress.finish();
      ctx.print(
        `${kind} succeeded in ${result.durationS} s: ${result.files} files, ${formatBytes(result.bytes)} copied, ` +
          `primary downtime ${result.primaryDowntimeS} s. ${result.state.primary} is primary.`,
        { ok: true, ...result, events },
      );
      return EXIT.ok;
    } finally {
      progress.finish();
      detach();
      await publisher.stop();
    }
  });
}

async function status(ctx: CommandContext, rt: Runtime): Promise<ExitCode> {
  const state = await rt.store.load();
  const journal = await rt.store.readJournal();
  const [master, slave] = await Promise.all([observeSite(rt.sites.master), observeSite(rt.sites.slave)]);
  const sites = { master, slave };
  const line = (name: SiteName) => {
    const o = sites[name];
    const role = state.primary === name ? 'primary' : 'standby';
    return `  ${name.padEnd(6)} ${role.padEnd(8)} jellyfin ${o.jellyfin.padEnd(11)} container ${o.container.padEnd(8)} ${o.version ?? ''}`;
  };
  const last = state.lastSync;
  const text = [
    `primary: ${state.primary} (epoch ${state.epoch})${state.fence ? `, ${state.fence.site} fenced${state.fence.pending ? ' when reachable' : ''}` : ''}`,
    line('master'),
    line('slave'),
    last
      ? `last sync: ${last.result} at ${last.at} (${last.durationS} s, ${last.files} files, ${formatBytes(last.bytes)})${last.error ? `: ${last.error}` : ''}`
      : 'last sync: never',
    journal
      ? `interrupted operation: ${journal.kind} at ${journal.step} (recovered at the next operation or start)`
      : '',
  ]
    .filter(Boolean)
    .join('\n');
  ctx.print(text, {
    primary: state.primary,
    epoch: state.epoch,
    sites,
    lastSync: last,
    fence: state.fence,
    journal,
  });
  return EXIT.ok;
}

type CheckStatus = 'ok' | 'warn' | 'fail';
interface CheckLine {
  site: SiteName | 'both';
  name: string;
  status: CheckStatus;
  detail: string;
}

/** Probes both sites without changing anything. */
async function check(ctx: CommandContext, rt: Runtime): Promise<ExitCode> {
  const lines: CheckLine[] = [];
  const add = (site: CheckLine['site'], name: string, status: CheckStatus, detail: string) =>
    lines.push({ site, name, status, detail });
  const versions: Partial<Record<SiteName, string | null>> = {};
  const state = await rt.store.load();
  for (const name of ['master', 'slave'] as const) {
    const site = rt.sites[name];
    const label = site.files.label;
    let hostOk = false;
    try {
      hostOk = (await rt.shells[name].exec(['true'], { timeoutMs: 15_000 })).exitCode === 0;
      add(
        name,
        'host',
        hostOk ? 'ok' : 'fail',
        hostOk ? `reachable (${label})` : `cannot run commands on ${label}`,
      );
    } catch (err) {
      add(name, 'host', 'fail', (err as Error).message);
    }
    try {
      const info = await withTimeout(site.container.inspect(), 15_000, null);
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
      add(name, 'docker', 'fail', (err as Error).message);
    }
    if (hostOk) {
      const layout =
        ctx.config.layout === 'auto' ? await site.files.detectLayout(site.configDir) : ctx.config.layout;
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
          present
            ? 'installed'
            : tool === 'rsync'
              ? 'not installed: install rsync on this host'
              : site.isLocal
                ? 'not installed here: copied databases are not verified (PRAGMA quick_check) and users writing to the standby (standby_diverged) go unnoticed. Install sqlite3'
                : "not installed: operations read copies of its database with this host's sqlite3 instead (slower), and the standby_diverged sensor between operations stays off. Install sqlite3 there",
        );
      }
      if (isStandby) {
        try {
          add(
            name,
            'free space',
            'ok',
            `${formatBytes(await site.files.freeBytes(site.configDir))} free on the standby`,
          );
        } catch (err) {
          add(name, 'free space', 'warn', (err as Error).message);
        }
      }
    }
    const observed = await observeSite(site);
    versions[name] =
      observed.version ?? (await withTimeout(site.container.inspect(), 10_000, null))?.imageVersion ?? null;
    add(
      name,
      'jellyfin',
      observed.online ? 'ok' : 'warn',
      `${observed.jellyfin}${observed.version ? `, version ${observed.version}` : ''}`,
    );
  }
  const vm = versions.master ?? null;
  const vs = versions.slave ?? null;
  if (vm && vs) {
    const same = normalizeVersion(vm) === normalizeVersion(vs);
    add(
      'both',
      'versions',
      same ? 'ok' : 'fail',
      same
        ? `both run ${normalizeVersion(vm)}`
        : `master ${vm}, slave ${vs}: promote and failback are refused`,
    );
  } else {
    add('both', 'versions', 'warn', 'could not read both Jellyfin versions');
  }
  const swag = ctx.config.swag;
  if (swag) {
    const expected = buildUpstreamInclude({
      primary: state.primary,
      standby: standbyOf(state),
      servers: {
        master: upstreamServerOf(ctx.config.sites.master.url, 'MASTER_URL'),
        slave: upstreamServerOf(ctx.config.sites.slave.url, 'SLAVE_URL'),
      },
    });
    const current = await rt.sites[swag.site].files.readText(swag.upstreamFile).catch(() => null);
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
}

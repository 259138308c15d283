import { formatBytes } from '../../domain/format.js';
import { previewMerge } from '../../domain/merging.js';
import { observeSite } from '../../domain/observe.js';
import { other, type SiteName } from '../../domain/sites.js';
import { type CommandContext, withApp } from '../context.js';
import { EXIT, type ExitCode } from '../exit.js';

/** `status`: roles, each site's health, the last sync, an interrupted operation. Changes nothing. */
export function status(ctx: CommandContext): Promise<ExitCode> {
  return withApp(ctx, async (app) => {
    const state = await app.store.load();
    const journal = await app.store.readJournal();
    const [master, slave] = await Promise.all([observeSite(app.sites.master), observeSite(app.sites.slave)]);
    const sites = { master, slave };
    const merge = await previewMerge({
      store: app.store,
      primary: app.sites[state.primary],
      standby: app.sites[other(state.primary)],
      recorded: state.standbyFingerprint,
      layout: app.config.layout,
      versions: { primary: sites[state.primary].version, standby: sites[other(state.primary)].version },
    }).catch((err: unknown) => ({ ok: false as const, why: (err as Error).message }));
    const line = (name: SiteName) => {
      const o = sites[name];
      const role = state.primary === name ? 'primary' : 'standby';
      return `  ${name.padEnd(6)} ${role.padEnd(8)} jellyfin ${o.jellyfin.padEnd(11)} container ${o.container.padEnd(8)} ${o.version ?? ''}`;
    };
    const last = state.lastSync;
    const fence = state.fence
      ? `, ${state.fence.site} fenced${state.fence.pending ? ' when reachable' : ''}`
      : '';
    const text = [
      `primary: ${state.primary} (epoch ${state.epoch})${fence}`,
      line('master'),
      line('slave'),
      last
        ? `last sync: ${last.result} at ${last.at} (${last.durationS} s, ${last.files} files, ${formatBytes(last.bytes)})${last.error ? `: ${last.error}` : ''}`
        : 'last sync: never',
      merge.ok && merge.preview.changes.length > 0
        ? `standby diverged: a merge would carry ${merge.preview.changes.length} change(s), ${merge.preview.conflicts.length} conflict(s) (jellyfin-failover merge --dry-run)`
        : '',
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
      merge: merge.ok ? merge.preview : { unavailable: merge.why },
    });
    return EXIT.ok;
  });
}

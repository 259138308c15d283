import { describePreview, previewMerge } from '../../domain/merging.js';
import { siteVersion } from '../../domain/observe.js';
import { other } from '../../domain/sites.js';
import { type CommandContext, withApp } from '../context.js';
import { EXIT, type ExitCode } from '../exit.js';

/**
 * `merge --dry-run`: what a merge would carry from the standby into the primary (per user and item), the
 * conflicts, and whether the primary accepts JELLYFIN_API_KEY. Changes nothing.
 */
export function mergePreview(ctx: CommandContext): Promise<ExitCode> {
  return withApp(ctx, async (app) => {
    const state = await app.store.load();
    const primary = app.sites[state.primary];
    const standby = app.sites[other(state.primary)];
    const result = await previewMerge({
      store: app.store,
      primary,
      standby,
      recorded: state.standbyFingerprint,
      layout: app.config.layout,
      versions: { primary: await siteVersion(primary), standby: await siteVersion(standby) },
    });
    const key = await keyStatus(primary.userData);
    if (!result.ok) {
      ctx.print(`cannot preview a merge: ${result.why}.\n${key}`, {
        ok: false,
        error: result.why,
        apiKey: key,
      });
      return EXIT.refused;
    }
    const { preview } = result;
    const lines = describePreview(preview);
    const head =
      preview.changes.length === 0
        ? `nothing to merge: ${standby.name} has no watch-state changes since the last copy that ${primary.name} lacks.`
        : `a merge would carry ${preview.changes.length} change(s) from ${standby.name} into ${primary.name}, ${preview.conflicts.length} conflict(s):`;
    ctx.print([head, ...lines.map((l) => `  ${l}`), key].join('\n'), {
      ok: true,
      from: standby.name,
      into: primary.name,
      ...preview,
      apiKey: key,
    });
    return EXIT.ok;
  });
}

async function keyStatus(api: { check(): Promise<void> } | null): Promise<string> {
  if (!api) return 'JELLYFIN_API_KEY is not set: a merge would be refused until it is.';
  try {
    await api.check();
    return 'JELLYFIN_API_KEY is accepted by the primary.';
  } catch (err) {
    return `JELLYFIN_API_KEY: ${(err as Error).message}`;
  }
}

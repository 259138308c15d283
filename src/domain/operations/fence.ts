import type { Engine } from '../engine/engine.js';
import { makeEvent } from '../events.js';
import type { Log } from '../log.js';
import { siteReachable } from '../observe.js';
import { mayRun, type Site } from '../ports.js';
import type { SiteName } from '../sites.js';

/**
 * A master demoted while unreachable is fenced as soon as it answers again (rule 8): stopped, restart policy `no`,
 * so its stale data does not come back online. The policy it had is read from its container now, so failback or
 * rollback gives back exactly that. Call holding the gate. Returns true when it fenced.
 */
export async function fencePendingSite(
  engine: Engine,
  sites: Record<SiteName, Site>,
  stopTimeoutS: number,
  log: Log,
): Promise<{ fenced: boolean; event?: ReturnType<typeof makeEvent> }> {
  const state = await engine.loadState();
  const fence = state.fence;
  if (!fence?.pending) return { fenced: false };
  const site = sites[fence.site];
  if (!(await siteReachable(site))) return { fenced: false };
  const info = await site.container.inspect();
  // A policy already `no` when first seen is what the container had (a user's choice), not ours to improve on.
  const previous = fence.previousRestartPolicy ?? info.restartPolicy;
  await site.container.setRestartPolicy('no');
  if (mayRun(info.status)) await site.container.stop(stopTimeoutS);
  state.fence = { site: fence.site, previousRestartPolicy: previous, pending: false };
  const last = state.lastOperation;
  if (last && last.containersBefore[fence.site] === null) {
    // Rollback of the promote puts the container back as it was before it: now that is known.
    last.containersBefore[fence.site] = { running: info.status === 'running', restartPolicy: previous };
  }
  await engine.saveState(state);
  log.warn(
    { site: fence.site, previousRestartPolicy: previous },
    'fenced the demoted primary now that it is reachable again',
  );
  return {
    fenced: true,
    event: makeEvent(
      'site_up',
      `${fence.site} is reachable again and was fenced (stopped, restart policy no)`,
      {
        site: fence.site,
        fenced: true,
      },
    ),
  };
}

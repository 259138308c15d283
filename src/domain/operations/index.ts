import type { Engine, OperationResult } from '../engine.js';
import { makeEvent } from '../events.js';
import { siteReachable } from '../observe.js';
import type { Site } from '../ports.js';
import type { OperationKind } from '../state.js';
import { failbackPlan } from './failback.js';
import { promotePlan, promoteWithoutCopyPlan } from './promote.js';
import { rollbackPlan } from './rollback.js';
import { syncPlan } from './sync.js';

/** Runs one operation by name; the plan is chosen from the state and, for promote, master's reachability. */
export async function runOperation(
  engine: Engine,
  sites: Record<'master' | 'slave', Site>,
  kind: OperationKind,
  force: boolean,
): Promise<OperationResult> {
  await applyPendingFence(engine, sites);
  switch (kind) {
    case 'sync':
      return engine.run(kind, force, syncPlan);
    case 'promote': {
      const masterReachable = await siteReachable(sites.master);
      return engine.run(kind, force, masterReachable ? promotePlan : promoteWithoutCopyPlan);
    }
    case 'failback':
      return engine.run(kind, force, failbackPlan);
    case 'rollback':
      return engine.run(kind, force, rollbackPlan);
  }
}

/**
 * A master demoted while unreachable is fenced as soon as it answers again (rule 8): stopped, restart policy
 * `no`, so its stale data does not come back online. Returns true when it fenced.
 */
export async function applyPendingFence(
  engine: Engine,
  sites: Record<'master' | 'slave', Site>,
): Promise<boolean> {
  if (!(await engine.deps.store.load()).fence?.pending) return false;
  // Under the operation lock: the state file is written, and a CLI operation may be running.
  const lock = await engine.deps.store.lock('fence');
  try {
    return await fenceLocked(engine, sites);
  } finally {
    await lock.release();
  }
}

async function fenceLocked(engine: Engine, sites: Record<'master' | 'slave', Site>): Promise<boolean> {
  const state = await engine.deps.store.load();
  const fence = state.fence;
  if (!fence?.pending) return false;
  const site = sites[fence.site];
  if (!(await siteReachable(site))) return false;
  const info = await site.container.inspect();
  const previous = info.restartPolicy === 'no' ? fence.previousRestartPolicy : info.restartPolicy;
  await site.container.setRestartPolicy('no');
  if (info.status === 'running') await site.container.stop(engine.deps.settings.stopTimeoutS);
  state.fence = { site: fence.site, previousRestartPolicy: previous, pending: false };
  await engine.deps.store.save(state);
  engine.deps.logger.warn({ site: fence.site }, 'fenced the demoted primary now that it is reachable again');
  engine.deps.observer.event(
    makeEvent('site_up', `${fence.site} is reachable again and was fenced (stopped, restart policy no)`, {
      site: fence.site,
      fenced: true,
    }),
  );
  return true;
}

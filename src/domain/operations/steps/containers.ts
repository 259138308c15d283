/** The steps that stop, start, fence and unfence containers, each recording how to put the container back. */
import { type Step, step } from '../../engine/plan.js';
import type { OperationRun } from '../../engine/run.js';
import { mayRun, type Site } from '../../ports.js';

/** Stops a site's container if it runs; the undo starts it again. */
export function stopSite(name: string, which: 'from' | 'to', options: { downtime: boolean }): Step {
  return step(name, 3, async (run) => {
    const site = run[which];
    const info = await site.container.inspect();
    // Stopped already. Anything else (running, restarting, paused) is stopped: a restarting container left alone
    // would be started again by Docker's restart policy in the middle of the operation.
    if (!mayRun(info.status)) return;
    await run.undoFirst({ kind: 'start-container', site: site.name });
    if (options.downtime) run.downtimeStarts();
    await site.container.stop(run.settings.stopTimeoutS);
  });
}

/**
 * Waits for `/health` to say Healthy; fails early if the container exits. While Jellyfin starts it refuses
 * connections or says it is loading: that is waiting, not failing, until START_TIMEOUT_S.
 */
export async function waitHealthy(run: OperationRun, site: Site): Promise<void> {
  const { startTimeoutS, healthPollMs } = run.settings;
  const deadline = Date.now() + startTimeoutS * 1000;
  let last = 'unreachable';
  while (Date.now() < deadline) {
    last = await site.jellyfin.health();
    if (last === 'healthy') return;
    const info = await site.container.inspect();
    if (info.status !== 'running') {
      throw new Error(
        `${site.name}'s container ${site.container.name} stopped while starting (status ${info.status})`,
      );
    }
    await new Promise((r) => setTimeout(r, healthPollMs));
  }
  throw new Error(
    `${site.name} did not become healthy within START_TIMEOUT_S=${startTimeoutS} s (last: ${last})`,
  );
}

/** Starts the copy source again right after the final pass, so its downtime stays short. */
export function restartSource(name: string): Step {
  return step(name, 5, async (run) => {
    if (!run.containersBefore[run.from.name]?.running) return;
    await run.from.container.start();
    await waitHealthy(run, run.from);
    run.downtimeEnds();
  });
}

/** Starts the destination if it ran before (or `always`), and waits for Healthy. */
export function startDestination(name: string, options: { always: boolean }): Step {
  return step(name, 10, async (run) => {
    if (!options.always && !run.containersBefore[run.to.name]?.running) return;
    await run.undoFirst({ kind: 'stop-container', site: run.to.name });
    await run.to.container.start();
    await waitHealthy(run, run.to);
  });
}

/** Starts a site's container if it is not running (undo: stop it), and waits for Healthy. */
export async function ensureRunning(run: OperationRun, site: Site): Promise<void> {
  if ((await site.container.inspect()).status !== 'running') {
    await run.undoFirst({ kind: 'stop-container', site: site.name });
    await site.container.start();
  }
  await waitHealthy(run, site);
}

/** Fences a site: stopped, restart policy `no`, so a reboot cannot bring stale data online (rule 8). */
export function fence(name: string, which: 'from' | 'to'): Step {
  return step(name, 1, async (run) => {
    const site = run[which];
    const info = await site.container.inspect();
    const kept = run.before.fence?.site === site.name ? run.before.fence.previousRestartPolicy : null;
    const previous = kept ?? info.restartPolicy;
    await run.undoFirst({ kind: 'set-restart-policy', site: site.name, policy: info.restartPolicy });
    await site.container.setRestartPolicy('no');
    if (mayRun(info.status)) {
      await run.undoFirst({ kind: 'start-container', site: site.name });
      await site.container.stop(run.settings.stopTimeoutS);
    }
    run.next.fence = { site: site.name, previousRestartPolicy: previous, pending: false };
  });
}

/** Gives a fenced site its restart policy back (it is primary again). */
export function unfence(name: string, which: 'from' | 'to'): Step {
  return step(name, 1, async (run) => {
    const site = run[which];
    const fenceInfo = run.before.fence;
    if (!fenceInfo || fenceInfo.site !== site.name) return;
    const info = await site.container.inspect();
    const policy = fenceInfo.previousRestartPolicy;
    if (policy !== null && policy !== info.restartPolicy) {
      await run.undoFirst({ kind: 'set-restart-policy', site: site.name, policy: info.restartPolicy });
      await site.container.setRestartPolicy(policy);
    }
    run.next.fence = null;
  });
}

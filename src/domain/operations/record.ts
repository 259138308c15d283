import type { OperationRun } from '../engine/run.js';
import { makeEvent } from '../events.js';
import { treePaths } from '../paths.js';
import { lastSyncRecord, standbyOf } from '../state.js';

/** Bookkeeping of every operation that copied a tree: last sync, fingerprint, snapshot for rollback. */
export function recordCopy(
  run: OperationRun,
  kind: 'sync' | 'promote' | 'failback',
  mode: { mode: 'online' | 'stopped'; why: string } = {
    mode: 'stopped',
    why: `${kind} always stops the source`,
  },
): void {
  const next = run.next;
  next.lastSync = lastSyncRecord({
    result: 'success',
    durationS: run.durationS(),
    bytes: run.bytes,
    files: run.files,
    primaryDowntimeS: run.downtimeS(),
  });
  const at = next.lastSync.at;
  next.lastCopyInto[run.to.name] = at;
  next.lastOperation = {
    id: run.journal.id,
    kind,
    finishedAt: at,
    primaryBefore: run.before.primary,
    snapshot: { site: run.to.name, path: treePaths(run.to.configDir).snapshot, configDir: run.to.configDir },
    containersBefore: run.containersBefore,
    fenceBefore: run.before.fence,
    fingerprintBefore: run.before.standbyFingerprint,
  };
  const standby = standbyOf(next);
  const fp = run.fingerprint;
  next.standbyFingerprint =
    fp === null
      ? null
      : {
          site: standby,
          value: fp.value,
          at,
          ...(fp.unknown ? { unknown: fp.unknown } : {}),
          ...(fp.token ? { token: fp.token } : {}),
        };
  if (kind === 'sync') {
    run.emit(
      makeEvent(
        'sync_succeeded',
        `${run.from.name} was copied to ${run.to.name} in ${run.durationS()} s (${run.files} files changed, ${mode.mode === 'online' ? 'online: no downtime' : `${run.downtimeS()} s downtime`})`,
        {
          operation: 'sync',
          mode: mode.mode,
          modeWhy: mode.why,
          durationS: run.durationS(),
          bytes: run.bytes,
          files: run.files,
          primaryDowntimeS: run.downtimeS(),
        },
      ),
    );
  }
}

/**
 * The merge of a diverged standby (issue 13, SPEC 4 rule 3 "or merged"): what users did on the standby since the
 * last copy is set on the primary through Jellyfin's API, three-way against that copy's watch state (merge.ts),
 * with the standby stopped so nothing more lands on it. Each change is recorded (STATE_DIR/merge.json and the
 * journal) before the next is sent, so an interrupted merge resumes where it stopped and sends nothing twice. The
 * changes are not undone by a rollback: they are what users did, and the standby still has them too.
 */
import { type Step, step } from '../../engine/plan.js';
import type { OperationRun } from '../../engine/run.js';
import { MergeApiError, RefusedError } from '../../errors.js';
import { makeEvent } from '../../events.js';
import type { MergeChange, MergeRecord } from '../../merge.js';
import { type MergeBasis, mergeBasis, planFrom, watchNow } from '../../merging.js';
import { normalizeDate, type WatchState } from '../../watch-state.js';

/** Preflight of a merge: a key the primary accepts, and the base the merge counts from. Changes nothing. */
export async function checkMergePossible(run: OperationRun): Promise<void> {
  const recorded = run.before.standbyFingerprint;
  const api = run.from.userData;
  if (!api) {
    throw new RefusedError(
      `${run.to.name} was written to since the last sync, and merging needs JELLYFIN_API_KEY: create a key in ${run.from.name}'s Jellyfin (Dashboard > API Keys), set it, and merge again. Nothing was changed.`,
      'merge_unavailable',
    );
  }
  try {
    await api.check();
  } catch (err) {
    if (!(err instanceof MergeApiError)) throw err;
    throw new RefusedError(`cannot merge: ${err.message} Nothing was changed.`, 'merge_unavailable', {
      cause: err,
    });
  }
  const found = recorded
    ? await mergeBasis(run.merges, run.to, recorded)
    : { ok: false as const, why: 'no copy is recorded' };
  if (!found.ok) {
    throw new RefusedError(
      `cannot merge: ${found.why}. Without it, what changed on either side cannot be told apart; sync with --force to overwrite ${run.to.name}'s changes (the next copies save it). Nothing was changed.`,
      'merge_unavailable',
    );
  }
}

function version(run: OperationRun, key: 'sourceVersion' | 'destinationVersion'): string | null {
  const v = run.details[key];
  return typeof v === 'string' ? v : null;
}

async function readNow(run: OperationRun, which: 'from' | 'to') {
  const read = await watchNow(
    run[which],
    run.layout ?? run.settings.layout,
    version(run, which === 'from' ? 'sourceVersion' : 'destinationVersion'),
  );
  if (!read.ok) throw new Error(`cannot read ${run[which].name}'s watch state for the merge: ${read.why}`);
  return read;
}

/** Sends the changes of `record` not yet applied, each recorded before the next. */
async function applyRecord(run: OperationRun, record: MergeRecord, pending: MergeChange[]): Promise<void> {
  const api = run.from.userData;
  if (!api) throw new Error('no JELLYFIN_API_KEY');
  for (const [i, change] of pending.entries()) {
    let outcome: 'applied' | 'missing';
    try {
      outcome = await api.apply(change.user, change.itemId, change.set);
    } catch (err) {
      if (err instanceof MergeApiError)
        throw new Error(`${err.message} (${i} of ${pending.length} changes applied; the next merge resumes)`);
      throw err;
    }
    (outcome === 'applied' ? record.applied : record.missing).push(change.id);
    await run.merges.saveMerge(record);
    await run.mergeApplied(record.id, change.id);
    if (outcome === 'missing') {
      run.log.warn(
        { user: change.userName, item: change.itemName ?? change.itemId },
        `${run.from.name} has no such user or item: not carried`,
      );
    }
    run.stepProgress(0.2 + (0.6 * (i + 1)) / pending.length);
  }
}

/** Every applied change is in the primary's database now (the API saved it), else the merge failed. */
function verifyApplied(primary: WatchState, record: MergeRecord, ids: Set<string>): void {
  for (const change of record.plan.changes) {
    if (!ids.has(change.id)) continue;
    const rows = primary.entries.filter((e) => e.user === change.user && e.itemId === change.itemId);
    const wrong =
      rows.length === 0 ? ['no user data at all'] : rows.flatMap((row) => mismatches(row, change));
    if (wrong.length > 0) {
      throw new Error(
        `the primary accepted the change of ${change.userName} on ${change.itemName ?? change.itemId} but its database does not show it (${wrong.join(', ')})`,
      );
    }
  }
}

function mismatches(row: WatchState['entries'][number], change: MergeChange): string[] {
  const out: string[] = [];
  for (const [field, value] of Object.entries(change.set)) {
    const have = (row as unknown as Record<string, unknown>)[field];
    const want = field === 'lastPlayed' ? normalizeDate(value as string | null) : value;
    if (field === 'likes' && 'rating' in change.set) continue;
    if (have !== want) out.push(`${field} ${String(have)} instead of ${String(want)}`);
  }
  return out;
}

export function mergeStandby(): Step {
  return step('merge', 4, async (run) => {
    const recorded = run.before.standbyFingerprint;
    if (!run.details.diverged || !recorded) return;
    const found = await mergeBasis(run.merges, run.to, recorded);
    if (!found.ok) throw new RefusedError(`cannot merge: ${found.why}`, 'merge_unavailable');
    const basis: MergeBasis = found.basis;
    const applied = new Set<string>();
    if (basis.record && basis.pending.length > 0) {
      run.log.info({ pending: basis.pending.length }, 'resuming an interrupted merge');
      await applyRecord(run, basis.record, basis.pending);
      for (const c of basis.pending) applied.add(c.id);
    }
    run.stepProgress(0.1);
    const standby = await readNow(run, 'to');
    const primary = await readNow(run, 'from');
    const plan = await planFrom(basis, standby.now, primary.now, primary.names);
    let record = basis.record;
    let conflicts = record?.plan.conflicts ?? [];
    let unplaced = record?.plan.unplaced ?? 0;
    if (plan.changes.length > 0 || !record) {
      conflicts = plan.conflicts;
      unplaced = plan.unplaced;
      record = {
        id: run.journal.id,
        site: run.to.name,
        baseDigest: recorded.value ?? '',
        standbyDigest: standby.now.digest,
        standby: standby.now.state,
        createdAt: new Date().toISOString(),
        plan,
        applied: [],
        missing: [],
      };
      await run.merges.saveMerge(record);
      await applyRecord(run, record, plan.changes);
      for (const c of record.applied) applied.add(c);
    }
    const after = await readNow(run, 'from');
    verifyApplied(after.now.state, record, applied);
    const carried = record.applied.length;
    const users = new Set(
      record.plan.changes.filter((c) => record.applied.includes(c.id)).map((c) => c.userName),
    );
    run.details.merge = { changes: carried, conflicts: conflicts.length, missing: record.missing.length };
    run.emit(
      makeEvent(
        'merged',
        `carried ${carried} change${carried === 1 ? '' : 's'} of ${users.size} user${users.size === 1 ? '' : 's'} from ${run.to.name} into ${run.from.name}` +
          (conflicts.length > 0 ? `; ${conflicts.length} conflict(s) kept ${run.from.name}'s value` : '') +
          (record.missing.length > 0 ? `; ${record.missing.length} not on ${run.from.name}` : ''),
        {
          operation: 'sync',
          site: run.to.name,
          into: run.from.name,
          changes: carried,
          users: [...users].sort(),
          conflicts: conflicts.map((c) => ({
            user: c.userName,
            item: c.itemName ?? c.itemId,
            field: c.field,
          })),
          missing: record.missing.length,
          unplaced,
        },
      ),
    );
  });
}

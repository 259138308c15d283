import { describe, expect, it } from 'vitest';
import { OperationError } from '../../../src/domain/errors.js';
import {
  ownedTreesBeside,
  pidsOf,
  Recorder,
  signalAll,
  siteData,
  siteOutcome,
  userOwned,
  waitFor,
  waitSiteHealthy,
} from '../../bench/faults.js';
import { BENCH_POLICIES, sitesPerTest } from '../../bench/sites.js';
import { treeDigest } from '../../bench/tree-digest.js';

/** What sync leaves out, so master and slave trees can be compared after a sync. */
const NOT_SYNCED = ['cache', 'log', 'data/transcodes', 'branding.xml'];

describe('rsync killed mid-transfer', () => {
  const fixture = sitesPerTest();

  // Without the pre-copy, the final copy (both containers stopped) carries the whole tree.
  for (const fault of [
    { mode: 'stopped', step: 'pre-copy', precopy: 'true' },
    { mode: 'stopped', step: 'final-copy', precopy: 'false' },
    { mode: 'online', step: 'pre-copy', precopy: 'true' },
    { mode: 'online', step: 'copy-snapshots', precopy: 'true' },
  ] as const) {
    it(`${fault.mode} sync, during the ${fault.step}: sync fails, the standby is restored, master untouched, both serve; the next sync completes`, async () => {
      // An empty standby and a large tree (and database), so the copy runs long enough to be killed.
      const sites = await fixture.create({
        name: `fault-rsync-${fault.mode}-${fault.step}`,
        remote: 'none',
        files: 1000,
        totalBytes: 96 * 1024 * 1024,
        ...(fault.step === 'copy-snapshots' ? { databaseBytes: 80 * 1024 * 1024 } : {}),
        emptySlave: true,
        extraEnv: { SYNC_PRECOPY: fault.precopy, SYNC_MODE: fault.mode },
      });
      const rt = fixture.runtime(sites, { healthPollMs: 100 });
      const rec = new Recorder().attach(rt);
      const masterBefore = await siteData(sites.dirs.master);
      const slaveBefore = await siteData(sites.dirs.slave);
      const staging = `${sites.dirs.slave}.jf-failover-staging`;

      const running = rt.operations.run('sync', { force: false });
      const outcome = running.then(
        () => null,
        (err: unknown) => err,
      );
      await rec.waitStep(fault.step, 60_000);
      // The copy into staging of this test only (other tests' rsyncs run in parallel).
      const pids = await waitFor(
        'the rsync copying into staging',
        () => pidsOf('rsync', staging).then((p) => p.length > 0 && p),
        20_000,
        5,
      );
      expect(signalAll(pids, 'SIGKILL')).toBeGreaterThan(0);
      const error = await outcome;

      expect(error).toBeInstanceOf(OperationError);
      expect((error as OperationError).message).toContain(`failed at step ${fault.step}`);
      expect(rec.types()).toContain('sync_failed');
      expect(rec.types()).toContain('rolled_back');
      expect(rec.types()).not.toContain('rollback_failed');
      expect(rec.types()).not.toContain('sync_succeeded');
      // master's data byte-identical (its live database only grew and is sound)
      const masterAfter = await siteData(sites.dirs.master);
      expect(masterAfter.files).toEqual(masterBefore.files);
      expect(masterAfter.db.integrity).toBe('ok');
      expect(masterAfter.db.activity).toBeGreaterThanOrEqual(masterBefore.db.activity);
      // the standby is as it was, without leftovers
      const slaveAfter = await siteData(sites.dirs.slave);
      expect(slaveAfter.files).toEqual(slaveBefore.files);
      expect(userOwned(slaveAfter)).toEqual(userOwned(slaveBefore));
      expect(await ownedTreesBeside(sites.dirs.slave)).toEqual([]);
      // both serve again, restart policies unchanged, no journal left
      await waitSiteHealthy(rt, 'master');
      await waitSiteHealthy(rt, 'slave');
      for (const s of ['master', 'slave'] as const) {
        expect(await siteOutcome(rt, s)).toEqual({
          status: 'running',
          restartPolicy: BENCH_POLICIES[s],
          health: 'healthy',
        });
      }
      expect(await rt.store.readJournal()).toBeNull();
      const state = await rt.store.load();
      expect(state.primary).toBe('master');
      expect(state.lastSync?.result).toBe('rolled_back');
      expect(state.lastSync?.error).toContain(fault.step);

      // Nothing left behind blocks the next sync, which copies everything.
      rec.events.length = 0;
      const result = await rt.operations.run('sync', { force: false });
      expect(result.state.lastSync?.result).toBe('success');
      expect(rec.types()).toContain('sync_succeeded');
      expect(await treeDigest(sites.dirs.slave, { exclude: NOT_SYNCED, skipDb: true })).toEqual(
        await treeDigest(sites.dirs.master, { exclude: NOT_SYNCED, skipDb: true }),
      );
      expect((await siteData(sites.dirs.slave)).db.integrity).toBe('ok');
      expect((await siteData(sites.dirs.master)).files).toEqual(masterBefore.files);
    });
  }
});

import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { OperationError, RefusedError } from '../../../src/domain/errors.js';
import {
  ownedTreesBeside,
  pidsOf,
  Recorder,
  siteData,
  siteOutcome,
  waitFor,
  waitSiteHealthy,
} from '../../bench/faults.js';
import { BENCH_POLICIES, sitesPerTest } from '../../bench/sites.js';

const BIG = 'data/trickplay-big.bin';

/** A site's files without the trickplay images master wrote during the sync. */
function withoutBig(files: Record<string, string>): Record<string, string> {
  const { [BIG]: _big, ...rest } = files;
  return rest;
}

describe('SSH connection to the remote slave dropped mid-operation', () => {
  const fixture = sitesPerTest();

  it('during the final copy: master serves at once, and once slave is reachable again the rollback is finished', async () => {
    const sites = await fixture.create({
      name: 'fault-ssh',
      remote: 'slave',
      files: 80,
      totalBytes: 2 * 1024 * 1024,
      extraEnv: { SYNC_MODE: 'stopped' },
    });
    const sshd = sites.sshd;
    if (!sshd) throw new Error('the bench gave no sshd');
    const rt = fixture.runtime(sites);
    const rec = new Recorder().attach(rt);
    const masterBefore = await siteData(sites.dirs.master);
    const slaveBefore = await siteData(sites.dirs.slave);
    const staging = `${sites.dirs.slave}.jf-failover-staging`;

    const outcome = rt.operations.run('sync', { force: false }).then(
      () => null,
      (err: unknown) => err,
    );
    // After the pre-copy, master's Jellyfin (still running) writes 300 MB of trickplay images: the final pass,
    // with both containers stopped, has them to carry, and is under way when slave's SSH goes.
    await rec.waitStep('stop-standby', 120_000);
    await execa('truncate', ['-s', '300M', join(sites.dirs.master, BIG)]);
    // Both containers are stopped now; the copy to slave goes through ssh. Drop every SSH connection to slave.
    await rec.waitStep('final-copy', 120_000);
    await waitFor(
      'the final rsync to slave',
      () => pidsOf('rsync', staging).then((p) => p.length > 0),
      20_000,
      10,
    );
    await sshd.kill();
    const error = await outcome;

    expect(error).toBeInstanceOf(OperationError);
    expect((error as OperationError).message).toContain('failed at step final-copy');
    expect(rec.types()).toContain('sync_failed');
    // slave cannot be reached to undo its part: the engine says so...
    expect(rec.types()).toContain('rollback_failed');
    // ...but master, on this host, was started again at once and serves, its data untouched
    await waitSiteHealthy(rt, 'master');
    expect(await siteOutcome(rt, 'master')).toEqual({
      status: 'running',
      restartPolicy: BENCH_POLICIES.master,
      health: 'healthy',
    });
    const masterAfter = await siteData(sites.dirs.master);
    expect(withoutBig(masterAfter.files)).toEqual(masterBefore.files);
    expect(masterAfter.db.integrity).toBe('ok');
    expect(masterAfter.db.activity).toBeGreaterThanOrEqual(masterBefore.db.activity);
    expect((await rt.store.load()).primary).toBe('master');
    // The slave's config dir itself was never replaced.
    expect((await siteData(sites.dirs.slave)).files).toEqual(slaveBefore.files);

    // What could not be undone stays in the journal; while slave is unreachable no new operation starts on top.
    expect((await rt.store.readJournal())?.kind).toBe('sync');
    const refused = await rt.operations.run('sync', { force: false }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RefusedError);
    expect((refused as RefusedError).reason).toBe('recovery_failed');
    expect((await rt.store.readJournal())?.kind).toBe('sync');

    // slave's sshd comes back; the next start of the engine finishes the rollback it could not do.
    await sshd.restart();
    rec.events.length = 0;
    const recovered = await rt.operations.recover();

    expect(recovered).toBe('rolled_back');
    expect(rec.types()).toContain('recovered_after_crash');
    await waitSiteHealthy(rt, 'slave');
    expect(await siteOutcome(rt, 'slave')).toEqual({
      status: 'running',
      restartPolicy: BENCH_POLICIES.slave,
      health: 'healthy',
    });
    const slaveAfter = await siteData(sites.dirs.slave);
    expect(slaveAfter.files).toEqual(slaveBefore.files);
    expect(slaveAfter.db.integrity).toBe('ok');
    expect(await ownedTreesBeside(sites.dirs.slave)).toEqual([]);
    expect(await rt.store.readJournal()).toBeNull();
    expect(await siteOutcome(rt, 'master')).toMatchObject({ status: 'running', health: 'healthy' });
    expect(withoutBig((await siteData(sites.dirs.master)).files)).toEqual(masterBefore.files);
  });
});

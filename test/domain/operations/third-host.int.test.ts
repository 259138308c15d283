/**
 * The service on a third machine (SPEC section 1: the Home Assistant host, or any box that outlives master): both
 * sites remote, each behind its own sshd with its own host key, Docker reached over each site's SSH, and neither
 * site holding a key or a host key for the other. Copies go through the relay (adapters/rsync/relay.ts).
 */
import { describe, expect, it } from 'vitest';
import { OperationError } from '../../../src/domain/errors.js';
import {
  ownedTreesBeside,
  pidsOf,
  Recorder,
  signalAll,
  siteData,
  siteOutcome,
  waitFor,
  waitSiteHealthy,
} from '../../bench/faults.js';
import { BENCH_POLICIES, sitesPerTest, type TwoSites } from '../../bench/sites.js';
import { treeDigest } from '../../bench/tree-digest.js';

const SAME = { skipDb: true, exclude: ['log', 'cache', 'data/transcodes', 'branding.xml'] };

function sshdsOf(sites: TwoSites) {
  const { master, slave } = sites.sshds;
  if (!master || !slave) throw new Error('the bench gave no sshd for each site');
  return { master, slave };
}

describe('service on a third machine: both sites over SSH, nothing stored on either for the other', () => {
  const fixture = sitesPerTest();

  it('sync, promote, failback and rollback all work through the relay', async () => {
    const sites = await fixture.create({ name: 'third', remote: 'both', masterWriteMs: 0 });
    const { master, slave } = sshdsOf(sites);
    // Each site knows only the service's key, and neither knows the other's host key.
    expect(master.clientKeyFile).toBe(slave.clientKeyFile);
    expect(master.hostKeyFingerprint).not.toBe(slave.hostKeyFingerprint);
    const rt = fixture.runtime(sites);
    const masterBefore = await treeDigest(sites.dirs.master, SAME);

    const synced = await rt.operations.run('sync', { force: false });
    expect(synced.files).toBeGreaterThan(0);
    expect(await treeDigest(sites.dirs.slave, SAME)).toEqual(masterBefore);
    expect((await siteData(sites.dirs.slave)).db).toMatchObject({ integrity: 'ok' });

    const promoted = await rt.operations.run('promote', { force: false });
    expect(promoted.state.primary).toBe('slave');
    expect(await siteOutcome(rt, 'master')).toMatchObject({ status: 'exited', restartPolicy: 'no' });
    expect(await siteOutcome(rt, 'slave')).toMatchObject({ status: 'running', health: 'healthy' });

    const back = await rt.operations.run('failback', { force: false });
    expect(back.state.primary).toBe('master');
    await waitSiteHealthy(rt, 'master');
    expect((await siteOutcome(rt, 'master')).restartPolicy).toBe(BENCH_POLICIES.master);

    const rolled = await rt.operations.run('rollback', { force: false });
    expect(rolled.state.primary).toBe('slave');
    expect(await siteOutcome(rt, 'master')).toMatchObject({ status: 'exited', restartPolicy: 'no' });
    expect(await ownedTreesBeside(sites.dirs.master)).toEqual([]);
  });

  it("promote with master's host unreachable (its container still running) fences it once the host answers", async () => {
    const sites = await fixture.create({ name: 'third-down', remote: 'both', masterWriteMs: 0 });
    const { master } = sshdsOf(sites);
    const rt = fixture.runtime(sites);
    const rec = new Recorder().attach(rt);
    await rt.operations.run('sync', { force: false });

    await master.kill();
    const promoted = await rt.operations.run('promote', { force: false });
    expect(promoted.state).toMatchObject({ primary: 'slave', fence: { site: 'master', pending: true } });
    expect(rec.events.find((e) => e.event_type === 'promoted')).toMatchObject({ copied: false });
    // master's container never stopped: it is out of reach, not down
    expect((await sites.docker.getContainer(sites.containers.master).inspect()).State.Running).toBe(true);
    expect(await rt.operations.fencePending()).toBe(false);

    await master.restart();
    expect(await rt.operations.fencePending()).toBe(true);
    expect(await siteOutcome(rt, 'master')).toMatchObject({ status: 'exited', restartPolicy: 'no' });
    expect((await rt.store.load()).fence).toEqual({
      site: 'master',
      previousRestartPolicy: BENCH_POLICIES.master,
      pending: false,
    });

    const back = await rt.operations.run('failback', { force: false });
    expect(back.state.primary).toBe('master');
    expect((await siteOutcome(rt, 'master')).restartPolicy).toBe(BENCH_POLICIES.master);
  });

  it('rsync killed mid-copy: the sync fails, the standby is restored, master untouched, both serve', async () => {
    const sites = await fixture.create({
      name: 'third-kill',
      remote: 'both',
      files: 300,
      totalBytes: 40 * 1024 * 1024,
    });
    const rt = fixture.runtime(sites);
    const rec = new Recorder().attach(rt);
    const masterBefore = await siteData(sites.dirs.master);
    const slaveBefore = await siteData(sites.dirs.slave);
    const staging = `${sites.dirs.slave}.jf-failover-staging`;
    const outcome = rt.operations.run('sync', { force: false }).catch((e: unknown) => e);
    await rec.waitStep('pre-copy', 60_000);
    await waitFor('the relayed rsync', async () => (await pidsOf('rsync', staging)).length > 0, 20_000, 10);
    signalAll(await pidsOf('rsync', staging), 'SIGKILL');
    expect(await outcome).toBeInstanceOf(OperationError);
    expect(rec.types()).toEqual(expect.arrayContaining(['sync_failed', 'rolled_back']));
    expect((await siteData(sites.dirs.master)).files).toEqual(masterBefore.files);
    expect((await siteData(sites.dirs.slave)).files).toEqual(slaveBefore.files);
    expect(await ownedTreesBeside(sites.dirs.slave)).toEqual([]);
    await waitSiteHealthy(rt, 'master');
    await waitSiteHealthy(rt, 'slave');
    await expect(rt.operations.run('sync', { force: false })).resolves.toMatchObject({ kind: 'sync' });
  });

  it("slave's SSH dropped during the final copy: master serves at once, the rollback finishes once slave is back", async () => {
    const sites = await fixture.create({
      name: 'third-drop',
      remote: 'both',
      files: 300,
      totalBytes: 40 * 1024 * 1024,
      extraEnv: { SYNC_MODE: 'stopped' },
    });
    const { slave } = sshdsOf(sites);
    const rt = fixture.runtime(sites);
    const rec = new Recorder().attach(rt);
    const masterBefore = await siteData(sites.dirs.master);
    const slaveBefore = await siteData(sites.dirs.slave);
    const staging = `${sites.dirs.slave}.jf-failover-staging`;
    const outcome = rt.operations.run('sync', { force: false }).catch((e: unknown) => e);
    await rec.waitStep('final-copy', 120_000);
    await waitFor('the relayed rsync', async () => (await pidsOf('rsync', staging)).length > 0, 20_000, 10);
    await slave.kill();
    expect(await outcome).toBeInstanceOf(OperationError);
    expect(rec.types()).toContain('rollback_failed');
    await waitSiteHealthy(rt, 'master');
    expect((await siteData(sites.dirs.master)).files).toEqual(masterBefore.files);

    await slave.restart();
    expect(await rt.operations.recover()).toBe('rolled_back');
    await waitSiteHealthy(rt, 'slave');
    expect((await siteData(sites.dirs.slave)).files).toEqual(slaveBefore.files);
    expect(await ownedTreesBeside(sites.dirs.slave)).toEqual([]);
    expect(await pidsOf('rsync', staging)).toEqual([]);
  });
});

import { execFile } from 'node:child_process';
import { access, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { OperationError } from '../../../src/domain/errors.js';
import {
  DB_REL,
  dbFacts,
  ownedTreesBeside,
  Recorder,
  siteData,
  siteOutcome,
  waitSiteHealthy,
  writesNow,
} from '../../bench/faults.js';
import { BENCH_POLICIES, sitesPerTest } from '../../bench/sites.js';
import { treeDigest } from '../../bench/tree-digest.js';

const exec = promisify(execFile);
const NEVER_HEALTHY = '.standin-never-healthy-on-port';

describe('standby start faults and live databases', () => {
  const fixture = sitesPerTest();

  it('a standby that never becomes healthy: START_TIMEOUT_S expires, the old tree comes back and serves', async () => {
    const sites = await fixture.create({
      name: 'fault-never-healthy',
      remote: 'none',
      files: 80,
      totalBytes: 2 * 1024 * 1024,
      extraEnv: { START_TIMEOUT_S: '5' },
    });
    // Master's tree carries a file that keeps the stand-in on the slave's port Degraded forever.
    await writeFile(join(sites.dirs.master, NEVER_HEALTHY), `${sites.ports.slave}\n`);
    const rt = fixture.runtime(sites, { healthPollMs: 100 });
    const rec = new Recorder().attach(rt);
    const masterBefore = await siteData(sites.dirs.master);
    const slaveBefore = await siteData(sites.dirs.slave);
    const t0 = Date.now();

    const error = await rt.operations.run('sync', { force: false }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(OperationError);
    const message = (error as OperationError).message;
    expect(message).toContain('failed at step start-standby');
    expect(message).toContain('START_TIMEOUT_S=5');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(5000);
    expect(rec.types()).toEqual(expect.arrayContaining(['sync_failed', 'rolled_back']));
    expect(rec.types()).not.toContain('rollback_failed');
    // master untouched and serving throughout the standby's trouble
    const masterAfter = await siteData(sites.dirs.master);
    expect(masterAfter.files).toEqual(masterBefore.files);
    expect(masterAfter.db.integrity).toBe('ok');
    expect(masterAfter.db.activity).toBeGreaterThanOrEqual(masterBefore.db.activity);
    expect(await siteOutcome(rt, 'master')).toEqual({
      status: 'running',
      restartPolicy: BENCH_POLICIES.master,
      health: 'healthy',
    });
    // the slave runs its old tree again (without the fault file) and becomes healthy
    await expect(access(join(sites.dirs.slave, NEVER_HEALTHY))).rejects.toThrow();
    await waitSiteHealthy(rt, 'slave', 20_000);
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
    const state = await rt.store.load();
    expect(state.primary).toBe('master');
    expect(state.lastSync?.result).toBe('rolled_back');
    // the rolled-back sync is not something `rollback` could undo again
    expect(state.lastOperation).toBeNull();
  });

  it('promote to a slave that never becomes healthy: rolled back, master unfenced and primary again', async () => {
    const sites = await fixture.create({
      name: 'fault-promote-unhealthy',
      remote: 'none',
      files: 80,
      totalBytes: 2 * 1024 * 1024,
      extraEnv: { START_TIMEOUT_S: '5' },
    });
    await writeFile(join(sites.dirs.master, NEVER_HEALTHY), `${sites.ports.slave}\n`);
    const rt = fixture.runtime(sites, { healthPollMs: 100 });
    const rec = new Recorder().attach(rt);
    const masterBefore = await siteData(sites.dirs.master);
    const slaveBefore = await siteData(sites.dirs.slave);

    const error = await rt.operations.run('promote', { force: false }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(OperationError);
    expect((error as OperationError).message).toContain('failed at step start-slave');
    expect(rec.types()).toEqual(expect.arrayContaining(['sync_failed', 'rolled_back']));
    expect(rec.types()).not.toContain('promoted');
    expect(rec.types()).not.toContain('rollback_failed');
    // master was stopped and fenced for the promote: it runs again with its restart policy back
    await waitSiteHealthy(rt, 'master');
    expect(await siteOutcome(rt, 'master')).toEqual({
      status: 'running',
      restartPolicy: BENCH_POLICIES.master,
      health: 'healthy',
    });
    const masterAfter = await siteData(sites.dirs.master);
    expect(masterAfter.files).toEqual(masterBefore.files);
    expect(masterAfter.db.integrity).toBe('ok');
    await waitSiteHealthy(rt, 'slave', 20_000);
    expect(await siteOutcome(rt, 'slave')).toEqual({
      status: 'running',
      restartPolicy: BENCH_POLICIES.slave,
      health: 'healthy',
    });
    expect((await siteData(sites.dirs.slave)).files).toEqual(slaveBefore.files);
    expect(await ownedTreesBeside(sites.dirs.slave)).toEqual([]);
    expect(await rt.store.readJournal()).toBeNull();
    expect(await rt.store.load()).toMatchObject({
      primary: 'master',
      epoch: 0,
      fence: null,
      lastOperation: null,
    });
  });

  it('stopped mode: master writing its database every 100 ms during the pre-copy still gives a sound copy on slave', async () => {
    const sites = await fixture.create({
      name: 'fault-live-writes',
      remote: 'none',
      files: 600,
      totalBytes: 48 * 1024 * 1024,
      masterWriteMs: 100,
      extraEnv: { SYNC_MODE: 'stopped' },
    });
    const rt = fixture.runtime(sites, { healthPollMs: 100 });
    const rec = new Recorder().attach(rt);
    const masterBefore = await siteData(sites.dirs.master);
    // What master's user has written when the pre-copy starts and when it is done (master still running), read
    // synchronously as each step starts: the database really was live during the pre-copy. Play state changes with
    // every playback report; activity rows only at a start or a stop, which a fast pre-copy can fall between.
    const seen: Record<string, ReturnType<typeof writesNow>> = {};
    rt.observers.add({
      event: () => undefined,
      operation: (s) => {
        const dir = sites.dirs.master;
        if (!dir || !['pre-copy', 'stop-standby'].includes(s.step) || s.step in seen) return;
        seen[s.step] = writesNow(dir);
      },
    });

    const result = await rt.operations.run('sync', { force: false });

    expect(result.state.lastSync?.result).toBe('success');
    expect(rec.types()).toContain('sync_succeeded');
    const atPrecopy = seen['pre-copy'];
    const afterPrecopy = seen['stop-standby'];
    expect(atPrecopy?.activity).toBeGreaterThan(0);
    expect(afterPrecopy?.playState).toMatch(/^[\d.]+\/[\d.]+\/[\d.]+$/);
    expect(afterPrecopy?.playState).not.toBe(atPrecopy?.playState);
    const slaveDb = join(sites.dirs.slave, DB_REL);
    const { stdout } = await exec('sqlite3', ['-readonly', slaveDb, 'PRAGMA integrity_check;']);
    expect(stdout.trim()).toBe('ok');
    // The copy is master's database as it was when master stopped: every row written up to then.
    const slave = await dbFacts(sites.dirs.slave);
    expect(slave.activity).toBeGreaterThanOrEqual(afterPrecopy?.activity ?? Number.POSITIVE_INFINITY);
    expect(slave.users).toBe(masterBefore.db.users);
    expect(slave.items).toBe(masterBefore.db.items);
    // copied, never hard-linked into the live tree
    expect((await stat(slaveDb)).nlink).toBe(1);
    const masterAfter = await siteData(sites.dirs.master);
    expect(masterAfter.files).toEqual(masterBefore.files);
    expect(masterAfter.db.integrity).toBe('ok');
    const notSynced = ['cache', 'log', 'data/transcodes', 'branding.xml'];
    expect(await treeDigest(sites.dirs.slave, { exclude: notSynced, skipDb: true })).toEqual(
      await treeDigest(sites.dirs.master, { exclude: notSynced, skipDb: true }),
    );
    for (const s of ['master', 'slave'] as const) expect((await siteOutcome(rt, s)).health).toBe('healthy');
  });
});

import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { OperationError, RefusedError } from '../../../src/domain/errors.js';
import {
  ownedTreesBeside,
  Recorder,
  siteData,
  siteOutcome,
  userOwned,
  waitSiteHealthy,
} from '../../bench/faults.js';
import { BENCH_POLICIES, sitesPerTest } from '../../bench/sites.js';
import { treeDigest } from '../../bench/tree-digest.js';

const exec = promisify(execFile);
const NOT_SYNCED = ['cache', 'log', 'data/transcodes', 'branding.xml'];

/** A tmpfs of `size` (e.g. `96m`) as the slave's parent dir; removed by the returned function. */
async function smallDisk(size: string): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'jf-fault-disk-'));
  await exec('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  return {
    dir,
    async remove() {
      await exec('umount', [dir]).catch(() => exec('umount', ['-l', dir]));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

describe('standby disk full', () => {
  let disk: { dir: string; remove(): Promise<void> } | undefined;
  // Registered first so it runs last (after hooks run in reverse): the tmpfs goes once the sites are removed.
  afterEach(async () => {
    await disk?.remove();
    disk = undefined;
  });
  const fixture = sitesPerTest();

  it('a standby disk too small for the copy is refused up front, nothing changed', async () => {
    disk = await smallDisk('8m');
    const sites = await fixture.create({
      name: 'fault-disk-small',
      remote: 'none',
      files: 60,
      totalBytes: 2 * 1024 * 1024,
      slaveParent: disk.dir,
    });
    const rt = fixture.runtime(sites, { healthPollMs: 100 });
    const rec = new Recorder().attach(rt);
    const masterBefore = await siteData(sites.dirs.master);
    const slaveBefore = await siteData(sites.dirs.slave);

    const error = await rt.operations.run('sync', { force: false }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(RefusedError);
    expect((error as RefusedError).reason).toBe('low_disk_space');
    // refused in preflight: nothing failed, nothing to roll back
    expect(rec.types().filter((t) => t !== 'sync_started')).toEqual([]);
    expect((await siteData(sites.dirs.master)).files).toEqual(masterBefore.files);
    expect(userOwned(await siteData(sites.dirs.slave))).toEqual(userOwned(slaveBefore));
    expect(await ownedTreesBeside(sites.dirs.slave)).toEqual([]);
    for (const s of ['master', 'slave'] as const) expect((await siteOutcome(rt, s)).health).toBe('healthy');
    expect(await rt.store.readJournal()).toBeNull();
  });

  it('a disk that fills up during the copy: No space left on device, staging removed, standby restored', async () => {
    // Room for the copy plus the preflight's margin, so preflight passes; the disk fills as the pre-copy starts.
    disk = await smallDisk('112m');
    const sites = await fixture.create({
      name: 'fault-disk-fill',
      remote: 'none',
      files: 200,
      totalBytes: 12 * 1024 * 1024,
      emptySlave: true,
      slaveParent: disk.dir,
    });
    const rt = fixture.runtime(sites, { healthPollMs: 100 });
    const rec = new Recorder().attach(rt);
    const masterBefore = await siteData(sites.dirs.master);
    const slaveBefore = await siteData(sites.dirs.slave);
    const filler = join(disk.dir, 'filler');
    // Another writer fills the standby's disk right when the pre-copy begins (synchronously, before its rsync).
    let filled = false;
    rt.observers.add({
      event: () => undefined,
      operation: (s) => {
        if (s.step !== 'pre-copy' || filled) return;
        filled = true;
        try {
          execFileSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=1M'], { stdio: 'ignore' });
        } catch {
          // dd ends with "No space left on device": the disk is full
        }
      },
    });

    const error = await rt.operations.run('sync', { force: false }).catch((e: unknown) => e);

    expect(filled).toBe(true);
    expect(error).toBeInstanceOf(OperationError);
    const message = (error as OperationError).message;
    expect(message).toContain('failed at step pre-copy');
    expect(message).toContain('No space left on device');
    expect(rec.types()).toContain('sync_failed');
    expect(rec.types()).toContain('rolled_back');
    expect(rec.types()).not.toContain('rollback_failed');
    const masterAfter = await siteData(sites.dirs.master);
    expect(masterAfter.files).toEqual(masterBefore.files);
    expect(masterAfter.db.integrity).toBe('ok');
    expect(masterAfter.db.activity).toBeGreaterThanOrEqual(masterBefore.db.activity);
    expect(userOwned(await siteData(sites.dirs.slave))).toEqual(userOwned(slaveBefore));
    expect(await ownedTreesBeside(sites.dirs.slave)).toEqual([]);
    for (const s of ['master', 'slave'] as const) {
      await waitSiteHealthy(rt, s);
      expect(await siteOutcome(rt, s)).toEqual({
        status: 'running',
        restartPolicy: BENCH_POLICIES[s],
        health: 'healthy',
      });
    }
    expect(await rt.store.readJournal()).toBeNull();
    expect((await rt.store.load()).lastSync?.result).toBe('rolled_back');

    // Space freed: the next sync goes through.
    await rm(filler);
    const result = await rt.operations.run('sync', { force: false });
    expect(result.state.lastSync?.result).toBe('success');
    expect(await treeDigest(sites.dirs.slave, { exclude: NOT_SYNCED, skipDb: true })).toEqual(
      await treeDigest(sites.dirs.master, { exclude: NOT_SYNCED, skipDb: true }),
    );
    expect((await siteData(sites.dirs.slave)).db.integrity).toBe('ok');
  });
});

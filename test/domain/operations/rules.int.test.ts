/**
 * The safety rules of SPEC section 4, each proven by a test that fails if the rule breaks.
 * (Rule 6 and 7 under faults and crashes: engine-fault-*.test.ts.)
 */
import { existsSync } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import type { App } from '../../../src/compose.js';
import type { Config } from '../../../src/config/load.js';
import type { FailoverEvent, OperationStatus } from '../../../src/domain/events.js';
import { BENCH_POLICIES, sitesPerTest, type TwoSites } from '../../bench/sites.js';
import { treeDigest, treeDigestNow } from '../../bench/tree-digest.js';

describe('safety rules', () => {
  const fixture = sitesPerTest();

  function runtime(
    s: TwoSites,
    config: Config = s.config,
  ): { rt: App; events: FailoverEvent[]; steps: OperationStatus[] } {
    const r = fixture.runtime(s, { healthPollMs: 200 }, config);
    const events: FailoverEvent[] = [];
    const steps: OperationStatus[] = [];
    r.observers.add({ event: (e) => events.push(e), operation: (o) => steps.push(o) });
    return { rt: r, events, steps };
  }

  it('rule 2: refuses to sync from an empty source (unmounted share), unless forced; the standby is untouched', async () => {
    const sites = await fixture.create({ name: 'rule2', remote: 'none' });
    const unmounted = join(sites.base, 'unmounted-share');
    await mkdir(unmounted);
    const config: Config = structuredClone(sites.config);
    config.sites.master.configDir = unmounted;
    const { rt: r } = runtime(sites, config);
    const slaveBefore = await treeDigest(sites.dirs.slave, { skipWal: true });

    await expect(r.operations.run('sync', { force: false })).rejects.toMatchObject({
      name: 'RefusedError',
      reason: 'source_not_jellyfin',
    });

    expect(await treeDigest(sites.dirs.slave, { skipWal: true })).toEqual(slaveBefore);
    expect(existsSync(`${sites.dirs.slave}.jf-failover-staging`)).toBe(false);
    expect((await r.sites.slave.container.inspect()).status).toBe('running');
    expect((await r.sites.master.container.inspect()).status).toBe('running');
  });

  it('rule 2: refuses a source with far fewer files than the standby (a half-mounted share)', async () => {
    const sites = await fixture.create({ name: 'rule2b', remote: 'none', files: 200 });
    // A source that still has a database but lost most of its metadata.
    const partial = join(sites.base, 'partial');
    await execa('mkdir', ['-p', `${partial}/data/data`]);
    await execa('cp', ['-a', `${sites.dirs.master}/data/data/jellyfin.db`, `${partial}/data/data/`]);
    await execa('cp', ['-a', `${sites.dirs.master}/system.xml`, partial]);
    const config: Config = structuredClone(sites.config);
    config.sites.master.configDir = partial;
    const { rt: r } = runtime(sites, config);
    const slaveBefore = await treeDigest(sites.dirs.slave, { skipWal: true });

    await expect(r.operations.run('sync', { force: false })).rejects.toMatchObject({
      reason: 'source_not_jellyfin',
    });
    expect(await treeDigest(sites.dirs.slave, { skipWal: true })).toEqual(slaveBefore);
  });

  it('rule 3: refuses to sync over a standby users wrote to since the last sync, says so, and obeys --force', async () => {
    const sites = await fixture.create({ name: 'rule3', remote: 'none', masterWriteMs: 0 });
    const { rt: r, events } = runtime(sites);
    await r.operations.run('sync', { force: false });
    // users land on slave: its watch data changes
    await r.sites.slave.container.stop(10);
    await sites.recreate('slave', { writeIntervalMs: 100 });
    await new Promise((res) => setTimeout(res, 2000));
    await r.sites.slave.container.stop(10);
    await sites.recreate('slave', { writeIntervalMs: 0 });
    const slaveBefore = await treeDigest(sites.dirs.slave, { skipWal: true, exclude: ['log', 'cache'] });

    await expect(r.operations.run('sync', { force: false })).rejects.toMatchObject({
      reason: 'standby_diverged',
    });
    expect(events.some((e) => e.event_type === 'standby_diverged')).toBe(true);
    expect(await treeDigest(sites.dirs.slave, { skipWal: true, exclude: ['log', 'cache'] })).toEqual(
      slaveBefore,
    );

    const forced = await r.operations.run('sync', { force: true });
    expect(forced.state.lastSync?.result).toBe('success');
    const masterDb = await userData(`${sites.dirs.master}/data/data/jellyfin.db`);
    expect(await userData(`${sites.dirs.slave}/data/data/jellyfin.db`)).toEqual(masterDb);
  });

  it('rule 4: refuses to promote between different Jellyfin versions; nothing changes', async () => {
    const sites = await fixture.create({ name: 'rule4', remote: 'none', slaveVersion: '10.10.7' });
    const { rt: r } = runtime(sites);
    await expect(r.operations.run('promote', { force: false })).rejects.toMatchObject({
      reason: 'version_mismatch',
    });
    const state = await r.store.load();
    expect(state.primary).toBe('master');
    const master = await r.sites.master.container.inspect();
    expect(master.status).toBe('running');
    expect(master.restartPolicy).toBe(BENCH_POLICIES.master);
    expect((await r.sites.slave.container.inspect()).status).toBe('running');
  });

  it('rule 5: the running standby is not rewritten before it is stopped, and no database keeps a second link', async () => {
    const sites = await fixture.create({ name: 'rule5', remote: 'none', masterWriteMs: 100 });
    const { rt: r, steps } = runtime(sites);
    const slaveDir = sites.dirs.slave;
    const before = await treeDigest(slaveDir, { skipWal: true, exclude: ['log', 'cache'] });
    const dbInodeBefore = (await stat(`${slaveDir}/data/data/jellyfin.db`)).ino;
    let atStop: Record<string, string> | undefined;
    const detach = r.observers.add({
      event: () => undefined,
      operation: (o) => {
        if (o.step === 'stop-standby' && !atStop)
          atStop = treeDigestNow(slaveDir, { skipWal: true, exclude: ['log', 'cache'] });
      },
    });

    await r.operations.run('sync', { force: false });
    detach();

    expect(steps.some((s) => s.step === 'pre-copy')).toBe(true);
    expect(atStop).toEqual(before);
    const live = await stat(`${slaveDir}/data/data/jellyfin.db`);
    const snap = await stat(`${slaveDir}.jf-failover-snapshot/data/data/jellyfin.db`);
    expect(live.nlink).toBe(1);
    expect(snap.nlink).toBe(1);
    expect(snap.ino).toBe(dbInodeBefore);
    expect(live.ino).not.toBe(dbInodeBefore);
    const check = await execa('sqlite3', [`${slaveDir}/data/data/jellyfin.db`, 'PRAGMA integrity_check']);
    expect(check.stdout.trim()).toBe('ok');
  });

  it('rule 9: paths with spaces and shell syntax reach the remote site literally; nothing is executed', async () => {
    const marker = `/tmp/jf-pwned-${process.pid}`;
    const sites = await fixture.create({
      name: 'rule9',
      remote: 'slave',
      slaveDirName: `my config $(touch ${marker}) 'q'`,
    });
    const { rt: r } = runtime(sites);
    await r.operations.run('sync', { force: false });
    expect(existsSync(marker)).toBe(false);
    const digestOpts = { skipDb: true, exclude: ['log', 'cache', 'data/transcodes', 'branding.xml'] };
    expect(await treeDigest(sites.dirs.slave, digestOpts)).toEqual(
      await treeDigest(sites.dirs.master, digestOpts),
    );
  });
});

async function userData(db: string): Promise<string> {
  return (
    await execa('sqlite3', [db, 'SELECT UserId, ItemId, PlaybackPositionTicks FROM UserData ORDER BY 1, 2;'])
  ).stdout;
}

describe('a standby host without sqlite3 (as Unraid ships)', () => {
  const fixture = sitesPerTest();

  it('rule 3 still holds: the copy is verified and divergence detected on a copy read by this host', async () => {
    const sites = await fixture.create({
      name: 'nosqlite',
      remote: 'slave',
      masterWriteMs: 0,
      remoteLacks: ['sqlite3'],
    });
    const r = fixture.runtime(sites);
    expect(await r.sites.slave.files.hasCommand('sqlite3')).toBe(false);
    expect(await r.sites.slave.files.hasCommand('rsync')).toBe(true);
    const first = await r.operations.run('sync', { force: false });
    expect(first.state.standbyFingerprint?.value).toMatch(/^watch-v1:[0-9a-f]{64}$/);

    await r.sites.slave.container.stop(10);
    await sites.recreate('slave', { writeIntervalMs: 100 });
    await new Promise((res) => setTimeout(res, 2000));
    await r.sites.slave.container.stop(10);
    await sites.recreate('slave', { writeIntervalMs: 0 });

    await expect(r.operations.run('sync', { force: false })).rejects.toMatchObject({
      reason: 'standby_diverged',
    });
  });
});

import { readFile, stat, writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import type { FailoverEvent } from '../../../src/domain/events.js';
import { watchOf } from '../../bench/faults.js';
import { BENCH_POLICIES, sitesPerTest } from '../../bench/sites.js';
import { treeDigest } from '../../bench/tree-digest.js';

const HOST_OWNED = ['cache', 'log', 'data/transcodes'];

describe('promote, failback and rollback move roles and keep data', () => {
  const fixture = sitesPerTest();

  it('promote fences master and serves from slave; failback carries slave data home without the banner', async () => {
    const sites = await fixture.create({ name: 'roles', remote: 'slave', masterWriteMs: 0 });
    const rt = fixture.runtime(sites);
    const events: FailoverEvent[] = [];
    rt.observers.add({ event: (e) => events.push(e), operation: () => undefined });
    // Master is what it is once its container stopped (its own idle writes and checkpoint end there); from then
    // on only the service could change it, and rule 1 says it must not.
    let masterStopped: Promise<Record<string, string>> | undefined;
    const detach = rt.observers.add({
      operation: (o) => {
        if (o.step === 'final-copy' && !masterStopped)
          masterStopped = treeDigest(sites.dirs.master, { skipWal: true });
      },
    });
    const masterBranding = await readFile(`${sites.dirs.master}/branding.xml`, 'utf8');

    // promote: master stays stopped and fenced, slave is primary with master's data
    const promoted = await rt.operations.run('promote', { force: false });
    expect(promoted.state.primary).toBe('slave');
    expect(promoted.state.epoch).toBe(1);
    const master = await rt.sites.master.container.inspect();
    expect(master.status).toBe('exited');
    expect(master.restartPolicy).toBe('no');
    expect(await rt.sites.slave.jellyfin.health()).toBe('healthy');
    expect(events.find((e) => e.event_type === 'promoted')?.copied).toBe(true);
    // rule 1: promote never writes master
    detach();
    expect(masterStopped).toBeDefined();
    expect(await treeDigest(sites.dirs.master, { skipWal: true })).toEqual(await masterStopped);

    // users watch on slave: its database changes
    await rt.sites.slave.container.stop(10);
    await sites.recreate('slave', { writeIntervalMs: 100 });
    await new Promise((r) => setTimeout(r, 2500));
    const slaveCount = await rowCount(`${sites.dirs.slave}/data/data/jellyfin.db`);

    // failback: master primary again, with slave's watch data, master's own branding, restart policy restored
    const back = await rt.operations.run('failback', { force: false });
    expect(back.state.primary).toBe('master');
    expect(back.state.epoch).toBe(2);
    expect(back.state.fence).toBeNull();
    const masterAfter = await rt.sites.master.container.inspect();
    expect(masterAfter.status).toBe('running');
    expect(masterAfter.restartPolicy).toBe(BENCH_POLICIES.master);
    expect(await rt.sites.master.jellyfin.health()).toBe('healthy');
    expect(await rowCount(`${sites.dirs.master}/data/data/jellyfin.db`)).toBeGreaterThanOrEqual(slaveCount);
    expect(await readFile(`${sites.dirs.master}/branding.xml`, 'utf8')).toBe(masterBranding);
    expect(await readFile(`${sites.dirs.slave}/branding.xml`, 'utf8')).toContain('standby Jellyfin server');
    expect(events.some((e) => e.event_type === 'failed_back')).toBe(true);
    // slave keeps running as the standby
    expect((await rt.sites.slave.container.inspect()).status).toBe('running');
  });

  it('rollback after promote puts master back as primary, unfenced, with slave restored from its snapshot', async () => {
    const sites = await fixture.create({ name: 'rollback', remote: 'slave', masterWriteMs: 0 });
    // slave holds something of its own before the promote
    const rt = fixture.runtime(sites);
    const slaveBefore = await treeDigest(sites.dirs.slave, { exclude: HOST_OWNED, skipDb: true });
    await rt.operations.run('promote', { force: false });
    const events: FailoverEvent[] = [];
    rt.observers.add({ event: (e) => events.push(e), operation: () => undefined });

    const result = await rt.operations.run('rollback', { force: false });

    expect(result.state.primary).toBe('master');
    expect(result.state.fence).toBeNull();
    expect(result.state.lastOperation).toBeNull();
    const master = await rt.sites.master.container.inspect();
    expect(master.status).toBe('running');
    expect(master.restartPolicy).toBe(BENCH_POLICIES.master);
    expect(await rt.sites.master.jellyfin.health()).toBe('healthy');
    expect(await rt.sites.slave.jellyfin.health()).toBe('healthy');
    expect(await treeDigest(sites.dirs.slave, { exclude: HOST_OWNED, skipDb: true })).toEqual(slaveBefore);
    await expect(stat(`${sites.dirs.slave}.jf-failover-snapshot`)).rejects.toThrow();
    expect(events.map((e) => e.event_type)).toContain('rolled_back');
    // nothing left to roll back: refused, exit code 3 class
    await expect(rt.operations.run('rollback', { force: false })).rejects.toMatchObject({
      reason: 'nothing_to_roll_back',
    });
  });
});

async function rowCount(db: string): Promise<number> {
  const { execa } = await import('execa');
  const r = await execa('sqlite3', [db, 'SELECT count(*) FROM UserData;']);
  return Number(r.stdout.trim());
}

describe('rollback of a sync and of a failback', () => {
  const fixture = sitesPerTest();

  it('rollback after a sync gives the standby its previous tree back; roles do not move', async () => {
    const sites = await fixture.create({ name: 'rb-sync', remote: 'none', masterWriteMs: 0 });
    const rt = fixture.runtime(sites);
    await writeFile(`${sites.dirs.slave}/only-on-slave.txt`, 'kept by rollback');
    // A running slave keeps writing its own bookkeeping: compare its files and what its users own.
    const slaveBefore = await treeDigest(sites.dirs.slave, { exclude: HOST_OWNED, skipDb: true });
    const slaveWatch = await watchOf(sites.dirs.slave);
    await rt.operations.run('sync', { force: false });
    await expect(stat(`${sites.dirs.slave}/only-on-slave.txt`)).rejects.toThrow();

    const result = await rt.operations.run('rollback', { force: false });

    expect(result.state.primary).toBe('master');
    expect(result.state.lastSync?.result).toBe('rolled_back');
    expect(await treeDigest(sites.dirs.slave, { exclude: HOST_OWNED, skipDb: true })).toEqual(slaveBefore);
    expect(await watchOf(sites.dirs.slave)).toBe(slaveWatch);
    expect(await rt.sites.slave.jellyfin.health()).toBe('healthy');
    expect(await rt.sites.master.jellyfin.health()).toBe('healthy');
  });

  it('rollback after a failback makes slave primary again, master fenced with its own tree restored', async () => {
    const sites = await fixture.create({ name: 'rb-failback', remote: 'none', masterWriteMs: 0 });
    const rt = fixture.runtime(sites);
    await rt.operations.run('promote', { force: false });
    const masterFenced = await treeDigest(sites.dirs.master, { exclude: HOST_OWNED, skipWal: true });
    await rt.operations.run('failback', { force: false });

    const result = await rt.operations.run('rollback', { force: false });

    expect(result.state.primary).toBe('slave');
    expect(result.state.fence).toMatchObject({
      site: 'master',
      previousRestartPolicy: BENCH_POLICIES.master,
      pending: false,
    });
    const master = await rt.sites.master.container.inspect();
    expect(master.status).toBe('exited');
    expect(master.restartPolicy).toBe('no');
    expect(await treeDigest(sites.dirs.master, { exclude: HOST_OWNED, skipWal: true })).toEqual(masterFenced);
    expect(await rt.sites.slave.jellyfin.health()).toBe('healthy');
    // and failing back again works from there
    const again = await rt.operations.run('failback', { force: false });
    expect(again.state.primary).toBe('master');
    expect((await rt.sites.master.container.inspect()).restartPolicy).toBe(BENCH_POLICIES.master);
  });
});

/**
 * SYNC_MODE=online (SPEC section 2, rule 5): the primary never stops; each database is taken as a consistent
 * snapshot while it writes, checked, and copied; only the standby stops, for the swap. Proven with Jellyfin 10.10
 * (two databases: jellyfin.db and library.db) writing to both every 50 ms, on a source host with sqlite3 and on
 * one without it (the helper container), and with the snapshot killed midway.
 */
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import type { App } from '../../../src/compose.js';
import { OperationError } from '../../../src/domain/errors.js';
import {
  ownedTreesBeside,
  pidsOf,
  Recorder,
  signalAll,
  siteData,
  userOwned,
  waitFor,
  waitSiteHealthy,
} from '../../bench/faults.js';
import { sitesPerTest, type TwoSites } from '../../bench/sites.js';

const DATA = 'data/data';

async function count(db: string, table: string): Promise<number> {
  const { stdout } = await execa('sqlite3', [
    '-readonly',
    '-cmd',
    '.timeout 5000',
    db,
    `SELECT count(*) FROM ${table};`,
  ]);
  return Number(stdout.trim());
}

/** Rows of the tables the writer adds to, in master's two databases. */
async function masterRows(sites: TwoSites): Promise<{ activity: number; userData: number }> {
  return {
    activity: await count(`${sites.dirs.master}/${DATA}/jellyfin.db`, 'ActivityLogs'),
    userData: await count(`${sites.dirs.master}/${DATA}/library.db`, 'UserDatas'),
  };
}

/** The primary's container from outside: started when, and every state seen while the sync ran. */
function watchPrimary(sites: TwoSites, app: App) {
  const seen = new Set<string>();
  let failedRequests = 0;
  let polls = 0;
  let on = true;
  const done = (async () => {
    while (on) {
      const info = await sites.docker.getContainer(sites.containers.master).inspect();
      seen.add(`${info.State.Status} ${info.State.StartedAt}`);
      polls++;
      if ((await app.sites.master.jellyfin.health()) !== 'healthy') failedRequests++;
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return {
    async stop() {
      on = false;
      await done;
      return { seen: [...seen], failedRequests, polls };
    },
  };
}

describe('online sync: the primary never stops', () => {
  const fixture = sitesPerTest();

  for (const where of [
    'sqlite3 on the source host',
    'a helper container (the source host has no sqlite3)',
  ] as const) {
    it(`with ${where}: a writer on both databases every 50 ms, a sound copy holding every row before the snapshot`, async () => {
      const helper = where.startsWith('a helper');
      const sites = await fixture.create({
        name: helper ? 'online-helper' : 'online-host',
        remote: 'master',
        remoteLacks: helper ? ['sqlite3'] : [],
        masterVersion: '10.10.7',
        slaveVersion: '10.10.7',
        masterWriteMs: 50,
        idleWriteMs: 50,
        users: 3,
        items: 40,
        databaseBytes: 20 * 1024 * 1024,
        extraEnv: { SYNC_MODE: 'online' },
      });
      const app = fixture.runtime(sites);
      const rec = new Recorder().attach(app);
      const startedBefore = (await sites.docker.getContainer(sites.containers.master).inspect()).State
        .StartedAt;
      let atSnapshot: Promise<{ activity: number; userData: number }> | undefined;
      app.observers.add({
        operation: (o) => {
          if (o.step === 'snapshot-databases' && !atSnapshot) atSnapshot = masterRows(sites);
        },
      });
      const primary = watchPrimary(sites, app);

      const result = await app.operations.run('sync', { force: false });
      const watched = await primary.stop();

      expect(result.primaryDowntimeS).toBe(0);
      expect(rec.steps).toContain('snapshot-databases');
      expect(rec.steps).not.toContain('stop-primary');
      expect(rec.events.find((e) => e.event_type === 'sync_succeeded')).toMatchObject({ mode: 'online' });
      // never stopped nor restarted, and answered healthy at every poll
      expect(watched.seen).toEqual([`running ${startedBefore}`]);
      expect(watched.failedRequests).toBe(0);
      expect(watched.polls).toBeGreaterThan(10);
      // the standby's databases: sound, and holding every row master had committed when the snapshot began
      for (const db of ['jellyfin.db', 'library.db']) {
        const { stdout } = await execa('sqlite3', [
          '-readonly',
          `${sites.dirs.slave}/${DATA}/${db}`,
          'PRAGMA integrity_check;',
        ]);
        expect(stdout.trim(), db).toBe('ok');
      }
      const before = await atSnapshot;
      expect(before).toBeDefined();
      expect(await count(`${sites.dirs.slave}/${DATA}/jellyfin.db`, 'ActivityLogs')).toBeGreaterThanOrEqual(
        before?.activity ?? 0,
      );
      expect(await count(`${sites.dirs.slave}/${DATA}/library.db`, 'UserDatas')).toBeGreaterThanOrEqual(
        before?.userData ?? 0,
      );
      // nothing left beside master's tree, its own files untouched (a running Jellyfin writes only its databases)
      expect(await ownedTreesBeside(sites.dirs.master)).toEqual([]);
      await waitSiteHealthy(app, 'slave');
    });
  }

  it('the snapshot killed midway: nothing half-copied is left in place, the sync fails cleanly, the next succeeds', async () => {
    const sites = await fixture.create({
      name: 'online-kill',
      remote: 'none',
      masterVersion: '10.10.7',
      slaveVersion: '10.10.7',
      masterWriteMs: 50,
      databaseBytes: 120 * 1024 * 1024,
      extraEnv: { SYNC_MODE: 'online' },
    });
    const app = fixture.runtime(sites);
    const rec = new Recorder().attach(app);
    const slaveBefore = await siteData(sites.dirs.slave);
    const startedBefore = (await sites.docker.getContainer(sites.containers.master).inspect()).State
      .StartedAt;
    const outcome = app.operations.run('sync', { force: false }).catch((e: unknown) => e);
    await rec.waitStep('snapshot-databases', 120_000);
    const snapshotDir = `${sites.dirs.master}.jf-failover-dbsnap`;
    const pids = await waitFor(
      'sqlite3 taking the snapshot',
      async () => {
        const ours = await pidsOf('sqlite3', `VACUUM INTO '${snapshotDir}/`);
        return ours.length > 0 && ours;
      },
      60_000,
      5,
    );
    expect(signalAll(pids, 'SIGKILL')).toBeGreaterThan(0);

    const error = await outcome;
    expect(error).toBeInstanceOf(OperationError);
    expect((error as OperationError).step).toBe('snapshot-databases');
    expect(rec.types()).toEqual(expect.arrayContaining(['sync_failed', 'rolled_back']));
    expect(await ownedTreesBeside(sites.dirs.master)).toEqual([]);
    expect(await ownedTreesBeside(sites.dirs.slave)).toEqual([]);
    expect(userOwned(await siteData(sites.dirs.slave))).toEqual(userOwned(slaveBefore));
    expect((await sites.docker.getContainer(sites.containers.master).inspect()).State.StartedAt).toBe(
      startedBefore,
    );
    const next = await app.operations.run('sync', { force: false });
    expect(next.primaryDowntimeS).toBe(0);
  });

  it('the helper container killed midway: the same, and no helper container is left', async () => {
    const sites = await fixture.create({
      name: 'online-kill-helper',
      remote: 'master',
      remoteLacks: ['sqlite3'],
      masterVersion: '10.10.7',
      slaveVersion: '10.10.7',
      masterWriteMs: 50,
      databaseBytes: 80 * 1024 * 1024,
      extraEnv: { SYNC_MODE: 'online' },
    });
    const app = fixture.runtime(sites);
    const rec = new Recorder().attach(app);
    const slaveBefore = await siteData(sites.dirs.slave);
    const outcome = app.operations.run('sync', { force: false }).catch((e: unknown) => e);
    await rec.waitStep('snapshot-databases', 120_000);
    const helper = await waitFor(
      'the helper container',
      async () => {
        const list = await sites.docker.listContainers({
          filters: { label: ['io.jellyfin-failover.helper'] },
        });
        return list.find((c) => c.Command.includes('VACUUM INTO'));
      },
      60_000,
      5,
    );
    await sites.docker
      .getContainer(helper.Id)
      .kill()
      .catch(() => undefined);

    const error = await outcome;
    expect(error, String(error)).toBeInstanceOf(OperationError);
    expect(rec.types()).toContain('rolled_back');
    expect(await ownedTreesBeside(sites.dirs.master)).toEqual([]);
    expect(userOwned(await siteData(sites.dirs.slave))).toEqual(userOwned(slaveBefore));
    const left = await sites.docker.listContainers({
      all: true,
      filters: { label: ['io.jellyfin-failover.helper'] },
    });
    expect(left).toEqual([]);
    await expect(app.operations.run('sync', { force: false })).resolves.toMatchObject({
      primaryDowntimeS: 0,
    });
  });
});

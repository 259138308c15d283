/**
 * The engine's own logic over in-memory ports (test/support/memory-world.ts): what every operation leaves behind,
 * refusals that change nothing, rollback with errors that name the step, undo order, the gate, and progress.
 * Crash recovery from every point is in recovery.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { OperationError, RefusedError } from '../../../src/domain/errors.js';
import { undoOrder } from '../../../src/domain/undo.js';
import { CONFIG_DIRS, createBench, DB, worldFacts } from '../../support/memory-world.js';

describe('a sync', () => {
  it('gives the standby the primary tree (its own cache and logs kept), the banner, and a snapshot to roll back to', async () => {
    const b = createBench();
    const before = worldFacts(b);
    const result = await b.operations.run('sync', { force: false });

    const slave = b.fs.slave.digest(CONFIG_DIRS.slave);
    expect(slave[DB]).toBe(before.master[DB]);
    expect(slave['/data/metadata/3/poster.jpg']).toBe('master-poster-3');
    expect(slave['/cache/images/x.webp']).toBe('slave-old-cache');
    expect(slave['/branding.xml']).toContain('<LoginDisclaimer>standby server</LoginDisclaimer>');
    expect(b.fs.slave.read(`${CONFIG_DIRS.slave}.jf-failover-snapshot${DB}`)).toBe(before.slave[DB]);
    expect(b.fs.master.digest(CONFIG_DIRS.master)).toEqual(before.master);
    expect(worldFacts(b).containers).toEqual(before.containers);
    expect(result.state.lastSync?.result).toBe('success');
    expect(result.state.standbyFingerprint?.site).toBe('slave');
    expect(b.store.journal).toBeNull();
    expect(b.events.map((e) => e.event_type)).toEqual(['sync_started', 'sync_succeeded']);
  });

  it('reports progress step by step in plan order, never going back, ending at 100 %', async () => {
    const b = createBench();
    await b.operations.run('sync', { force: false });
    const seen = b.statuses.filter((s) => s.kind === 'sync');
    const steps = [...new Set(seen.map((s) => s.step))];
    expect(steps).toEqual([
      'preflight',
      'prepare-staging',
      'pre-copy',
      'pre-copy-databases',
      'stop-standby',
      'stop-primary',
      'final-copy',
      'start-primary',
      'verify',
      'banner',
      'swap',
      'start-standby',
      'commit',
    ]);
    const progress = seen.map((s) => s.progress);
    expect(progress).toEqual([...progress].sort((x, y) => x - y));
    expect(Math.max(...progress)).toBeGreaterThanOrEqual(99);
    expect(b.statuses.at(-1)?.kind).toBe('idle');
  });
});

describe('an online sync (SYNC_MODE)', () => {
  it('never stops the primary: only the standby stops, for the swap; the snapshots are removed after', async () => {
    const b = createBench({ syncMode: 'online' });
    const before = worldFacts(b);
    const result = await b.operations.run('sync', { force: false });
    expect(result.primaryDowntimeS).toBe(0);
    expect(b.world.log.filter((l) => l.includes('jellyfin-master stop'))).toEqual([]);
    expect(b.containers.master.starts).toBe(0);
    expect(b.fs.slave.read(`${CONFIG_DIRS.slave}${DB}`)).toBe(before.master[DB]);
    expect(b.fs.master.exists(`${CONFIG_DIRS.master}.jf-failover-dbsnap`)).toBe(false);
    expect(b.fs.master.digest(CONFIG_DIRS.master)).toEqual(before.master);
    expect(b.events.find((e) => e.event_type === 'sync_succeeded')).toMatchObject({ mode: 'online' });
  });

  it('auto: where the source cannot snapshot its databases, stops it for the final pass and says why', async () => {
    const b = createBench({ syncMode: 'auto' });
    b.hosts.master.snapshots = false;
    const result = await b.operations.run('sync', { force: false });
    expect(result.primaryDowntimeS).toBeGreaterThanOrEqual(0);
    expect(b.containers.master.starts).toBe(1);
    expect(b.events.find((e) => e.event_type === 'sync_succeeded')).toMatchObject({
      mode: 'stopped',
      modeWhy: 'SYNC_MODE=auto and an online sync is not possible: no sqlite3',
    });
  });

  it('auto: where the snapshot dir beside the config dir cannot be created, stops the source and says how to fix it', async () => {
    const b = createBench({ syncMode: 'auto' });
    const parent = CONFIG_DIRS.master.slice(0, CONFIG_DIRS.master.lastIndexOf('/'));
    b.hosts.master.readOnlyDirs = new Set([parent]);
    await b.operations.run('sync', { force: false });
    expect(b.containers.master.starts).toBe(1);
    const done = b.events.find((e) => e.event_type === 'sync_succeeded');
    expect(done).toMatchObject({ mode: 'stopped' });
    expect(String(done?.modeWhy)).toContain(`${CONFIG_DIRS.master}.jf-failover-dbsnap`);
    expect(String(done?.modeWhy)).toContain('writable for the user the service runs as');
    expect(b.fs.master.exists(`${CONFIG_DIRS.master}.jf-failover-dbsnap`)).toBe(false);
  });

  it('stops a standby that is restarting (a crash loop): Docker would start it again in the middle of the swap', async () => {
    const b = createBench({ syncMode: 'stopped' });
    b.containers.slave.status = 'unknown';
    await b.operations.run('sync', { force: false });
    expect(b.world.log).toContain('stop-standby: jellyfin-slave stop');
    // It was not serving before: it is left stopped on its new tree, not started into the same loop.
    expect(b.containers.slave.status).toBe('exited');
  });

  it('online asked for but impossible is refused, nothing changed: the primary was promised it never stops', async () => {
    const b = createBench({ syncMode: 'online' });
    b.hosts.master.snapshots = false;
    const before = worldFacts(b);
    await expect(b.operations.run('sync', { force: false })).rejects.toMatchObject({
      reason: 'online_unavailable',
    });
    expect(worldFacts(b)).toEqual(before);
  });

  it('promote stops the source whatever SYNC_MODE says: it must carry the last write', async () => {
    const b = createBench({ syncMode: 'online' });
    await b.operations.run('promote', { force: false });
    expect(b.world.log.some((l) => l.includes('jellyfin-master stop'))).toBe(true);
  });
});

describe('refusals change nothing', () => {
  it.each([
    [
      'rule 2: a source without a database (an unmounted share)',
      (b: ReturnType<typeof createBench>) => b.fs.master.entries.delete(`${CONFIG_DIRS.master}${DB}`),
      'source_not_jellyfin',
    ],
    [
      'rule 2: a source with far fewer files than the standby',
      (b: ReturnType<typeof createBench>) => {
        for (let i = 0; i < 20; i++)
          b.fs.master.entries.delete(`${CONFIG_DIRS.master}/data/metadata/${i}/poster.jpg`);
      },
      'source_not_jellyfin',
    ],
    [
      'a standby disk that cannot hold the copy',
      (b: ReturnType<typeof createBench>) => {
        b.hosts.slave.freeBytes = 1000;
      },
      'low_disk_space',
    ],
    [
      'a standby host that does not answer',
      (b: ReturnType<typeof createBench>) => {
        b.hosts.slave.reachable = false;
      },
      'unreachable',
    ],
  ])('%s', async (_name, arrange, reason) => {
    const b = createBench();
    arrange(b);
    const before = worldFacts(b);
    const err = await b.operations.run('sync', { force: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RefusedError);
    expect((err as RefusedError).reason).toBe(reason);
    expect(worldFacts(b)).toEqual(before);
    expect(b.store.journal).toBeNull();
  });

  it('rule 3: users wrote to the standby since the last sync; housekeeping alone is not that', async () => {
    const b = createBench();
    await b.operations.run('sync', { force: false });
    const db = `${CONFIG_DIRS.slave}${DB}`;
    b.fs.slave.write(db, `${b.fs.slave.read(db)}\nactivity:more housekeeping`);
    await b.operations.run('sync', { force: false });

    b.fs.slave.write(db, `${b.fs.slave.read(db)}\nwatch:bob:7:position 1200`);
    const before = worldFacts(b);
    await expect(b.operations.run('sync', { force: false })).rejects.toMatchObject({
      reason: 'standby_diverged',
    });
    expect(worldFacts(b)).toEqual(before);
    expect(b.events.filter((e) => e.event_type === 'standby_diverged')).toHaveLength(1);

    const forced = await b.operations.run('sync', { force: true });
    expect(forced.state.lastSync?.result).toBe('success');
    expect(b.fs.slave.read(db)).toBe(b.fs.master.read(`${CONFIG_DIRS.master}${DB}`));
  });

  it('rule 3 with a merge asked for: refused without JELLYFIN_API_KEY, nothing changed, nothing stopped', async () => {
    const b = createBench();
    await b.operations.run('sync', { force: false });
    expect(b.store.bases).toHaveLength(1); // the base a merge counts from, saved with the fingerprint
    expect(b.store.bases[0]?.digest).toBe(b.store.state.standbyFingerprint?.value);
    const db = `${CONFIG_DIRS.slave}${DB}`;
    b.fs.slave.write(db, `${b.fs.slave.read(db)}\nwatch:bob:7:position 1200`);
    const before = worldFacts(b);
    await expect(b.operations.run('sync', { force: false, merge: true })).rejects.toMatchObject({
      reason: 'merge_unavailable',
      message: expect.stringMatching(/merging needs JELLYFIN_API_KEY/),
    });
    expect(worldFacts(b)).toEqual(before);
    expect(b.store.journal).toBeNull();
    expect(b.store.merge).toBeNull();
  });

  it('rule 4: promote between different Jellyfin versions', async () => {
    const b = createBench();
    b.containers.slave.version = '10.10.7';
    const before = worldFacts(b);
    await expect(b.operations.run('promote', { force: false })).rejects.toMatchObject({
      reason: 'version_mismatch',
    });
    expect(worldFacts(b)).toEqual(before);
  });

  it('operations that do not apply: failback while master is primary, rollback with nothing to undo', async () => {
    const b = createBench();
    await expect(b.operations.run('failback', { force: false })).rejects.toMatchObject({
      reason: 'already_primary',
    });
    await expect(b.operations.run('rollback', { force: false })).rejects.toMatchObject({
      reason: 'nothing_to_roll_back',
    });
    expect(b.store.journal).toBeNull();
  });
});

describe('a failing step', () => {
  it('is rolled back, and the error names the step, the cause and what was put back', async () => {
    const b = createBench();
    const before = worldFacts(b);
    b.copier.failNext = 'everything';
    const err = await b.operations.run('sync', { force: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OperationError);
    expect((err as OperationError).step).toBe('final-copy');
    expect((err as Error).message).toBe(
      'sync failed at step final-copy: rsync was killed (signal). Everything it changed was put back.',
    );
    expect(worldFacts(b)).toEqual(before);
    expect(b.store.state.lastSync).toMatchObject({
      result: 'rolled_back',
      error: 'final-copy: rsync was killed (signal)',
    });
    expect(b.events.map((e) => e.event_type)).toEqual(['sync_started', 'sync_failed', 'rolled_back']);
  });

  it('a standby that never gets healthy: the old tree comes back and the primary still serves', async () => {
    const b = createBench();
    const before = worldFacts(b);
    b.containers.slave.neverHealthy = true;
    await expect(b.operations.run('sync', { force: false })).rejects.toThrow(
      /start-standby: slave did not become healthy within START_TIMEOUT_S/,
    );
    b.containers.slave.neverHealthy = false;
    expect(worldFacts(b)).toEqual(before);
  });

  it('traffic goes back last, once the old primary runs again', async () => {
    const b = createBench();
    await b.operations.run('promote', { force: false });
    b.traffic.fail = true;
    b.world.log.length = 0;
    await expect(b.operations.run('failback', { force: false })).rejects.toThrow(
      /failback failed at step switch-traffic/,
    );
    b.traffic.fail = false;
    // The undo's switch is retried by recovery since it failed too; then traffic is where it was.
    expect(await b.operations.recover()).toBe('rolled_back');
    const log = b.world.log;
    const slaveStarted = log.findIndex((l) => l.includes('jellyfin-slave start'));
    const back = log.findIndex((l) => l.includes('traffic -> slave'));
    expect(slaveStarted).toBeGreaterThan(-1);
    expect(back).toBeGreaterThan(slaveStarted);
    expect(b.traffic.primary).toBe('slave');
    expect(b.store.state.primary).toBe('slave');
  });

  it('undos run last-recorded first, with one traffic switch at the very end', () => {
    const order = undoOrder([
      { kind: 'remove-staging', site: 'slave', path: '/x.jf-failover-staging' },
      { kind: 'switch-traffic', primary: 'master' },
      { kind: 'start-container', site: 'master' },
      { kind: 'switch-traffic', primary: 'master' },
      { kind: 'stop-container', site: 'slave' },
    ]);
    expect(order.map((u) => u.kind)).toEqual([
      'stop-container',
      'start-container',
      'remove-staging',
      'switch-traffic',
    ]);
  });

  it('a rollback that cannot reach a site keeps the journal and refuses new operations until it can', async () => {
    const b = createBench();
    const before = worldFacts(b);
    b.copier.failNext = 'everything';
    // slave's host goes away the moment the copy fails: its undos cannot run
    const copy = b.copier.copy.bind(b.copier);
    b.copier.copy = async (req) => {
      try {
        return await copy(req);
      } catch (err) {
        b.hosts.slave.reachable = false;
        throw err;
      }
    };
    await expect(b.operations.run('sync', { force: false })).rejects.toThrow(/Rolling back left problems/);
    expect(b.store.journal).not.toBeNull();
    expect(b.events.map((e) => e.event_type)).toContain('rollback_failed');
    await expect(b.operations.run('sync', { force: false })).rejects.toMatchObject({
      reason: 'recovery_failed',
    });

    b.hosts.slave.reachable = true;
    expect(await b.operations.recover()).toBe('rolled_back');
    expect(worldFacts(b)).toEqual(before);
    expect(b.store.journal).toBeNull();
  });
});

describe('one operation at a time', () => {
  it('of two started in the same tick, one runs and the other is refused at once: nothing is queued', async () => {
    const b = createBench();
    const first = b.operations.run('sync', { force: false });
    expect(() => b.operations.run('promote', { force: false })).toThrow(RefusedError);
    await first;
    expect(b.events.filter((e) => e.event_type === 'sync_started')).toHaveLength(1);
  });

  it('an operation of another process (the lock held by a live pid) refuses with busy', async () => {
    const b = createBench();
    const held = await b.lock.acquire('sync');
    await expect(b.operations.run('sync', { force: false })).rejects.toMatchObject({ reason: 'busy' });
    await held.release();
    await expect(b.operations.run('sync', { force: false })).resolves.toMatchObject({ kind: 'sync' });
  });
});

describe('fencing (rule 8)', () => {
  it('promote without a copy fences master once it answers, with the restart policy it really had', async () => {
    const b = createBench();
    b.containers.master.restartPolicy = 'always';
    b.hosts.master.reachable = false;
    const promoted = await b.operations.run('promote', { force: false });
    expect(promoted.state.fence).toEqual({ site: 'master', previousRestartPolicy: null, pending: true });
    expect(b.traffic.primary).toBe('slave');
    expect(await b.operations.fencePending()).toBe(false); // still unreachable

    b.hosts.master.reachable = true;
    expect(await b.operations.fencePending()).toBe(true);
    expect(b.containers.master).toMatchObject({ status: 'exited', restartPolicy: 'no' });
    expect(b.store.state.fence).toEqual({ site: 'master', previousRestartPolicy: 'always', pending: false });

    await b.operations.run('failback', { force: false });
    expect(b.containers.master).toMatchObject({ status: 'running', restartPolicy: 'always' });
    // Rule 3 after a failback watches slave, the standby now (a fingerprint for master would skip the rule).
    expect(b.store.state.standbyFingerprint?.site).toBe('slave');
    expect(b.store.bases[0]?.site).toBe('slave');
  });

  it('rollback of such a promote gives master its own policy back', async () => {
    const b = createBench();
    b.containers.master.restartPolicy = 'on-failure';
    b.hosts.master.reachable = false;
    await b.operations.run('promote', { force: false });
    b.hosts.master.reachable = true;
    await b.operations.fencePending();
    await b.operations.run('rollback', { force: false });
    expect(b.containers.master).toMatchObject({ status: 'running', restartPolicy: 'on-failure' });
    expect(b.store.state.primary).toBe('master');
    expect(b.store.state.fence).toBeNull();
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import {
  killCliProcesses,
  ownedTreesBeside,
  pidsOf,
  Recorder,
  readJournalFile,
  siteData,
  siteOutcome,
  spawnCli,
  waitFor,
  waitSiteHealthy,
} from '../../bench/faults.js';
import { BENCH_POLICIES, sitesPerTest, writeEnvFile } from '../../bench/sites.js';
import { treeDigest } from '../../bench/tree-digest.js';

const NOT_SYNCED = ['cache', 'log', 'data/transcodes', 'branding.xml'];

describe('the CLI SIGKILLed mid-operation', () => {
  const fixture = sitesPerTest();
  afterEach(() => {
    killCliProcesses();
  });

  it('killed after the swap while slave starts: the next CLI run rolls the promote back, then syncs', async () => {
    const sites = await fixture.create({
      name: 'fault-crash-swap',
      remote: 'none',
      files: 80,
      totalBytes: 2 * 1024 * 1024,
    });
    const envFile = await writeEnvFile(sites, 'failover.env', { LOG_LEVEL: 'warn' });
    const rt = fixture.runtime(sites, { healthPollMs: 100 });
    const masterBefore = await siteData(sites.dirs.master);

    const promote = spawnCli(['promote', '--env-file', envFile]);
    // Past the swap: slave runs master's copy (its start undo is recorded), master is stopped and fenced.
    await waitFor(
      'promote to start slave after the swap',
      async () => {
        const j = await readJournalFile(sites.dirs.state ?? '');
        return j?.step === 'start-slave' && j.undo.at(-1)?.kind === 'stop-container';
      },
      120_000,
      10,
    );
    promote.child.kill('SIGKILL');
    const killed = await promote.done;
    expect(killed.signal).toBe('SIGKILL');
    const journal = await readJournalFile(sites.dirs.state);
    expect(journal).toMatchObject({ kind: 'promote', step: 'start-slave', committed: false });
    expect(await ownedTreesBeside(sites.dirs.slave)).toContain('.jf-failover-snapshot');
    expect(await siteOutcome(rt, 'master')).toMatchObject({ status: 'exited', restartPolicy: 'no' });

    // status only reports it
    const status = await spawnCli(['status', '--env-file', envFile]).done;
    expect(status.code).toBe(0);
    expect(status.stdout).toContain('interrupted operation: promote at start-slave');
    expect(await readJournalFile(sites.dirs.state)).not.toBeNull();

    // the next operation recovers first (rolls the promote back), then runs
    const sync = await spawnCli(['sync', '--env-file', envFile]).done;
    expect(sync.stderr).toContain(
      'recovered_after_crash: promote was interrupted at start-slave; it was rolled back',
    );
    expect(sync.stderr).toContain('sync_succeeded');
    expect(sync.code).toBe(0);

    expect(await readJournalFile(sites.dirs.state)).toBeNull();
    const state = await rt.store.load();
    expect(state).toMatchObject({ primary: 'master', epoch: 0, fence: null });
    await waitSiteHealthy(rt, 'slave');
    for (const s of ['master', 'slave'] as const) {
      expect(await siteOutcome(rt, s)).toEqual({
        status: 'running',
        restartPolicy: BENCH_POLICIES[s],
        health: 'healthy',
      });
    }
    const masterAfter = await siteData(sites.dirs.master);
    expect(masterAfter.files).toEqual(masterBefore.files);
    expect(masterAfter.db.integrity).toBe('ok');
    expect(masterAfter.db.activity).toBeGreaterThanOrEqual(masterBefore.db.activity);
    expect(await treeDigest(sites.dirs.slave, { exclude: NOT_SYNCED, skipDb: true })).toEqual(
      await treeDigest(sites.dirs.master, { exclude: NOT_SYNCED, skipDb: true }),
    );
    expect((await siteData(sites.dirs.slave)).db.integrity).toBe('ok');
  });

  it('killed during the final copy: recovery restores the standby and restarts both sites', async () => {
    const sites = await fixture.create({
      name: 'fault-crash-copy',
      remote: 'none',
      files: 1000,
      totalBytes: 96 * 1024 * 1024,
      emptySlave: true,
      extraEnv: { SYNC_PRECOPY: 'false' },
    });
    const envFile = await writeEnvFile(sites, 'failover.env', { LOG_LEVEL: 'warn' });
    const rt = fixture.runtime(sites, { healthPollMs: 100 });
    const rec = new Recorder().attach(rt);
    const masterBefore = await siteData(sites.dirs.master);
    const slaveBefore = await siteData(sites.dirs.slave);
    const staging = `${sites.dirs.slave}.jf-failover-staging`;

    const promote = spawnCli(['promote', '--env-file', envFile]);
    await waitFor(
      'the final copy',
      async () => (await readJournalFile(sites.dirs.state ?? ''))?.step === 'final-copy',
      120_000,
      10,
    );
    await waitFor('its rsync', () => pidsOf('rsync', staging).then((p) => p.length > 0), 20_000, 5);
    promote.child.kill('SIGKILL');
    expect((await promote.done).signal).toBe('SIGKILL');
    // Its rsync loses the pipe to the dead CLI and stops too (no copy goes on behind the recovery's back).
    await waitFor(
      'the orphaned rsync to end',
      () => pidsOf('rsync', staging).then((p) => p.length === 0),
      20_000,
    );
    for (const s of ['master', 'slave'] as const) expect((await siteOutcome(rt, s)).status).toBe('exited');

    const outcome = await rt.operations.recover();

    expect(outcome).toBe('rolled_back');
    const event = rec.events.find((e) => e.event_type === 'recovered_after_crash');
    expect(event).toMatchObject({ operation: 'promote', step: 'final-copy', outcome: 'rolled_back' });
    expect(await readJournalFile(sites.dirs.state)).toBeNull();
    expect(await ownedTreesBeside(sites.dirs.slave)).toEqual([]);
    for (const s of ['master', 'slave'] as const) {
      await waitSiteHealthy(rt, s);
      expect(await siteOutcome(rt, s)).toEqual({
        status: 'running',
        restartPolicy: BENCH_POLICIES[s],
        health: 'healthy',
      });
    }
    const slaveAfter = await siteData(sites.dirs.slave);
    expect(slaveAfter.files).toEqual(slaveBefore.files);
    expect(slaveAfter.db.integrity).toBe('ok');
    const masterAfter = await siteData(sites.dirs.master);
    expect(masterAfter.files).toEqual(masterBefore.files);
    expect(masterAfter.db.integrity).toBe('ok');
    expect(masterAfter.db.activity).toBeGreaterThanOrEqual(masterBefore.db.activity);
    const state = await rt.store.load();
    expect(state).toMatchObject({ primary: 'master', epoch: 0, fence: null, lastOperation: null });
    expect(state.lastSync?.result).toBe('rolled_back');
  });
});

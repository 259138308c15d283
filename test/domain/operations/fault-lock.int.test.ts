import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { OperationError, RefusedError } from '../../../src/domain/errors.js';
import {
  killCliProcesses,
  Recorder,
  readJournalFile,
  siteOutcome,
  spawnCli,
  waitFor,
  waitSiteHealthy,
} from '../../bench/faults.js';
import { sitesPerTest, writeEnvFile } from '../../bench/sites.js';

describe('one operation at a time across the service and the CLI', () => {
  const fixture = sitesPerTest();
  afterEach(() => {
    killCliProcesses();
  });

  it('two CLI syncs started at once: exactly one runs, the other exits 3 (busy)', async () => {
    const sites = await fixture.create({
      name: 'fault-lock',
      remote: 'none',
      files: 80,
      totalBytes: 2 * 1024 * 1024,
    });
    const envFile = await writeEnvFile(sites, 'failover.env', { LOG_LEVEL: 'warn' });
    const rt = fixture.runtime(sites, { healthPollMs: 100 });

    const runs = await Promise.all([
      spawnCli(['sync', '--json', '--env-file', envFile]).done,
      spawnCli(['sync', '--json', '--env-file', envFile]).done,
    ]);

    const codes = runs.map((r) => r.code).sort();
    expect(codes, runs.map((r) => r.stdout + r.stderr).join('\n')).toEqual([0, 3]);
    const busy = runs.find((r) => r.code === 3);
    expect(JSON.parse(busy?.stdout ?? '{}')).toMatchObject({ ok: false, reason: 'busy', exitCode: 3 });
    const ok = runs.find((r) => r.code === 0);
    expect(JSON.parse(ok?.stdout ?? '{}')).toMatchObject({ ok: true, kind: 'sync' });
    expect(await readJournalFile(sites.dirs.state)).toBeNull();
    for (const s of ['master', 'slave'] as const) expect((await siteOutcome(rt, s)).health).toBe('healthy');
  });

  it('the service (an engine in another process) and the CLI never run operations at the same time', async () => {
    // A standby that never becomes healthy keeps each operation busy for START_TIMEOUT_S in start-standby.
    const sites = await fixture.create({
      name: 'fault-lock-service',
      remote: 'none',
      files: 80,
      totalBytes: 2 * 1024 * 1024,
      // Long enough for a CLI to start (tsx compiles on the fly) on a loaded 2-core machine.
      extraEnv: { START_TIMEOUT_S: '25' },
    });
    await writeFile(join(sites.dirs.master, '.standin-never-healthy-on-port'), `${sites.ports.slave}\n`);
    const envFile = await writeEnvFile(sites, 'failover.env', { LOG_LEVEL: 'warn' });
    const rt = fixture.runtime(sites, { healthPollMs: 100 });
    const rec = new Recorder().attach(rt);

    // The service runs a sync; a CLI sync meanwhile is refused as busy, and the service's sync is not disturbed.
    const serviceSync = rt.operations.run('sync', { force: false }).catch((e: unknown) => e);
    await rec.waitStep('start-standby', 60_000);
    const cli = await spawnCli(['sync', '--json', '--env-file', envFile]).done;
    expect(cli.code, cli.stdout + cli.stderr).toBe(3);
    expect(JSON.parse(cli.stdout)).toMatchObject({ ok: false, reason: 'busy' });
    expect((await readJournalFile(sites.dirs.state))?.step).toBe('start-standby');
    const serviceError = await serviceSync;
    expect(serviceError).toBeInstanceOf(OperationError);
    expect((serviceError as OperationError).step).toBe('start-standby');
    expect(rec.types()).toContain('rolled_back');

    // The CLI runs a sync; the service's command meanwhile is refused as busy.
    const cliSync = spawnCli(['sync', '--json', '--env-file', envFile]);
    await waitFor(
      'the CLI sync to start the standby',
      async () => (await readJournalFile(sites.dirs.state ?? ''))?.step === 'start-standby',
      60_000,
    );
    const refused = await rt.operations.run('sync', { force: false }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RefusedError);
    expect((refused as RefusedError).reason).toBe('busy');
    const cliDone = await cliSync.done;
    expect(cliDone.code, cliDone.stdout + cliDone.stderr).toBe(1);
    expect(JSON.parse(cliDone.stdout)).toMatchObject({ ok: false, exitCode: 1 });

    expect(await readJournalFile(sites.dirs.state)).toBeNull();
    await waitSiteHealthy(rt, 'slave');
    for (const s of ['master', 'slave'] as const) expect((await siteOutcome(rt, s)).health).toBe('healthy');
  });
});

import { execFile } from 'node:child_process';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { execa } from 'execa';
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import type { FailoverEvent } from '../../../src/domain/events.js';
import { sitesPerTest, writeEnvFile } from '../../bench/sites.js';
import { treeDigest } from '../../bench/tree-digest.js';

const exec = promisify(execFile);

describe('sync over SSH to a remote slave', () => {
  const fixture = sitesPerTest();

  it('copies master to slave, keeps master untouched, snapshots the old slave, stamps the banner', async () => {
    const sites = await fixture.create({ name: 'sync-basic', remote: 'slave' });
    await mkdir(`${sites.dirs.master}/plugins/configurations/empty dir`, { recursive: true });
    await writeFile(`${sites.dirs.master}/data/data/stale-in-master.txt`, 'new file');
    // ACLs and extended attributes (e.g. a PUID group's rights, macOS metadata) must travel with the files
    await exec('setfacl', ['-m', 'u:nobody:rw', `${sites.dirs.master}/system.xml`]);
    await exec('setfattr', ['-n', 'user.jellyfin', '-v', 'kept', `${sites.dirs.master}/system.xml`]);
    const rt = fixture.runtime(sites);
    const events: FailoverEvent[] = [];
    rt.observers.add({ event: (e) => events.push(e), operation: () => undefined });

    const result = await rt.operations.run('sync', { force: false });

    expect(result.state.primary).toBe('master');
    expect(events.map((e) => e.event_type)).toContain('sync_succeeded');
    // The standby now has master's files (excluding caches/logs/transcodes and the banner file)
    const masterDigest = await treeDigest(sites.dirs.master, {
      exclude: ['cache', 'log', 'data/transcodes', 'branding.xml'],
      skipDb: true,
    });
    const slaveDigest = await treeDigest(sites.dirs.slave, {
      exclude: ['cache', 'log', 'data/transcodes', 'branding.xml'],
      skipDb: true,
    });
    expect(slaveDigest).toEqual(masterDigest);
    // empty directories arrive too (the database pass must not delete what the files pass created)
    expect((await stat(`${sites.dirs.slave}/plugins/configurations/empty dir`)).isDirectory()).toBe(true);
    expect(await readFile(`${sites.dirs.slave}/data/data/stale-in-master.txt`, 'utf8')).toBe('new file');
    expect((await exec('getfacl', ['-p', `${sites.dirs.slave}/system.xml`])).stdout).toContain(
      'user:nobody:rw-',
    );
    expect(
      (await exec('getfattr', ['-n', 'user.jellyfin', '--only-values', `${sites.dirs.slave}/system.xml`]))
        .stdout,
    ).toBe('kept');
    // banner on slave, not on master
    const slaveBranding = await readFile(`${sites.dirs.slave}/branding.xml`, 'utf8');
    expect(slaveBranding).toContain('standby Jellyfin server');
    expect(await readFile(`${sites.dirs.master}/branding.xml`, 'utf8')).not.toContain(
      'standby Jellyfin server',
    );
    // snapshot kept beside the slave dir, database copied not linked
    const snapshot = `${sites.dirs.slave}.jf-failover-snapshot`;
    expect((await stat(snapshot)).isDirectory()).toBe(true);
    const db = `${sites.dirs.slave}/data/data/jellyfin.db`;
    expect((await stat(db)).nlink).toBe(1);
    const { stdout } = await exec('sqlite3', [db, 'PRAGMA integrity_check']);
    expect(stdout.trim()).toBe('ok');
    // both containers running again and healthy
    for (const s of ['master', 'slave'] as const) {
      expect((await rt.sites[s].container.inspect()).status).toBe('running');
      expect(await rt.sites[s].jellyfin.health()).toBe('healthy');
    }
  });
});

describe('sync in the other directions and layouts', () => {
  const fixture = sitesPerTest();

  it('pulls from a remote master into a local empty slave, official layout, without pre-copy', async () => {
    const sites = await fixture.create({
      name: 'sync-official',
      remote: 'master',
      layout: 'official',
      emptySlave: true,
      extraEnv: { SYNC_PRECOPY: 'false', SLAVE_BANNER: 'Backup <b>server</b> & co' },
    });
    const rt = fixture.runtime(sites);
    const result = await rt.operations.run('sync', { force: false });
    expect(result.files).toBeGreaterThan(50);
    const db = `${sites.dirs.slave}/data/jellyfin.db`;
    const { stdout } = await exec('sqlite3', [db, 'PRAGMA integrity_check']);
    expect(stdout.trim()).toBe('ok');
    expect(await readFile(`${sites.dirs.slave}/config/branding.xml`, 'utf8')).toContain(
      '<LoginDisclaimer>Backup &lt;b&gt;server&lt;/b&gt; &amp; co</LoginDisclaimer>',
    );
    // the stand-in reads branding.xml at start, as Jellyfin does: the banner is what users see
    const branding = (await (await fetch(`${sites.urls.slave}/Branding/Configuration`)).json()) as {
      LoginDisclaimer: string;
    };
    expect(branding.LoginDisclaimer).toBe('Backup <b>server</b> & co');
    expect(await rt.sites.slave.jellyfin.health()).toBe('healthy');
  });
});

describe('change detection', () => {
  const fixture = sitesPerTest();

  it('copies a file of the same size written in the same second as the standby copy (no stale hard link)', async () => {
    const sites = await fixture.create({ name: 'same-second', remote: 'none', masterWriteMs: 0 });
    const rt = fixture.runtime(sites);
    const rel = 'plugins/configurations/same-second.xml';
    await mkdir(`${sites.dirs.master}/plugins/configurations`, { recursive: true });
    await mkdir(`${sites.dirs.slave}/plugins/configurations`, { recursive: true });
    await writeFile(`${sites.dirs.master}/${rel}`, '<Value>master</Value>\n');
    await writeFile(`${sites.dirs.slave}/${rel}`, '<Value>slave!</Value>\n');
    await exec('touch', ['-d', '2026-11-26 10:00:00.100000000', `${sites.dirs.master}/${rel}`]);
    await exec('touch', ['-d', '2026-11-26 10:00:00.900000000', `${sites.dirs.slave}/${rel}`]);

    await rt.operations.run('sync', { force: false });

    expect(await readFile(`${sites.dirs.slave}/${rel}`, 'utf8')).toBe('<Value>master</Value>\n');
  });
});

describe('the CLI on the bench', () => {
  const fixture = sitesPerTest();

  it('check, sync --json and status work end to end with the documented exit codes', async () => {
    const sites = await fixture.create({ name: 'cli-e2e', remote: 'slave' });
    const envFile = await writeEnvFile(sites, 'cli.env');
    const tsx = join(process.cwd(), 'node_modules/.bin/tsx');
    const cli = (...args: string[]) =>
      execa(tsx, ['src/main.ts', ...args, '--env-file', envFile], { reject: false });

    const check = await cli('check', '--json');
    expect(check.exitCode, check.stdout + check.stderr).toBe(0);
    const checks = JSON.parse(check.stdout) as {
      ok: boolean;
      checks: Array<{ name: string; status: string }>;
    };
    expect(checks.ok).toBe(true);
    expect(checks.checks.map((c) => c.name)).toEqual(
      expect.arrayContaining(['host', 'container', 'rsync', 'versions']),
    );

    // Home Assistant hears of operations run from the CLI too
    const heard: Array<{ event_type: string }> = [];
    const probe = await mqtt.connectAsync(sites.env.MQTT_URL ?? '');
    await probe.subscribeAsync(`jellyfin-failover/${sites.config.failoverId}/event`);
    probe.on('message', (_topic, payload) =>
      heard.push(JSON.parse(payload.toString()) as { event_type: string }),
    );
    const sync = await cli('sync', '--json');
    await new Promise((r) => setTimeout(r, 300));
    await probe.endAsync();
    expect(heard.map((e) => e.event_type)).toEqual(['sync_started', 'sync_succeeded']);
    expect(sync.exitCode).toBe(0);
    const body = JSON.parse(sync.stdout) as { ok: boolean; kind: string; state: { primary: string } };
    expect(body).toMatchObject({ ok: true, kind: 'sync', state: { primary: 'master' } });

    const status = await cli('status');
    expect(status.exitCode).toBe(0);
    expect(status.stdout).toMatch(/primary: master/);
    expect(status.stdout).toMatch(/last sync: success/);

    const promoteRefused = await cli('failback');
    expect(promoteRefused.exitCode).toBe(3);
    expect(promoteRefused.stderr).toMatch(/master is already primary/);
  });
});

import { execFile } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import type { FailoverEvent } from '../../src/domain/events.js';
import { runOperation } from '../../src/domain/operations/index.js';
import { createRuntime, type Runtime } from '../../src/runtime.js';
import { createTwoSites, type TwoSites } from '../bench/sites.js';
import { treeDigest } from '../bench/tree-digest.js';

const exec = promisify(execFile);

describe('sync over SSH to a remote slave', () => {
  let sites: TwoSites | undefined;
  let rt: Runtime | undefined;
  afterEach(async () => {
    await rt?.close();
    await sites?.cleanup();
    rt = undefined;
    sites = undefined;
  });

  it('copies master to slave, keeps master untouched, snapshots the old slave, stamps the banner', async () => {
    sites = await createTwoSites({ name: 'sync-basic', remote: 'slave' });
    rt = createRuntime(sites.config, sites.logger, { healthPollMs: 200 });
    const events: FailoverEvent[] = [];
    rt.observers.add({ event: (e) => events.push(e), operation: () => undefined });

    const result = await runOperation(rt.engine, rt.sites, 'sync', false);

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

/**
 * SPEC 4 rule 3 on the real database layouts of Jellyfin 10.10 and 10.11 (the bench's stand-in writes exactly what
 * the server writes, test/fixtures/jellyfin-reference/writes): after a sync, each user action on the standby makes
 * the next sync refuse (`standby_diverged`) and `--force` goes through; what Jellyfin does on its own (idle writes,
 * a restart with its VACUUM, 10.11's library scan detaching user data to the placeholder) does not; a schema the
 * service does not know refuses with `divergence_unknown`; and 10.10's refused-then-loading start completes a sync.
 */
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import type { App } from '../../../src/compose.js';
import { RefusedError } from '../../../src/domain/errors.js';
import { spawnCli } from '../../bench/faults.js';
import { clientAsAdmin, clientAsUser, type JellyfinClient } from '../../bench/jellyfin-client.js';
import { sitesPerTest, type TwoSites, writeEnvFile } from '../../bench/sites.js';

type Action = (user: JellyfinClient, admin: JellyfinClient, item: string) => Promise<unknown>;

/** Started, not finished: what "mark played without a date" changes only one field of (Played). */
const STARTED = new Set(['mark played without a date']);

/** The user actions of the reference (writes/<version>-<action>.sql), done on the standby as a client does. */
const USER_ACTIONS: Array<[string, Action]> = [
  ['mark played', (u, _a, item) => u.markPlayed(item, { datePlayed: new Date() })],
  ['mark played without a date', (u, _a, item) => u.markPlayed(item)],
  ['playback start', (u, _a, item) => u.playbackStart(item)],
  ['playback progress', (u, _a, item) => u.playbackProgress(item, 27_000_000_000)],
  ['playback stop (watched)', (u, _a, item) => u.playbackStop(item, 81_000_000_000)],
  ['playback stop (early)', (u, _a, item) => u.playbackStop(item, 100_000_000)],
  ['mark unplayed', (u, _a, item) => u.markUnplayed(item)],
  ['favourite', (u, _a, item) => u.favorite(item)],
  ['like', (u, _a, item) => u.like(item)],
];

type Outcome = 'refused: standby_diverged' | 'refused: divergence_unknown' | 'synced';

async function nextSync(app: App): Promise<Outcome> {
  try {
    await app.operations.run('sync', { force: false });
    return 'synced';
  } catch (err) {
    if (
      err instanceof RefusedError &&
      (err.reason === 'standby_diverged' || err.reason === 'divergence_unknown')
    ) {
      return `refused: ${err.reason}`;
    }
    throw err;
  }
}

/** The item a user acts on: one the user already started (so "mark played without a date" changes only Played). */
function items(sites: TwoSites): string[] {
  return sites.tree.items.map((i) => i.id);
}

for (const version of ['10.10.7', '10.11.11'] as const) {
  describe(`rule 3 on Jellyfin ${version}`, () => {
    const fixture = sitesPerTest();

    it('every user action on the standby is divergence; --force goes through', {
      timeout: 600_000,
    }, async () => {
      const sites = await fixture.create({
        name: `div-${version.replace(/\./g, '')}`,
        remote: 'none',
        masterVersion: version,
        slaveVersion: version,
        masterWriteMs: 0,
        items: 12,
      });
      const app = fixture.runtime(sites);
      await app.operations.run('sync', { force: false });
      const user = clientAsUser(sites.urls.slave, sites.tree);
      const admin = clientAsAdmin(sites.urls.slave, sites.tree);
      const ids = items(sites);
      const table: Record<string, Outcome> = {};
      const onMaster = clientAsUser(sites.urls.master, sites.tree);
      for (const [index, [name, act]] of USER_ACTIONS.entries()) {
        const item = ids[index % ids.length] ?? '';
        if (STARTED.has(name)) {
          await onMaster.playbackStart(item);
          await onMaster.playbackProgress(item, 27_000_000_000);
          await app.operations.run('sync', { force: false });
        }
        await act(user, admin, item);
        table[name] = await nextSync(app);
        // --force: the standby gets the primary's state again, and the next action is measured from there
        await app.operations.run('sync', { force: true });
      }
      console.log(`rule 3, ${version}, user actions on the standby: ${JSON.stringify(table)}`);
      expect(table).toEqual(
        Object.fromEntries(USER_ACTIONS.map(([name]) => [name, 'refused: standby_diverged'])),
      );
    });

    it("Jellyfin's own writes are not divergence: idle clients, a restart (VACUUM), a library scan", async () => {
      const sites = await fixture.create({
        name: `neutral-${version.replace(/\./g, '')}`,
        remote: 'slave',
        masterVersion: version,
        slaveVersion: version,
        masterWriteMs: 0,
        idleWriteMs: 200,
        items: 12,
      });
      const app = fixture.runtime(sites);
      await app.operations.run('sync', { force: false });
      const table: Record<string, Outcome> = {};
      // idle clients: activity rows, last-activity dates, devices, the optimise task (checkpoint + VACUUM)
      await new Promise((r) => setTimeout(r, 6_000));
      table['idle writes'] = await nextSync(app);
      await app.sites.slave.container.stop(10);
      await app.sites.slave.container.start();
      await waitHealthy(sites.urls.slave);
      table['restart (10.10: VACUUM of library.db)'] = await nextSync(app);
      if (version.startsWith('10.11')) {
        const admin = clientAsAdmin(sites.urls.slave, sites.tree);
        // a movie users have watched leaves the library: its user data moves to the placeholder item
        const watched = sites.tree.items[0]?.id ?? '';
        await clientAsUser(sites.urls.master, sites.tree).markPlayed(watched, { datePlayed: new Date() });
        await app.operations.run('sync', { force: false });
        await admin.removeItemAsLibraryScan(watched);
        table['library scan detaching user data'] = await nextSync(app);
      }
      console.log(`rule 3, ${version}, Jellyfin's own writes: ${JSON.stringify(table)}`);
      expect(Object.values(table).every((o) => o === 'synced')).toBe(true);
    });

    it('a schema it does not know fails closed (divergence_unknown, exit 3 from the CLI); --force goes through', async () => {
      const sites = await fixture.create({
        name: `unknown-${version.replace(/\./g, '')}`,
        remote: 'none',
        masterVersion: version,
        slaveVersion: version,
        masterWriteMs: 0,
      });
      const app = fixture.runtime(sites);
      await app.operations.run('sync', { force: false });
      // A future Jellyfin renames the watch-state table: nobody can tell what users did on the standby.
      await app.sites.slave.container.stop(10);
      const db = version.startsWith('10.10') ? 'data/data/library.db' : 'data/data/jellyfin.db';
      const table = version.startsWith('10.10') ? 'UserDatas' : 'UserData';
      await execa('sqlite3', [`${sites.dirs.slave}/${db}`, `ALTER TABLE ${table} RENAME TO ${table}Future;`]);
      await app.sites.slave.container.start();
      const envFile = await writeEnvFile(sites);
      const refused = await spawnCli(['sync', '--json', '--env-file', envFile]).done;
      expect(refused.code).toBe(3);
      expect(JSON.parse(refused.stdout)).toMatchObject({ ok: false, reason: 'divergence_unknown' });
      expect(JSON.parse(refused.stdout).error).toMatch(/no such table/);
      const forced = await spawnCli(['sync', '--force', '--json', '--env-file', envFile]).done;
      expect(forced.code).toBe(0);
    });
  });
}

describe("10.10's start: connections refused, then 503 'loading', then Healthy", () => {
  const fixture = sitesPerTest();

  it('is waited for, not failed, within START_TIMEOUT_S', async () => {
    const sites = await fixture.create({
      name: 'slowstart',
      remote: 'none',
      masterVersion: '10.10.7',
      slaveVersion: '10.10.7',
      masterWriteMs: 0,
      startupDelayMs: 4_000,
    });
    const app = fixture.runtime(sites);
    const seen = new Set<string>();
    let watching = true;
    const watch = (async () => {
      while (watching) {
        try {
          const r = await fetch(`${sites.urls.slave}/health`, { signal: AbortSignal.timeout(1_000) });
          seen.add(`${r.status} ${(await r.text()).trim().slice(0, 30)}`);
        } catch {
          seen.add('refused');
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const result = await app.operations.run('sync', { force: false });
    watching = false;
    await watch;
    expect(result.state.lastSync?.result).toBe('success');
    expect(seen).toContain('refused');
    expect([...seen].some((s) => s.startsWith('503 Jellyfin Server is loading'))).toBe(true);
    expect(seen).toContain('200 Healthy');
  });
});

async function waitHealthy(url: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    try {
      const r = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1_000) });
      if ((await r.text()).trim() === 'Healthy') return;
    } catch {
      // starting
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not become healthy`);
}

/**
 * Issue 13: a diverged standby's watch state merged into the primary through Jellyfin's API, then synced, on the
 * real database layouts of 10.10 and 10.11 (the stand-in answers the API and writes its database as the server
 * does: test/fixtures/jellyfin-reference/writes). After a sync, users watch one movie on slave, mark another
 * favourite on master, and both progress a third; the merged sync leaves both sites with all three changes by the
 * rules of src/domain/merge.ts. Without a key, or with a key the primary refuses, the merge is refused and nothing
 * changes. A merge killed midway (SIGKILL of the CLI) resumes from STATE_DIR/merge.json without applying
 * anything twice (a play count changed on both sides would count twice if it did).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { App } from '../../../src/compose.js';
import type { Config } from '../../../src/config/load.js';
import { RefusedError } from '../../../src/domain/errors.js';
import type { FailoverEvent } from '../../../src/domain/events.js';
import type { MergeRecord } from '../../../src/domain/merge.js';
import type { SiteName } from '../../../src/domain/sites.js';
import { watchDigest } from '../../../src/domain/watch-state.js';
import { readJournalFile, spawnCli } from '../../bench/faults.js';
import { clientAsUser, type JellyfinClient, type UserItemData } from '../../bench/jellyfin-client.js';
import { sitesPerTest, type TwoSites, writeEnvFile } from '../../bench/sites.js';

const MINUTE = 600_000_000;

function withKey(sites: TwoSites, key: string | null): Config {
  return { ...sites.config, jellyfinApiKey: key };
}

async function refusal(run: Promise<unknown>): Promise<RefusedError> {
  const err = await run.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(err instanceof RefusedError)) throw new Error(`expected a refusal, got ${String(err)}`);
  return err;
}

/** What users own of `items` on one site, as its API answers. */
type Owned = Pick<UserItemData, 'Played' | 'PlayCount' | 'PlaybackPositionTicks' | 'IsFavorite'>;

async function userData<K extends string>(
  client: JellyfinClient,
  items: Record<K, string>,
): Promise<Record<K, Owned>> {
  const out = {} as Record<K, Owned>;
  for (const [name, id] of Object.entries(items) as Array<[K, string]>) {
    const d = await client.userData(id);
    out[name] = {
      Played: d.Played,
      PlayCount: d.PlayCount,
      PlaybackPositionTicks: d.PlaybackPositionTicks,
      IsFavorite: d.IsFavorite,
    };
  }
  return out;
}

async function digests(app: App): Promise<Record<SiteName, string>> {
  const out = {} as Record<SiteName, string>;
  for (const name of ['master', 'slave'] as const) {
    const site = app.sites[name];
    const version = (await site.jellyfin.info())?.version ?? null;
    const { locateDatabases } = await import('../../../src/domain/databases.js');
    const located = await locateDatabases(site, 'auto', version);
    if (!located) throw new Error(`no databases on ${name}`);
    out[name] = watchDigest(await site.databases.watchState(located.paths, located.family));
  }
  return out;
}

for (const version of ['10.10.7', '10.11.11'] as const) {
  describe(`merge on Jellyfin ${version}`, () => {
    const fixture = sitesPerTest();

    it('carries what slave watched into master, keeps what master did, and both end with all of it', {
      timeout: 300_000,
    }, async () => {
      const sites = await fixture.create({
        name: `merge-${version.replace(/\./g, '')}`,
        remote: version === '10.11.11' ? 'slave' : 'none',
        masterVersion: version,
        slaveVersion: version,
        masterWriteMs: 0,
        items: 12,
      });
      const app = fixture.runtime(sites, { healthPollMs: 200 }, withKey(sites, sites.tree.apiKey));
      const events: FailoverEvent[] = [];
      app.observers.add({ event: (e) => events.push(e) });
      await app.operations.run('sync', { force: false });

      const [watched, favourite, both] = sites.tree.items.map((i) => i.id);
      const items = { watched: watched ?? '', favourite: favourite ?? '', both: both ?? '' };
      const onMaster = clientAsUser(sites.urls.master, sites.tree);
      const onSlave = clientAsUser(sites.urls.slave, sites.tree);
      // slave: a whole movie; master: a favourite; both: the same movie, slave later and further
      await onSlave.playbackStart(items.watched);
      await onSlave.playbackStop(items.watched);
      await onMaster.favorite(items.favourite);
      await onMaster.playbackStart(items.both);
      await onMaster.playbackProgress(items.both, 10 * MINUTE);
      await new Promise((r) => setTimeout(r, 20));
      await onSlave.playbackStart(items.both);
      await onSlave.playbackProgress(items.both, 20 * MINUTE);
      const before = { master: await userData(onMaster, items), slave: await userData(onSlave, items) };

      // Without merging, the sync refuses and says what a merge would carry.
      const plain = await refusal(app.operations.run('sync', { force: false }));
      expect(plain.reason).toBe('standby_diverged');
      expect(plain.message).toMatch(/A merge would carry 2 change\(s\) into master/);
      expect(events.find((e) => e.event_type === 'standby_diverged')).toMatchObject({ mergeChanges: 2 });

      // No key, then a key master refuses: a clear refusal each, and nothing changes anywhere.
      const untouched = await digests(app);
      const noKey = fixture.runtime(sites, { healthPollMs: 200 }, withKey(sites, null));
      const missing = await refusal(noKey.operations.run('sync', { force: false, merge: true }));
      expect(missing.reason).toBe('merge_unavailable');
      expect(missing.message).toMatch(/merging needs JELLYFIN_API_KEY.*Nothing was changed/);
      const badKey = fixture.runtime(sites, { healthPollMs: 200 }, withKey(sites, 'f'.repeat(32)));
      const refused = await refusal(badKey.operations.run('sync', { force: false, merge: true }));
      expect(refused.reason).toBe('merge_unavailable');
      expect(refused.message).toMatch(/master's Jellyfin refused JELLYFIN_API_KEY \(GET \/Users: HTTP 401\)/);
      expect(await digests(app)).toEqual(untouched);
      expect((await app.sites.slave.container.inspect()).status).toBe('running');
      expect(await app.store.readJournal()).toBeNull();

      // The preview lists the two changes by user and item name, and the key is accepted.
      const env = await writeEnvFile(sites, 'merge.env', { JELLYFIN_API_KEY: sites.tree.apiKey });
      const dry = await spawnCli(['merge', '--dry-run', '--json', '--env-file', env]).done;
      expect(dry.code, dry.stderr).toBe(0);
      const preview = JSON.parse(dry.stdout) as {
        changes: Array<{ itemName: string; userName: string }>;
        apiKey: string;
      };
      const names = Object.fromEntries(sites.tree.items.map((i) => [i.id.toUpperCase(), i.name]));
      expect(preview.changes.map((c) => c.itemName).sort()).toEqual(
        [names[items.watched.toUpperCase()], names[items.both.toUpperCase()]].sort(),
      );
      expect(preview.changes.every((c) => c.userName === sites.tree.users[0]?.name)).toBe(true);
      expect(preview.apiKey).toMatch(/accepted/);
      expect(await digests(app)).toEqual(untouched);

      const result = await app.operations.run('sync', { force: false, merge: true });
      const merged = events.find((e) => e.event_type === 'merged');
      expect(merged).toMatchObject({ changes: 2, into: 'master', site: 'slave' });
      const after = { master: await userData(onMaster, items), slave: await userData(onSlave, items) };
      console.log(
        `merge, ${version}: before ${JSON.stringify(before)}; merged event ${JSON.stringify(merged)}; after ${JSON.stringify(after)}; sync ${result.durationS} s`,
      );
      // slave's whole movie, master's favourite, the shared movie at slave's later position with both plays
      expect(after.master).toEqual(after.slave);
      expect(after.master.watched).toMatchObject({ Played: true, PlayCount: before.slave.watched.PlayCount });
      expect(after.master.favourite).toEqual(before.master.favourite);
      expect(after.master.favourite.IsFavorite).toBe(true);
      expect(after.master.both).toMatchObject({
        PlaybackPositionTicks: 20 * MINUTE,
        PlayCount: before.master.both.PlayCount + 1,
      });
      expect(await app.store.readJournal()).toBeNull();
      // Nothing left to merge: the next plain sync goes through.
      await app.operations.run('sync', { force: false });
    });

    it('a merge killed midway resumes and applies nothing twice', { timeout: 300_000 }, async () => {
      const sites = await fixture.create({
        name: `merge-kill-${version.replace(/\./g, '')}`,
        remote: 'none',
        masterVersion: version,
        slaveVersion: version,
        masterWriteMs: 0,
        items: 60,
      });
      const config = withKey(sites, sites.tree.apiKey);
      const app = fixture.runtime(sites, { healthPollMs: 200 }, config);
      const ids = sites.tree.items
        .map((i) => i.id)
        .sort((a, b) => a.toUpperCase().localeCompare(b.toUpperCase()));
      const onMaster = clientAsUser(sites.urls.master, sites.tree);
      const onSlave = clientAsUser(sites.urls.slave, sites.tree);
      // The first item (applied first) is watched before the base, then once more on each side: merged, its play
      // count is master's plus slave's increase; applied twice, slave's increase would count twice.
      const first = ids[0] ?? '';
      await onMaster.playbackStart(first);
      await onMaster.playbackStop(first);
      await app.operations.run('sync', { force: false });
      const base = (await onMaster.userData(first)).PlayCount;
      await onMaster.playbackStart(first);
      await onMaster.playbackStop(first);
      for (const id of ids) {
        await onSlave.playbackStart(id);
        await onSlave.playbackStop(id);
      }
      // Merged: master's count plus slave's increase since the base (rule 3a).
      const mergedCount =
        (await onMaster.userData(first)).PlayCount + ((await onSlave.userData(first)).PlayCount - base);
      const env = await writeEnvFile(sites, 'merge.env', { JELLYFIN_API_KEY: sites.tree.apiKey });
      const run = spawnCli(['merge', '--env-file', env]);
      const mergeFile = join(sites.dirs.state, 'merge.json');
      let seen: Pick<MergeRecord, 'applied' | 'plan'> | null = null;
      const deadline = Date.now() + 120_000;
      while (Date.now() < deadline) {
        const text = await readFile(mergeFile, 'utf8').catch(() => null);
        const record = text ? (JSON.parse(text) as MergeRecord) : null;
        if (record && record.applied.length >= 3) {
          run.child.kill('SIGKILL');
          seen = record;
          break;
        }
        await new Promise((r) => setTimeout(r, 5));
      }
      const killed = await run.done;
      expect(killed.signal).toBe('SIGKILL');
      if (!seen) throw new Error('the merge never started applying');
      expect(seen.applied.length).toBeLessThan(seen.plan.changes.length);
      const journal = await readJournalFile(sites.dirs.state);
      expect(journal).toMatchObject({ kind: 'sync', step: 'merge' });
      // The journal notes each change right after merge.json: the kill may fall between the two.
      expect(journal?.merged?.applied.length).toBeGreaterThanOrEqual(seen.applied.length - 1);

      // The next merge recovers (rolls the sync back), resumes the recorded plan, then syncs.
      const again = await spawnCli(['merge', '--json', '--env-file', env]).done;
      expect(again.code, again.stderr).toBe(0);
      const record = JSON.parse(await readFile(mergeFile, 'utf8')) as MergeRecord;
      expect(new Set(record.applied).size).toBe(record.applied.length);
      expect(record.applied.length + record.missing.length).toBe(record.plan.changes.length);
      expect(record.plan.changes.length).toBe(ids.length);
      const onBoth = [(await onMaster.userData(first)).PlayCount, (await onSlave.userData(first)).PlayCount];
      console.log(
        `merge, ${version}, killed after ${seen.applied.length} of ${seen.plan.changes.length} changes: resumed, play count base ${base}, merged ${mergedCount}, now ${JSON.stringify(onBoth)}`,
      );
      expect(mergedCount).toBeGreaterThan(base);
      expect(onBoth).toEqual([mergedCount, mergedCount]);
      for (const id of ids.slice(1)) expect((await onMaster.userData(id)).Played).toBe(true);
      expect(await readJournalFile(sites.dirs.state)).toBeNull();
    });
  });
}

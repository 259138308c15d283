import { describe, expect, it } from 'vitest';
import {
  checkContainersAlike,
  checkDivergence,
  checkFreeSpace,
  checkSourceLooksLikeJellyfin,
  checkVersions,
} from '../../src/domain/guards.js';
import { normalizeVersion } from '../../src/domain/version.js';

describe('preflight rules', () => {
  const source = { sourceLabel: 'master', sourceDir: '/srv/jf' };

  it('rule 2: a source without a database is refused, naming the dir', () => {
    const r = checkSourceLooksLikeJellyfin({
      ...source,
      databaseFound: false,
      sourceFiles: 900,
      destinationFiles: 1000,
    });
    expect(r?.reason).toBe('source_not_jellyfin');
    expect(r?.message).toMatch(/\/srv\/jf has no Jellyfin database/);
  });

  it('rule 2: far fewer files than the destination is refused; a similar count or an empty destination is fine', () => {
    expect(
      checkSourceLooksLikeJellyfin({
        ...source,
        databaseFound: true,
        sourceFiles: 40,
        destinationFiles: 1000,
      })?.reason,
    ).toBe('source_not_jellyfin');
    expect(
      checkSourceLooksLikeJellyfin({
        ...source,
        databaseFound: true,
        sourceFiles: 950,
        destinationFiles: 1000,
      }),
    ).toBeNull();
    expect(
      checkSourceLooksLikeJellyfin({ ...source, databaseFound: true, sourceFiles: 5, destinationFiles: 0 }),
    ).toBeNull();
  });

  it('rule 3: a changed digest is divergence; nothing recorded is nothing to compare', () => {
    const recorded = { value: 'a' };
    const read = (digest: string) => ({ ok: true as const, digest });
    expect(checkDivergence({ standbyLabel: 'slave', recorded, current: read('b') })?.reason).toBe(
      'standby_diverged',
    );
    expect(checkDivergence({ standbyLabel: 'slave', recorded, current: read('a') })).toBeNull();
    expect(checkDivergence({ standbyLabel: 'slave', recorded: null, current: read('b') })).toBeNull();
  });

  it('rule 3 fails closed: a standby that cannot be read now, or could not be after the last copy', () => {
    const now = checkDivergence({
      standbyLabel: 'slave',
      recorded: { value: 'a' },
      current: { ok: false, why: 'no such table: UserData' },
    });
    expect(now?.reason).toBe('divergence_unknown');
    expect(now?.message).toContain('no such table: UserData');
    const then = checkDivergence({
      standbyLabel: 'slave',
      recorded: { value: null, unknown: 'no sqlite3 anywhere' },
      current: { ok: true, digest: 'a' },
    });
    expect(then?.reason).toBe('divergence_unknown');
    expect(then?.message).toContain('no sqlite3 anywhere');
  });

  it('containers alike: same user and media paths, or a refusal naming both values', () => {
    const site = (uid: string, media: string[]) => ({
      runsAs: { uid, gid: '100', from: 'PUID/PGID' },
      mediaMounts: media,
    });
    expect(
      checkContainersAlike({ master: site('99', ['/media']), slave: site('99', ['/media']) }),
    ).toBeNull();
    const user = checkContainersAlike({ master: site('99', ['/media']), slave: site('1000', ['/media']) });
    expect(user?.reason).toBe('container_mismatch');
    expect(user?.message).toContain(
      'master runs Jellyfin as 99:100 (PUID/PGID) but slave as 1000:100 (PUID/PGID)',
    );
    const media = checkContainersAlike({ master: site('99', ['/media']), slave: site('99', ['/mnt/media']) });
    expect(media?.message).toContain('master mounts media at /media but slave at /mnt/media');
  });

  it('rule 4: versions compare on x.y.z, labels like linuxserver build tags included', () => {
    expect(normalizeVersion('10.11.3ubu2404-ls85')).toBe('10.11.3');
    expect(
      checkVersions({
        from: { label: 'master', version: '10.11.3' },
        to: { label: 'slave', version: '10.11.3ubu2404-ls85' },
      }),
    ).toBeNull();
    const mismatch = checkVersions({
      from: { label: 'master', version: '10.11.3' },
      to: { label: 'slave', version: '10.10.7' },
    });
    expect(mismatch?.reason).toBe('version_mismatch');
    expect(mismatch?.message).toMatch(/cannot downgrade/);
    expect(
      checkVersions({ from: { label: 'master', version: null }, to: { label: 'slave', version: '10.10.7' } })
        ?.reason,
    ).toBe('version_unknown');
  });

  it('free space must hold the copy with a margin', () => {
    expect(checkFreeSpace({ label: 'slave', freeBytes: 10 * 2 ** 30, needBytes: 2 ** 30 })).toBeNull();
    expect(checkFreeSpace({ label: 'slave', freeBytes: 2 ** 20, needBytes: 2 ** 30 })?.reason).toBe(
      'low_disk_space',
    );
  });
});

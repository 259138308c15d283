import { describe, expect, it } from 'vitest';
import {
  checkDivergence,
  checkFreeSpace,
  checkSourceLooksLikeJellyfin,
  checkVersions,
  normalizeVersion,
} from '../../src/domain/guards.js';

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

  it('rule 3: a changed fingerprint is divergence; unknown values do not block', () => {
    expect(checkDivergence({ standbyLabel: 'slave', recorded: 'a', current: 'b' })?.reason).toBe(
      'standby_diverged',
    );
    expect(checkDivergence({ standbyLabel: 'slave', recorded: 'a', current: 'a' })).toBeNull();
    expect(checkDivergence({ standbyLabel: 'slave', recorded: null, current: 'b' })).toBeNull();
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

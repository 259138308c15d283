import { describe, expect, it } from 'vitest';
import { parseProgress, parseStats, selectionFilters } from '../../../src/adapters/rsync/argv.js';
import { type CopierSite, planRsync } from '../../../src/adapters/rsync/copier.js';
import { describeRsyncExit } from '../../../src/adapters/rsync/exit-codes.js';
import type { CopyRequest, HostShell } from '../../../src/domain/ports.js';

const shell = (label: string): HostShell => ({
  label,
  isLocal: label === 'local',
  exec: async () => ({ exitCode: 0, stdout: '', stderr: '' }),
});

const ssh = { keyFile: '/keys/id_ed25519', knownHostsFile: '/keys/known_hosts' };

function request(overrides: Partial<CopyRequest> = {}): CopyRequest {
  return {
    from: 'master',
    fromPath: '/srv/master',
    to: 'slave',
    toPath: '/srv/slave dir',
    select: 'files',
    excludes: ['/cache/'],
    delete: true,
    ...overrides,
  };
}

function sites(
  master: Omit<CopierSite, 'remote'>,
  slave: Omit<CopierSite, 'remote'>,
): Record<'master' | 'slave', CopierSite> {
  return { master: { ...master, remote: null }, slave: { ...slave, remote: null } };
}

function direct(plan: ReturnType<typeof planRsync>): { shell: HostShell; argv: string[] } {
  if (plan.kind !== 'direct') throw new Error(`expected a direct copy, got ${plan.kind}`);
  return plan;
}

describe('where rsync runs and with which arguments', () => {
  it('pushes from the local site to a remote one with key-only, pinned-host-key SSH', () => {
    const { shell: runOn, argv } = direct(
      planRsync(
        request({ linkDest: '/srv/slave dir' }),
        sites(
          { shell: shell('local'), ssh: null },
          { shell: shell('root@10.0.0.2:2222'), ssh: { user: 'root', host: '10.0.0.2', port: 2222 } },
        ),
        ssh,
      ),
    );
    expect(runOn.label).toBe('local');
    expect(argv.slice(0, 4)).toEqual(['rsync', '-aAXH', '--numeric-ids', '--protect-args']);
    expect(argv).toContain('--delete');
    expect(argv).toContain('--modify-window=-1');
    expect(argv).toContain('--link-dest=/srv/slave dir');
    expect(argv).toContain('--exclude=/cache/');
    const rsh = argv[argv.indexOf('-e') + 1] ?? '';
    expect(rsh).toMatch(/^ssh -p 2222 -o BatchMode=yes -o StrictHostKeyChecking=yes/);
    expect(rsh).toContain('-i /keys/id_ed25519');
    expect(rsh).toContain('UserKnownHostsFile=/keys/known_hosts');
    expect(argv.at(-2)).toBe('/srv/master/');
    expect(argv.at(-1)).toBe('root@10.0.0.2:/srv/slave dir/');
  });

  it('pulls when the destination is the local site, and runs on the host within one site', () => {
    const remote = { shell: shell('root@h:22'), ssh: { user: 'root', host: 'fd00::1', port: 22 } };
    const pulled = direct(
      planRsync(
        request({ fromPath: '/a', toPath: '/b', delete: false }),
        sites(remote, { shell: shell('local'), ssh: null }),
        ssh,
      ),
    );
    expect(pulled.shell.label).toBe('local');
    expect(pulled.argv.at(-2)).toBe('root@[fd00::1]:/a/');
    const same = direct(
      planRsync(
        request({ from: 'slave', to: 'slave', fromPath: '/a', toPath: '/b' }),
        sites({ shell: shell('local'), ssh: null }, remote),
        ssh,
      ),
    );
    expect(same.shell.label).toBe('root@h:22');
    expect(same.argv.slice(-2)).toEqual(['/a/', '/b/']);
  });

  it('refuses a key path rsync -e could not pass literally', () => {
    expect(() =>
      planRsync(
        request(),
        sites(
          { shell: shell('local'), ssh: null },
          { shell: shell('r'), ssh: { user: 'root', host: 'h', port: 22 } },
        ),
        { keyFile: "/keys/it's" },
      ),
    ).toThrow(/quote/);
  });
});

describe('selections as rsync filters', () => {
  const excludes = ['/cache/', '/log/'];

  it('everything: only the excludes', () => {
    expect(selectionFilters('everything', excludes)).toEqual(['--exclude=/cache/', '--exclude=/log/']);
  });

  it('files: the excludes and every SQLite file', () => {
    const f = selectionFilters('files', excludes);
    expect(f.slice(0, 2)).toEqual(['--exclude=/cache/', '--exclude=/log/']);
    expect(f).toContain('--exclude=*.db');
    expect(f).toContain('--exclude=*.db-wal');
  });

  it('databases: SQLite files only, directories protected on the receiver', () => {
    const f = selectionFilters('databases', excludes);
    expect(f).toContain('--filter=P */');
    expect(f.indexOf('--include=*.db')).toBeGreaterThan(f.indexOf('--include=*/'));
    expect(f.at(-1)).toBe('--exclude=*');
    // an excluded tree stays out even when it holds databases
    expect(f.indexOf('--exclude=/cache/')).toBeLessThan(f.indexOf('--include=*.db'));
  });

  it('carried: only what the excludes name, without databases', () => {
    const f = selectionFilters('carried', excludes);
    expect(f.indexOf('--exclude=*.db')).toBeLessThan(f.indexOf('--include=/cache/'));
    expect(f).toContain('--include=/cache/***');
    expect(f).toContain('--prune-empty-dirs');
    expect(f.at(-2)).toBe('--exclude=*');
  });
});

describe('rsync output', () => {
  it('parses progress2 lines and stats', () => {
    expect(parseProgress('     12,345,678  45%   12.34MB/s    0:00:05 (xfr#12, to-chk=3/100)')).toEqual({
      bytes: 12345678,
      percent: 45,
    });
    expect(parseProgress('sending incremental file list')).toBeNull();
    const stats = parseStats(
      'Number of files: 1,234 (reg: 1,000, dir: 234)\nNumber of regular files transferred: 45\nTotal file size: 9,999 bytes\nTotal transferred file size: 1,234,567 bytes\n',
    );
    expect(stats).toEqual({ files: 45, bytes: 1234567 });
  });

  it('explains exit codes a user meets', () => {
    expect(describeRsyncExit(11, 'rsync: write failed on "x": No space left on device (28)')).toMatch(
      /disk is full/,
    );
    expect(describeRsyncExit(255, 'Host key verification failed.')).toMatch(/SSH_KNOWN_HOSTS_FILE/);
    expect(describeRsyncExit(12, 'Permission denied (publickey).')).toMatch(/SSH_KEY_FILE/);
    expect(describeRsyncExit(23, '')).toMatch(/partial transfer/);
    expect(describeRsyncExit(24, '')).toMatch(/vanished/);
    expect(describeRsyncExit(30, '')).toMatch(/timed out/);
    expect(describeRsyncExit(20, '')).toMatch(/killed/);
  });
});

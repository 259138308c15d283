import { describe, expect, it } from 'vitest';
import { buildRsync, describeRsyncExit, parseProgress, parseStats } from '../../src/adapters/rsync.js';
import type { HostShell } from '../../src/domain/ports.js';

const shell = (label: string): HostShell => ({
  label,
  isLocal: label === 'local',
  exec: async () => ({ exitCode: 0, stdout: '', stderr: '' }),
  close: async () => undefined,
});

describe('rsync arguments', () => {
  const ssh = { keyFile: '/keys/id_ed25519', knownHostsFile: '/keys/known_hosts' };

  it('pushes from the local site to a remote one with key-only, pinned-host-key SSH', () => {
    const { shell: runOn, argv } = buildRsync(
      {
        from: { path: '/srv/master', shell: shell('local'), ssh: null },
        to: {
          path: '/srv/slave dir',
          shell: shell('root@10.0.0.2:22'),
          ssh: { user: 'root', host: '10.0.0.2', port: 2222 },
        },
        filters: ['--exclude=/cache/'],
        linkDest: '/srv/slave dir',
        delete: true,
      },
      ssh,
    );
    expect(runOn.label).toBe('local');
    expect(argv.slice(0, 4)).toEqual(['rsync', '-aAXH', '--numeric-ids', '--protect-args']);
    expect(argv).toContain('--delete');
    expect(argv).toContain('--modify-window=-1');
    expect(argv).toContain('--link-dest=/srv/slave dir');
    const rsh = argv[argv.indexOf('-e') + 1] ?? '';
    expect(rsh).toMatch(/^ssh -p 2222 -o BatchMode=yes -o StrictHostKeyChecking=yes/);
    expect(rsh).toContain('-i /keys/id_ed25519');
    expect(rsh).toContain('UserKnownHostsFile=/keys/known_hosts');
    expect(argv.at(-2)).toBe('/srv/master/');
    expect(argv.at(-1)).toBe('root@10.0.0.2:/srv/slave dir/');
  });

  it('pulls when the destination is the local site, and runs locally within one site', () => {
    const pulled = buildRsync(
      {
        from: { path: '/a', shell: shell('root@h:22'), ssh: { user: 'root', host: 'fd00::1', port: 22 } },
        to: { path: '/b', shell: shell('local'), ssh: null },
        filters: [],
        delete: false,
      },
      ssh,
    );
    expect(pulled.shell.label).toBe('local');
    expect(pulled.argv.at(-2)).toBe('root@[fd00::1]:/a/');
    const same = buildRsync(
      {
        from: { path: '/a', shell: shell('root@h:22'), ssh: null },
        to: { path: '/b', shell: shell('root@h:22'), ssh: null },
        filters: [],
        delete: false,
      },
      ssh,
    );
    expect(same.shell.label).toBe('root@h:22');
    expect(same.argv.slice(-2)).toEqual(['/a/', '/b/']);
  });

  it('refuses a key path rsync -e could not pass literally', () => {
    expect(() =>
      buildRsync(
        {
          from: { path: '/a', shell: shell('local'), ssh: null },
          to: { path: '/b', shell: shell('r'), ssh: { user: 'root', host: 'h', port: 22 } },
          filters: [],
          delete: false,
        },
        { keyFile: "/keys/it's" },
      ),
    ).toThrow(/quote/);
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

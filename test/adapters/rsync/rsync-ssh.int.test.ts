/**
 * Proves the bench's per-test sshd carries what the product needs from rsync over SSH: a Jellyfin
 * config tree arrives byte-identical with ACLs, xattrs and hard links, hostile file names stay names,
 * and the connection is refused on an unpinned host key or an unauthorized client key (SPEC 4 rule 9).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { link, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateKeyPair, type SshdHandle, startSshd } from '../../bench/sshd.js';

const COMMAND_TIMEOUT_MS = 60_000;
/**
 * When ssh dies, rsync exits with ssh's 255 or, if it sees the closed pipe before reaping ssh, with
 * 12 ("error in rsync protocol data stream"): which one is a race, so both mean "the SSH link failed".
 */
const RSYNC_SSH_FAILED = [12, 255];

let sshd: SshdHandle;
let work: string;

beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'jf-rsync-ssh-'));
  await requireAclAndXattrSupport(work);
  sshd = await startSshd();
});

afterEach(async () => {
  await sshd?.stop();
  await rm(work, { recursive: true, force: true });
});

/** The proof needs a filesystem with POSIX ACLs and user xattrs; say so plainly instead of skipping. */
async function requireAclAndXattrSupport(dir: string): Promise<void> {
  const probe = join(dir, 'acl-probe');
  await writeFile(probe, 'probe');
  const acl = await execa('setfacl', ['-m', 'u:nobody:r', '--', probe], { reject: false });
  const xattr = await execa('setfattr', ['-n', 'user.probe', '-v', '1', '--', probe], { reject: false });
  if (acl.exitCode !== 0 || xattr.exitCode !== 0) {
    throw new Error(
      `The filesystem of ${tmpdir()} lacks POSIX ACL or user xattr support (setfacl: ${acl.stderr || 'ok'}; ` +
        `setfattr: ${xattr.stderr || 'ok'}). Point TMPDIR at an ext4/xfs/btrfs directory mounted with acl,user_xattr.`,
    );
  }
  await rm(probe);
}

function rsyncTo(rsh: string, src: string, dst: string) {
  return execa(
    'rsync',
    [
      '-aAXH',
      '--numeric-ids',
      '--delete',
      '-s',
      '-e',
      rsh,
      `${src}/`,
      `${sshd.user}@${sshd.address}:${dst}/`,
    ],
    { reject: false, stdin: 'ignore', timeout: COMMAND_TIMEOUT_MS },
  );
}

async function listTree(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries.map((entry) => relative(root, join(entry.parentPath, entry.name))).sort();
}

async function getfacl(path: string): Promise<string> {
  const { stdout } = await execa('getfacl', ['--omit-header', '--absolute-names', '--', path]);
  return stdout;
}

async function getUserXattr(path: string, name: string): Promise<string> {
  const { stdout } = await execa('getfattr', ['--only-values', '--absolute-names', '-n', name, '--', path]);
  return stdout;
}

describe('rsync over SSH to the bench sshd with a pinned host key', () => {
  it('copies bytes, ACLs, xattrs and hard links, and keeps shell-looking names literal', async () => {
    const marker = `pwned-${randomBytes(4).toString('hex')}`;
    const hostileNames = [
      `$(touch ${marker})`,
      `\`touch ${marker}\``,
      `x; touch ${marker}`,
      `a'b"c & d | e > f`,
    ];
    const src = join(work, 'src');
    // The remote path is the part a remote shell would parse: spaces and a command substitution in it.
    const dst = join(work, `dst with spaces $(touch ${marker})`);
    const db = join(src, 'data', 'data', 'jellyfin.db');
    const library = join(src, 'data', 'library.db');
    const libraryLink = join(src, 'data', 'library.db.hardlink');
    const spaced = join(src, 'metadata', 'dir with spaces', 'poster 1.jpg');
    await mkdir(join(src, 'data', 'data'), { recursive: true });
    await mkdir(join(src, 'metadata', 'dir with spaces'), { recursive: true });
    await mkdir(join(src, 'metadata', `$(touch ${marker})`), { recursive: true });
    await writeFile(db, randomBytes(300_000));
    await writeFile(library, randomBytes(70_000));
    await link(library, libraryLink);
    await writeFile(spaced, randomBytes(5_000));
    for (const name of hostileNames) await writeFile(join(src, 'metadata', `$(touch ${marker})`, name), name);
    await execa('setfacl', ['-m', 'u:nobody:r', '--', db]);
    await execa('setfattr', ['-n', 'user.jellyfin', '-v', 'test', '--', db]);
    // A leftover on the destination that --delete must remove.
    await mkdir(dst);
    await writeFile(join(dst, 'stale.txt'), 'from an older sync');

    const started = Date.now();
    const result = await rsyncTo(sshd.rsyncRsh(), src, dst);
    expect(result.exitCode, `rsync stderr:\n${result.stderr}\nsshd log:\n${sshd.log()}`).toBe(0);
    expect(Date.now() - started).toBeLessThan(COMMAND_TIMEOUT_MS);

    // Same tree, same bytes; the stale file is gone.
    const srcTree = await listTree(src);
    expect(await listTree(dst)).toEqual(srcTree);
    for (const path of srcTree) {
      const srcStat = await stat(join(src, path));
      if (!srcStat.isFile()) continue;
      expect((await readFile(join(dst, path))).equals(await readFile(join(src, path))), path).toBe(true);
    }
    expect(existsSync(join(dst, 'stale.txt'))).toBe(false);

    // ACL and xattr on the copied database.
    const dstDb = join(dst, relative(src, db));
    expect(await getfacl(dstDb)).toContain('user:nobody:r--');
    expect(await getfacl(dstDb)).toEqual(await getfacl(db));
    expect(await getUserXattr(dstDb, 'user.jellyfin')).toBe('test');

    // The hard-linked pair is still one inode (and a new one, not the source's).
    const dstLibrary = await stat(join(dst, relative(src, library)));
    const dstLink = await stat(join(dst, relative(src, libraryLink)));
    expect(dstLink.ino).toBe(dstLibrary.ino);
    expect(dstLibrary.nlink).toBe(2);
    expect(dstLibrary.ino).not.toBe((await stat(library)).ino);

    // Hostile names arrived as literal names with their content, and no shell ran them.
    const hostileDir = join(dst, 'metadata', `$(touch ${marker})`);
    expect((await readdir(hostileDir)).sort()).toEqual([...hostileNames].sort());
    for (const name of hostileNames) expect(await readFile(join(hostileDir, name), 'utf8')).toBe(name);
    for (const dir of [
      homedir(),
      '/root',
      '/',
      process.cwd(),
      tmpdir(),
      work,
      src,
      dst,
      join(dst, 'metadata'),
    ]) {
      expect(existsSync(join(dir, marker)), `${marker} found in ${dir}`).toBe(false);
    }
  });
});

describe('the bench sshd refuses what SPEC 4 rule 9 forbids', () => {
  it('refuses an unknown host key: empty known_hosts, nothing written', async () => {
    const src = join(work, 'src');
    const dst = join(work, 'dst');
    await mkdir(src);
    await writeFile(join(src, 'jellyfin.db'), randomBytes(1_000));
    await mkdir(dst);
    const emptyKnownHosts = join(work, 'known_hosts.empty');
    await writeFile(emptyKnownHosts, '');

    const result = await rsyncTo(sshd.rsyncRsh({ knownHostsFile: emptyKnownHosts }), src, dst);

    expect(result.timedOut).toBe(false);
    expect(RSYNC_SSH_FAILED).toContain(result.exitCode);
    expect(result.stderr).toContain('Host key verification failed');
    expect(await readdir(dst)).toEqual([]);
    expect(await readFile(emptyKnownHosts, 'utf8')).toBe('');
  });

  it('refuses a changed host key: known_hosts pins another key, nothing written', async () => {
    const src = join(work, 'src');
    const dst = join(work, 'dst');
    await mkdir(src);
    await writeFile(join(src, 'jellyfin.db'), randomBytes(1_000));
    await mkdir(dst);
    const wrongKnownHosts = await sshd.wrongHostKnownHosts();
    const pinnedBefore = await readFile(wrongKnownHosts, 'utf8');

    const result = await rsyncTo(sshd.rsyncRsh({ knownHostsFile: wrongKnownHosts }), src, dst);

    expect(result.timedOut).toBe(false);
    expect(RSYNC_SSH_FAILED).toContain(result.exitCode);
    expect(result.stderr).toContain('REMOTE HOST IDENTIFICATION HAS CHANGED');
    expect(result.stderr).toContain('Host key verification failed');
    expect(await readdir(dst)).toEqual([]);
    expect(await readFile(wrongKnownHosts, 'utf8')).toBe(pinnedBefore);
  });

  it('accepts only the authorized key, and fails fast without a prompt for any other', async () => {
    const stranger = await generateKeyPair(work, 'stranger_ed25519');
    const ssh = (identityFile: string) =>
      execa('ssh', [...sshd.sshArgs({ identityFile }), `${sshd.user}@${sshd.address}`, '--', 'id', '-u'], {
        reject: false,
        stdin: 'ignore',
        timeout: 30_000,
      });

    const authorized = await ssh(sshd.clientKeyFile);
    expect(authorized.exitCode, authorized.stderr).toBe(0);
    expect(authorized.stdout.trim()).toBe('0');

    const refused = await ssh(stranger.privateKeyFile);
    expect(refused.timedOut).toBe(false);
    expect(refused.exitCode).toBe(255);
    // The server offers public-key authentication only: no password or keyboard-interactive fallback.
    expect(refused.stderr).toContain('Permission denied (publickey)');
    expect(refused.stdout).toBe('');

    const dst = join(work, 'dst');
    await mkdir(join(work, 'src'));
    await writeFile(join(work, 'src', 'jellyfin.db'), 'db');
    await mkdir(dst);
    const rsync = await rsyncTo(
      sshd.rsyncRsh({ identityFile: stranger.privateKeyFile }),
      join(work, 'src'),
      dst,
    );
    expect(RSYNC_SSH_FAILED).toContain(rsync.exitCode);
    expect(rsync.stderr).toContain('Permission denied (publickey)');
    expect(await readdir(dst)).toEqual([]);
  });
});

describe('the bench sshd fault injection', () => {
  it('kill() drops live sessions at once and restart() serves again with the same pinned key', async () => {
    // A unique duration makes the remote `sleep` findable on this machine (the client runs here too).
    const duration = `300.${randomBytes(3).readUIntBE(0, 3)}`;
    const session = execa(
      'ssh',
      [...sshd.sshArgs(), `${sshd.user}@${sshd.address}`, '--', 'sleep', duration],
      {
        reject: false,
        stdin: 'ignore',
        timeout: 60_000,
      },
    );
    const remoteSleep = `^sleep ${duration.replace('.', '\\.')}$`;
    await expect
      .poll(async () => (await pgrepFull(remoteSleep)).length, { timeout: 10_000 })
      .toBeGreaterThan(0);

    const killedAt = Date.now();
    await sshd.kill();
    const dropped = await session;
    expect(dropped.timedOut).toBe(false);
    expect(dropped.exitCode).toBe(255);
    expect(Date.now() - killedAt).toBeLessThan(10_000);
    expect(await pgrepFull(remoteSleep)).toEqual([]);
    const whileDown = await execa('ssh', [...sshd.sshArgs(), `${sshd.user}@${sshd.address}`, '--', 'true'], {
      reject: false,
      stdin: 'ignore',
      timeout: 30_000,
    });
    expect(whileDown.exitCode).toBe(255);
    expect(whileDown.stderr).toContain('Connection refused');

    await sshd.restart();
    const again = await execa(
      'ssh',
      [...sshd.sshArgs(), `${sshd.user}@${sshd.address}`, '--', 'echo', 'back'],
      {
        reject: false,
        stdin: 'ignore',
        timeout: 30_000,
      },
    );
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stdout).toBe('back');

    const dir = sshd.dir;
    await sshd.stop();
    expect(existsSync(dir)).toBe(false);
  });
});

/** Pids whose full command line matches `pattern` (the remote `sleep` runs on this same machine). */
async function pgrepFull(pattern: string): Promise<number[]> {
  const { stdout } = await execa('pgrep', ['-f', '--', pattern], { reject: false });
  return stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map(Number)
    .filter((pid) => pid !== process.pid);
}

/**
 * The relay between two remote sites (adapters/rsync/relay.ts) against two real sshd with different host keys,
 * each knowing only the service's key: a tree crosses from one to the other with ACLs, xattrs and hard links,
 * nothing is left on either host, and a killed rsync or a dropped SSH connection on either side fails the copy
 * with a message naming that side, leaving no rsync running.
 */
import { link, mkdir, mkdtemp, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RsyncCopier } from '../../../src/adapters/rsync/copier.js';
import { SshConnection } from '../../../src/adapters/ssh/connection.js';
import { SshShell } from '../../../src/adapters/ssh/shell.js';
import { HostUnreachableError } from '../../../src/domain/errors.js';
import { SILENT_LOG } from '../../../src/domain/log.js';
import type { CopyRequest } from '../../../src/domain/ports.js';
import { pidsOf, signalAll, waitFor } from '../../bench/faults.js';
import { type SshdHandle, startSshd } from '../../bench/sshd.js';

let a: SshdHandle;
let b: SshdHandle;
let work: string;
let connections: SshConnection[] = [];

beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'jf-relay-'));
  [a, b] = await Promise.all([startSshd(), startSshd()]);
});

afterEach(async () => {
  for (const c of connections) await c.close();
  connections = [];
  await Promise.all([a?.stop(), b?.stop()]);
  await rm(work, { recursive: true, force: true });
});

/** The copier as the composition root builds it when both sites are remote: only this service's keys. */
function copier(): RsyncCopier {
  const site = (sshd: SshdHandle) => {
    const target = { user: sshd.user, host: sshd.address, port: sshd.port };
    const connection = new SshConnection(
      { target, keyFile: sshd.clientKeyFile, knownHostsFile: sshd.knownHostsFile },
      SILENT_LOG,
    );
    connections.push(connection);
    const shell = new SshShell(connection, SILENT_LOG);
    return { shell, ssh: target, remote: shell };
  };
  // Each sshd knows only its own client key: neither host can log in to the other.
  return new RsyncCopier({ master: site(a), slave: site(b) }, {});
}

function request(from: string, to: string, overrides: Partial<CopyRequest> = {}): CopyRequest {
  return {
    from: 'master',
    fromPath: from,
    to: 'slave',
    toPath: to,
    select: 'everything',
    excludes: ['/cache/'],
    delete: true,
    ...overrides,
  };
}

async function tree(root: string, files = 40, size = 4096): Promise<void> {
  for (let i = 0; i < files; i++) {
    await mkdir(join(root, 'metadata', String(i % 7)), { recursive: true });
    await writeFile(join(root, 'metadata', String(i % 7), `${i}.jpg`), Buffer.alloc(size, i));
  }
  await mkdir(join(root, 'cache'), { recursive: true });
  await writeFile(join(root, 'cache', 'skip.webp'), 'cache');
  await writeFile(join(root, 'branding.xml'), '<BrandingOptions/>');
  await link(join(root, 'branding.xml'), join(root, 'branding-link.xml'));
  await execa('setfacl', ['-m', 'u:nobody:r', join(root, 'branding.xml')]);
  await execa('setfattr', ['-n', 'user.jf', '-v', 'kept', join(root, 'branding.xml')]);
}

/** rsync processes of this test: the sender names its source dir, the receiver works in the destination dir. */
async function rsyncsIn(dir: string): Promise<number[]> {
  const found: number[] = [];
  for (const pid of await pidsOf('rsync', '')) {
    const cwd = await readlink(`/proc/${pid}/cwd`).catch(() => '');
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cwd.startsWith(dir) || cmdline.includes(dir)) found.push(pid);
  }
  return found;
}

describe('relay between two remote sites', () => {
  it('copies a tree with ACLs, xattrs and hard links, and stats, using only the service key', async () => {
    const src = join(work, 'src');
    const dst = join(work, 'dst');
    await tree(src);
    await mkdir(dst);
    const progress: number[] = [];
    const stats = await copier().copy({ ...request(src, dst), onProgress: (p) => progress.push(p.percent) });
    expect(stats.files).toBe(41); // 40 images and branding.xml; its hard link is made, not transferred
    expect(await readFile(join(dst, 'metadata', '3', '3.jpg'))).toEqual(Buffer.alloc(4096, 3));
    await expect(stat(join(dst, 'cache'))).rejects.toThrow(/ENOENT/);
    expect((await stat(join(dst, 'branding.xml'))).ino).toBe(
      (await stat(join(dst, 'branding-link.xml'))).ino,
    );
    expect((await execa('getfacl', ['--omit-header', join(dst, 'branding.xml')])).stdout).toContain(
      'user:nobody:r--',
    );
    expect(
      (await execa('getfattr', ['--only-values', '-n', 'user.jf', join(dst, 'branding.xml')])).stdout,
    ).toBe('kept');
    expect(Math.max(...progress)).toBeGreaterThanOrEqual(99);
    // A second pass moves nothing; the relay left no process behind on either host.
    expect((await copier().copy(request(src, dst))).files).toBe(0);
    expect(await rsyncsIn(work)).toEqual([]);
  });

  it('a killed rsync on the source fails the copy, naming it, and stops the receiving side', async () => {
    const src = join(work, 'src');
    const dst = join(work, 'dst');
    await tree(src, 400, 256 * 1024);
    await mkdir(dst);
    let moved = 0;
    const copy = copier().copy({ ...request(src, dst), onProgress: (p) => (moved = p.bytes) });
    const outcome = copy.catch((e: unknown) => e);
    // The sender is held (SIGSTOP) as soon as it exists and let run in 20 ms slices until bytes have moved, so
    // the kill lands mid-transfer however fast the host copies 100 MB.
    const sender = await waitFor(
      'the source rsync',
      async () => {
        const pids = await pidsOf('rsync', `${src}/`);
        return pids.length > 0 ? pids : false;
      },
      20_000,
      5,
    );
    signalAll(sender, 'SIGSTOP');
    for (let slice = 0; moved === 0 && slice < 500; slice++) {
      signalAll(sender, 'SIGCONT');
      await sleep(20);
      signalAll(sender, 'SIGSTOP');
      await sleep(30);
    }
    expect(moved).toBeGreaterThan(0);
    signalAll(sender, 'SIGKILL');
    const err = await outcome;
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/relayed through this host|rsync ended before/);
    await waitFor('no rsync left', async () => (await rsyncsIn(work)).length === 0, 10_000);
  });

  it("the destination's SSH dropping mid-copy fails it as unreachable and kills the source's rsync", async () => {
    const src = join(work, 'src');
    const dst = join(work, 'dst');
    await tree(src, 400, 256 * 1024);
    await mkdir(dst);
    let moved = 0;
    const outcome = copier()
      .copy({ ...request(src, dst), onProgress: (p) => (moved = p.bytes) })
      .catch((e: unknown) => e);
    await waitFor('the copy under way', () => moved > 0, 20_000, 5);
    await b.kill();
    const err = await outcome;
    expect(err).toBeInstanceOf(Error);
    expect(err instanceof HostUnreachableError || /failed on/.test((err as Error).message)).toBe(true);
    await waitFor('no rsync left', async () => (await rsyncsIn(work)).length === 0, 15_000);
  });
});

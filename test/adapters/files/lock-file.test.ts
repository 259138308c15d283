import { spawnSync } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileLock } from '../../../src/adapters/files/lock-file.js';

describe('the operation lock file', () => {
  it('one lock at a time: a live holder refuses with busy, a dead holder is taken over', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'jf-state-'));
    const lock = new FileLock(dir);
    const held = await lock.acquire('sync');
    expect(await lock.holder()).toMatchObject({ pid: process.pid, owner: 'sync' });
    await expect(new FileLock(dir).acquire('promote')).rejects.toMatchObject({ reason: 'busy' });
    await held.release();
    expect(await lock.holder()).toBeNull();

    // a lock left by a process that no longer exists
    const dead = spawnSync('sh', ['-c', 'echo $$']).stdout.toString().trim();
    await writeFile(
      join(dir, 'lock'),
      JSON.stringify({ pid: Number(dead), owner: 'promote', at: new Date().toISOString() }),
    );
    expect(await lock.holder()).toBeNull(); // a dead holder holds nothing
    const taken = await lock.acquire('sync');
    expect(taken.staleOwner).toMatch(/promote \(pid \d+\)/);
    await taken.release();
  });
});

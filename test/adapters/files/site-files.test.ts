/**
 * SiteFiles on the local host (real sh, mv, test), with the shell wrapped so that chosen commands run and then
 * lose their exit status, as when an SSH connection goes between a command's end and its status. That moment
 * cannot be hit on purpose with a real sshd, hence the wrapper; everything else is the real thing.
 */
import { mkdir, mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SiteFiles } from '../../../src/adapters/files/site-files.js';
import { LocalShell } from '../../../src/adapters/host/local.js';
import { HostUnreachableError } from '../../../src/domain/errors.js';
import type { ExecOptions, ExecResult, HostShell } from '../../../src/domain/ports.js';

/**
 * The first `lose` commands report a dropped connection instead of their result: after running (`ran`), or
 * before they could start (`never`).
 */
class LosingShell implements HostShell {
  readonly label = 'local (losing statuses)';
  readonly isLocal = true;
  readonly ran: string[][] = [];
  private readonly local = new LocalShell();
  constructor(
    private lose: number,
    private readonly when: 'ran' | 'never' = 'ran',
  ) {}

  async exec(argv: readonly string[], options?: ExecOptions): Promise<ExecResult> {
    const losing = this.lose > 0;
    this.lose -= 1;
    if (!losing || this.when === 'ran') this.ran.push([...argv]);
    const result = !losing || this.when === 'ran' ? await this.local.exec(argv, options) : null;
    if (losing) throw new HostUnreachableError(this.label, 'dropped', 'the SSH connection dropped', 'retry');
    return result as ExecResult;
  }
}

async function tree(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'jf-files-'));
  await mkdir(join(dir, 'staging'));
  await writeFile(join(dir, 'staging', 'jellyfin.db'), 'new');
  return dir;
}

describe('a move whose exit status was lost', () => {
  it('is done once, not refused for the target it put there itself', async () => {
    const dir = await tree();
    const shell = new LosingShell(1);
    await new SiteFiles(shell).rename(join(dir, 'staging'), join(dir, 'config'));
    expect(await readdir(dir)).toEqual(['config']);
    expect(await readdir(join(dir, 'config'))).toEqual(['jellyfin.db']);
    expect(shell.ran).toHaveLength(2);
  });

  it('still refuses a target that was there before, and moves nothing', async () => {
    const dir = await tree();
    await mkdir(join(dir, 'config'));
    await writeFile(join(dir, 'config', 'jellyfin.db'), 'old');
    const shell = new LosingShell(1);
    await expect(new SiteFiles(shell).rename(join(dir, 'staging'), join(dir, 'config'))).rejects.toThrow(
      /config already exists/,
    );
    expect((await readdir(dir)).sort()).toEqual(['config', 'staging']);
  });

  it('is run again when the first run never started (the source still there)', async () => {
    const dir = await tree();
    const shell = new LosingShell(1, 'never');
    await new SiteFiles(shell).rename(join(dir, 'staging'), join(dir, 'config'));
    expect(await readdir(dir)).toEqual(['config']);
    expect(shell.ran).toHaveLength(1);
  });

  it('with its status, a source that is gone is an error, not "done"', async () => {
    const dir = await tree();
    await mkdir(join(dir, 'config'));
    await expect(
      new SiteFiles(new LocalShell()).rename(join(dir, 'gone'), join(dir, 'config')),
    ).rejects.toThrow(/config already exists/);
  });

  it('fails as unreachable when the status is lost twice', async () => {
    const dir = await tree();
    await expect(
      new SiteFiles(new LosingShell(2)).rename(join(dir, 'staging'), join(dir, 'config')),
    ).rejects.toBeInstanceOf(HostUnreachableError);
  });
});

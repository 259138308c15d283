import { existsSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { parseCli } from '../../src/cli/args.js';
import { type CliIo, runCli } from '../../src/cli/cli.js';

function io(
  env: NodeJS.ProcessEnv = {},
  cwd = process.cwd(),
): CliIo & { out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => {
    out += c.toString();
  });
  stderr.on('data', (c: Buffer) => {
    err += c.toString();
  });
  return { stdout, stderr, env, cwd, out: () => out, err: () => err };
}

describe('command line', () => {
  it('parses commands and options', () => {
    expect(parseCli(['sync', '--force', '--json'])).toEqual({
      command: 'sync',
      force: true,
      json: true,
      envFile: '.env',
      merge: false,
      dryRun: false,
    });
    expect(parseCli(['sync', '--merge'])).toMatchObject({ command: 'sync', merge: true });
    expect(parseCli(['merge'])).toMatchObject({ command: 'merge', merge: true, dryRun: false });
    expect(parseCli(['merge', '--dry-run'])).toMatchObject({ command: 'merge', merge: false, dryRun: true });
    expect(parseCli(['--env-file', '/etc/jf.env', 'status'])).toMatchObject({
      command: 'status',
      envFile: '/etc/jf.env',
    });
    expect(parseCli(['-h']).command).toBe('help');
  });

  it.each([
    [[], /No command given/],
    [['syncc'], /Unknown command "syncc"/],
    [['promote', '--merge'], /--merge applies to sync only/],
    [['sync', '--dry-run'], /--dry-run applies to merge only/],
    [['sync', 'now'], /Too many arguments: now/],
    [['status', '--force'], /--force applies to sync/],
    [['sync', '--forse'], /Unknown option '--forse'/],
  ])('rejects %j with exit code 2 and a hint', async (argv, message) => {
    const t = io();
    expect(await runCli(argv, t)).toBe(2);
    expect(t.err()).toMatch(message);
    expect(t.out()).toBe('');
  });

  it('prints help with exit 0', async () => {
    const t = io();
    expect(await runCli(['--help'], t)).toBe(0);
    expect(t.out()).toMatch(/Usage: jellyfin-failover <command>/);
    expect(t.out()).toMatch(/Exit codes/);
  });

  it('reports every config problem at once, exits 2, and touches nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'jf-cli-'));
    const stateDir = join(dir, 'state');
    await writeFile(
      join(dir, 'bad.env'),
      [
        'MASTER_URL=nope',
        'FAILOVER_ID=Bad-Id',
        `STATE_DIR=${stateDir}`,
        'MQTT_PASSWORD=hunter2-secret',
        'HEALTH_FAILURES=0',
      ].join('\n'),
    );
    for (const command of ['check', 'sync', 'run']) {
      const t = io({}, dir);
      expect(await runCli([command, '--env-file', 'bad.env'], t)).toBe(2);
      const err = t.err();
      for (const v of [
        'MASTER_URL',
        'FAILOVER_ID',
        'MASTER_CONFIG_DIR',
        'SLAVE_CONFIG_DIR',
        'SLAVE_URL',
        'HEALTH_FAILURES',
      ]) {
        expect(err).toContain(v);
      }
      expect(err).not.toContain('hunter2-secret');
      expect(existsSync(stateDir)).toBe(false);
    }
    const j = io({}, dir);
    expect(await runCli(['check', '--json', '--env-file', 'bad.env'], j)).toBe(2);
    const body = JSON.parse(j.out()) as {
      ok: boolean;
      exitCode: number;
      problems: Array<{ variable: string }>;
    };
    expect(body.ok).toBe(false);
    expect(body.problems.map((p) => p.variable)).toContain('SLAVE_URL');
  });

  it('refuses a named --env-file that does not exist', async () => {
    const t = io();
    expect(await runCli(['check', '--env-file', '/nonexistent/jf.env'], t)).toBe(2);
    expect(t.err()).toMatch(/cannot read \/nonexistent\/jf\.env/);
  });

  it('the installed bin exits 2 on bad config (real process)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'jf-cli-'));
    await writeFile(join(dir, '.env'), 'MASTER_URL=nope\n');
    const tsx = join(process.cwd(), 'node_modules/.bin/tsx');
    const r = await execa(tsx, [join(process.cwd(), 'src/main.ts'), 'check'], { cwd: dir, reject: false });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/MASTER_URL must be an http\(s\) URL/);
  });
});

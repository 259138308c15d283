/**
 * SshShell against a real OpenSSH server (the bench's per-test sshd on 127.0.0.x): argument arrays arrive
 * literally, exit codes pass through, host keys are pinned (plain and hashed known_hosts), only the authorized key
 * gets in, and a connection lost mid-command is reported as such and replaced on the next command.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SshConnection } from '../../../src/adapters/ssh/connection.js';
import { SshShell } from '../../../src/adapters/ssh/shell.js';
import { HostUnreachableError } from '../../../src/domain/errors.js';
import { SILENT_LOG } from '../../../src/domain/log.js';
import { generateKeyPair, type SshdHandle, startSshd } from '../../bench/sshd.js';

let sshd: SshdHandle;
let work: string;
let connections: SshConnection[] = [];

beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'jf-ssh-shell-'));
  sshd = await startSshd();
});

afterEach(async () => {
  await Promise.all(connections.map((c) => c.close()));
  connections = [];
  await sshd?.stop();
  await rm(work, { recursive: true, force: true });
});

function shell(
  overrides: { keyFile?: string; knownHostsFile?: string; connectTimeoutMs?: number } = {},
): SshShell {
  const connection = new SshConnection(
    {
      target: { user: sshd.user, host: sshd.address, port: sshd.port },
      keyFile: overrides.keyFile ?? sshd.clientKeyFile,
      knownHostsFile: overrides.knownHostsFile ?? sshd.knownHostsFile,
      ...(overrides.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: overrides.connectTimeoutMs }),
    },
    SILENT_LOG,
  );
  connections.push(connection);
  return new SshShell(connection, SILENT_LOG);
}

/** The rejection of `promise`, which must reject with a HostUnreachableError. */
async function unreachable(promise: Promise<unknown>): Promise<HostUnreachableError> {
  const err = await promise.then(
    () => {
      throw new Error('expected the command to be refused');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(HostUnreachableError);
  return err as HostUnreachableError;
}

function acceptedLogins(): number {
  return sshd
    .log()
    .split('\n')
    .filter((l) => l.includes('Accepted publickey')).length;
}

const HOSTILE = [
  '$(touch /tmp/jf-ssh-hostile)',
  '`touch /tmp/jf-ssh-hostile`',
  "it's; rm -rf / #",
  `"double" $HOME \${PATH} *`,
  'line one\nline two',
  '',
  '-n',
  'jalapeño 🎬',
  '  spaced  ',
];

describe('SshShell commands', () => {
  it('passes every argument literally: no expansion, no word splitting, no command substitution', async () => {
    // A file name cannot hold '/', so the substitution would touch the marker in the session's working
    // directory (root's home) or, with `cd`, in the work directory: neither may appear.
    const marker = `jf-ssh-marker-${process.pid}-${Date.now()}`;
    const name = `$(touch ${marker})`;
    const s = shell();

    const created = await s.exec(['touch', join(work, name)]);
    expect(created.exitCode).toBe(0);
    expect(await readdir(work)).toEqual([name]);
    expect(existsSync(join(homedir(), marker))).toBe(false);

    const echoed = await s.exec(['printf', '%s\\0', ...HOSTILE]);
    expect(echoed.stdout.split('\0').slice(0, -1)).toEqual(HOSTILE);
    expect(existsSync('/tmp/jf-ssh-hostile')).toBe(false);
  });

  it('passes exit codes, stdout, stderr and stdin through', async () => {
    const s = shell();
    const failed = await s.exec(['sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect(failed).toEqual({ exitCode: 3, stdout: 'out\n', stderr: 'err\n' });

    const piped = await s.exec(['cat'], { input: 'through stdin\n' });
    expect(piped).toEqual({ exitCode: 0, stdout: 'through stdin\n', stderr: '' });

    // stdin is closed even without input, so a command reading it does not hang
    expect((await s.exec(['cat'])).stdout).toBe('');
  });

  it('streams stdout to onStdout as it arrives', async () => {
    const chunks: string[] = [];
    const result = await shell().exec(['sh', '-c', 'echo one; sleep 0.3; echo two'], {
      onStdout: (c) => chunks.push(c),
    });
    expect(chunks.join('')).toBe('one\ntwo\n');
    expect(chunks.length).toBeGreaterThanOrEqual(2);
    expect(result.stdout).toBe('one\ntwo\n');
  });

  it('keeps one connection for many commands, also when they run at once', async () => {
    const s = shell();
    await s.exec(['true']);
    const results = await Promise.all([1, 2, 3, 4].map((n) => s.exec(['sh', '-c', `exit ${n}`])));
    expect(results.map((r) => r.exitCode)).toEqual([1, 2, 3, 4]);
    expect(acceptedLogins()).toBe(1);
  });

  it('gets the exit status of quick commands on a busy service: not one of them reported as dropped', async () => {
    const s = shell();
    await s.exec(['true']);
    // The service's event loop busy (as with many tests or a big rsync relay beside): sshd's replies pile up,
    // and ssh2 reads a channel's success, output, exit status and close in one go.
    const busy = setInterval(() => {
      const until = Date.now() + 15;
      while (Date.now() < until) {
        // blocking, on purpose
      }
    }, 1);
    try {
      const codes = Array.from({ length: 240 }, (_, i) => i % 7);
      const results: Array<number | string> = [];
      for (let i = 0; i < codes.length; i += 8) {
        const batch = codes.slice(i, i + 8);
        results.push(
          ...(await Promise.all(
            batch.map((code) =>
              s.exec(['sh', '-c', `exit ${code}`]).then(
                (r) => r.exitCode,
                (e: Error) => e.message,
              ),
            ),
          )),
        );
      }
      expect(results).toEqual(codes);
    } finally {
      clearInterval(busy);
    }
  });

  it('reports a command killed by a signal as exit code 255 with a note', async () => {
    const result = await shell().exec(['sh', '-c', 'kill -KILL $$']);
    expect(result.exitCode).toBe(255);
    expect(result.stderr).toMatch(/killed by SIGKILL/);
  });

  it('kills a command (and its children) at its timeout or on abort, and resolves with 124 / 130', async () => {
    const s = shell();
    // A unique duration names the remote processes; `sleep & wait` gives the command a child of its own.
    const duration = `29.${process.pid}${Date.now() % 1000}`;
    const command = ['sh', '-c', `sleep ${duration} & echo started; wait`];
    const remaining = async () =>
      (await execa('pgrep', ['-f', `sleep ${duration}`], { reject: false })).stdout.trim();

    const timedOut = await s.exec(command, { timeoutMs: 1_500 });
    expect(timedOut.exitCode).toBe(124);
    expect(timedOut.stdout).toBe('started\n');
    expect(timedOut.stderr).toMatch(/timed out after 1500 ms/);
    expect(timedOut.stderr).not.toContain('jellyfin-failover-pid');
    expect(await remaining()).toBe('');

    const controller = new AbortController();
    const aborted = await s.exec(command, {
      signal: controller.signal,
      onStdout: (chunk) => chunk.includes('started') && controller.abort(),
    });
    expect(aborted.exitCode).toBe(130);
    expect(aborted.stderr).toMatch(/was aborted/);
    expect(await remaining()).toBe('');

    // the connection is still good
    expect((await s.exec(['echo', 'ok'])).stdout).toBe('ok\n');
  });

  it('kills a command stopped before it started, once the login shell has started it', async () => {
    const duration = `28.${process.pid}${Date.now() % 1000}`;
    const result = await shell().exec(['sleep', duration], { timeoutMs: 1 });
    expect(result.exitCode).toBe(124);
    expect((await execa('pgrep', ['-f', `sleep ${duration}`], { reject: false })).stdout.trim()).toBe('');
  });
});

describe('SshShell host keys and authentication', () => {
  it('refuses a host missing from known_hosts, naming the host, the presented fingerprint, the file and the fix', async () => {
    const empty = join(work, 'known_hosts.empty');
    await writeFile(empty, '# nothing pinned\n');
    const err = await unreachable(shell({ knownHostsFile: empty }).exec(['true']));
    expect(err.reason).toBe('host-key');
    expect(err.host).toBe(`${sshd.user}@${sshd.address}:${sshd.port}`);
    expect(err.message).toContain(sshd.hostKeyFingerprint);
    expect(err.message).toContain(empty);
    expect(err.message).toContain(`ssh-keyscan -p ${sshd.port} ${sshd.address}`);
    expect(acceptedLogins()).toBe(0);
  });

  it('refuses a changed host key, saying what is pinned and how to replace it', async () => {
    const wrong = await sshd.wrongHostKnownHosts();
    const err = await unreachable(shell({ knownHostsFile: wrong }).exec(['true']));
    expect(err.reason).toBe('host-key');
    expect(err.message).toContain(sshd.hostKeyFingerprint);
    expect(err.message).toMatch(/pins ssh-ed25519 SHA256:/);
    expect(err.message).toContain('ssh-keygen -R');
    expect(acceptedLogins()).toBe(0);
  });

  it('accepts hashed known_hosts entries as written by ssh-keyscan -H', async () => {
    const { stdout } = await execa('ssh-keyscan', [
      '-H',
      '-t',
      'ed25519',
      '-p',
      String(sshd.port),
      sshd.address,
    ]);
    expect(stdout).toMatch(/^\|1\|/m);
    const hashed = join(work, 'known_hosts.hashed');
    await writeFile(hashed, `${stdout}\n`);
    expect((await shell({ knownHostsFile: hashed }).exec(['echo', 'hashed'])).stdout).toBe('hashed\n');
  });

  it('matches a pinned key among other hosts, comma lists and wildcards', async () => {
    const pinned = (await readFile(sshd.knownHostsFile, 'utf8')).trim().split(' ').slice(1).join(' ');
    const other = await sshd.wrongHostKnownHosts();
    const otherKey = (await readFile(other, 'utf8')).trim().split(' ').slice(1).join(' ');
    const file = join(work, 'known_hosts.mixed');
    await writeFile(
      file,
      [
        `# comment`,
        `[192.0.2.1]:${sshd.port} ${otherKey}`,
        `other.example,[127.0.0.*]:${sshd.port} ${pinned} wildcard entry`,
        '',
      ].join('\n'),
    );
    expect((await shell({ knownHostsFile: file }).exec(['true'])).exitCode).toBe(0);
  });

  it('refuses a client key the server does not authorize', async () => {
    const stranger = await generateKeyPair(work, 'stranger');
    const err = await unreachable(shell({ keyFile: stranger.privateKeyFile }).exec(['true']));
    expect(err.reason).toBe('auth');
    expect(err.message).toContain(stranger.privateKeyFile);
    expect(err.message).toContain('authorized_keys');
  });

  it('reports a missing key file by path', async () => {
    const err = await unreachable(shell({ keyFile: join(work, 'no-such-key') }).exec(['true']));
    expect(err.reason).toBe('key-file');
    expect(err.message).toContain(join(work, 'no-such-key'));
  });
});

describe('SshShell connection loss', () => {
  it('reports a refused connection when sshd is down', async () => {
    await sshd.kill();
    const err = await unreachable(shell().exec(['true']));
    expect(err.reason).toBe('refused');
    expect(err.message).toContain(String(sshd.port));
  });

  it('rejects a command whose connection dies, then reconnects once sshd is back', async () => {
    const s = shell();
    expect((await s.exec(['true'])).exitCode).toBe(0);
    // Kill only once the command runs (the login shell's rc files are done), as a real outage mid-copy would.
    let started!: () => void;
    const running = s.exec(['sh', '-c', 'echo started; exec sleep 30'], {
      onStdout: (chunk) => chunk.includes('started') && started(),
    });
    await new Promise<void>((resolve) => {
      started = resolve;
    });
    const outcome = unreachable(running); // handled before the kill makes it reject
    await sshd.kill();
    const err = await outcome;
    expect(err.reason).toBe('dropped');
    expect(err.message).toMatch(/while sh was running/);

    await sshd.restart();
    const again = await s.exec(['echo', 'back']);
    expect(again).toEqual({ exitCode: 0, stdout: 'back\n', stderr: '' });
  });

  it('a host refusing one more session: the next command waits for a free one, the running one goes on', async () => {
    await sshd.stop();
    sshd = await startSshd({ maxSessions: 1 });
    const s = shell();
    const long = s.exec(['sh', '-c', 'sleep 4; echo done']);
    await sleep(300);
    // no session frees within the wait: that command alone fails, the connection stays
    const refused = await unreachable(s.exec(['echo', 'second']));
    expect(refused.message).toMatch(/could not start echo/);
    expect(await long).toEqual({ exitCode: 0, stdout: 'done\n', stderr: '' });
    // a session that ends within the wait makes room for the next command
    const short = s.exec(['sh', '-c', 'sleep 0.5; echo first']);
    await sleep(200);
    expect(await s.exec(['echo', 'next'])).toEqual({ exitCode: 0, stdout: 'next\n', stderr: '' });
    expect(await short).toEqual({ exitCode: 0, stdout: 'first\n', stderr: '' });
  });

  it('replaces a connection that went stale between commands without failing the next command', async () => {
    const s = shell();
    expect((await s.exec(['true'])).exitCode).toBe(0);
    await sshd.restart();
    expect((await s.exec(['echo', 'fresh'])).stdout).toBe('fresh\n');
  });
});

/**
 * ssh2 can hand over an exec channel and, in the same read from the socket, emit the command's exit status: the
 * status must be kept although nobody listened yet. The client here is a stand-in for ssh2's Client (its `exec`
 * calls back, then emits `exit` at once, as ssh2's packet loop does for a quick command on a busy host), because a
 * real sshd cannot be made to put both in one TCP read on demand; test/adapters/ssh/shell.int.test.ts runs the
 * same path against a real sshd.
 */
import { PassThrough } from 'node:stream';
import type { ClientChannel } from 'ssh2';
import { describe, expect, it } from 'vitest';
import { openExecChannel, type SshConnection } from '../../../src/adapters/ssh/connection.js';
import { SshShell } from '../../../src/adapters/ssh/shell.js';
import { SILENT_LOG } from '../../../src/domain/log.js';

type ExecCallback = (err: Error | undefined, channel: ClientChannel) => void;

/**
 * Calls back with a channel as ssh2 makes it (a duplex with a stderr stream), then delivers all of a quick command
 * in the same tick: its output, its exit status (`exit`: ssh2's event arguments), then the close.
 */
function clientThatFinishesAtOnce(stdout: string, ...exit: unknown[]) {
  return {
    exec(_command: string, callback: ExecCallback) {
      const channel = new PassThrough() as unknown as ClientChannel & PassThrough;
      const stderr = new PassThrough();
      Object.assign(channel, { stderr, close: () => undefined });
      callback(undefined, channel);
      stderr.end('jellyfin-failover-pid:4242\n');
      channel.end(stdout);
      channel.emit('exit', ...exit);
      setImmediate(() => channel.emit('close'));
      return this;
    },
  } as unknown as Parameters<typeof openExecChannel>[0];
}

describe('an exec channel whose command ended before anyone listened', () => {
  it('keeps the exit code', async () => {
    const open = await openExecChannel(clientThatFinishesAtOnce('', 3), 'test -e /nope');
    expect(open.exit).toEqual({ code: 3, signal: null, description: '' });
    await expect(open.exited).resolves.toEqual({ code: 3, signal: null, description: '' });
  });

  it('keeps the signal that killed it', async () => {
    const open = await openExecChannel(
      clientThatFinishesAtOnce('', null, 'SIGKILL', false, 'killed'),
      'sleep 9',
    );
    expect(open.exit).toEqual({ code: null, signal: 'SIGKILL', description: 'killed' });
  });
});

describe('SshShell.exec of a command that finished in the same read as its channel opened', () => {
  it('resolves with its exit code and output, not as a dropped connection', async () => {
    const connection = {
      label: 'jfbench@127.0.0.1:22',
      exec: (command: string) => openExecChannel(clientThatFinishesAtOnce('1 2 3\n', 1), command),
    } as unknown as SshConnection;
    const result = await new SshShell(connection, SILENT_LOG).exec(['df', '-P', '/']);
    expect(result).toEqual({ exitCode: 1, stdout: '1 2 3\n', stderr: '' });
  });
});

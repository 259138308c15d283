/**
 * Runs programs on a site over its SSH connection (connection.ts). Each argument array is quoted by `quoteArgv`,
 * the one place an argv becomes a remote command line (`remoteCommandLine`; the remote login shell must be a POSIX
 * shell: sh, bash, dash, ash, zsh). Connection failures reject with `HostUnreachableError`; a command's exit code,
 * whatever it is, resolves, and a timed-out or aborted command is killed on the host (124 / 130).
 */
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type { ClientChannel } from 'ssh2';
import { HostUnreachableError } from '../../domain/errors.js';
import type { Log } from '../../domain/log.js';
import type { ExecOptions, ExecResult, HostShell } from '../../domain/ports.js';
import { EXIT_ABORTED, EXIT_TIMED_OUT } from '../host/local.js';
import type { ExecChannel, SshConnection } from './connection.js';
import {
  aborted,
  EXIT_SIGNALLED,
  KILL_WAIT_MS,
  PidReport,
  remoteCommandLine,
  sendSignal,
} from './remote-command.js';

/** A command running on a remote host, its streams handed to the caller. */
export interface RemoteProcess {
  label: string;
  stdin: Writable;
  stdout: Readable;
  stderr: Readable;
  /** The command's exit status, or `dropped` when the channel closed without one (the connection went). */
  exited: Promise<{ code: number | null; signal: string | null; dropped: boolean }>;
  kill(): Promise<void>;
}

export class SshShell implements HostShell {
  readonly isLocal = false;

  constructor(
    private readonly connection: SshConnection,
    private readonly log: Log,
  ) {}

  get label(): string {
    return this.connection.label;
  }

  /**
   * Starts a command and hands over its streams, for a caller that carries a protocol through it (the rsync relay
   * between two remote sites). stderr comes without the PID report; `kill()` kills the command and its children.
   */
  async spawn(argv: readonly string[]): Promise<RemoteProcess> {
    const name = argv[0] ?? '';
    const open = await this.connection.exec(remoteCommandLine(argv), name);
    const { channel } = open;
    const pid = new PidReport();
    const stderr = new PassThrough();
    let head = '';
    let passing = false;
    channel.stderr.on('data', (chunk: Buffer) => {
      if (passing) {
        stderr.write(chunk);
        return;
      }
      // The report is the first line; what the login shell's rc files print may come before it.
      head += chunk.toString('latin1');
      pid.scan(head);
      if (pid.value !== null || head.length > 65_536) {
        passing = true;
        stderr.write(Buffer.from(pid.strip(head), 'latin1'));
      }
    });
    channel.stderr.on('end', () => {
      if (!passing) stderr.write(Buffer.from(pid.strip(head), 'latin1'));
      stderr.end();
    });
    // The exit status is final even while a child of the command still holds the channel's streams open.
    const exited = new Promise<{ code: number | null; signal: string | null; dropped: boolean }>(
      (resolve) => {
        void open.exited.then(({ code, signal }) => resolve({ code, signal, dropped: false }));
        channel.on('close', () => {
          pid.end();
          if (open.exit === null) resolve({ code: null, signal: null, dropped: true });
        });
      },
    );
    channel.on('error', () => undefined);
    return {
      label: this.label,
      stdin: channel,
      stdout: channel,
      stderr,
      exited,
      kill: () => this.killRemote(channel, pid),
    };
  }

  async exec(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    const name = argv[0] ?? '';
    if (options.signal?.aborted) return aborted(name, this.label, '', '');
    const stdin = options.input !== undefined;
    const channel = await this.connection.exec(remoteCommandLine(argv, { stdin }), name);
    return this.run(channel, name, options);
  }

  private run(open: ExecChannel, name: string, options: ExecOptions): Promise<ExecResult> {
    const { channel } = open;
    const label = this.label;
    return new Promise<ExecResult>((resolve, reject) => {
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      const pid = new PidReport();
      const text = () => ({
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: pid.strip(Buffer.concat(err).toString('utf8')),
      });
      const onStdout = options.onStdout;
      const decoder = onStdout ? new StringDecoder('utf8') : null;
      let settled = false;
      let stopping = false;
      let timer: NodeJS.Timeout | undefined;

      const settle = (outcome: ExecResult | HostUnreachableError) => {
        if (settled) return;
        settled = true;
        if (timer) clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        if (outcome instanceof HostUnreachableError) reject(outcome);
        else resolve(outcome);
      };
      /** Kills the remote command and its children, then settles with `exitCode` and a note. */
      const stop = (exitCode: number, note: string) => {
        if (settled || stopping) return;
        stopping = true;
        void this.killRemote(channel, pid).finally(() => {
          try {
            channel.close();
          } catch {
            // already closed
          }
          const { stdout, stderr } = text();
          settle({ exitCode, stdout, stderr: `${stderr}[jellyfin-failover] ${name} on ${label} ${note}\n` });
        });
      };
      const onAbort = () => stop(EXIT_ABORTED, 'was aborted');

      channel.on('data', (chunk: Buffer) => {
        out.push(chunk);
        if (decoder && onStdout) {
          const piece = decoder.write(chunk);
          if (piece !== '') onStdout(piece);
        }
      });
      channel.stderr.on('data', (chunk: Buffer) => {
        err.push(chunk);
        // The report comes first, after whatever the login shell's rc files print; stop looking after 64 KiB.
        if (pid.value === null && err.length < 256)
          pid.scan(Buffer.concat(err).toString('latin1').slice(0, 65_536));
      });
      channel.on('error', () => {
        // reported through 'close' without an exit status
      });
      channel.on('close', () => {
        pid.end();
        if (stopping) return;
        const done = () => {
          if (decoder && onStdout) {
            const rest = decoder.end();
            if (rest !== '') onStdout(rest);
          }
          const { stdout, stderr } = text();
          const exit = open.exit;
          if (exit === null) {
            settle(
              new HostUnreachableError(
                label,
                'dropped',
                `the SSH connection dropped while ${name} was running (it may or may not have finished, and may still be running there)`,
                'Check the host and the network, then retry',
              ),
            );
          } else if (exit.code !== null) {
            settle({ exitCode: exit.code, stdout, stderr });
          } else {
            const why = exit.description ? `: ${exit.description}` : '';
            settle({
              exitCode: EXIT_SIGNALLED,
              stdout,
              stderr: `${stderr}[jellyfin-failover] ${name} on ${label} was killed by ${exit.signal}${why}\n`,
            });
          }
        };
        // All of stderr first (ssh2 delivers the exit status before the close: ExecChannel holds it).
        if (channel.stderr.readableEnded || channel.stderr.destroyed) done();
        else channel.stderr.once('end', done);
      });

      if (options.timeoutMs !== undefined) {
        const ms = options.timeoutMs;
        timer = setTimeout(() => stop(EXIT_TIMED_OUT, `timed out after ${ms} ms and was stopped`), ms);
      }
      if (options.signal?.aborted) onAbort();
      else options.signal?.addEventListener('abort', onAbort, { once: true });
      // Without input the command reads /dev/null (remoteCommandLine) and the channel gets no EOF.
      if (options.input !== undefined) channel.end(options.input);
    });
  }

  /**
   * Stops a remote command. Closing its channel is not enough (sshd only detaches from it), and sshd refuses
   * `signal` requests in root sessions, so the command's process group is killed with a second command, using the
   * PID the command line reported. The signal request is sent as well, for servers that honour it.
   */
  private async killRemote(channel: ClientChannel, report: PidReport): Promise<void> {
    sendSignal(channel, 'KILL');
    // Stopped before the command started (the login shell still reading its rc files): wait for it to start.
    const pid = await report.wait(KILL_WAIT_MS);
    if (pid === null) return;
    const group = String(pid);
    try {
      const { channel: killer } = await this.connection.exec(
        `kill -s KILL -- -${group} 2>/dev/null || kill -s KILL ${group} 2>/dev/null; exit 0`,
        'kill',
      );
      killer.on('data', () => undefined);
      killer.stderr.on('data', () => undefined);
      killer.end();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, KILL_WAIT_MS);
        killer.on('close', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    } catch (err) {
      this.log.warn(
        { host: this.label, pid, err: (err as Error)?.message },
        'could not kill a timed-out or aborted remote command',
      );
    }
  }
}

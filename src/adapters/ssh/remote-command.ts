/**
 * How a command runs on a remote POSIX shell: the command line that reports its PID (so a timed-out or aborted
 * command can be killed with its children) and execs the quoted argv, the parsing of that report, and the SSH
 * `signal` request.
 */
import type { ClientChannel } from 'ssh2';
import type { ExecResult } from '../../domain/ports.js';
import { EXIT_ABORTED } from '../host/local.js';
import { quoteArgv } from '../host/quote.js';

/** The exit code OpenSSH's client reports when the remote command died from a signal or the link failed. */
export const EXIT_SIGNALLED = 255;

export function aborted(name: string, label: string, stdout: string, stderr: string): ExecResult {
  return {
    exitCode: EXIT_ABORTED,
    stdout,
    stderr: `${stderr}[jellyfin-failover] ${name} on ${label} was aborted\n`,
  };
}

/** Marks the line in which the remote shell reports the command's PID on stderr (removed from the result). */
const PID_MARK = 'jellyfin-failover-pid:';
export const KILL_WAIT_MS = 5_000;

/**
 * The command line sent to the remote login shell: report the shell's PID on stderr, then `exec` the quoted argv
 * in place of the shell, so that PID is the command's (and, sshd having called setsid, its process group's).
 * `stdin: false`: the command reads /dev/null, as a local one gets no stdin, and the channel's input is never ended.
 */
export function remoteCommandLine(argv: readonly string[], options: { stdin?: boolean } = {}): string {
  return `echo ${PID_MARK}$$ >&2; exec ${quoteArgv(argv)}${options.stdin === false ? ' </dev/null' : ''}`;
}

/** Picks the PID report out of the remote stderr, and removes it from what the caller sees. */
export class PidReport {
  value: number | null = null;
  private static readonly pattern = new RegExp(`${PID_MARK}(\\d+)\\n`);
  private waiters: Array<(pid: number | null) => void> = [];

  scan(stderr: string): void {
    const match = PidReport.pattern.exec(stderr);
    if (!match?.[1]) return;
    this.value = Number(match[1]);
    for (const wake of this.waiters.splice(0)) wake(this.value);
  }

  /** The PID, once the remote shell has reported it (after its rc files ran), or null after `ms`. */
  wait(ms: number): Promise<number | null> {
    if (this.value !== null) return Promise.resolve(this.value);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(this.value), ms);
      this.waiters.push((pid) => {
        clearTimeout(timer);
        resolve(pid);
      });
    });
  }

  /** No report will come (the channel closed). */
  end(): void {
    for (const wake of this.waiters.splice(0)) wake(this.value);
  }

  strip(stderr: string): string {
    return stderr.replace(PidReport.pattern, '');
  }
}

interface ChannelInternals {
  outgoing?: { id?: number; state?: string };
  _client?: { _protocol?: { signal?: (id: number, signal: string) => void } };
}

/**
 * Sends an SSH `signal` request for the remote command. ssh2's `channel.signal()` sends nothing once stdin has been
 * closed (it checks `writable`), and stdin is always closed here, so the request goes through ssh2's protocol object
 * while the channel is open. OpenSSH honours it only in privilege-separated (non-root) sessions.
 */
export function sendSignal(channel: ClientChannel, name: string): void {
  const internals = channel as unknown as ChannelInternals;
  const id = internals.outgoing?.id;
  const protocol = internals._client?._protocol;
  try {
    if (channel.writable) channel.signal(name);
    else if (
      typeof id === 'number' &&
      (internals.outgoing?.state === 'open' || internals.outgoing?.state === 'eof') &&
      protocol?.signal
    ) {
      protocol.signal(id, name);
    }
  } catch {
    // the connection is going away; nothing left to signal
  }
}

/**
 * One SSH connection per remote host, shared by everything that talks to that host: the shell's commands
 * (shell.ts) and the Docker Engine API carried over `docker system dial-stdio` (adapters/docker/dial-stdio.ts).
 * It connects on first use, is replaced when it drops, and opens at most MAX_CHANNELS channels at once (OpenSSH's
 * MaxSessions defaults to 10); further requests wait for a free one.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import ssh2, { type ClientChannel } from 'ssh2';
import { HostUnreachableError } from '../../domain/errors.js';
import type { Log } from '../../domain/log.js';
import { type PinnedSshSettings, prepareSshConnection, sshConnectionError, sshLabel } from './settings.js';

const { Client } = ssh2;
export type SshClient = InstanceType<typeof Client>;

/** Channels open at once on one connection; OpenSSH refuses the 11th session by default. */
export const MAX_CHANNELS = 8;
/** A channel the host refuses beside running ones is retried this often, after 250, 500 and 750 ms. */
const REFUSED_RETRIES = 3;
const REFUSED_RETRY_MS = 250;

/** How an exec channel's command ended, as ssh2 reports it: a code, or the signal that killed it. */
export interface ChannelExit {
  code: number | null;
  signal: string | null;
  description: string;
}

/**
 * An exec channel and its command's exit status, listened for from the moment ssh2 hands the channel over. ssh2
 * may deliver the channel, the command's output, its exit status and the channel's close in one read from the
 * socket (a quick command on a busy host): the status event then fires before a caller that got the channel
 * through a promise has listened, and the command looked "dropped" although it had finished. Output is buffered
 * by the stream until read; the status is kept here.
 */
export class ExecChannel {
  exit: ChannelExit | null = null;
  readonly exited: Promise<ChannelExit>;

  constructor(readonly channel: ClientChannel) {
    this.exited = new Promise((resolve) => {
      channel.once('exit', (code: number | null, signal?: string, _dump?: boolean, description?: string) => {
        this.exit = {
          code: typeof code === 'number' ? code : null,
          signal: typeof code === 'number' ? null : (signal ?? 'unknown signal'),
          description: description ?? '',
        };
        resolve(this.exit);
      });
    });
  }
}

export class SshConnection {
  private client: SshClient | null = null;
  private pending: Promise<SshClient> | null = null;
  private readonly open = new Set<SshClient>();
  private channels = 0;
  private readonly waiting: Array<() => void> = [];
  private closed = false;

  constructor(
    readonly settings: PinnedSshSettings,
    private readonly log: Log,
  ) {}

  get label(): string {
    return sshLabel(this.settings.target);
  }

  /**
   * Runs `command` in a new exec channel. A kept connection that went stale between uses is replaced once (the
   * command never started, so that is safe); a channel refused beside running ones is retried on the same
   * connection. The channel counts against MAX_CHANNELS until it closes.
   */
  async exec(command: string, what: string): Promise<ExecChannel> {
    await this.slot();
    let counted = true;
    const free = () => {
      if (!counted) return;
      counted = false;
      this.channels -= 1;
      this.waiting.shift()?.();
    };
    try {
      const reused = this.client !== null;
      const client = await this.connect();
      let channel: ExecChannel;
      try {
        channel = await openExecChannel(client, command);
      } catch (err) {
        if (!reused) throw this.channelError(err, what);
        channel =
          this.channels > 1
            ? await this.openBeside(command, what, err)
            : await this.reopen(client, command, what, err);
      }
      channel.channel.once('close', free);
      return channel;
    } catch (err) {
      free();
      throw err;
    }
  }

  /** The connection went stale while unused: replace it once. */
  private async reopen(stale: SshClient, command: string, what: string, err: unknown): Promise<ExecChannel> {
    this.log.debug({ host: this.label, err }, 'SSH connection went stale, reconnecting');
    this.discard(stale);
    try {
      return await openExecChannel(await this.connect(), command);
    } catch (retryErr) {
      throw this.channelError(retryErr, what);
    }
  }

  /**
   * A channel refused while others run on the connection: the host is up and at its session limit (MaxSessions
   * counts sessions still closing) or briefly out of processes. Ending the connection would drop the others'
   * commands mid-run; wait for one of them to end instead, a few times, then give up.
   */
  private async openBeside(command: string, what: string, first: unknown): Promise<ExecChannel> {
    let last = first;
    for (let attempt = 1; attempt <= REFUSED_RETRIES; attempt++) {
      this.log.debug(
        { host: this.label, err: last, attempt },
        'SSH channel refused, waiting for a free session',
      );
      await sleep(REFUSED_RETRY_MS * attempt);
      try {
        return await openExecChannel(await this.connect(), command);
      } catch (err) {
        last = err;
      }
    }
    throw this.channelError(last, what);
  }

  /** Ends the connection; later use opens a new one (unless closed for good by `close`). */
  async close(): Promise<void> {
    this.closed = true;
    const pending = this.pending;
    if (pending !== null) await pending.catch(() => undefined);
    const clients = [...this.open];
    this.client = null;
    await Promise.all(
      clients.map(
        (client) =>
          new Promise<void>((resolve) => {
            if (!this.open.has(client)) return resolve();
            client.once('close', () => resolve());
            client.end();
          }),
      ),
    );
  }

  private slot(): Promise<void> {
    if (this.channels < MAX_CHANNELS) {
      this.channels += 1;
      return Promise.resolve();
    }
    return new Promise((resolve) =>
      this.waiting.push(() => {
        this.channels += 1;
        resolve();
      }),
    );
  }

  private connect(): Promise<SshClient> {
    if (this.closed) {
      return Promise.reject(
        new HostUnreachableError(
          this.label,
          'dropped',
          'the connection was closed',
          'This is a bug: please report it',
        ),
      );
    }
    if (this.client) return Promise.resolve(this.client);
    if (this.pending !== null) return this.pending;
    const attempt = this.openConnection().finally(() => {
      if (this.pending === attempt) this.pending = null;
    });
    this.pending = attempt;
    return attempt;
  }

  private async openConnection(): Promise<SshClient> {
    const prepared = await prepareSshConnection(this.settings);
    const client = new Client();
    return new Promise<SshClient>((resolve, reject) => {
      let ready = false;
      client.on('ready', () => {
        ready = true;
        this.client = client;
        this.log.debug({ host: this.label }, 'SSH connected');
        resolve(client);
      });
      client.on('error', (err) => {
        if (!ready) reject(sshConnectionError(this.settings, err, prepared.refusal()));
        else this.log.warn({ host: this.label, err: err.message }, 'SSH connection error');
      });
      client.on('close', () => {
        this.open.delete(client);
        if (this.client === client) this.client = null;
        if (ready) this.log.debug({ host: this.label }, 'SSH connection closed');
        else
          reject(
            sshConnectionError(
              this.settings,
              new Error('the connection closed before the SSH handshake finished'),
              prepared.refusal(),
            ),
          );
      });
      this.open.add(client);
      try {
        client.connect(prepared.config);
      } catch (err) {
        this.open.delete(client);
        reject(sshConnectionError(this.settings, err, null));
      }
    });
  }

  private discard(client: SshClient): void {
    if (this.client === client) this.client = null;
    client.end();
  }

  private channelError(err: unknown, what: string): HostUnreachableError {
    if (err instanceof HostUnreachableError) return err;
    return new HostUnreachableError(
      this.label,
      'dropped',
      `could not start ${what}: ${(err as Error)?.message ?? String(err)}`,
      'Check the host and its sshd (MaxSessions), then retry',
      { cause: err },
    );
  }
}

/** Opens the channel; its exit status is listened for in ssh2's callback, synchronously (see ExecChannel). */
export function openExecChannel(client: Pick<SshClient, 'exec'>, command: string): Promise<ExecChannel> {
  return new Promise<ExecChannel>((resolve, reject) => {
    try {
      client.exec(command, (err, channel) => (err ? reject(err) : resolve(new ExecChannel(channel))));
    } catch (err) {
      reject(err);
    }
  });
}

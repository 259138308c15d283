/**
 * The Docker Engine API over SSH, exactly as `docker -H ssh://...` carries it: each HTTP connection is an exec
 * channel running `docker system dial-stdio` on the host, on the site's one SSH connection (ssh/connection.ts).
 * The remote host needs the docker CLI, and the SSH user access to the Docker socket. A channel is kept for the
 * next request (HTTP keep-alive) and closed after IDLE_CLOSE_MS without one.
 */
import { Agent, type ClientRequestArgs } from 'node:http';
import { Duplex } from 'node:stream';
import type { ClientChannel } from 'ssh2';
import { HostUnreachableError } from '../../domain/errors.js';
import type { SshConnection } from '../ssh/connection.js';

/** A Docker-over-SSH channel unused this long is closed. */
const IDLE_CLOSE_MS = 30_000;
/** What Docker's CLI runs on the remote host to carry the Engine API over an SSH session. */
const DIAL_STDIO = 'docker system dial-stdio';

export class DockerOverSshAgent extends Agent {
  constructor(
    private readonly connection: SshConnection,
    private readonly variable: string,
  ) {
    // Few sockets: each is an SSH session of the shared connection (MaxSessions).
    super({ keepAlive: true, timeout: IDLE_CLOSE_MS, maxSockets: 4, maxFreeSockets: 1 });
  }

  /**
   * docker-modem formats every request's options with util.inspect (showHidden, depth: null) for its debug log,
   * even with the log off: without this, that walks the agent, its SSH connection and sockets on every request
   * (most of the idle service's CPU).
   */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `DockerOverSshAgent(${this.connection.label})`;
  }

  override createConnection(
    _options: ClientRequestArgs,
    callback?: (err: Error | null, stream: Duplex) => void,
  ): Duplex | null | undefined {
    this.connection.exec(DIAL_STDIO, `\`${DIAL_STDIO}\``).then(
      ({ channel }) => callback?.(null, new DialStdioSocket(channel, this.connection.label, this.variable)),
      (err: Error) => callback?.(err, undefined as unknown as Duplex),
    );
    return undefined;
  }
}

/**
 * One `docker system dial-stdio` session, shaped as the net.Socket the HTTP client and agent expect (idle timeout,
 * ref/unref). A failed dial-stdio (no docker CLI, no access to the socket) becomes an error naming the host and
 * the remote message instead of "socket hang up"; a channel closed without an exit status (the connection
 * dropped) an error saying so, so a kept socket never takes the next request and hangs.
 */
class DialStdioSocket extends Duplex {
  timeout = 0;
  private stderr = '';
  private received = false;
  private exitCode: number | null = null;
  private exited = false;
  private idleTimer: NodeJS.Timeout | undefined;
  private timeoutCallback: (() => void) | undefined;

  constructor(
    private readonly channel: ClientChannel,
    label: string,
    variable: string,
  ) {
    super();
    // The HTTP client may already have let go of this socket when a late error arrives.
    this.on('error', () => undefined);
    channel.on('data', (chunk: Buffer) => {
      this.received = true;
      this.touch();
      if (!this.push(chunk)) channel.pause();
    });
    channel.stderr.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString('utf8')).slice(-2_000);
    });
    channel.on('exit', (code: number | null) => {
      this.exited = true;
      this.exitCode = code;
    });
    channel.on('close', () => {
      this.clearIdle();
      if (this.destroyed) return;
      if (!this.exited) {
        this.destroy(
          new HostUnreachableError(
            label,
            'dropped',
            'the SSH connection carrying the Docker API dropped',
            'Check the host and its sshd, then retry',
          ),
        );
        return;
      }
      if (this.received || this.exitCode === 0) {
        this.push(null);
        return;
      }
      const why = this.stderr.trim() || `exit code ${this.exitCode ?? 'none'}`;
      this.destroy(
        new HostUnreachableError(
          label,
          'refused',
          `\`${DIAL_STDIO}\` failed on the host: ${why}`,
          `${variable}=ssh needs the docker CLI on the host and an SSH user that may use its Docker socket; otherwise expose the engine and use tcp://host:port`,
        ),
      );
    });
  }

  override _read(): void {
    this.channel.resume();
  }

  override _write(chunk: Buffer, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.touch();
    if (this.channel.write(chunk, encoding)) callback();
    else this.channel.once('drain', () => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.channel.end();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.clearIdle();
    try {
      this.channel.close();
    } catch {
      // already closed
    }
    callback(error);
  }

  /** As net.Socket: emit 'timeout' after `ms` without traffic (0 disables). The agent closes idle sockets so. */
  setTimeout(ms: number, callback?: () => void): this {
    this.timeout = ms;
    // A kept socket serves many requests, each setting its own timeout callback: keep only the latest.
    if (this.timeoutCallback) this.removeListener('timeout', this.timeoutCallback);
    this.timeoutCallback = callback;
    if (callback) this.once('timeout', callback);
    this.touch();
    return this;
  }

  /** The shared SSH connection, not this channel, decides whether the process stays alive. */
  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }

  setNoDelay(): this {
    return this;
  }

  setKeepAlive(): this {
    return this;
  }

  private touch(): void {
    this.clearIdle();
    if (this.timeout > 0) {
      this.idleTimer = setTimeout(() => this.emit('timeout'), this.timeout);
      this.idleTimer.unref();
    }
  }

  private clearIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }
}

import { Agent, type ClientRequestArgs } from 'node:http';
import { Socket } from 'node:net';
import { Duplex, Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import Dockerode from 'dockerode';
import ssh2, { type ClientChannel } from 'ssh2';
import type { Config, SiteConfig } from '../../config/load.js';
import type { ContainerControl, ContainerInfo, ContainerStatus, ExecResult } from '../../domain/ports.js';
import { CommandError, HostUnreachableError } from '../../errors.js';
import { type PinnedSshSettings, prepareSshConnection, sshConnectionError, sshLabel } from '../host/ssh.js';

const { Client } = ssh2;
type SshClient = InstanceType<typeof Client>;

/** How long `stop()` waits, after Docker answered, for the container to be seen as not running. */
const STOP_SETTLE_MS = 15_000;
/** Longest wait for one Docker API answer (beyond a stop's grace period). */
const API_TIMEOUT_MS = 60_000;
const POLL_MS = 200;
/** A Docker-over-SSH connection unused this long is closed. */
const IDLE_CLOSE_MS = 30_000;
const TCP_KEEPALIVE_MS = 15_000;
/** What Docker's CLI runs on the remote host to carry the Engine API over an SSH session. */
const DIAL_STDIO = 'docker system dial-stdio';

/**
 * A Docker client for a site's `*_DOCKER` endpoint: a Unix socket, plain TCP, or the engine of the site's SSH host
 * reached through SSH with the same key and pinned host key as its shell (SPEC 4 rule 9). Nothing connects here.
 */
export function createDocker(site: SiteConfig, ssh: Config['ssh']): Dockerode {
  // Every connection field is given explicitly, so DOCKER_HOST / DOCKER_CERT_PATH in the environment cannot
  // redirect a site's Docker client somewhere else.
  const neutral = { host: undefined, port: undefined, ca: undefined, cert: undefined, key: undefined };
  const endpoint = site.docker;
  switch (endpoint.kind) {
    case 'socket':
      return new Dockerode({ ...neutral, socketPath: endpoint.path, protocol: 'http' });
    case 'tcp':
      return new Dockerode({ ...neutral, host: endpoint.host, port: endpoint.port, protocol: 'http' });
    case 'ssh': {
      const variable = `${site.name.toUpperCase()}_DOCKER`;
      if (site.ssh === null || !ssh.keyFile || !ssh.knownHostsFile) {
        throw new Error(
          `${variable}=ssh needs ${site.name.toUpperCase()}_SSH, SSH_KEY_FILE and SSH_KNOWN_HOSTS_FILE`,
        );
      }
      const agent = new DockerOverSshAgent(
        { target: site.ssh, keyFile: ssh.keyFile, knownHostsFile: ssh.knownHostsFile },
        variable,
      );
      // Not docker-modem's own `protocol: 'ssh'`: it merges SSH_AUTH_SOCK (when DOCKER_HOST is ssh://) over the
      // sshOptions given here, logs in once per request, and turns a failed dial-stdio or a refused host key into
      // "socket hang up". The same transport (dial-stdio) is done here with an http.Agent; the host name below only
      // fills the Host header.
      const options: Dockerode.DockerOptions & { agent: Agent } = {
        ...neutral,
        host: 'localhost',
        port: 80,
        protocol: 'http',
        agent,
      };
      return new Dockerode(options);
    }
  }
}

/**
 * An http.Agent whose connections are SSH sessions running `docker system dial-stdio` on the host, exactly what
 * `docker -H ssh://...` does. The remote host needs the docker CLI, and the SSH user access to the Docker socket.
 * A connection is kept for the next request (HTTP keep-alive) and closed after `IDLE_CLOSE_MS` without one, so a
 * poll every few seconds costs one SSH login, not one per request, and an idle process is not held open.
 */
export class DockerOverSshAgent extends Agent {
  constructor(
    private readonly settings: PinnedSshSettings,
    private readonly variable: string,
  ) {
    super({ keepAlive: true, timeout: IDLE_CLOSE_MS, maxFreeSockets: 2 });
  }

  override createConnection(
    _options: ClientRequestArgs,
    callback?: (err: Error | null, stream: Duplex) => void,
  ): Duplex | null | undefined {
    this.dial().then(
      (stream) => callback?.(null, stream),
      (err: Error) => callback?.(err, undefined as unknown as Duplex),
    );
    return undefined;
  }

  private async dial(): Promise<Duplex> {
    const prepared = await prepareSshConnection(this.settings);
    // No SSH keepalive timer: it would hold the process open while the connection idles in the agent's pool.
    // A dead peer under a long request (the event stream) is found by TCP keepalive instead.
    const config = { ...prepared.config, keepaliveInterval: 0 };
    const client = new Client();
    await new Promise<void>((resolve, reject) => {
      let ready = false;
      client.on('ready', () => {
        ready = true;
        tcpSocketOf(client)?.setKeepAlive(true, TCP_KEEPALIVE_MS);
        resolve();
      });
      client.on('error', (err) => {
        if (!ready) reject(sshConnectionError(this.settings, err, prepared.refusal()));
      });
      client.on('close', () => {
        if (!ready) {
          reject(
            sshConnectionError(
              this.settings,
              new Error('the connection closed before the SSH handshake finished'),
              prepared.refusal(),
            ),
          );
        }
      });
      try {
        client.connect(config);
      } catch (err) {
        reject(sshConnectionError(this.settings, err, null));
      }
    });
    const channel = await new Promise<ClientChannel>((resolve, reject) => {
      client.exec(DIAL_STDIO, (err, ch) => {
        if (err) {
          client.end();
          reject(
            new HostUnreachableError(
              sshLabel(this.settings.target),
              'refused',
              `could not start \`${DIAL_STDIO}\`: ${err.message}`,
              'Check the host and its sshd, then retry',
              { cause: err },
            ),
          );
        } else resolve(ch);
      });
    });
    return new DialStdioSocket(channel, client, sshLabel(this.settings.target), this.variable);
  }
}

/** ssh2 keeps its TCP socket in `_sock`; used only to ref/unref it and to enable TCP keepalive. */
function tcpSocketOf(client: SshClient): Socket | undefined {
  const sock = (client as unknown as { _sock?: unknown })._sock;
  return sock instanceof Socket ? sock : undefined;
}

/**
 * The SSH session of `docker system dial-stdio`, shaped as the net.Socket the HTTP client and agent expect
 * (idle timeout, ref/unref). It ends only once the session has closed, so a failed dial-stdio (no docker CLI, no
 * access to the socket) becomes an error naming the host and the remote message instead of "socket hang up".
 */
class DialStdioSocket extends Duplex {
  timeout = 0;
  private stderr = '';
  private received = false;
  private exitCode: number | null = null;
  private idleTimer: NodeJS.Timeout | undefined;
  private timeoutCallback: (() => void) | undefined;

  constructor(
    private readonly channel: ClientChannel,
    private readonly client: SshClient,
    label: string,
    variable: string,
  ) {
    super();
    // The HTTP client may already have let go of this socket when a late error arrives.
    this.on('error', () => undefined);
    client.on('error', () => undefined);
    // The SSH connection is gone (sshd killed, link lost): a kept socket must not take the next request and hang.
    client.on('close', () => {
      if (this.destroyed) return;
      this.destroy(
        new HostUnreachableError(
          label,
          'dropped',
          'the SSH connection carrying the Docker API dropped',
          'Check the host and its sshd, then retry',
        ),
      );
    });
    channel.on('data', (chunk: Buffer) => {
      this.received = true;
      this.touch();
      if (!this.push(chunk)) channel.pause();
    });
    channel.stderr.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString('utf8')).slice(-2_000);
    });
    channel.on('exit', (code: number | null) => {
      this.exitCode = code;
    });
    channel.on('close', () => {
      this.clearIdle();
      client.end();
      if (this.received || this.exitCode === 0) {
        this.push(null);
        return;
      }
      const why = this.stderr.trim() || `exit code ${this.exitCode ?? 'none (connection lost)'}`;
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
    this.client.end();
    callback(error);
  }

  /** As net.Socket: emit 'timeout' after `ms` without traffic (0 disables). The agent closes idle sockets so. */
  setTimeout(ms: number, callback?: () => void): this {
    this.timeout = ms;
    // A kept socket serves many requests, each setting its own timeout callback: keep only the latest, or
    // the listeners pile up (MaxListenersExceededWarning).
    if (this.timeoutCallback) this.removeListener('timeout', this.timeoutCallback);
    this.timeoutCallback = callback;
    if (callback) this.once('timeout', callback);
    this.touch();
    return this;
  }

  ref(): this {
    tcpSocketOf(this.client)?.ref();
    return this;
  }

  unref(): this {
    tcpSocketOf(this.client)?.unref();
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

// ---------------------------------------------------------------------------------------------------------------

interface DockerApiError {
  statusCode?: number;
  message?: string;
}

function statusOf(err: unknown): number | undefined {
  return typeof err === 'object' && err !== null ? (err as DockerApiError).statusCode : undefined;
}

const VERSION_LABELS = ['org.opencontainers.image.version', 'build_version'] as const;

/**
 * The Jellyfin version an image declares: `org.opencontainers.image.version` (official image: `10.11.3`;
 * linuxserver: `10.11.3ubu2404-ls87`), linuxserver's `build_version` (`Linuxserver.io version:- 10.11.3ubu2404-ls87
 * Build-date:- ...`), or a version tag in the image reference (`jellyfin/jellyfin:10.11.3`).
 */
export function imageVersionOf(
  labels: Record<string, string> | null | undefined,
  image: string,
): string | null {
  for (const name of VERSION_LABELS) {
    const match = /(\d+\.\d+\.\d+)/.exec(labels?.[name] ?? '');
    if (match?.[1]) return match[1];
  }
  const tag = /:([^:/]+)$/.exec(image)?.[1] ?? '';
  return /^v?(\d+\.\d+\.\d+)/.exec(tag)?.[1] ?? null;
}

function statusFromState(state: string | undefined): ContainerStatus {
  switch (state) {
    case 'running':
      return 'running';
    case 'exited':
    case 'created':
    case 'dead':
      return 'exited';
    default:
      // paused, restarting, removing: neither serving nor safely stopped
      return 'unknown';
  }
}

/** One container on one Docker endpoint, by name. */
export class DockerContainer implements ContainerControl {
  constructor(
    private readonly docker: Dockerode,
    readonly name: string,
  ) {}

  async inspect(): Promise<ContainerInfo> {
    let info: Dockerode.ContainerInspectInfo;
    try {
      info = await this.deadline(this.docker.getContainer(this.name).inspect(), API_TIMEOUT_MS, 'inspect');
    } catch (err) {
      if (statusOf(err) === 404)
        return { status: 'missing', restartPolicy: 'no', imageVersion: null, image: '' };
      throw err;
    }
    const image = info.Config?.Image ?? info.Image ?? '';
    return {
      status: statusFromState(info.State?.Status),
      restartPolicy: info.HostConfig?.RestartPolicy?.Name || 'no',
      imageVersion: imageVersionOf(info.Config?.Labels, image),
      image,
    };
  }

  async stop(graceS: number): Promise<void> {
    try {
      const t = Math.max(0, Math.round(graceS));
      await this.deadline(this.docker.getContainer(this.name).stop({ t }), t * 1000 + API_TIMEOUT_MS, 'stop');
    } catch (err) {
      if (statusOf(err) !== 304) throw this.apiError('stop', err);
    }
    const deadline = Date.now() + STOP_SETTLE_MS;
    for (;;) {
      const { status } = await this.inspect();
      if (status !== 'running') return;
      if (Date.now() > deadline) {
        throw new Error(
          `Container ${this.name} is still running ${STOP_SETTLE_MS / 1000} s after docker stop`,
        );
      }
      await sleep(POLL_MS);
    }
  }

  async start(): Promise<void> {
    try {
      await this.deadline(this.docker.getContainer(this.name).start(), API_TIMEOUT_MS, 'start');
    } catch (err) {
      if (statusOf(err) !== 304) throw this.apiError('start', err);
    }
  }

  async setRestartPolicy(name: string): Promise<void> {
    try {
      const update = this.docker
        .getContainer(this.name)
        .update({ RestartPolicy: { Name: name, MaximumRetryCount: 0 } });
      await this.deadline(update, API_TIMEOUT_MS, 'update');
    } catch (err) {
      throw this.apiError(`set the restart policy to ${name} on`, err);
    }
  }

  async exec(argv: readonly string[]): Promise<ExecResult> {
    const container = this.docker.getContainer(this.name);
    let exec: Dockerode.Exec;
    let stream: NodeJS.ReadableStream;
    try {
      exec = await container.exec({
        Cmd: [...argv],
        AttachStdout: true,
        AttachStderr: true,
        AttachStdin: false,
        Tty: false,
      });
      stream = await exec.start({ Detach: false, Tty: false });
    } catch (err) {
      const status = statusOf(err);
      if (status === 404 || status === 409) {
        throw new CommandError(
          `Cannot run ${argv[0]} in container ${this.name}: ${status === 404 ? 'no such container' : 'it is not running'}`,
          argv.join(' '),
          undefined,
          '',
          { cause: err },
        );
      }
      throw err;
    }
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    await new Promise<void>((resolve, reject) => {
      this.docker.modem.demuxStream(stream, collector(stdout), collector(stderr));
      stream.on('end', () => resolve());
      stream.on('close', () => resolve());
      stream.on('error', reject);
    });
    // The exit code can lag the end of the output by a moment.
    let exitCode: number | null = null;
    for (let i = 0; i < 50; i++) {
      const state = await exec.inspect();
      if (!state.Running && typeof state.ExitCode === 'number') {
        exitCode = state.ExitCode;
        break;
      }
      await sleep(100);
    }
    return {
      exitCode: exitCode ?? 255,
      stdout: Buffer.concat(stdout).toString('utf8'),
      stderr:
        Buffer.concat(stderr).toString('utf8') +
        (exitCode === null ? `[jellyfin-failover] no exit code from docker exec\n` : ''),
    };
  }

  /**
   * A Docker endpoint that goes silent (a peer that stops answering rather than closing the connection) must not
   * hang an operation or its rollback: the call fails after `ms`, naming the container, and the journal keeps
   * the undo for a later retry.
   */
  private async deadline<T>(call: Promise<T>, ms: number, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(
              `Docker did not answer ${what} for container ${this.name} within ${Math.round(ms / 1000)} s`,
            ),
          ),
        ms,
      );
    });
    try {
      return await Promise.race([call, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private apiError(action: string, err: unknown): Error {
    if (err instanceof HostUnreachableError) return err;
    const status = statusOf(err);
    if (status === 404)
      return new Error(`Cannot ${action} container ${this.name}: no such container`, { cause: err });
    const detail = err instanceof Error ? err.message : String(err);
    return new Error(`Cannot ${action} container ${this.name}: ${detail}`, { cause: err });
  }
}

function collector(chunks: Buffer[]): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk);
      callback();
    },
  });
}

// ---------------------------------------------------------------------------------------------------------------

export type ContainerEventAction = 'start' | 'stop' | 'die' | 'health_status' | 'destroy';

export interface ContainerEvent {
  /** Container name (without the leading slash). */
  container: string;
  action: ContainerEventAction;
  /** For `health_status`: healthy, unhealthy or starting. */
  health?: string;
  /** For `die`. */
  exitCode?: number;
  time: Date;
}

interface RawDockerEvent {
  Type?: string;
  Action?: string;
  Actor?: { Attributes?: Record<string, string> };
  time?: number;
  timeNano?: number;
}

function toContainerEvent(raw: RawDockerEvent, names: ReadonlySet<string>): ContainerEvent | null {
  if (raw.Type !== 'container' || typeof raw.Action !== 'string') return null;
  const container = raw.Actor?.Attributes?.name;
  if (!container || !names.has(container)) return null;
  const time = new Date(raw.timeNano ? raw.timeNano / 1e6 : (raw.time ?? 0) * 1000);
  const [verb, detail] = raw.Action.split(/:\s*/, 2);
  switch (verb) {
    case 'start':
    case 'stop':
    case 'destroy':
      return { container, action: verb, time };
    case 'die': {
      const exitCode = Number(raw.Actor?.Attributes?.exitCode);
      return { container, action: 'die', time, ...(Number.isFinite(exitCode) ? { exitCode } : {}) };
    }
    case 'health_status':
      return { container, action: 'health_status', time, ...(detail ? { health: detail.trim() } : {}) };
    default:
      return null;
  }
}

/**
 * Follows Docker's event stream for the named containers until `signal` aborts (resolves) or the stream breaks
 * (rejects: the caller decides when to subscribe again).
 */
export async function watchEvents(
  docker: Dockerode,
  names: readonly string[],
  onEvent: (event: ContainerEvent) => void,
  signal: AbortSignal,
): Promise<void> {
  if (signal.aborted) return;
  const wanted = new Set(names);
  const options = {
    filters: { type: ['container'], container: [...names] },
    abortSignal: signal,
  } as Dockerode.GetEventsOptions;
  let stream: NodeJS.ReadableStream;
  try {
    stream = await docker.getEvents(options);
  } catch (err) {
    if (signal.aborted) return;
    throw err;
  }
  await new Promise<void>((resolve, reject) => {
    let buffered = '';
    const onAbort = () => {
      (stream as unknown as Duplex).destroy?.();
      resolve();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    stream.on('data', (chunk: Buffer | string) => {
      buffered += chunk.toString();
      let newline = buffered.indexOf('\n');
      while (newline >= 0) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        newline = buffered.indexOf('\n');
        if (line === '') continue;
        let raw: RawDockerEvent;
        try {
          raw = JSON.parse(line) as RawDockerEvent;
        } catch {
          continue;
        }
        const event = toContainerEvent(raw, wanted);
        if (event) onEvent(event);
      }
    });
    const ended = (err?: unknown) => {
      signal.removeEventListener('abort', onAbort);
      if (signal.aborted) resolve();
      else reject(err instanceof Error ? err : new Error('The Docker event stream ended'));
    };
    stream.on('error', ended);
    stream.on('end', () => ended());
    stream.on('close', () => ended());
  });
}

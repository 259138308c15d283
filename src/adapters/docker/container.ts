/** One container on one Docker endpoint, by name: inspect, stop, start, restart policy, exec. */
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type Dockerode from 'dockerode';
import { withDeadline } from '../../domain/deadline.js';
import { HostUnreachableError } from '../../domain/errors.js';
import {
  type ContainerControl,
  type ContainerInfo,
  type ContainerStatus,
  type ExecResult,
  mayRun,
} from '../../domain/ports.js';
import { CommandError } from '../errors.js';

/** How long `stop()` waits, after Docker answered, for the container to be seen as not running. */
const STOP_SETTLE_MS = 15_000;
/** Longest wait for one Docker API answer (beyond a stop's grace period). */
const API_TIMEOUT_MS = 60_000;
const POLL_MS = 200;

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

/**
 * Who Jellyfin runs as: linuxserver images take PUID/PGID from the environment (default 911), the official image
 * runs as the container's user (`--user 1000:1000`), root when neither says.
 */
export function runsAsOf(
  env: readonly string[],
  user: string | undefined,
  image: string,
): ContainerInfo['runsAs'] {
  const vars = new Map(env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
  const puid = vars.get('PUID');
  const pgid = vars.get('PGID');
  if (puid !== undefined || pgid !== undefined || /linuxserver/.test(image)) {
    return { uid: puid ?? '911', gid: pgid ?? '911', from: 'PUID/PGID' };
  }
  if (user) {
    const [uid = '', gid = uid] = user.split(':');
    return { uid, gid, from: 'user' };
  }
  return { uid: '0', gid: '0', from: 'user' };
}

/** Container paths of the mounts that are not Jellyfin's own dirs: the media library as the database names it. */
export function mediaMountsOf(mounts: ReadonlyArray<{ Destination?: string }> | undefined): string[] {
  const own = /^\/(config|cache|transcodes?)(\/|$)/;
  return (mounts ?? [])
    .map((m) => (m.Destination ?? '').replace(/\/+$/, ''))
    .filter((d) => d !== '' && !own.test(d))
    .sort();
}

const MISSING: ContainerInfo = {
  status: 'missing',
  restartPolicy: 'no',
  imageVersion: null,
  image: '',
  startedAt: null,
  runsAs: null,
  mediaMounts: [],
};

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
      if (statusOf(err) === 404) return { ...MISSING };
      throw err;
    }
    const image = info.Config?.Image ?? info.Image ?? '';
    const started = info.State?.StartedAt;
    return {
      status: statusFromState(info.State?.Status),
      restartPolicy: info.HostConfig?.RestartPolicy?.Name || 'no',
      imageVersion: imageVersionOf(info.Config?.Labels, image),
      image,
      startedAt: started && !started.startsWith('0001-') ? started : null,
      runsAs: runsAsOf(info.Config?.Env ?? [], info.Config?.User, image),
      mediaMounts: mediaMountsOf(info.Mounts),
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
      if (!mayRun(status)) return;
      if (Date.now() > deadline) {
        throw new Error(
          `Container ${this.name} is still ${status} ${STOP_SETTLE_MS / 1000} s after docker stop`,
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
  private deadline<T>(call: Promise<T>, ms: number, what: string): Promise<T> {
    return withDeadline(call, ms, `Docker (${what} of container ${this.name})`);
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

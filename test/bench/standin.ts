import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type Docker from 'dockerode';
import type { Layout } from '../../src/domain/layout.js';

/**
 * Test helpers around the bench's stand-in containers: the Jellyfin stand-in (the databases, startup phases, idle
 * writes and user-data API of the Jellyfin version it claims; see images/jellyfin-standin/standin.mjs and
 * jellyfin-client.ts) and the SWAG stand-in (real nginx, linuxserver/swag layout under the bind-mounted /config).
 * Containers use host networking on loopback ports.
 */

export type RestartPolicy = 'no' | 'unless-stopped' | 'always';

export interface StandinOptions {
  name: string;
  image: string;
  /** Host dir bind-mounted as /config. */
  configDir: string;
  port: number;
  /** Loopback address to listen on (default 127.0.0.1). */
  bind?: string;
  /**
   * Jellyfin version the stand-in is (default 10.11.3): its databases (10.8-10.10: jellyfin.db + library.db;
   * 10.11 / 12.x: jellyfin.db), startup phases and /System/Info/Public. Generate the tree for the same version.
   */
  version?: string;
  /**
   * Value of the `org.opencontainers.image.version` container label (default: `version`). The real
   * linuxserver/jellyfin image labels e.g. `10.11.3ubu2404-ls85`, not a bare version.
   */
  versionLabel?: string;
  layout?: Layout;
  /** Total startup time until `/health` says Healthy (default 400 ms), split into the version's phases. */
  startupDelayMs?: number;
  /**
   * Users watching: one playback report (start, progress, stop) every this many ms, written as the server writes
   * them (default 0 = nobody watches). Changes watch state, like real users.
   */
  writeIntervalMs?: number;
  /**
   * What an idle server with connected clients writes, every this many ms: sessions and logins in ActivityLogs,
   * Users.LastActivityDate, Devices.DateLastActivity, now and then the optimise-database task (checkpoint +
   * VACUUM). Never watch state. Default here 0 = off (tests that compare a running site's database bytes or row
   * counts before and after would see these writes); the stand-in's own default is 2000 ms, as a real server with
   * clients connected writes all the time.
   */
  idleWriteMs?: number;
  /** Run as this uid/gid, like linuxserver's PUID/PGID (files the stand-in creates are owned by them). */
  puid?: number;
  pgid?: number;
  /** Server name reported by /System/Info/Public (default: system.xml's ServerName). */
  serverName?: string;
  restartPolicy?: RestartPolicy;
}

function isNotFound(err: unknown): boolean {
  return typeof err === 'object' && err !== null && 'statusCode' in err && err.statusCode === 404;
}

/** Removes a container by name, running or not; a missing container is fine. */
export async function removeContainer(docker: Docker, name: string): Promise<void> {
  try {
    await docker.getContainer(name).remove({ force: true, v: true });
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

/**
 * Creates and starts a Jellyfin stand-in container (host network, `configDir` as /config). A leftover
 * container with the same name, e.g. from an interrupted run, is removed first.
 */
export async function startStandin(docker: Docker, opts: StandinOptions): Promise<Docker.Container> {
  const version = opts.version ?? '10.11.3';
  const env = [
    `JF_PORT=${opts.port}`,
    `JF_BIND=${opts.bind ?? '127.0.0.1'}`,
    `JF_VERSION=${version}`,
    `JF_LAYOUT=${opts.layout ?? 'linuxserver'}`,
  ];
  if (opts.startupDelayMs !== undefined) env.push(`JF_STARTUP_DELAY_MS=${opts.startupDelayMs}`);
  if (opts.writeIntervalMs !== undefined) env.push(`JF_PLAYBACK_WRITE_MS=${opts.writeIntervalMs}`);
  env.push(`JF_IDLE_WRITE_MS=${opts.idleWriteMs ?? 0}`);
  if (opts.puid !== undefined) env.push(`PUID=${opts.puid}`);
  if (opts.pgid !== undefined) env.push(`PGID=${opts.pgid}`);
  if (opts.serverName !== undefined) env.push(`JF_SERVER_NAME=${opts.serverName}`);
  await removeContainer(docker, opts.name);
  const container = await docker.createContainer({
    name: opts.name,
    Image: opts.image,
    Env: env,
    Labels: { 'org.opencontainers.image.version': opts.versionLabel ?? version },
    HostConfig: {
      NetworkMode: 'host',
      Binds: [`${opts.configDir}:/config`],
      RestartPolicy: { Name: opts.restartPolicy ?? 'no' },
    },
  });
  await container.start();
  return container;
}

export interface SwagOptions {
  name: string;
  image: string;
  /** Host dir bind-mounted as /config; site confs go to `<configDir>/nginx/site-confs/*.conf`. */
  configDir: string;
  restartPolicy?: RestartPolicy;
}

/** Creates and starts the SWAG stand-in (nginx). Write the site conf before starting, or reload after. */
export async function startSwag(docker: Docker, opts: SwagOptions): Promise<Docker.Container> {
  await mkdir(join(opts.configDir, 'nginx', 'site-confs'), { recursive: true });
  await removeContainer(docker, opts.name);
  const container = await docker.createContainer({
    name: opts.name,
    Image: opts.image,
    HostConfig: {
      NetworkMode: 'host',
      Binds: [`${opts.configDir}:/config`],
      RestartPolicy: { Name: opts.restartPolicy ?? 'no' },
    },
  });
  await container.start();
  return container;
}

export interface SwagSiteOptions {
  /** Loopback address:port the site listens on, e.g. `127.0.0.1:18080`. */
  listen: string;
  /** Path inside the container of the upstream include, e.g. `/config/nginx/jellyfin-upstream.conf`. */
  upstreamInclude: string;
  /** Upstream name the include defines (default `jellyfin_failover`, as the service writes it). */
  upstreamName?: string;
}

/**
 * Writes `<configDir>/nginx/site-confs/jellyfin.conf`: a server that proxies everything to the upstream the
 * include defines and reports the backend that answered in `X-Jellyfin-Backend`.
 */
export async function writeSwagSite(configDir: string, opts: SwagSiteOptions): Promise<string> {
  const file = join(configDir, 'nginx', 'site-confs', 'jellyfin.conf');
  const upstream = opts.upstreamName ?? 'jellyfin_failover';
  const conf = `include ${opts.upstreamInclude};

server {
  listen ${opts.listen};
  server_name _;
  location / {
    proxy_pass http://${upstream};
    proxy_set_header Host $host;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_connect_timeout 2s;
    proxy_next_upstream error timeout http_502 http_503;
    add_header X-Jellyfin-Backend $upstream_addr always;
  }
}
`;
  await mkdir(join(configDir, 'nginx', 'site-confs'), { recursive: true });
  await writeFile(file, conf);
  return file;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs a command (argument array, no shell) in a running container, like `docker exec`. */
export async function execInContainer(container: Docker.Container, cmd: string[]): Promise<ExecResult> {
  const exec = await container.exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    container.modem.demuxStream(
      stream,
      { write: (chunk: Buffer) => stdout.push(chunk) },
      { write: (chunk: Buffer) => stderr.push(chunk) },
    );
    stream.on('end', () => resolve());
    stream.on('error', reject);
  });
  const info = await exec.inspect();
  return {
    exitCode: info.ExitCode ?? -1,
    stdout: Buffer.concat(stdout).toString('utf8'),
    stderr: Buffer.concat(stderr).toString('utf8'),
  };
}

/**
 * Polls `<url>/health` (or `url` itself when it already ends in /health) until the body is `want`.
 * Throws after `timeoutMs` with the last answer seen.
 */
export async function waitForHealth(url: string, want: 'Healthy', timeoutMs: number): Promise<void> {
  const healthUrl = /\/health\/?$/i.test(url) ? url : `${url.replace(/\/+$/, '')}/health`;
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(healthUrl, { signal: AbortSignal.timeout(2000) });
      const body = (await res.text()).trim();
      if (res.ok && body === want) return;
      last = `HTTP ${res.status} ${JSON.stringify(body)}`;
    } catch (err) {
      last =
        err instanceof Error
          ? `${err.message}${err.cause instanceof Error ? `: ${err.cause.message}` : ''}`
          : String(err);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${healthUrl} did not answer ${want} within ${timeoutMs} ms (last: ${last})`);
}

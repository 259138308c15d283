/**
 * The built service, `node dist/main.js run`, as users run it (service on slave, master over SSH behind the
 * link), watched from the outside: its memory and CPU from /proc while idle, and how fast Home Assistant hears
 * about master failing, from the MQTT messages a subscriber on the same broker receives.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import mqtt, { type MqttClient } from 'mqtt';
import { DOCKER_SOCKET } from '../test/bench/dockerd.js';
import { waitForHealth } from '../test/bench/standin.js';
import type { Log, World } from './world.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const MAIN = join(REPO, 'dist', 'main.js');

/** `npm run build`; returns tsc's complaints when it had some but still wrote dist/main.js (the lead's WIP). */
export async function buildService(log: Log): Promise<string | null> {
  log('npm run build');
  const r = await execa('npm', ['run', 'build'], { cwd: REPO, reject: false, all: true });
  if (r.exitCode === 0) return null;
  const exists = await readFile(MAIN).then(
    () => true,
    () => false,
  );
  const tail = (r.all ?? '').trim().split('\n').slice(-8).join('\n');
  if (!exists) throw new Error(`npm run build failed and wrote no dist/main.js:\n${tail}`);
  log(`npm run build reported errors but wrote dist/ (measuring what it wrote):\n${tail}`);
  return tail;
}

interface ProcSample {
  rssKB: number;
  /** utime + stime, clock ticks. */
  ticks: number;
  /** cutime + cstime: children it waited for. */
  childTicks: number;
}

async function procSample(pid: number): Promise<ProcSample> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const rssKB = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after "(comm)": state(3) ppid(4) ... utime(14) stime(15) cutime(16) cstime(17).
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const field = (n: number) => Number(f[n - 3]);
  return { rssKB, ticks: field(14) + field(15), childTicks: field(16) + field(17) };
}

export class RunningService {
  private constructor(
    readonly child: ResultPromise,
    readonly pid: number,
    private output: string,
  ) {}

  static async start(world: World, envFile: string): Promise<RunningService> {
    const child = execa('node', [MAIN, 'run', '--env-file', envFile], {
      cwd: world.workDir,
      reject: false,
      all: true,
      buffer: false,
      env: { NODE_ENV: 'production' },
    });
    if (child.pid === undefined) throw new Error('node dist/main.js run did not start');
    const svc = new RunningService(child, child.pid, '');
    child.all?.on('data', (chunk: Buffer) => {
      svc.output = (svc.output + chunk.toString()).slice(-20_000);
    });
    return svc;
  }

  log(): string {
    return this.output;
  }

  sample(): Promise<ProcSample> {
    return procSample(this.pid);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null && this.child.exitCode !== undefined) return;
    this.child.kill('SIGTERM');
    const done = await Promise.race([
      this.child.then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), 15_000)),
    ]);
    if (!done) {
      this.child.kill('SIGKILL');
      await this.child;
    }
  }
}

/** A subscriber on the service's topics: the last `B/state`, the events, waiting for conditions. */
export class Watcher {
  state: Record<string, unknown> | null = null;
  availability: string | null = null;
  readonly events: Array<{ at: number; event: Record<string, unknown> }> = [];
  private readonly listeners = new Set<() => void>();

  private constructor(private readonly client: MqttClient) {}

  static async connect(url: string, base: string): Promise<Watcher> {
    const client = await mqtt.connectAsync(url, { clientId: `jf-bench-watch-${process.pid}` });
    const w = new Watcher(client);
    client.on('message', (topic, payload) => {
      const text = payload.toString();
      if (topic === `${base}/state`) w.state = JSON.parse(text) as Record<string, unknown>;
      else if (topic === `${base}/availability`) w.availability = text;
      else if (topic === `${base}/event`) {
        w.events.push({ at: Date.now(), event: JSON.parse(text) as Record<string, unknown> });
      }
      for (const l of w.listeners) l();
    });
    await client.subscribeAsync([`${base}/state`, `${base}/availability`, `${base}/event`], { qos: 1 });
    return w;
  }

  siteOnline(site: 'master' | 'slave'): boolean | null {
    const sites = this.state?.sites as Record<string, { online?: boolean }> | undefined;
    return sites?.[site]?.online ?? null;
  }

  /** Resolves with the time (ms epoch) the condition first held, checked on every message. */
  until(what: string, condition: () => boolean, timeoutMs: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!condition()) return;
        cleanup();
        resolve(Date.now());
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.listeners.delete(check);
      };
      this.listeners.add(check);
      check();
    });
  }

  async close(): Promise<void> {
    await this.client.endAsync();
  }
}

export async function writeEnv(path: string, env: Record<string, string>): Promise<void> {
  await writeFile(
    path,
    `${Object.entries(env)
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join('\n')}\n`,
  );
}

export interface Footprint {
  windowS: number;
  /** RSS of a bare `node` doing nothing, on this machine, for comparison. */
  nodeBaselineMB: number;
  rssMaxMB: number;
  rssEndMB: number;
  rssStartMB: number;
  /** utime+stime over the window, % of one core. */
  cpuPercent: number;
  /** The same with the children it ran and reaped (sqlite3, df, ...) counted in. */
  cpuWithChildrenPercent: number;
}

async function bareNodeRssMB(): Promise<number> {
  const child = execa('node', ['-e', 'setTimeout(() => {}, 5000)'], { reject: false });
  await new Promise((r) => setTimeout(r, 1500));
  const rss = child.pid === undefined ? Number.NaN : (await procSample(child.pid)).rssKB / 1024;
  child.kill('SIGTERM');
  await child;
  return rss;
}

/** RSS every second and CPU over `seconds` of the service doing nothing but its polls. */
export async function measureFootprint(svc: RunningService, seconds: number): Promise<Footprint> {
  const hz = Number((await execa('getconf', ['CLK_TCK'])).stdout.trim()) || 100;
  const first = await svc.sample();
  const startedAt = Date.now();
  let max = first.rssKB;
  let last = first;
  while (Date.now() - startedAt < seconds * 1000) {
    await new Promise((r) => setTimeout(r, 1000));
    last = await svc.sample();
    max = Math.max(max, last.rssKB);
  }
  const elapsedS = (Date.now() - startedAt) / 1000;
  return {
    windowS: elapsedS,
    nodeBaselineMB: await bareNodeRssMB(),
    rssStartMB: first.rssKB / 1024,
    rssMaxMB: max / 1024,
    rssEndMB: last.rssKB / 1024,
    cpuPercent: ((last.ticks - first.ticks) / hz / elapsedS) * 100,
    cpuWithChildrenPercent:
      ((last.ticks + last.childTicks - first.ticks - first.childTicks) / hz / elapsedS) * 100,
  };
}

export interface DetectionRun {
  /** From the moment of the fault to the MQTT message. */
  s: number;
  /** What the message said (site_down reason, or the state). */
  detail: string;
}

const docker = (...args: string[]) => execa('docker', ['-H', `unix://${DOCKER_SOCKET}`, ...args]);

async function masterBackOnline(world: World, watcher: Watcher): Promise<void> {
  await waitForHealth(world.sites.urls.master, 'Healthy', 120_000);
  await watcher.until('master_online on again', () => watcher.siteOnline('master') === true, 120_000);
}

/** `docker kill` of master's container -> `site_down` for master on `B/event`. */
export async function detectKill(world: World, watcher: Watcher): Promise<DetectionRun> {
  const from = watcher.events.length;
  const t0 = Date.now();
  await docker('kill', world.sites.containers.master);
  const found = () =>
    watcher.events.slice(from).find((e) => e.event.event_type === 'site_down' && e.event.site === 'master');
  const at = await watcher.until('site_down for master', () => found() !== undefined, 60_000);
  const reason = String(found()?.event.reason ?? '?');
  // Master's restart policy is `always`: Docker may bring it back by itself; if not, start it.
  const state = (await docker('inspect', '-f', '{{.State.Status}}', world.sites.containers.master)).stdout;
  if (state.trim() !== 'running') await docker('start', world.sites.containers.master);
  await masterBackOnline(world, watcher);
  return { s: (at - t0) / 1000, detail: `site_down, reason ${reason}` };
}

/**
 * Master's Jellyfin stops answering while its container keeps running: its HTTP sockets (listener and open
 * connections) are destroyed with `ss -K`, so `/health` is refused from then on, as when Jellyfin's web server
 * dies inside a live process. -> `master_online` off (`B/state` sites.master.online false).
 */
export async function detectUnhealthy(
  world: World,
  watcher: Watcher,
  startTimeoutS: number,
): Promise<DetectionRun> {
  // Within START_TIMEOUT_S of a container's start the monitor counts a refused /health as "starting" (Jellyfin
  // 10.10 refuses connections while it loads): fail a Jellyfin that has been up longer, as in real life.
  const startedAt = Date.parse(
    (await docker('inspect', '-f', '{{.State.StartedAt}}', world.sites.containers.master)).stdout.trim(),
  );
  const wait = startedAt + (startTimeoutS + 2) * 1000 - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  const port = world.sites.ports.master;
  const from = watcher.events.length;
  const t0 = Date.now();
  await execa('ss', ['-K', '-t', '-a', '-n', `sport = :${port}`]);
  const refused = await fetch(`${world.sites.urls.master}/health`, {
    signal: AbortSignal.timeout(2000),
  }).then(
    () => false,
    () => true,
  );
  if (!refused) throw new Error(`master's /health still answers after ss -K on port ${port}`);
  const at = await watcher.until('master_online off', () => watcher.siteOnline('master') === false, 180_000);
  const running = (await docker('inspect', '-f', '{{.State.Status}}', world.sites.containers.master)).stdout;
  const down = watcher.events.slice(from).find((e) => e.event.event_type === 'site_down');
  await docker('restart', '-t', '10', world.sites.containers.master);
  await masterBackOnline(world, watcher);
  return {
    s: (at - t0) / 1000,
    detail: `container ${running.trim()} throughout; site_down reason ${String(down?.event.reason ?? '?')}`,
  };
}

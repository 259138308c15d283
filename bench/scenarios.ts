/**
 * One measured run: both sites reset to the pristine tree, master changed (a routine change or a big one), both
 * Jellyfins started and healthy, then one approach carries the change to slave while a client polls the primary
 * every 100 ms and the link counters are read before and after.
 *
 * Approaches: the plain cron script (bench/plain-sync.sh, run for real), and `jellyfin-failover sync` (or promote)
 * through the product's own composition root, exactly what the CLI runs.
 */
import { randomBytes } from 'node:crypto';
import { cp, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { compose } from '../src/compose.js';
import { BUILTIN_EXCLUDES } from '../src/domain/layout.js';
import { OWNED_SUFFIXES } from '../src/domain/paths.js';
import { waitForHealth } from '../test/bench/standin.js';
import { linkBytes } from './netns.js';
import { HealthPoller } from './poller.js';
import { listFiles, stopContainer, type Topology, type World } from './world.js';

export type Change = 'routine' | 'big';
export type Approach = 'plain' | 'stopped' | 'online';

export interface StepTime {
  name: string;
  s: number;
}

export interface Sample {
  /** Time the primary did not answer Healthy, from the 100 ms poller (null when not polled, e.g. promote). */
  downtimeS: number | null;
  failedRequests: number | null;
  requests: number | null;
  /** The slowest Healthy answer the poller got, ms (null when not polled). */
  maxLatencyMs: number | null;
  /** The outages the poller saw, ms since it started. */
  outages: Array<{ fromMs: number; toMs: number }> | null;
  /** The service's own `primaryDowntimeS` (null for the plain script). */
  serviceDowntimeS: number | null;
  /** Start to both sites Healthy again (the service's run returns only then). */
  totalS: number;
  /** Bytes that crossed each link (both ways), from the veth counters. */
  linkBytes: { master: number; slave: number };
  /** File data rsync reported sent ("Total transferred file size" for the plain script, the service's `bytes`). */
  copiedBytes: number | null;
  /** The service's steps and their durations, in order. */
  steps: StepTime[] | null;
}

/** The pseudo step for the time an operation spends before its first step (lock, recovery check, plan). */
export const BEFORE_FIRST_STEP = '(lock, recovery check, plan)';

const PLAIN_SCRIPT = fileURLToPath(new URL('./plain-sync.sh', import.meta.url));
const HEALTHY_TIMEOUT_MS = 120_000;

/** Removes every tree the service keeps beside a config dir (staging, snapshot, discard, database snapshots). */
async function removeOwnedTrees(configDir: string): Promise<void> {
  await Promise.all(OWNED_SUFFIXES.map((s) => rm(`${configDir}${s}`, { recursive: true, force: true })));
}

/**
 * The routine change: 1 % of the metadata images re-fetched (new content, about the same size). The database
 * changes by itself: master's Jellyfin has a user watching while the run goes on.
 */
export async function routineChange(world: World): Promise<{ files: number; bytes: number }> {
  const master = world.sites.dirs.master;
  const images = (await listFiles(join(master, 'data', 'metadata'))).filter(
    (f) => !f.includes('/trickplay/'),
  );
  const every = Math.max(1, Math.round(1 / world.settings.routineShare));
  let bytes = 0;
  let files = 0;
  for (let i = 0; i < images.length; i += every) {
    const path = join(master, 'data', 'metadata', images[i] as string);
    const size = Math.max(1024, Math.round((await stat(path)).size * (0.9 + Math.random() * 0.2)));
    await writeFile(path, randomBytes(size));
    bytes += size;
    files++;
  }
  return { files, bytes };
}

export interface BigChange {
  /** A tree of the new files, relative to the config dir. */
  dir: string;
  files: number;
  bytes: number;
}

/** The big change's files, made once: trickplay tiles (~300 KB each) for a day's worth of new movies. */
export async function makeBigTemplate(world: World): Promise<BigChange> {
  const dir = join(world.workDir, 'big-change');
  const movieDirs = [
    ...new Set((await listFiles(join(world.pristine, 'data', 'metadata', 'library'))).map((f) => dirname(f))),
  ];
  const tile = 300_000;
  const count = Math.max(1, Math.ceil(world.settings.bigBytes / tile));
  const movies = Math.max(1, Math.min(movieDirs.length, Math.ceil(count / 100)));
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const movie = movieDirs[i % movies] as string;
    const path = join(
      dir,
      'data',
      'metadata',
      'library',
      movie,
      'trickplay',
      '320 - 10x10',
      `${Math.floor(i / movies)}.jpg`,
    );
    await mkdir(dirname(path), { recursive: true });
    const size = Math.min(tile, world.settings.bigBytes - bytes);
    await writeFile(path, randomBytes(size));
    bytes += size;
  }
  return { dir, files: count, bytes };
}

/**
 * Both sites back to the pristine tree (containers removed first, so nothing writes), the service's state and its
 * trees beside the config dirs gone, master changed, both stand-ins created again (with their restart policies)
 * and Healthy.
 */
export async function resetSites(
  world: World,
  change: Change,
  big: BigChange | null,
): Promise<{ files: number; bytes: number }> {
  const { sites } = world;
  await Promise.all([stopContainer(sites.containers.master), stopContainer(sites.containers.slave)]);
  // --modify-window=-1: times compared to the nanosecond (as the service's rsync does), so a file whose mtime
  // differs from the pristine one below the second (fs.cp keeps only milliseconds) is put back exactly too.
  const restore = (dir: string) =>
    execa('rsync', ['-aAXH', '--delete', '--modify-window=-1', `${world.pristine}/`, `${dir}/`]);
  await Promise.all([restore(sites.dirs.master), restore(sites.dirs.slave)]);
  await Promise.all([removeOwnedTrees(sites.dirs.master), removeOwnedTrees(sites.dirs.slave)]);
  await rm(sites.dirs.state, { recursive: true, force: true });
  await mkdir(sites.dirs.state, { recursive: true });
  let changed: { files: number; bytes: number };
  if (change === 'routine') changed = await routineChange(world);
  else {
    if (!big) throw new Error('the big change needs its template (makeBigTemplate)');
    await cp(big.dir, sites.dirs.master, { recursive: true });
    changed = { files: big.files, bytes: big.bytes };
  }
  await Promise.all([sites.recreate('master'), sites.recreate('slave')]);
  await Promise.all([
    waitForHealth(sites.urls.master, 'Healthy', HEALTHY_TIMEOUT_MS),
    waitForHealth(sites.urls.slave, 'Healthy', HEALTHY_TIMEOUT_MS),
  ]);
  await letMasterWrite(world);
  return changed;
}

/** Lets the user on master write a few playback reports before the copy starts. */
export async function letMasterWrite(world: World): Promise<void> {
  await new Promise((r) => setTimeout(r, Math.max(1000, world.settings.watchMs * 3)));
}

async function countersOf(world: World) {
  const [master, slave] = await Promise.all([world.links.master.counters(), world.links.slave.counters()]);
  return { master, slave };
}

/** The plain script, on master's side, pushing to slave over SSH behind the link. */
export async function runPlain(world: World): Promise<Sample> {
  const { sites, sshds } = world;
  const ssh = sshds.slave;
  const before = await countersOf(world);
  const poller = new HealthPoller(sites.urls.master);
  poller.start();
  const started = Date.now();
  const r = await execa(PLAIN_SCRIPT, [...BUILTIN_EXCLUDES.map((e) => `--exclude=${e}`)], {
    env: {
      MASTER_CONTAINER: sites.containers.master,
      MASTER_DIR: sites.dirs.master,
      SLAVE: `${ssh.user}@${ssh.address}`,
      SLAVE_CONTAINER: sites.containers.slave,
      SLAVE_DIR: sites.dirs.slave,
      SSH: ['ssh', ...ssh.sshArgs()].join(' '),
    },
    reject: false,
  });
  if (r.exitCode !== 0) {
    await poller.stop();
    throw new Error(
      `plain-sync.sh failed (exit ${r.exitCode}): ${r.stderr.trim().split('\n').slice(-5).join(' | ')}`,
    );
  }
  await Promise.all([
    waitForHealth(sites.urls.master, 'Healthy', HEALTHY_TIMEOUT_MS),
    waitForHealth(sites.urls.slave, 'Healthy', HEALTHY_TIMEOUT_MS),
  ]);
  const totalS = (Date.now() - started) / 1000;
  const polled = await poller.stop();
  const after = await countersOf(world);
  const copied = /Total transferred file size: ([\d,.]+)/.exec(r.stdout)?.[1]?.replace(/[,.]/g, '');
  const phases = [...r.stderr.matchAll(/^phase (\S+) (\d+(?:\.\d+)?)$/gm)].map((m) => ({
    name: m[1] as string,
    at: Number(m[2]) * 1000,
  }));
  const steps = phases
    .slice(0, -1)
    .map((p, i) => ({ name: p.name, s: ((phases[i + 1]?.at ?? p.at) - p.at) / 1000 }));
  return {
    downtimeS: polled.downtimeS,
    failedRequests: polled.failed,
    requests: polled.requests,
    maxLatencyMs: polled.maxLatencyMs,
    outages: polled.outages,
    serviceDowntimeS: null,
    totalS,
    linkBytes: {
      master: linkBytes(before.master, after.master),
      slave: linkBytes(before.slave, after.slave),
    },
    copiedBytes: copied ? Number(copied) : null,
    steps,
  };
}

/**
 * `jellyfin-failover sync` (SYNC_MODE=stopped or online) or `promote`, in `topology`, through compose() as the
 * CLI does. The primary is polled for a sync (for a promote it stops on purpose and stays fenced).
 */
export async function runService(
  world: World,
  topology: Topology,
  kind: 'sync' | 'promote',
  mode: 'stopped' | 'online',
): Promise<Sample> {
  const { sites } = world;
  const { config } = world.configFor(topology, { SYNC_MODE: mode });
  const app = compose(config, world.logger);
  const marks: Array<{ name: string; at: number }> = [];
  const detach = app.observers.add({
    operation(status) {
      if (status.kind !== 'idle' && marks.at(-1)?.name !== status.step) {
        marks.push({ name: status.step, at: Date.now() });
      }
    },
  });
  const before = await countersOf(world);
  const poller = kind === 'sync' ? new HealthPoller(sites.urls.master) : null;
  poller?.start();
  const started = Date.now();
  let result: Awaited<ReturnType<typeof app.operations.run>>;
  try {
    result = await app.operations.run(kind, { force: false });
  } catch (err) {
    await poller?.stop();
    throw err;
  } finally {
    detach();
    await app.close();
  }
  const ended = Date.now();
  const primaryUrl = kind === 'sync' ? sites.urls.master : sites.urls.slave;
  await waitForHealth(primaryUrl, 'Healthy', HEALTHY_TIMEOUT_MS);
  const polled = await poller?.stop();
  const after = await countersOf(world);
  const steps = marks.map((m, i) => ({ name: m.name, s: ((marks[i + 1]?.at ?? ended) - m.at) / 1000 }));
  // Before its first step an operation takes the lock, looks for a journal to recover and picks its plan.
  const first = marks[0]?.at ?? ended;
  steps.unshift({ name: BEFORE_FIRST_STEP, s: (first - started) / 1000 });
  return {
    downtimeS: polled?.downtimeS ?? null,
    failedRequests: polled?.failed ?? null,
    requests: polled?.requests ?? null,
    maxLatencyMs: polled?.maxLatencyMs ?? null,
    outages: polled?.outages ?? null,
    serviceDowntimeS: result.primaryDowntimeS,
    totalS: (ended - started) / 1000,
    linkBytes: {
      master: linkBytes(before.master, after.master),
      slave: linkBytes(before.slave, after.slave),
    },
    copiedBytes: result.bytes,
    steps,
  };
}

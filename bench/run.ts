/**
 * The benchmarks of issues 9 and 10, in one run, as root: `npm run bench`.
 *
 *   sync       primary downtime, total time and bytes over the link: the plain cron script against
 *              `jellyfin-failover sync` (stopped and online), for a routine change and a 1 GB change;
 *   steady     two online syncs back to back: what the next one moves once the standby holds a snapshot;
 *   promote    promote's overhead beyond its copies and the containers' stop/start;
 *   relay      the service on a third host (the copy relayed through it) against the service on slave;
 *   footprint  memory and CPU of `node dist/main.js run` idle;
 *   detection  container killed -> site_down, Jellyfin unhealthy -> master_online off, over MQTT.
 *
 * It writes docs/benchmarks.md, docs/benchmarks-summary.md (the README block) and docs/benchmarks.json (BENCH_OUT
 * for another directory); BENCH_RENDER=docs/benchmarks.json writes the first two again from saved results. Sizes come from BENCH_* variables (bench/settings.ts); the defaults are the issue's.
 * Everything it creates (namespaces, sshd, containers, trees, Mosquitto) is removed at the end, on a failure and
 * on Ctrl-C.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeReports } from './report.js';
import type { Results } from './results.js';
import {
  type Approach,
  type BigChange,
  type Change,
  letMasterWrite,
  makeBigTemplate,
  resetSites,
  routineChange,
  runPlain,
  runService,
  type Sample,
} from './scenarios.js';
import {
  buildService,
  detectKill,
  detectUnhealthy,
  measureFootprint,
  RunningService,
  Watcher,
  writeEnv,
} from './service-run.js';
import { readSettings } from './settings.js';
import { buildWorld, machineInfo, Teardown, type World } from './world.js';

const log = (msg: string) =>
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const f2 = (n: number | null) => (n === null ? '-' : n.toFixed(2));

function describe(s: Sample): string {
  return [
    `downtime ${f2(s.downtimeS)} s (${s.failedRequests ?? '-'}/${s.requests ?? '-'} failed)`,
    `service ${f2(s.serviceDowntimeS)} s`,
    `total ${f2(s.totalS)} s`,
    `link slave ${(s.linkBytes.slave / 1e6).toFixed(1)} MB, master ${(s.linkBytes.master / 1e6).toFixed(1)} MB`,
  ].join(', ');
}

/** Set by SIGINT/SIGTERM: the run stops at the next part boundary and tears everything down. */
let interrupted: NodeJS.Signals | null = null;

class Interrupted extends Error {}

/** Runs one measured piece; a failure is recorded and the run goes on, an interruption ends it. */
async function part(results: Results, name: string, work: () => Promise<void>): Promise<void> {
  if (interrupted) throw new Interrupted(`interrupted by ${interrupted}`);
  try {
    await work();
  } catch (err) {
    if (interrupted || err instanceof Interrupted) throw err;
    const error = err instanceof Error ? (err.stack ?? err.message) : String(err);
    log(`${name} failed: ${error}`);
    results.errors.push({ part: name, error: err instanceof Error ? err.message : String(err) });
  }
}

async function syncPart(world: World, results: Results, big: BigChange | null): Promise<void> {
  const approaches: Approach[] = ['plain', 'stopped', 'online'];
  for (const change of ['routine', 'big'] as const) {
    const set: Record<Approach, Sample[]> = { plain: [], stopped: [], online: [] };
    results.sync[change] = set;
    for (let run = 1; run <= world.settings.runs; run++) {
      // The approaches take turns within a run, so a slow minute of the machine does not land on one of them.
      for (const approach of approaches) {
        await part(results, `sync ${change} ${approach} run ${run}`, async () => {
          results.changes[change] = await resetSites(world, change, big);
          const sample =
            approach === 'plain'
              ? await runPlain(world)
              : await runService(world, 'service-on-master', 'sync', approach);
          set[approach].push(sample);
          log(`sync ${change} ${approach} #${run}: ${describe(sample)}`);
        });
      }
    }
  }
}

/**
 * SYNC_MODE=online twice in a row. The sync part starts every run from a standby holding a byte-for-byte copy of
 * master's tree, the basis of the database deltas; after one online sync the standby holds a snapshot instead
 * (`VACUUM INTO` lays pages out anew), and this measures what the next sync moves from there.
 */
async function steadyPart(world: World, results: Results): Promise<void> {
  const set: NonNullable<Results['steady']> = { first: [], next: [] };
  results.steady = set;
  for (let run = 1; run <= world.settings.runs; run++) {
    await part(results, `steady run ${run}`, async () => {
      results.changes.routine = await resetSites(world, 'routine', null);
      const first = await runService(world, 'service-on-master', 'sync', 'online');
      await routineChange(world);
      await letMasterWrite(world);
      const next = await runService(world, 'service-on-master', 'sync', 'online');
      set.first.push(first);
      set.next.push(next);
      log(`steady #${run}: first ${describe(first)}; next ${describe(next)}`);
    });
  }
}

async function promotePart(world: World, results: Results): Promise<void> {
  for (let run = 1; run <= world.settings.runs; run++) {
    await part(results, `promote run ${run}`, async () => {
      results.changes.routine = await resetSites(world, 'routine', null);
      const sample = await runService(world, 'service-on-slave', 'promote', 'stopped');
      results.promote.push(sample);
      log(
        `promote #${run}: total ${f2(sample.totalS)} s; ${(sample.steps ?? []).map((s) => `${s.name} ${f2(s.s)}`).join(', ')}`,
      );
    });
  }
}

async function relayPart(world: World, results: Results, big: BigChange | null): Promise<void> {
  for (const change of ['routine', 'big'] satisfies Change[]) {
    const set: Record<'service-on-slave' | 'third-host', Sample[]> = {
      'service-on-slave': [],
      'third-host': [],
    };
    results.relay[change] = set;
    for (let run = 1; run <= world.settings.runs; run++) {
      for (const topology of ['service-on-slave', 'third-host'] as const) {
        await part(results, `relay ${change} ${topology} run ${run}`, async () => {
          results.changes[change] = await resetSites(world, change, big);
          const sample = await runService(world, topology, 'sync', 'online');
          set[topology].push(sample);
          log(`relay ${change} ${topology} #${run}: ${describe(sample)}`);
        });
      }
    }
  }
}

async function servicePart(world: World, results: Results): Promise<void> {
  const wantFootprint = world.settings.parts.includes('footprint');
  const wantDetection = world.settings.parts.includes('detection');
  results.buildWarning = await buildService(log);
  await resetSites(world, 'routine', null);
  const { env, config } = world.configFor('service-on-slave', { FAILOVER_ID: 'bench' });
  const envFile = join(world.workDir, 'service.env');
  await writeEnv(envFile, env);
  const watcher = await Watcher.connect(world.mosquitto.url, config.topicRoot);
  const svc = await RunningService.start(world, envFile);
  try {
    await watcher.until(
      'the service to publish both sites online',
      () => watcher.siteOnline('master') === true && watcher.siteOnline('slave') === true,
      120_000,
    );
    if (wantFootprint) {
      await part(results, 'footprint', async () => {
        // Start-up (discovery, first polls, connections) is over; what follows is the idle service.
        await new Promise((r) => setTimeout(r, 5000));
        log(`footprint: sampling node dist/main.js run (pid ${svc.pid}) for ${world.settings.idleS} s`);
        results.footprint = await measureFootprint(svc, world.settings.idleS);
        log(`footprint: ${JSON.stringify(results.footprint)}`);
      });
    }
    if (wantDetection) {
      const detection = {
        healthIntervalS: config.health.intervalS,
        healthFailures: config.health.failures,
        startTimeoutS: config.startTimeoutS,
        kill: [] as NonNullable<Results['detection']>['kill'],
        unhealthy: [] as NonNullable<Results['detection']>['unhealthy'],
      };
      results.detection = detection;
      for (let run = 1; run <= world.settings.runs; run++) {
        await part(results, `detection unhealthy run ${run}`, async () => {
          const d = await detectUnhealthy(world, watcher, config.startTimeoutS);
          detection.unhealthy.push(d);
          log(`detection unhealthy #${run}: ${f2(d.s)} s (${d.detail})`);
        });
        await part(results, `detection kill run ${run}`, async () => {
          const d = await detectKill(world, watcher);
          detection.kill.push(d);
          log(`detection kill #${run}: ${f2(d.s)} s (${d.detail})`);
        });
      }
    }
  } finally {
    await svc.stop();
    await watcher.close();
    if (results.errors.some((e) => e.part.startsWith('detection') || e.part === 'footprint')) {
      log(`service output (tail):\n${svc.log().slice(-4000)}`);
    }
  }
}

async function main(): Promise<number> {
  const settings = readSettings();
  const teardown = new Teardown(log);
  let firstSignalAt = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    // Ctrl-C reaches this process twice (from the terminal and relayed by tsx's parent): one press is one signal.
    if (interrupted && Date.now() - firstSignalAt < 2000) return;
    if (interrupted) {
      log(`${signal} again: tearing down now`);
      void teardown.run().finally(() => process.exit(130));
      return;
    }
    interrupted = signal;
    firstSignalAt = Date.now();
    log(`${signal}: stopping after the current step, then tearing down (send it again to tear down at once)`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const started = Date.now();
  try {
    const world = await buildWorld(settings, teardown, log);
    const results: Results = {
      generatedAt: new Date().toISOString(),
      durationS: 0,
      machine: await machineInfo(),
      settings,
      link: {
        rateMbit: settings.linkMbit,
        delayMs: world.links.slave.shapingNote ? 0 : settings.linkDelayMs,
        shaping: world.links.slave.shaping,
        note: world.links.slave.shapingNote,
        sshThroughputMBps: world.sshThroughputMBps,
      },
      tree: world.tree,
      changes: {},
      sync: {},
      promote: [],
      relay: {},
      footprint: null,
      detection: null,
      buildWarning: null,
      errors: [],
    };
    const wants = (p: (typeof settings.parts)[number]) => settings.parts.includes(p);
    let big: BigChange | null = null;
    if (wants('sync') || wants('relay')) {
      const made = await makeBigTemplate(world);
      big = made;
      results.changes.big = { files: made.files, bytes: made.bytes };
    }
    if (wants('sync')) await syncPart(world, results, big);
    if (wants('steady')) await steadyPart(world, results);
    if (wants('promote')) await promotePart(world, results);
    if (wants('relay')) await relayPart(world, results, big);
    if (wants('footprint') || wants('detection'))
      await part(results, 'service', () => servicePart(world, results));
    results.durationS = (Date.now() - started) / 1000;
    const out = process.env.BENCH_OUT ?? fileURLToPath(new URL('../docs/', import.meta.url));
    const files = await writeReports(results, out);
    log(`wrote ${files.join(', ')}`);
    if (results.errors.length > 0) {
      log(`${results.errors.length} part(s) failed: ${results.errors.map((e) => e.part).join('; ')}`);
      return 1;
    }
    return 0;
  } catch (err) {
    if (err instanceof Interrupted || interrupted) {
      log('interrupted: no results written');
      return 130;
    }
    throw err;
  } finally {
    log('tearing down');
    await teardown.run();
  }
}

/** BENCH_RENDER=<results.json>: write the reports again from saved results, without measuring anything. */
async function render(file: string): Promise<number> {
  const results = JSON.parse(await readFile(file, 'utf8')) as Results;
  const out = process.env.BENCH_OUT ?? dirname(file);
  log(`wrote ${(await writeReports(results, out)).join(', ')}`);
  return 0;
}

try {
  process.exitCode = process.env.BENCH_RENDER ? await render(process.env.BENCH_RENDER) : await main();
} catch (err) {
  log(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exitCode = 1;
}

/**
 * The benchmark's size knobs, from the environment. The defaults are issue 9's sizes; a smoke run sets small ones,
 * e.g. `BENCH_FILES=2000 BENCH_DB_MB=5 BENCH_RUNS=1 BENCH_BIG_MB=50`.
 */

export const PARTS = ['sync', 'steady', 'promote', 'relay', 'footprint', 'detection'] as const;
export type Part = (typeof PARTS)[number];

export interface BenchSettings {
  /** Metadata images in the generated config tree (BENCH_FILES). */
  metadataFiles: number;
  /** Bytes of the whole tree, databases aside (BENCH_TREE_MB). */
  treeBytes: number;
  /** Size of the live database (BENCH_DB_MB). */
  databaseBytes: number;
  /** Runs per measurement; medians are reported (BENCH_RUNS). */
  runs: number;
  /** The "1 GB change": new trickplay images, bytes (BENCH_BIG_MB). */
  bigBytes: number;
  /** Share of the metadata images a routine change rewrites. */
  routineShare: number;
  /** Link rate each way, Mbit/s (BENCH_LINK_MBIT). */
  linkMbit: number;
  /** Added one-way delay of the link, ms, where the kernel has netem (BENCH_LINK_DELAY_MS). */
  linkDelayMs: number;
  /** Stand-in startup time until Healthy, ms (BENCH_STARTUP_MS). */
  startupMs: number;
  /** A user watching on master: one playback report every this many ms (BENCH_WATCH_MS). */
  watchMs: number;
  /** Footprint window, s (BENCH_IDLE_S). */
  idleS: number;
  /** HEALTH_INTERVAL_S / HEALTH_FAILURES of the service under test; null = the product's defaults. */
  healthIntervalS: number | null;
  healthFailures: number | null;
  /** Which parts run (BENCH_ONLY, comma-separated; default all). */
  parts: Part[];
}

function num(env: NodeJS.ProcessEnv, name: string, fallback: number, problems: string[], min = 0): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min) {
    problems.push(`${name}=${raw} is not a number >= ${min}; unset it for the default (${fallback})`);
    return fallback;
  }
  return value;
}

export function readSettings(env: NodeJS.ProcessEnv = process.env): BenchSettings {
  const problems: string[] = [];
  const mb = 1024 * 1024;
  const metadataFiles = Math.round(num(env, 'BENCH_FILES', 20_000, problems, 100));
  const settings: BenchSettings = {
    metadataFiles,
    // About 100 KB per image by default (posters, backdrops, people), as a real library's metadata.
    treeBytes: num(env, 'BENCH_TREE_MB', Math.round(metadataFiles / 10), problems, 1) * mb,
    databaseBytes: num(env, 'BENCH_DB_MB', 50, problems, 1) * mb,
    runs: Math.round(num(env, 'BENCH_RUNS', 3, problems, 1)),
    bigBytes: num(env, 'BENCH_BIG_MB', 1024, problems, 1) * mb,
    routineShare: 0.01,
    linkMbit: num(env, 'BENCH_LINK_MBIT', 200, problems, 1),
    linkDelayMs: num(env, 'BENCH_LINK_DELAY_MS', 1, problems),
    startupMs: num(env, 'BENCH_STARTUP_MS', 300, problems),
    watchMs: num(env, 'BENCH_WATCH_MS', 500, problems, 50),
    idleS: num(env, 'BENCH_IDLE_S', 60, problems, 5),
    healthIntervalS: env.BENCH_HEALTH_INTERVAL_S
      ? num(env, 'BENCH_HEALTH_INTERVAL_S', 10, problems, 1)
      : null,
    healthFailures: env.BENCH_HEALTH_FAILURES ? num(env, 'BENCH_HEALTH_FAILURES', 3, problems, 1) : null,
    parts: [...PARTS],
  };
  const only = env.BENCH_ONLY?.trim();
  if (only) {
    const asked = only.split(',').map((p) => p.trim());
    const unknown = asked.filter((p) => !(PARTS as readonly string[]).includes(p));
    if (unknown.length > 0) {
      problems.push(
        `BENCH_ONLY names ${unknown.join(', ')}; use a comma-separated list of ${PARTS.join(', ')}`,
      );
    }
    settings.parts = PARTS.filter((p) => asked.includes(p));
  }
  if (problems.length > 0) throw new Error(`bad benchmark settings:\n  ${problems.join('\n  ')}`);
  return settings;
}

/** What a benchmark run measured, as written to docs/benchmarks.json, and the medians the report is made of. */
import type { Approach, Change, Sample } from './scenarios.js';
import type { DetectionRun, Footprint } from './service-run.js';
import type { BenchSettings } from './settings.js';
import type { TreeInfo } from './world.js';

export type RelayTopology = 'service-on-slave' | 'third-host';

export interface Results {
  generatedAt: string;
  durationS: number;
  machine: Record<string, string | number>;
  settings: BenchSettings;
  link: {
    rateMbit: number;
    delayMs: number;
    shaping: string;
    note: string | null;
    /** One SSH stream's throughput over the link (50 MB through `ssh ... cat`). */
    sshThroughputMBps: number;
  };
  tree: TreeInfo;
  changes: Partial<Record<Change, { files: number; bytes: number }>>;
  sync: Partial<Record<Change, Partial<Record<Approach, Sample[]>>>>;
  /**
   * Online syncs back to back, each run from a standby holding a byte-for-byte copy of master's tree: the first
   * (its database basis that copy), then, after another routine change, the next (its basis the first's
   * snapshot). Absent in results written before this part existed.
   */
  steady?: { first: Sample[]; next: Sample[] };
  promote: Sample[];
  relay: Partial<Record<Change, Partial<Record<RelayTopology, Sample[]>>>>;
  footprint: Footprint | null;
  detection: {
    healthIntervalS: number;
    healthFailures: number;
    /** START_TIMEOUT_S of the service under test. */
    startTimeoutS: number;
    kill: DetectionRun[];
    unhealthy: DetectionRun[];
  } | null;
  /** tsc's complaints when `npm run build` had some but still wrote dist/ (null: a clean build, or not built). */
  buildWarning: string | null;
  errors: Array<{ part: string; error: string }>;
}

export function median(values: ReadonlyArray<number | null | undefined>): number | null {
  const v = values
    .filter((x): x is number => typeof x === 'number' && Number.isFinite(x))
    .sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? (v[mid] as number) : ((v[mid - 1] as number) + (v[mid] as number)) / 2;
}

export function sum(values: ReadonlyArray<number | null | undefined>): number {
  return values.reduce<number>((s, x) => s + (typeof x === 'number' ? x : 0), 0);
}

/** Median duration of each step over the samples, in the order the steps ran. */
export function medianSteps(samples: readonly Sample[]): Array<{ name: string; s: number }> {
  const names: string[] = [];
  for (const sample of samples)
    for (const st of sample.steps ?? []) if (!names.includes(st.name)) names.push(st.name);
  return names.map((name) => ({
    name,
    s:
      median(
        samples.map((sample) =>
          (sample.steps ?? []).filter((st) => st.name === name).reduce((a, st) => a + st.s, 0),
        ),
      ) ?? 0,
  }));
}

/**
 * docs/benchmarks.md, the README block (docs/benchmarks-summary.md) and docs/benchmarks.json, written from the
 * measurements of one run: every figure in them comes from `Results`, none is typed by hand.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { median, medianSteps, type RelayTopology, type Results, sum } from './results.js';
import type { Approach, Change, Sample } from './scenarios.js';
import { PARTS } from './settings.js';
import { TOPOLOGY_TEXT } from './world.js';

/** Steps of a promote that run rsync, and those that stop/start containers (Jellyfin's startup included). */
export const COPY_STEPS = ['prepare-staging', 'pre-copy', 'pre-copy-databases', 'final-copy'];
export const CONTAINER_STEPS = ['stop-slave', 'stop-master', 'start-slave'];

const ISSUE_SIZES = { metadataFiles: 20_000, databaseMB: 50, linkMbit: 200, bigMB: 1024, runs: 3 };

const MB = 1e6;
const f1 = (n: number | null) => (n === null ? 'n/a' : n.toFixed(1));
const f2 = (n: number | null) => (n === null ? 'n/a' : n.toFixed(2));
const mb = (bytes: number | null) => (bytes === null ? 'n/a' : (bytes / MB).toFixed(1));
const verdict = (ok: boolean | null) => (ok === null ? 'not measured' : ok ? 'met' : '**missed**');

const CHANGE_TEXT: Record<Change, string> = {
  routine: 'routine change',
  big: '1 GB change',
};
const APPROACH_TEXT: Record<Approach, string> = {
  plain: 'plain script',
  stopped: 'sync, SYNC_MODE=stopped',
  online: 'sync, SYNC_MODE=online',
};

interface Row {
  cells: string[];
}

function table(head: string[], rows: Row[]): string {
  return [
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.cells.join(' | ')} |`),
  ].join('\n');
}

function stepOf(samples: readonly Sample[], name: string): number | null {
  return median(
    samples.map((s) => (s.steps ?? []).filter((st) => st.name === name).reduce((a, st) => a + st.s, 0)),
  );
}

/** Judgements of the targets, shared by the full page and the README block. */
export interface Verdicts {
  onlineDowntime: Partial<Record<Change, { downtimeS: number | null; failed: number; ok: boolean | null }>>;
  stoppedRatio: Partial<
    Record<
      Change,
      { ours: number | null; plain: number | null; ratio: number | null; target: number; ok: boolean | null }
    >
  >;
  wallRatio: Partial<
    Record<
      'stopped' | 'online',
      { ours: number | null; plain: number | null; ratio: number | null; ok: boolean | null }
    >
  >;
  kill: { s: number | null; ok: boolean | null };
  unhealthy: { s: number | null; targetS: number | null; ok: boolean | null };
  promote: { overheadS: number | null; ok: boolean | null };
  footprint: { rssMB: number | null; cpu: number | null; ok: boolean | null };
}

function overheadOf(s: Sample): number {
  const steps = s.steps ?? [];
  const part = (names: string[]) => sum(steps.filter((st) => names.includes(st.name)).map((st) => st.s));
  return s.totalS - part(COPY_STEPS) - part(CONTAINER_STEPS);
}

export function judge(r: Results): Verdicts {
  const v: Verdicts = {
    onlineDowntime: {},
    stoppedRatio: {},
    wallRatio: {},
    kill: { s: null, ok: null },
    unhealthy: { s: null, targetS: null, ok: null },
    promote: { overheadS: null, ok: null },
    footprint: { rssMB: null, cpu: null, ok: null },
  };
  for (const change of ['routine', 'big'] as const) {
    const set = r.sync[change];
    if (!set) continue;
    const online = set.online ?? [];
    if (online.length > 0) {
      const downtimeS = median(online.map((s) => s.downtimeS));
      const failed = sum(online.map((s) => s.failedRequests));
      const worst = Math.max(...online.map((s) => s.downtimeS ?? 0));
      v.onlineDowntime[change] = { downtimeS, failed, ok: failed === 0 && worst === 0 };
    }
    const plain = median((set.plain ?? []).map((s) => s.downtimeS));
    const stopped = median((set.stopped ?? []).map((s) => s.downtimeS));
    const target = change === 'routine' ? 0.5 : 0.15;
    const ratio = plain && stopped !== null ? stopped / plain : null;
    v.stoppedRatio[change] = {
      ours: stopped,
      plain,
      ratio,
      target,
      ok: ratio === null ? null : ratio <= target,
    };
  }
  const routine = r.sync.routine;
  if (routine) {
    const plain = median((routine.plain ?? []).map((s) => s.totalS));
    for (const mode of ['stopped', 'online'] as const) {
      const ours = median((routine[mode] ?? []).map((s) => s.totalS));
      const ratio = plain && ours !== null ? ours / plain : null;
      v.wallRatio[mode] = { ours, plain, ratio, ok: ratio === null ? null : ratio <= 1.5 };
    }
  }
  if (r.detection) {
    const kill = median(r.detection.kill.map((d) => d.s));
    v.kill = { s: kill, ok: kill === null ? null : kill <= 2 };
    const targetS = r.detection.healthIntervalS * r.detection.healthFailures + 1;
    const unhealthy = median(r.detection.unhealthy.map((d) => d.s));
    v.unhealthy = { s: unhealthy, targetS, ok: unhealthy === null ? null : unhealthy <= targetS };
  }
  if (r.promote.length > 0) {
    const overheadS = median(r.promote.map(overheadOf));
    v.promote = { overheadS, ok: overheadS === null ? null : overheadS < 1 };
  }
  if (r.footprint) {
    const { rssMaxMB, cpuWithChildrenPercent } = r.footprint;
    v.footprint = {
      rssMB: rssMaxMB,
      cpu: cpuWithChildrenPercent,
      ok: rssMaxMB < 80 && cpuWithChildrenPercent < 1,
    };
  }
  return v;
}

function belowIssueSizes(r: Results): string[] {
  const s = r.settings;
  const diffs: string[] = [];
  if (r.tree.metadataFiles < ISSUE_SIZES.metadataFiles * 0.95)
    diffs.push(`${r.tree.metadataFiles} metadata images (issue: 20,000)`);
  if (s.databaseBytes < ISSUE_SIZES.databaseMB * 2 ** 20)
    diffs.push(`a ${Math.round(s.databaseBytes / 2 ** 20)} MB database (issue: 50 MB)`);
  if (s.bigBytes < ISSUE_SIZES.bigMB * 2 ** 20)
    diffs.push(`a ${Math.round(s.bigBytes / 2 ** 20)} MB big change (issue: 1 GB)`);
  if (s.runs < ISSUE_SIZES.runs) diffs.push(`${s.runs} run(s) per figure (issue: medians of 3)`);
  if (s.linkMbit !== ISSUE_SIZES.linkMbit) diffs.push(`a ${s.linkMbit} Mbit/s link (issue: 200)`);
  return diffs;
}

function syncSection(r: Results, v: Verdicts): string[] {
  const out: string[] = [];
  const changes = (['routine', 'big'] as const).filter((c) => r.sync[c]);
  if (changes.length === 0) return out;
  out.push('## Sync: primary downtime', '');
  out.push(
    'Downtime is what the 100 ms client saw: from its first request that did not get `Healthy` within 2 s to the next one that did (within one poll period), summed over the run; "slowest" is its slowest answer that did come back `Healthy`. "service" is the `primaryDowntimeS` the service itself reports (`B/state.lastSync`).',
    '',
  );
  const rows: Row[] = [];
  for (const change of changes) {
    const set = r.sync[change] ?? {};
    const plain = median((set.plain ?? []).map((s) => s.downtimeS));
    for (const approach of ['plain', 'stopped', 'online'] as const) {
      const samples = set[approach] ?? [];
      if (samples.length === 0) continue;
      const d = median(samples.map((s) => s.downtimeS));
      const failed = sum(samples.map((s) => s.failedRequests));
      const requests = sum(samples.map((s) => s.requests));
      const svc = median(samples.map((s) => s.serviceDowntimeS));
      let target = 'reference';
      let result = '';
      if (approach === 'online') {
        const o = v.onlineDowntime[change];
        target = '0 s, no failed request';
        result = verdict(o?.ok ?? null);
      } else if (approach === 'stopped') {
        const s = v.stoppedRatio[change];
        target = `<= ${s?.target}x plain`;
        result = `${f2(s?.ratio ?? null)}x: ${verdict(s?.ok ?? null)}`;
      }
      rows.push({
        cells: [
          CHANGE_TEXT[change],
          APPROACH_TEXT[approach],
          f2(d),
          `${failed} of ${requests}`,
          `${Math.max(0, ...samples.map((x) => x.maxLatencyMs ?? 0))} ms`,
          svc === null ? '-' : f2(svc),
          approach === 'plain' || plain === null || d === null ? '' : `${f2(d / plain)}x`,
          target,
          result,
        ],
      });
    }
  }
  out.push(
    table(
      [
        'change',
        'approach',
        'downtime (s)',
        'failed requests (all runs)',
        'slowest',
        'service (s)',
        'vs plain',
        'target',
        'result',
      ],
      rows,
    ),
    '',
  );

  out.push('## Sync: total wall time and data over the link', '');
  out.push(
    'Total: from the start until both sites answer `Healthy` again (the service returns only then; for the plain script the bench waits for it). Link: bytes that crossed the slave link both ways (veth counters: SSH, rsync\'s file list and deltas, Docker API). rsync-reported: "Total transferred file size" (the full size of every file rsync updated, however small its delta), for the service its `lastSync.bytes`, the sum over all its copies, also those within one site.',
    '',
  );
  const wallRows: Row[] = [];
  for (const change of changes) {
    const set = r.sync[change] ?? {};
    const plain = median((set.plain ?? []).map((s) => s.totalS));
    for (const approach of ['plain', 'stopped', 'online'] as const) {
      const samples = set[approach] ?? [];
      if (samples.length === 0) continue;
      const t = median(samples.map((s) => s.totalS));
      const ratio = approach === 'plain' || plain === null || t === null ? null : t / plain;
      const judged = change === 'routine' && approach !== 'plain' ? v.wallRatio[approach] : undefined;
      wallRows.push({
        cells: [
          CHANGE_TEXT[change],
          APPROACH_TEXT[approach],
          f1(t),
          ratio === null ? '' : `${f2(ratio)}x`,
          mb(median(samples.map((s) => s.linkBytes.slave))),
          mb(median(samples.map((s) => s.copiedBytes))),
          judged ? '<= 1.5x plain' : change === 'routine' && approach === 'plain' ? 'reference' : '-',
          judged ? verdict(judged.ok) : '',
        ],
      });
    }
  }
  out.push(
    table(
      [
        'change',
        'approach',
        'total (s)',
        'vs plain',
        'over the link (MB)',
        'rsync-reported (MB)',
        'target',
        'result',
      ],
      wallRows,
    ),
    '',
  );

  out.push('Where the time goes (medians, s):', '');
  const stepRows: Row[] = [];
  for (const change of changes) {
    for (const approach of ['plain', 'stopped', 'online'] as const) {
      const samples = r.sync[change]?.[approach] ?? [];
      if (samples.length === 0) continue;
      stepRows.push({
        cells: [
          CHANGE_TEXT[change],
          APPROACH_TEXT[approach],
          medianSteps(samples)
            .map((st) => `${st.name} ${f2(st.s)}`)
            .join(', '),
        ],
      });
    }
  }
  out.push(table(['change', 'approach', 'steps'], stepRows), '');
  return out;
}

function why(r: Results, v: Verdicts): string[] {
  const out: string[] = [];
  for (const change of ['routine', 'big'] as const) {
    const o = v.onlineDowntime[change];
    if (o && o.ok === false) {
      out.push(
        `- Online sync, ${CHANGE_TEXT[change]}: the client saw ${f2(o.downtimeS)} s of downtime (median) and ${o.failed} failed requests in all runs, where the target is none. The online plan never stops the primary, so failed requests mean master's Jellyfin was too busy to answer within the poller's 1 s timeout (the two cores are shared with rsync, ssh and the snapshot) or was stopped by something else; see the per-run outages in docs/benchmarks.json.`,
      );
    }
    const s = v.stoppedRatio[change];
    const samples = r.sync[change]?.stopped ?? [];
    if (s && s.ok === false && samples.length > 0) {
      const stop = stepOf(samples, 'stop-primary');
      const fin = stepOf(samples, 'final-copy');
      const start = stepOf(samples, 'start-primary');
      out.push(
        `- Stopped sync, ${CHANGE_TEXT[change]}: ${f2(s.ratio)}x the plain script's downtime, target ${s.target}x. While master is down the sync stops it (${f2(stop)} s), runs the final pass over the whole tree (${f2(fin)} s: the file list of every file crosses the link again, plus the databases' deltas) and starts it and waits for \`Healthy\` (${f2(start)} s). Stopping and starting Jellyfin cost the same in both approaches, so the ratio can only fall as far as stop + start allow; a real Jellyfin's startup (seconds, not the stand-in's ${r.settings.startupMs} ms) moves it closer to 1.`,
      );
    }
  }
  for (const mode of ['stopped', 'online'] as const) {
    const w = v.wallRatio[mode];
    const samples = r.sync.routine?.[mode] ?? [];
    if (w && w.ok === false && samples.length > 0) {
      const top = medianSteps(samples)
        .sort((a, b) => b.s - a.s)
        .slice(0, 4)
        .map((st) => `${st.name} ${f2(st.s)} s`)
        .join(', ');
      out.push(
        `- Total wall time of a routine sync, SYNC_MODE=${mode}: ${f2(w.ratio)}x the plain script, target 1.5x. The sync does more than one rsync: it builds a staging tree, copies in passes (each pass walks the whole tree and sends its file list over the link), checks the copy and keeps the undo snapshot. Its longest steps: ${top}.`,
      );
    }
  }
  if (v.kill.ok === false) {
    out.push(
      `- Container killed: site_down came ${f2(v.kill.s)} s after the kill (target 2 s). The service sees the kill through Docker's event stream of the site (over SSH for a remote site), so this is the event's way through \`docker system dial-stdio\` and the link plus the publish.`,
    );
  }
  if (v.unhealthy.ok === false) {
    out.push(
      `- Jellyfin unhealthy: master_online went off ${f2(v.unhealthy.s)} s after /health started failing, target ${f1(v.unhealthy.targetS)} s (HEALTH_INTERVAL_S x HEALTH_FAILURES + 1). The monitor needs HEALTH_FAILURES failed polls in a row; a poll starts HEALTH_INTERVAL_S after the previous one ended, so every poll's own duration (HTTP, container inspect and a command over SSH for a remote site) adds to the interval.`,
    );
  }
  if (v.promote.ok === false && r.promote.length > 0) {
    const others = medianSteps(r.promote)
      .filter((st) => !COPY_STEPS.includes(st.name) && !CONTAINER_STEPS.includes(st.name))
      .sort((a, b) => b.s - a.s)
      .slice(0, 4)
      .map((st) => `${st.name} ${f2(st.s)} s`)
      .join(', ');
    out.push(
      `- Promote overhead: ${f2(v.promote.overheadS)} s beyond the copies and the containers' stop/start (target < 1 s). The largest of the other steps: ${others}. Each one is a few SSH commands or Docker API calls over the link.`,
    );
  }
  if (v.footprint.ok === false && r.footprint) {
    out.push(
      `- Footprint: ${f1(r.footprint.rssMaxMB)} MB RSS at most (target < 80 MB) and ${f2(r.footprint.cpuWithChildrenPercent)} % of one core with its child processes (${f2(r.footprint.cpuPercent)} % without; target < 1 %). A bare \`node\` doing nothing measures ${f1(r.footprint.nodeBaselineMB)} MB RSS on this machine; the rest is the service's code, its modules (MQTT, ssh2, dockerode, pino, zod) and their buffers.`,
    );
  }
  return out;
}

export function renderMarkdown(r: Results): string {
  const v = judge(r);
  const s = r.settings;
  const out: string[] = ['# Benchmarks', ''];
  out.push(
    `Written by \`npm run bench\` (bench/run.ts) on ${r.generatedAt.slice(0, 10)} from one run of ${Math.round(r.durationS / 60)} min; every figure below comes from that run (raw results: [benchmarks.json](benchmarks.json)). Medians of ${s.runs} run(s) per figure; the plain script and the service are measured side by side in the same run, on the same trees, link and machine.`,
    '',
  );
  const smaller = belowIssueSizes(r);
  if (smaller.length > 0) {
    out.push(
      `> **Not the issue's sizes**: this run used ${smaller.join(', ')}. Run \`npm run bench\` without BENCH_* variables for the real figures.`,
      '',
    );
  }
  out.push('## Setup', '');
  const m = r.machine;
  out.push(
    `- Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGB} GB, ${m.os}, kernel ${m.kernel}, Node ${m.node}, ${m.rsync}, ${m.ssh}. Both sites, the service and the client run on it.`,
    `- Config tree (linuxserver layout, generated by test/bench/config-tree.ts): ${r.tree.files} files, ${r.tree.metadataFiles} of them metadata images, ${mb(r.tree.bytes)} MB in all, \`jellyfin.db\` ${mb(r.tree.databaseBytes)} MB. Master's Jellyfin stand-in has a user watching (a playback report every ${s.watchMs} ms) and writes what an idle server with clients writes; its startup takes ${s.startupMs} ms.`,
    `- Changes carried: routine = ${r.changes.routine ? `${r.changes.routine.files} metadata images (${Math.round(s.routineShare * 100)} %, ${mb(r.changes.routine.bytes)} MB) rewritten` : 'n/a'}, plus the database under its writer; 1 GB change = ${r.changes.big ? `${r.changes.big.files} new trickplay tiles, ${mb(r.changes.big.bytes)} MB` : 'n/a'}. Before every run both sites are reset to the same pristine tree and master gets the same change.`,
    `- Link: slave (and, for the relay, master) is a network namespace behind a veth pair shaped with \`tc\` to ${r.link.rateMbit} Mbit/s each way (\`${r.link.shaping}\`), reached over its own sshd at 10.213.0.x: everything the service or the script does with that host over SSH (rsync's file list and data, Docker through \`docker system dial-stdio\`, commands) pays for the link. One SSH stream achieves ${f1(r.link.sshThroughputMBps)} MB/s over it.${r.link.note ? ` ${r.link.note}.` : ''} The Jellyfin containers run with host networking in the root namespace: their HTTP (the health polls, the client) is control traffic and does not cross the shaped link.`,
    "- Plain script: [bench/plain-sync.sh](../bench/plain-sync.sh), run for real from master's side: `docker stop` master, `ssh slave docker stop`, one `rsync -aAXH --delete -e ssh` of the config dir (with the same excludes as the service: cache, transcodes, logs, backups), `docker start` master, `ssh slave docker start`.",
    `- Service: \`jellyfin-failover sync\` through the product's composition root (what the CLI runs), in the topology "${TOPOLOGY_TEXT['service-on-master']}", the same side the script runs on.`,
    '',
  );
  out.push(...syncSection(r, v));
  out.push(...steadySection(r));

  if (r.detection) {
    const d = r.detection;
    out.push('## Detection', '');
    out.push(
      `The built service (\`node dist/main.js run\`, ${TOPOLOGY_TEXT['service-on-slave']}) with HEALTH_INTERVAL_S=${d.healthIntervalS}, HEALTH_FAILURES=${d.healthFailures}; a subscriber on the same Mosquitto times the messages from the moment of the fault. Killed: \`docker kill\` of master's container, until \`site_down\` for master on \`B/event\`. Unhealthy: master's container keeps running but its Jellyfin's HTTP sockets are destroyed (\`ss -K\`: the listener and open connections), so \`/health\` is refused, until \`B/state\` says \`sites.master.online: false\` (the \`master_online\` binary sensor off). The fault is injected only once master's container has run longer than START_TIMEOUT_S (${r.detection.startTimeoutS} s here): within that time after a container's start the monitor counts a refused \`/health\` as "starting" (Jellyfin 10.10 refuses connections while it loads), so a Jellyfin that fails that soon is seen only START_TIMEOUT_S after its start.`,
      '',
    );
    out.push(
      table(
        ['fault', 'median (s)', 'runs (s)', 'what was received', 'target', 'result'],
        [
          {
            cells: [
              'container killed',
              f2(v.kill.s),
              d.kill.map((k) => f2(k.s)).join(', '),
              d.kill[0]?.detail ?? '',
              '<= 2 s',
              verdict(v.kill.ok),
            ],
          },
          {
            cells: [
              'Jellyfin unhealthy',
              f2(v.unhealthy.s),
              d.unhealthy.map((k) => f2(k.s)).join(', '),
              d.unhealthy[0]?.detail ?? '',
              `<= ${f1(v.unhealthy.targetS)} s`,
              verdict(v.unhealthy.ok),
            ],
          },
        ],
      ),
      '',
    );
  }

  if (r.promote.length > 0) {
    out.push('## Promote overhead', '');
    const part = (names: string[]) =>
      median(
        r.promote.map((p) => sum((p.steps ?? []).filter((st) => names.includes(st.name)).map((st) => st.s))),
      );
    out.push(
      `\`jellyfin-failover promote\` (${TOPOLOGY_TEXT['service-on-slave']}), after the routine change, master reachable. Step times come from the operation statuses the engine reports (\`app.observers\`). Overhead = wall time minus the rsync steps (${COPY_STEPS.join(', ')}) minus the containers' stop/start with Jellyfin's startup (${CONTAINER_STEPS.join(', ')}).`,
      '',
    );
    out.push(
      table(
        ['wall time (s)', 'rsync steps (s)', 'containers (s)', 'overhead (s)', 'target', 'result'],
        [
          {
            cells: [
              f2(median(r.promote.map((p) => p.totalS))),
              f2(part(COPY_STEPS)),
              f2(part(CONTAINER_STEPS)),
              f2(v.promote.overheadS),
              '< 1 s',
              verdict(v.promote.ok),
            ],
          },
        ],
      ),
      '',
      `Steps (medians, s): ${medianSteps(r.promote)
        .map((st) => `${st.name} ${f2(st.s)}`)
        .join(', ')}.`,
      '',
    );
  }

  if (r.footprint) {
    const fp = r.footprint;
    out.push('## Footprint', '');
    out.push(
      `\`node dist/main.js run\` (the built service, not tsx), ${TOPOLOGY_TEXT['service-on-slave']}, default intervals${r.detection && r.settings.healthIntervalS !== null ? ` but HEALTH_INTERVAL_S=${r.settings.healthIntervalS}` : ''}, connected to Mosquitto, idle for ${f1(fp.windowS)} s after its start-up settled. RSS from /proc/<pid>/status VmRSS every second; CPU from utime+stime in /proc/<pid>/stat over the window, and with cutime+cstime (the commands it ran and reaped).`,
      '',
      table(
        [
          'RSS max (MB)',
          'RSS at the end (MB)',
          'CPU, own (% of a core)',
          'CPU with children (%)',
          'target',
          'result',
        ],
        [
          {
            cells: [
              f1(fp.rssMaxMB),
              f1(fp.rssEndMB),
              f2(fp.cpuPercent),
              f2(fp.cpuWithChildrenPercent),
              '< 80 MB, < 1 %',
              verdict(v.footprint.ok),
            ],
          },
        ],
      ),
      '',
    );
  }

  out.push(...relaySection(r));

  const missed = why(r, v);
  if (missed.length > 0) out.push('## Targets missed, and why', '', ...missed, '');
  if (r.buildWarning) {
    out.push(
      '## Build',
      '',
      '`npm run build` reported errors but wrote dist/, which was measured:',
      '',
      '```',
      r.buildWarning,
      '```',
      '',
    );
  }
  if (r.errors.length > 0) {
    out.push(
      '## Parts that failed',
      '',
      ...r.errors.map((e) => `- ${e.part}: ${e.error.split('\n')[0]}`),
      '',
    );
  }
  out.push(
    '## Running it',
    '',
    `\`npm run bench\` as root (it creates network namespaces, runs dockerd and sshd; never part of \`npm test\`). Sizes: BENCH_FILES (metadata images, 20000), BENCH_TREE_MB (tree size, files/10), BENCH_DB_MB (50), BENCH_BIG_MB (1024), BENCH_RUNS (3), BENCH_LINK_MBIT (200), BENCH_LINK_DELAY_MS (1, needs netem), BENCH_STARTUP_MS (300), BENCH_WATCH_MS (500), BENCH_IDLE_S (60), BENCH_HEALTH_INTERVAL_S / BENCH_HEALTH_FAILURES (product defaults), BENCH_ONLY (${PARTS.join(',')}); BENCH_OUT (another directory for the reports), BENCH_RENDER=docs/benchmarks.json (write the pages again from saved results), BENCH_LOG_LEVEL (the service's log, default silent). A smoke run (about 5 min): \`BENCH_FILES=2000 BENCH_DB_MB=5 BENCH_RUNS=1 BENCH_BIG_MB=50 npm run bench\`.`,
    '',
  );
  return out.join('\n');
}

/** Relay against direct for one change: medians of total time and of the bytes through the service's host. */
function relayFigures(r: Results, change: Change) {
  const direct = r.relay[change]?.['service-on-slave'] ?? [];
  const relay = r.relay[change]?.['third-host'] ?? [];
  if (direct.length === 0 || relay.length === 0) return null;
  const directS = median(direct.map((s) => s.totalS));
  const relayS = median(relay.map((s) => s.totalS));
  const directBytes = median(direct.map((s) => s.linkBytes.master)) ?? 0;
  const relayBytes =
    (median(relay.map((s) => s.linkBytes.master)) ?? 0) + (median(relay.map((s) => s.linkBytes.slave)) ?? 0);
  return {
    directS,
    relayS,
    timeRatio: directS && relayS !== null ? relayS / directS : null,
    directBytes,
    relayBytes,
    bytesRatio: directBytes > 0 ? relayBytes / directBytes : null,
  };
}

function relaySection(r: Results): string[] {
  const changes = (['routine', 'big'] as const).filter((c) => r.relay[c]);
  if (changes.length === 0) return [];
  const out: string[] = ['## Relay: both sites remote (issue 10)', ''];
  out.push(
    `The same sync (SYNC_MODE=online) in two placements of the service, on the same ${r.link.rateMbit} Mbit/s links: "${TOPOLOGY_TEXT['service-on-slave']}" (rsync on slave pulls from master over SSH: one crossing), and "${TOPOLOGY_TEXT['third-host']}": rsync runs on master and its protocol is relayed through the service's host to the receiving rsync on slave (src/adapters/rsync/relay.ts), so the data crosses the service host's network twice. Throughput: the big change's bytes over the pre-copy step that carries them.`,
    '',
  );
  const rows: Row[] = [];
  const topologies: RelayTopology[] = ['service-on-slave', 'third-host'];
  for (const change of changes) {
    for (const t of topologies) {
      const samples = r.relay[change]?.[t] ?? [];
      if (samples.length === 0) continue;
      const pre = stepOf(samples, 'pre-copy');
      const through = change === 'big' && pre ? r.settings.bigBytes / MB / pre : null;
      const m = median(samples.map((s) => s.linkBytes.master));
      const sl = median(samples.map((s) => s.linkBytes.slave));
      rows.push({
        cells: [
          CHANGE_TEXT[change],
          t === 'third-host' ? 'third host (relay)' : 'service on slave (direct)',
          f1(median(samples.map((s) => s.totalS))),
          mb(m),
          mb(sl),
          t === 'third-host' ? mb((m ?? 0) + (sl ?? 0)) : mb(m),
          through === null ? '-' : f1(through),
        ],
      });
    }
  }
  out.push(
    table(
      [
        'change',
        'placement',
        'total (s)',
        'master link (MB)',
        'slave link (MB)',
        "through the service's host (MB)",
        'copy throughput (MB/s)',
      ],
      rows,
    ),
    '',
  );
  const sentences: string[] = [];
  for (const change of changes) {
    const f = relayFigures(r, change);
    if (!f) continue;
    sentences.push(
      `- ${CHANGE_TEXT[change]}: the relay took ${f1(f.relayS)} s against ${f1(f.directS)} s direct (${f2(f.timeRatio)}x) and moved ${mb(f.relayBytes)} MB through the service's host against ${mb(f.directBytes)} MB (${f2(f.bytesRatio)}x).`,
    );
  }
  out.push(...sentences, '');
  return out;
}

/** Medians of the back-to-back online syncs (bench/run.ts, steadyPart), or null when the part did not run. */
function steadyFigures(r: Results) {
  const st = r.steady;
  if (!st || st.first.length === 0 || st.next.length === 0) return null;
  const of = (samples: Sample[]) => ({
    totalS: median(samples.map((x) => x.totalS)),
    linkBytes: median(samples.map((x) => x.linkBytes.slave)),
    copiedBytes: median(samples.map((x) => x.copiedBytes)),
    downtimeS: median(samples.map((x) => x.downtimeS)),
    copySnapshotsS: stepOf(samples, 'copy-snapshots'),
    swapS: stepOf(samples, 'swap'),
  });
  return { runs: Math.min(st.first.length, st.next.length), first: of(st.first), next: of(st.next) };
}

function steadySection(r: Results): string[] {
  const f = steadyFigures(r);
  if (!f) return [];
  const out = ['## Online sync in steady state', ''];
  out.push(
    `The sync figures above start every run from a standby holding a byte-for-byte copy of master's tree, which is then the basis of the database deltas. After one online sync the standby holds a snapshot instead: \`VACUUM INTO\` writes every page anew, in its own order. Here each of ${f.runs} run(s) resets both sites, makes the routine change and runs an online sync ("first"). Then it makes another routine change under the same writer and runs the next online sync ("next"), whose basis is the first one's snapshot. That is what every later online sync does.`,
    '',
  );
  const rows: Row[] = (['first', 'next'] as const).map((which) => {
    const x = f[which];
    return {
      cells: [
        which === 'first' ? 'first (basis: a byte-for-byte copy)' : "next (basis: the first's snapshot)",
        f1(x.totalS),
        mb(x.linkBytes),
        mb(x.copiedBytes),
        f2(x.copySnapshotsS),
        f2(x.downtimeS),
      ],
    };
  });
  out.push(
    table(
      [
        'online sync',
        'total (s)',
        'over the link (MB)',
        'rsync-reported (MB)',
        'copy-snapshots (s)',
        'primary downtime (s)',
      ],
      rows,
    ),
    '',
  );
  const linkShare = f.first.linkBytes && f.next.linkBytes ? f.next.linkBytes / f.first.linkBytes : null;
  out.push(
    `- Over the link the next sync moves ${linkShare === null ? 'n/a' : `${Math.round(linkShare * 100)} %`} of what the first moved: its database deltas find the previous snapshot's pages in their basis. rsync-reported bytes do not change, as they count the full size of every file updated.`,
    `- The next sync takes longer all the same: its swap takes ${f2(f.next.swapS)} s, against ${f2(f.first.swapS)} s for the first. The swap first removes the previous sync's undo snapshot, a whole tree of ${r.tree.files} files (hard links), over SSH while the standby is stopped. The first sync has none to remove. That is standby downtime, not the primary's. Moving the old snapshot aside and removing it after the standby has started would take it out of that downtime; it is not done yet.`,
    '',
  );
  return out;
}

export function renderSummary(r: Results): string {
  const v = judge(r);
  const rows: Row[] = [];
  for (const change of ['routine', 'big'] as const) {
    const o = v.onlineDowntime[change];
    if (o)
      rows.push({
        cells: [
          `primary downtime, online sync, ${CHANGE_TEXT[change]}`,
          `${f2(o.downtimeS)} s, ${o.failed} failed requests`,
          '0 s, none',
          verdict(o.ok),
        ],
      });
    const s = v.stoppedRatio[change];
    if (s && s.ratio !== null)
      rows.push({
        cells: [
          `primary downtime, stopped sync, ${CHANGE_TEXT[change]}`,
          `${f2(s.ours)} s vs ${f2(s.plain)} s plain (${f2(s.ratio)}x)`,
          `<= ${s.target}x plain`,
          verdict(s.ok),
        ],
      });
  }
  for (const mode of ['stopped', 'online'] as const) {
    const w = v.wallRatio[mode];
    if (w && w.ratio !== null)
      rows.push({
        cells: [
          `total time of a routine sync (${mode})`,
          `${f1(w.ours)} s vs ${f1(w.plain)} s plain (${f2(w.ratio)}x)`,
          '<= 1.5x plain',
          verdict(w.ok),
        ],
      });
  }
  const steady = steadyFigures(r);
  if (steady)
    rows.push({
      cells: [
        'data over the link, routine online sync after an online sync (steady state)',
        `${mb(steady.next.linkBytes)} MB (the first after a byte-for-byte copy: ${mb(steady.first.linkBytes)} MB)`,
        'none (measured)',
        '-',
      ],
    });
  if (v.kill.s !== null)
    rows.push({
      cells: ['container killed -> `site_down`', `${f2(v.kill.s)} s`, '<= 2 s', verdict(v.kill.ok)],
    });
  if (v.unhealthy.s !== null)
    rows.push({
      cells: [
        'Jellyfin unhealthy -> `master_online` off',
        `${f2(v.unhealthy.s)} s`,
        `<= ${f1(v.unhealthy.targetS)} s`,
        verdict(v.unhealthy.ok),
      ],
    });
  if (v.promote.overheadS !== null)
    rows.push({
      cells: ['promote overhead', `${f2(v.promote.overheadS)} s`, '< 1 s', verdict(v.promote.ok)],
    });
  if (r.footprint)
    rows.push({
      cells: [
        'idle service footprint',
        `${f1(r.footprint.rssMaxMB)} MB RSS, ${f2(r.footprint.cpuWithChildrenPercent)} % CPU`,
        '< 80 MB, < 1 %',
        verdict(v.footprint.ok),
      ],
    });
  for (const change of ['routine', 'big'] as const) {
    const f = relayFigures(r, change);
    if (!f) continue;
    rows.push({
      cells: [
        `both sites remote (relay through the service's host), ${CHANGE_TEXT[change]}`,
        `${f1(f.relayS)} s vs ${f1(f.directS)} s with the service on slave; ${f2(f.bytesRatio)}x the bytes through the service's host`,
        'none (issue 10: measure)',
        '-',
      ],
    });
  }
  const smaller = belowIssueSizes(r);
  return [
    '<!-- bench:begin -->',
    `Measured by \`npm run bench\` on ${r.generatedAt.slice(0, 10)} (${r.machine.cores} cores; ${r.tree.metadataFiles} metadata images, ${mb(r.tree.databaseBytes)} MB database under a writer, slave over SSH behind a ${r.link.rateMbit} Mbit/s link; medians of ${r.settings.runs}; details in [docs/benchmarks.md](docs/benchmarks.md))${smaller.length > 0 ? `. Not the issue's sizes: ${smaller.join(', ')}` : ''}:`,
    '',
    table(['what', 'measured', 'target', 'result'], rows),
    '<!-- bench:end -->',
    '',
  ].join('\n');
}

export async function writeReports(r: Results, dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const files = {
    'benchmarks.md': renderMarkdown(r),
    'benchmarks-summary.md': renderSummary(r),
    'benchmarks.json': `${JSON.stringify(r, null, 2)}\n`,
  };
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return Object.keys(files).map((n) => join(dir, n));
}

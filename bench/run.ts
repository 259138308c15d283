/**
 * Benchmarks, side by side in one run on the same bench:
 *   plain  - what the cron script did: stop both containers, rsync the whole config dir over SSH, start both;
 *   ours   - `jellyfin-failover sync`: pre-copy while both run, then stop, a short final pass, start.
 * Measured: the primary's downtime (stop -> Healthy again), total duration, bytes sent, the service's peak RSS,
 * and the extra disk the undo snapshot costs (hard links for unchanged files).
 *
 *   npm run bench                       (as root: uses the test bench's dockerd, sshd and stand-in images)
 *   BENCH_FILES=4000 BENCH_MB=400 npm run bench
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { compose } from '../src/compose.js';
import { DOCKER_SOCKET, ensureDockerd } from '../test/bench/dockerd.js';
import { buildBenchImages } from '../test/bench/images.js';
import { ensurePackages } from '../test/bench/packages.js';
import { createTwoSites, type TwoSites } from '../test/bench/sites.js';
import { waitForHealth } from '../test/bench/standin.js';

const FILES = Number(process.env.BENCH_FILES ?? 3000);
const MB = Number(process.env.BENCH_MB ?? 300);
const CHANGED_SHARE = 0.05;
const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

interface Row {
  approach: string;
  downtimeS: number;
  totalS: number;
  sentMB: number;
  note: string;
}

/** Master changes between two syncs: a share of its files rewritten, watch progress in the database. */
async function changeMaster(sites: TwoSites): Promise<void> {
  const { stdout } = await execa('find', [join(sites.dirs.master, 'data', 'metadata'), '-type', 'f']);
  const files = stdout.split('\n').filter(Boolean);
  const count = Math.max(1, Math.round(files.length * CHANGED_SHARE));
  for (const f of files.slice(0, count))
    await execa('sh', ['-c', 'head -c 65536 /dev/urandom >> "$1"', 'sh', f]);
}

async function plainScript(sites: TwoSites): Promise<Row> {
  const ssh = sites.sshd;
  if (!ssh) throw new Error('bench needs a remote slave');
  const started = Date.now();
  await execa('docker', ['stop', '-t', '10', sites.containers.master, sites.containers.slave]);
  const rsync = await execa('rsync', [
    '-aAXH',
    '--numeric-ids',
    '--delete',
    '--stats',
    '--exclude=/cache/',
    '--exclude=/log/',
    '--exclude=/data/transcodes/',
    '-e',
    ssh.rsyncRsh(),
    `${sites.dirs.master}/`,
    `${ssh.user}@${ssh.address}:${sites.dirs.slave}/`,
  ]);
  await execa('docker', ['start', sites.containers.master, sites.containers.slave]);
  await waitForHealth(sites.urls.master, 'Healthy', 60_000);
  const downtimeS = (Date.now() - started) / 1000;
  await waitForHealth(sites.urls.slave, 'Healthy', 60_000);
  const sent = Number(
    /Total transferred file size: ([\d,]+)/.exec(rsync.stdout)?.[1]?.replace(/,/g, '') ?? 0,
  );
  return {
    approach: 'plain script (stop both, rsync, start)',
    downtimeS,
    totalS: (Date.now() - started) / 1000,
    sentMB: sent / 2 ** 20,
    note: 'no snapshot, no verify, overwrites in place',
  };
}

async function ourSync(sites: TwoSites): Promise<Row & { peakRssMB: number; snapshotExtraMB: number }> {
  const rt = compose(sites.config, sites.logger, { healthPollMs: 200 });
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 100);
  try {
    const result = await rt.operations.run('sync', { force: false });
    const du = await execa('du', ['-sm', sites.dirs.slave, `${sites.dirs.slave}.jf-failover-snapshot`]);
    const [live, snap] = du.stdout.split('\n').map((l) => Number(l.split('\t')[0]));
    return {
      approach: 'jellyfin-failover sync (pre-copy, final pass)',
      downtimeS: result.primaryDowntimeS,
      totalS: result.durationS,
      sentMB: result.bytes / 2 ** 20,
      note: `snapshot kept, DB verified; slave live ${live} MB`,
      peakRssMB: Math.round(peak / 2 ** 20),
      snapshotExtraMB: snap ?? 0,
    };
  } finally {
    clearInterval(sampler);
    await rt.close();
  }
}

async function main(): Promise<void> {
  await ensurePackages(log);
  const workDir = await mkdtemp(join(tmpdir(), 'jf-bench-run-'));
  const stopDockerd = await ensureDockerd(workDir, log);
  const images = await buildBenchImages(log);
  const bench = {
    dockerSocket: DOCKER_SOCKET,
    mqttUrl: 'mqtt://127.0.0.1:1',
    mqttPort: 1,
    standinImage: images.standinImage,
    swagImage: images.swagImage,
    workDir,
  };
  const rows: Array<Row & { scenario: string }> = [];
  const extras: string[] = [];
  const scenarios = [
    { scenario: `${CHANGED_SHARE * 100}% of metadata changed`, emptySlave: false },
    { scenario: 'first sync, empty standby', emptySlave: true },
  ];
  try {
    for (const { scenario, emptySlave } of scenarios) {
      for (const approach of ['plain', 'ours'] as const) {
        log(`${scenario}, ${approach}: building two sites with ${FILES} files, ${MB} MB`);
        const sites = await createTwoSites({
          name: `bench-${approach}`,
          remote: 'slave',
          files: FILES,
          totalBytes: MB * 2 ** 20,
          masterWriteMs: 500,
          emptySlave,
          bench,
        });
        try {
          if (!emptySlave) await changeMaster(sites);
          if (approach === 'plain') rows.push({ scenario, ...(await plainScript(sites)) });
          else {
            const r = await ourSync(sites);
            rows.push({ scenario, ...r });
            extras.push(
              `${scenario}: benchmark process peak RSS during the sync (service code + tsx) ${r.peakRssMB} MB; ` +
                `disk held by the undo snapshot beyond the live tree ${r.snapshotExtraMB} MB`,
            );
          }
        } finally {
          await sites.cleanup();
        }
      }
    }
  } finally {
    if (stopDockerd) await stopDockerd();
    await rm(workDir, { recursive: true, force: true });
  }
  const fmt = (n: number) => n.toFixed(1);
  process.stdout.write(
    [
      `\n${FILES} files, ${MB} MB config dir; slave over SSH on loopback (no network limit: a LAN makes copies slower, which only the plain script's downtime pays for)\n`,
      '| scenario | approach | primary downtime (s) | total (s) | file data copied (MB) | note |',
      '|---|---|---|---|---|---|',
      ...rows.map(
        (r) =>
          `| ${r.scenario} | ${r.approach} | ${fmt(r.downtimeS)} | ${fmt(r.totalS)} | ${fmt(r.sentMB)} | ${r.note} |`,
      ),
      '',
      ...extras,
      '',
    ].join('\n'),
  );
}

await main();

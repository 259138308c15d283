/**
 * Everything the benchmark runs on, built once and torn down at the end (also on a failure or Ctrl-C):
 * the bench's dockerd and images (test/bench, as the integration tests use them), a Mosquitto, two "remote hosts"
 * (network namespaces behind shaped veth links, each with its own sshd), the two Jellyfin stand-ins with a
 * generated config tree, and a pristine copy of that tree that both sites are reset to before every run.
 *
 * The stand-in containers run with host networking in the root namespace: their HTTP (health, info) is control
 * traffic the service would send over the LAN too, but it does not cross the shaped link here. What does cross
 * it is everything the service does with a remote site over SSH: rsync (file list and data), Docker through
 * `docker system dial-stdio`, and its commands.
 */

import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join, relative } from 'node:path';
import { execa } from 'execa';
import type { Config } from '../src/config/load.js';
import { loadConfig } from '../src/config/load.js';
import { createLogger, type Logger } from '../src/log.js';
import { DOCKER_SOCKET, ensureDockerd } from '../test/bench/dockerd.js';
import { buildBenchImages } from '../test/bench/images.js';
import { type MosquittoHandle, startMosquitto } from '../test/bench/mosquitto.js';
import { ensurePackages } from '../test/bench/packages.js';
import type { BenchInfo } from '../test/bench/provided.js';
import { createTwoSites, type TwoSites } from '../test/bench/sites.js';
import { ensureBenchUser, generateKeyPair, type SshdHandle, startSshd } from '../test/bench/sshd.js';
import { createNetnsHost, type NetnsHost } from './netns.js';
import type { BenchSettings } from './settings.js';

export type Topology = 'service-on-master' | 'service-on-slave' | 'third-host';

export const TOPOLOGY_TEXT: Record<Topology, string> = {
  'service-on-master': 'service on master, slave over SSH behind the link',
  'service-on-slave': 'service on slave, master over SSH behind the link',
  'third-host': 'service on a third host, master and slave each over SSH behind a link of their own (relay)',
};

export interface TreeInfo {
  /** Files in the config tree. */
  files: number;
  /** Metadata images among them. */
  metadataFiles: number;
  bytes: number;
  databaseBytes: number;
}

export interface World {
  readonly settings: BenchSettings;
  readonly workDir: string;
  readonly bench: BenchInfo;
  readonly mosquitto: MosquittoHandle;
  readonly links: Record<'master' | 'slave', NetnsHost>;
  readonly sshds: Record<'master' | 'slave', SshdHandle>;
  readonly sites: TwoSites;
  /** The tree both sites are reset to before each run. */
  readonly pristine: string;
  readonly tree: TreeInfo;
  readonly logger: Logger;
  /** MB/s that one SSH stream (`cat` of 50 MB) achieves over the slave's link. */
  readonly sshThroughputMBps: number;
  /** The environment the service gets in a topology (plus `extra`), and its parsed config. */
  configFor(
    topology: Topology,
    extra?: Record<string, string>,
  ): { env: Record<string, string>; config: Config };
}

export type Log = (msg: string) => void;

/** A stack of undo actions, run last-in first-out, each one whatever the others do. */
export class Teardown {
  private readonly actions: Array<{ what: string; run: () => Promise<unknown> }> = [];
  private running: Promise<void> | null = null;

  constructor(private readonly log: Log) {}

  add(what: string, run: () => Promise<unknown>): void {
    this.actions.push({ what, run });
  }

  run(): Promise<void> {
    this.running ??= (async () => {
      for (const a of this.actions.splice(0).reverse()) {
        try {
          await a.run();
        } catch (err) {
          this.log(`teardown: ${a.what} failed: ${(err as Error).message}`);
        }
      }
    })();
    return this.running;
  }
}

export async function countFiles(dir: string): Promise<number> {
  const { stdout } = await execa('find', [dir, '-type', 'f'], { reject: false });
  return stdout.split('\n').filter(Boolean).length;
}

export async function duBytes(path: string): Promise<number> {
  const { stdout } = await execa('du', ['-sb', path]);
  return Number(stdout.split('\t')[0]);
}

/** Stops a stand-in with SIGTERM (it checkpoints its databases and exits), as `docker stop` does. */
export async function stopContainer(name: string): Promise<void> {
  await execa('docker', ['-H', `unix://${DOCKER_SOCKET}`, 'stop', '-t', '10', name], { reject: false });
}

async function sshThroughput(sshd: SshdHandle, bytes: number): Promise<number> {
  const started = Date.now();
  await execa('sh', [
    '-c',
    `head -c ${bytes} /dev/zero | ssh "$@" 'cat > /dev/null'`,
    'sh',
    ...sshd.sshArgs(),
    `${sshd.user}@${sshd.address}`,
  ]);
  return bytes / 1e6 / ((Date.now() - started) / 1000);
}

export async function buildWorld(settings: BenchSettings, teardown: Teardown, log: Log): Promise<World> {
  if (process.getuid?.() !== 0) {
    throw new Error(
      'npm run bench needs root: it creates network namespaces, runs dockerd and sshd. Run it as root.',
    );
  }
  await ensurePackages(log);
  await ensureBenchUser();
  const workDir = await mkdtemp(join(tmpdir(), 'jf-bench-run-'));
  teardown.add('removing the work dir', () => rm(workDir, { recursive: true, force: true }));
  const stopDockerd = await ensureDockerd(workDir, log);
  if (stopDockerd) teardown.add('stopping dockerd', stopDockerd);
  const images = await buildBenchImages(log);
  const mosquitto = await startMosquitto(workDir);
  teardown.add('stopping Mosquitto', () => mosquitto.stop());
  const bench: BenchInfo = {
    dockerSocket: DOCKER_SOCKET,
    mqttUrl: mosquitto.url,
    mqttPort: mosquitto.port,
    ...images,
    workDir,
  };

  const link = { rateMbit: settings.linkMbit, delayMs: settings.linkDelayMs };
  log(`network namespaces: two links of ${link.rateMbit} Mbit/s each way`);
  const links = {
    slave: await createNetnsHost({
      ns: 'jfbench-slave',
      stem: 'jfbs',
      hostAddress: '10.213.0.1',
      nsAddress: '10.213.0.2',
      link,
    }),
    master: await createNetnsHost({
      ns: 'jfbench-master',
      stem: 'jfbm',
      hostAddress: '10.213.0.5',
      nsAddress: '10.213.0.6',
      link,
    }),
  };
  teardown.add('removing the slave namespace', () => links.slave.remove());
  teardown.add('removing the master namespace', () => links.master.remove());
  if (links.slave.shapingNote) log(links.slave.shapingNote);

  const keyDir = join(workDir, 'service-key');
  await mkdir(keyDir);
  const clientKey = await generateKeyPair(keyDir, 'service_ed25519');
  const sshds = {
    slave: await startSshd({ netns: links.slave.ns, address: links.slave.nsAddress, clientKey }),
    master: await startSshd({ netns: links.master.ns, address: links.master.nsAddress, clientKey }),
  };
  teardown.add('stopping the slave sshd', () => sshds.slave.stop());
  teardown.add('stopping the master sshd', () => sshds.master.stop());
  const knownHostsFile = join(workDir, 'known_hosts');
  await writeFile(
    knownHostsFile,
    (await readFile(sshds.slave.knownHostsFile, 'utf8')) +
      (await readFile(sshds.master.knownHostsFile, 'utf8')),
  );
  const sshThroughputMBps = await sshThroughput(sshds.slave, 50_000_000);
  log(`one SSH stream over the slave link: ${sshThroughputMBps.toFixed(1)} MB/s`);

  // The generator spends ~82 % of the files it is given on metadata images (the rest: configs, plugins, logs,
  // cache, transcodes), so ask for enough files to get the wanted number of images.
  const files = Math.round(settings.metadataFiles / 0.82) + 30;
  log(
    `generating the config tree: ~${settings.metadataFiles} metadata images, ${Math.round(settings.treeBytes / 2 ** 20)} MB, database ${Math.round(settings.databaseBytes / 2 ** 20)} MB`,
  );
  const sites = await createTwoSites({
    name: 'bench',
    remote: 'none',
    files,
    totalBytes: settings.treeBytes,
    databaseBytes: settings.databaseBytes,
    masterWriteMs: settings.watchMs,
    startupDelayMs: settings.startupMs,
    bench,
  });
  teardown.add('removing the sites', () => sites.cleanup());
  // The trees as the generator made them, while nothing runs: what every run starts from.
  await Promise.all([stopContainer(sites.containers.master), stopContainer(sites.containers.slave)]);
  const pristine = join(sites.base, 'pristine');
  await execa('rsync', ['-aAXH', '--delete', `${sites.dirs.master}/`, `${pristine}/`]);
  const database = sites.tree.databases.jellyfin;
  const tree: TreeInfo = {
    files: await countFiles(pristine),
    metadataFiles: await countFiles(join(pristine, 'data', 'metadata')),
    bytes: await duBytes(pristine),
    databaseBytes: await duBytes(join(pristine, relative(sites.dirs.master, database))),
  };
  log(
    `tree: ${tree.files} files (${tree.metadataFiles} metadata images), ${(tree.bytes / 2 ** 20).toFixed(0)} MB, database ${(tree.databaseBytes / 2 ** 20).toFixed(1)} MB`,
  );

  const logger = createLogger({ level: process.env.BENCH_LOG_LEVEL ?? 'silent' });
  const health: Record<string, string> = {};
  if (settings.healthIntervalS !== null) health.HEALTH_INTERVAL_S = String(settings.healthIntervalS);
  if (settings.healthFailures !== null) health.HEALTH_FAILURES = String(settings.healthFailures);
  const configFor = (topology: Topology, extra: Record<string, string> = {}) => {
    const env: Record<string, string> = {
      ...sites.env,
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'silent',
      SSH_KEY_FILE: clientKey.privateKeyFile,
      SSH_KNOWN_HOSTS_FILE: knownHostsFile,
      ...health,
    };
    if (topology !== 'service-on-slave') {
      env.SLAVE_SSH = sshds.slave.sshTarget;
      env.SLAVE_DOCKER = 'ssh';
    }
    if (topology !== 'service-on-master') {
      env.MASTER_SSH = sshds.master.sshTarget;
      env.MASTER_DOCKER = 'ssh';
    }
    Object.assign(env, extra);
    return { env, config: loadConfig({ env }) };
  };
  return {
    settings,
    workDir,
    bench,
    mosquitto,
    links,
    sshds,
    sites,
    pristine,
    tree,
    logger,
    sshThroughputMBps,
    configFor,
  };
}

/** The machine, for the report. */
export async function machineInfo(): Promise<Record<string, string | number>> {
  const kernel = (await execa('uname', ['-r'])).stdout.trim();
  const os = (await execa('sh', ['-c', '. /etc/os-release && echo "$PRETTY_NAME"'], { reject: false }))
    .stdout;
  const rsync = (await execa('rsync', ['--version'])).stdout.split('\n')[0] ?? '';
  const ssh = (await execa('ssh', ['-V'], { reject: false })).stderr.trim();
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGB: Math.round(totalmem() / 2 ** 30),
    os: os.trim(),
    kernel,
    node: process.version,
    rsync: rsync.replace(/\s+protocol.*$/, '').replace(/\s+/g, ' '),
    ssh,
  };
}

/** Files under `dir`, relative, sorted. */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) out.push(relative(dir, p));
    }
  };
  await walk(dir);
  return out.sort();
}

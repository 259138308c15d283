import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { DOCKER_SOCKET, ensureDockerd } from './dockerd.js';
import { buildBenchImages } from './images.js';
import { startMosquitto } from './mosquitto.js';
import { ensurePackages } from './packages.js';
import { ensureBenchUser } from './sshd.js';
import './provided.js';

const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

/**
 * The integration bench, started by the test command itself: Debian packages, dockerd, Mosquitto, and the
 * locally built Jellyfin and SWAG stand-in images. Per-test pieces (sshd, containers) live in the tests.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  const workDir = await mkdtemp(join(tmpdir(), 'jf-bench-'));
  await ensurePackages(log);
  await ensureBenchUser();
  const stopDockerd = await ensureDockerd(workDir, log);
  const mosquitto = await startMosquitto(workDir);
  const images = await buildBenchImages(log);
  log(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s (mqtt ${mosquitto.url})`);
  project.provide('bench', {
    dockerSocket: DOCKER_SOCKET,
    mqttUrl: mosquitto.url,
    mqttPort: mosquitto.port,
    standinImage: images.standinImage,
    swagImage: images.swagImage,
    snapshotImage: images.snapshotImage,
    workDir,
  });
  return async () => {
    await mosquitto.stop();
    if (stopDockerd) await stopDockerd();
    await rm(workDir, { recursive: true, force: true });
  };
}

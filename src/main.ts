#!/usr/bin/env node
/**
 * The entry point. Before anything else loads: V8 is asked to favour memory over peak speed (the service idles
 * between operations; the heavy lifting is rsync's and ssh's), and dockerode's BuildKit session module (gRPC and
 * protobuf, ~7 MB resident) is kept from loading: jellyfin-failover never builds images. Measured in
 * docs/benchmarks.md (footprint).
 */
import { setFlagsFromString } from 'node:v8';
import { skipDockerBuildkit } from './adapters/docker/lean.js';

setFlagsFromString('--optimize-for-size');
skipDockerBuildkit();

const { runCli } = await import('./cli/cli.js');
process.exitCode = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  cwd: process.cwd(),
});

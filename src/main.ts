#!/usr/bin/env node
import { createHandlers } from './app.js';
import { runCli } from './cli/cli.js';

const code = await runCli(
  process.argv.slice(2),
  { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() },
  createHandlers(),
);
process.exitCode = code;

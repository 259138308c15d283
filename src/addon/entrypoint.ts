#!/usr/bin/env node
/**
 * The Home Assistant add-on's entrypoint (the thin runner around `options.ts` and `plan.ts`): reads the add-on options, asks the
 * Supervisor for the MQTT broker when the options name none, makes the add-on's SSH key pair once, writes the
 * pinned known_hosts, prints the public key, then runs `node /app/dist/main.js run` with the resulting
 * environment, forwarding the stop signals to it and exiting with its code.
 *
 * Overridable through the environment (for tests and for running it outside the Supervisor):
 *   OPTIONS_FILE    default /data/options.json
 *   DATA_DIR        default /data
 *   SUPERVISOR_URL  default http://supervisor
 *   SERVICE_MAIN    default /app/dist/main.js
 * `--print-env` does everything except starting the service and prints the environment (secrets masked).
 * Other arguments are a CLI command run with the add-on's environment instead of `run`, e.g.
 * `docker exec -it <add-on container> node /app/dist/addon/entrypoint.js check`.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { constants } from 'node:os';
import { promisify } from 'node:util';
import { AddonConfigError, parseOptions } from './options.js';
import {
  addonPaths,
  buildServicePlan,
  childEnvironment,
  type MqttService,
  parseMqttServiceAnswer,
  printableEnv,
  wantsSupervisorMqtt,
} from './plan.js';

const PREFIX = '[jellyfin-failover add-on]';
const KEY_COMMENT = 'jellyfin-failover@home-assistant';
const FORWARDED_SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT'];
const EXIT_CONFIG = 2;

const run = promisify(execFile);

function say(line: string): void {
  process.stdout.write(`${PREFIX} ${line}\n`);
}

function fail(lines: string[]): number {
  process.stderr.write(`${lines.map((l) => `${PREFIX} ${l}`).join('\n')}\n`);
  return EXIT_CONFIG;
}

async function readOptionsFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(
      `cannot read the add-on options ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)}): the Supervisor writes it when the add-on starts; set OPTIONS_FILE to run this elsewhere`,
    );
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`the add-on options ${path} are not JSON (${(err as Error).message})`);
  }
}

/** `GET <supervisor>/services/mqtt` with the add-on's token; any failure becomes the reason it is unavailable. */
async function fetchMqttService(baseUrl: string, token: string | undefined): Promise<MqttService> {
  if (!token) {
    return {
      kind: 'unavailable',
      reason: 'SUPERVISOR_TOKEN is not set, so this is not running as an add-on',
    };
  }
  const url = `${baseUrl.replace(/\/+$/, '')}/services/mqtt`;
  try {
    const res = await fetch(url, {
      headers: { Authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(15_000),
    });
    return parseMqttServiceAnswer(res.status, await res.text());
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    return { kind: 'unavailable', reason: `cannot reach the Supervisor at ${url} (${cause})` };
  }
}

/** Makes the ed25519 key pair on the first start; an existing private key is never replaced. */
async function ensureKeyPair(dataDir: string): Promise<{ publicKey: string; created: boolean }> {
  const paths = addonPaths(dataDir);
  await mkdir(paths.sshDir, { recursive: true, mode: 0o700 });
  await chmod(paths.sshDir, 0o700);
  let created = false;
  try {
    if (!existsSync(paths.keyFile)) {
      await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', KEY_COMMENT, '-f', paths.keyFile]);
      created = true;
    } else if (!existsSync(paths.publicKeyFile)) {
      // The public half went missing: derive it again from the private key (which stays as it is).
      const line = (await run('ssh-keygen', ['-y', '-f', paths.keyFile])).stdout.trim();
      const withComment = line.split(/\s+/).length >= 3 ? line : `${line} ${KEY_COMMENT}`;
      await writeFile(paths.publicKeyFile, `${withComment}\n`, { mode: 0o644 });
    }
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new Error('ssh-keygen is missing: the image needs openssh-client');
    throw new Error(`ssh-keygen failed for ${paths.keyFile}: ${(e.stderr ?? e.message).trim()}`);
  }
  await chmod(paths.keyFile, 0o600);
  return { publicKey: (await readFile(paths.publicKeyFile, 'utf8')).trim(), created };
}

async function writeKnownHosts(dataDir: string, text: string): Promise<void> {
  const file = addonPaths(dataDir).knownHostsFile;
  const temp = `${file}.new`;
  await writeFile(temp, text, { mode: 0o600 });
  await rename(temp, file);
}

/** Runs the service as a child with the environment, forwards stop signals, resolves with its exit code. */
function runService(main: string, args: string[], env: Record<string, string>): Promise<number> {
  return new Promise((resolve) => {
    // Its own process group: a terminal's Ctrl-C reaches it once, through the forwarding below, not twice
    // (the service treats a second signal as "stop now").
    const child = spawn(process.execPath, [main, ...args], { env, stdio: 'inherit', detached: true });
    const forward = (signal: NodeJS.Signals) => {
      child.kill(signal);
    };
    for (const s of FORWARDED_SIGNALS) process.on(s, forward);
    child.on('error', (err) => {
      process.stderr.write(`${PREFIX} cannot start ${main}: ${err.message}\n`);
      resolve(1);
    });
    child.on('exit', (code, signal) => {
      for (const s of FORWARDED_SIGNALS) process.off(s, forward);
      resolve(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0));
    });
  });
}

async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const printOnly = argv[0] === '--print-env';
  if (printOnly && argv.length > 1)
    return fail([`--print-env takes no other argument (got ${argv.slice(1).join(' ')})`]);
  // No arguments: the service. Otherwise a CLI command (check, status, sync ...) with the add-on's environment.
  const serviceArgs = argv.length > 0 ? argv : ['run'];
  const quiet = !printOnly && serviceArgs[0] !== 'run';
  const optionsFile = env.OPTIONS_FILE || '/data/options.json';
  const dataDir = (env.DATA_DIR || '/data').replace(/\/+$/, '') || '/';
  const supervisorUrl = env.SUPERVISOR_URL || 'http://supervisor';
  const serviceMain = env.SERVICE_MAIN || '/app/dist/main.js';

  let plan: ReturnType<typeof buildServicePlan>;
  try {
    const options = parseOptions(await readOptionsFile(optionsFile));
    for (const w of options.warnings) if (!quiet) say(`warning: ${w}`);
    const mqtt = wantsSupervisorMqtt(options)
      ? await fetchMqttService(supervisorUrl, env.SUPERVISOR_TOKEN)
      : null;
    plan = buildServicePlan(options, { dataDir, mqtt });
  } catch (err) {
    if (err instanceof AddonConfigError) {
      return fail([
        'the add-on configuration has problems; the service was not started:',
        ...err.problems.map((p) => `  - ${p.option}: ${p.message}`),
        "Fix them on the add-on's Configuration tab, then start the add-on again.",
      ]);
    }
    return fail([(err as Error).message]);
  }

  let key: { publicKey: string; created: boolean };
  try {
    key = await ensureKeyPair(dataDir);
    await writeKnownHosts(dataDir, plan.knownHosts);
  } catch (err) {
    return fail([(err as Error).message]);
  }
  if (quiet) return runService(serviceMain, serviceArgs, childEnvironment(env, plan));
  const paths = addonPaths(dataDir);
  say(
    key.created
      ? `generated this add-on's SSH key pair in ${paths.keyFile} (kept from now on, also in backups)`
      : `SSH key pair: ${paths.keyFile}`,
  );
  say(
    'public key: authorise it on master and on slave for the users of master_ssh and slave_ssh, as one line in ~/.ssh/authorized_keys (see the Documentation tab):',
  );
  say(`restrict ${key.publicKey}`);
  say(`pinned host keys written to ${paths.knownHostsFile}`);
  say(plan.mqttSource);

  if (printOnly) {
    process.stdout.write(`${printableEnv(plan.env)}\n`);
    return 0;
  }
  say(`starting the service: node ${serviceMain} run`);
  return runService(serviceMain, serviceArgs, childEnvironment(env, plan));
}

process.exitCode = await main(process.argv.slice(2), process.env);

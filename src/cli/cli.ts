import { readFileSync } from 'node:fs';
import { type Config, loadConfig, redactedConfig, secretValues } from '../config/load.js';
import { ConfigError, EXIT, type ExitCode, exitCodeFor, UsageError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import { type CliArgs, parseCli, USAGE } from './args.js';

export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  cwd: string;
}

/** What each command does once config and logger exist; the composition root provides it. */
export interface CommandHandlers {
  run(ctx: CommandContext): Promise<ExitCode>;
  status(ctx: CommandContext): Promise<ExitCode>;
  check(ctx: CommandContext): Promise<ExitCode>;
  sync(ctx: CommandContext): Promise<ExitCode>;
  promote(ctx: CommandContext): Promise<ExitCode>;
  failback(ctx: CommandContext): Promise<ExitCode>;
  rollback(ctx: CommandContext): Promise<ExitCode>;
}

export interface CommandContext {
  args: CliArgs;
  config: Config;
  logger: Logger;
  io: CliIo;
  /** Print a result: JSON on stdout with --json, else the human text. */
  print(human: string, json: unknown): void;
}

export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/**
 * Parses the command line, loads the configuration and dispatches. Returns the exit code of SPEC section 6;
 * never throws. Bad usage or config are reported on stderr before anything is touched.
 */
export async function runCli(argv: string[], io: CliIo, handlers: CommandHandlers): Promise<ExitCode> {
  let args: CliArgs;
  try {
    args = parseCli(argv);
  } catch (err) {
    return report(err, io, argv.includes('--json'));
  }
  if (args.command === 'help') {
    io.stdout.write(`${USAGE}\n`);
    return EXIT.ok;
  }
  if (args.command === 'version') {
    io.stdout.write(`${packageVersion()}\n`);
    return EXIT.ok;
  }
  let config: Config;
  try {
    config = loadConfig({
      env: io.env,
      envFile: args.envFile,
      envFileRequired: args.envFile !== '.env',
      cwd: io.cwd,
    });
  } catch (err) {
    return report(err, io, args.json);
  }
  const logger = createLogger({ level: config.logLevel, secrets: secretValues(config) });
  const ctx: CommandContext = {
    args,
    config,
    logger,
    io,
    print(human, json) {
      io.stdout.write(args.json ? `${JSON.stringify(json, null, 2)}\n` : `${human}\n`);
    },
  };
  logger.debug({ command: args.command, config: redactedConfig(config) }, 'starting command');
  try {
    return await handlers[args.command](ctx);
  } catch (err) {
    logger.error({ err }, `${args.command} failed`);
    return report(err, io, args.json);
  }
}

function report(err: unknown, io: CliIo, json: boolean): ExitCode {
  const code = exitCodeFor(err);
  const message = err instanceof Error ? err.message : String(err);
  if (json) {
    const body: Record<string, unknown> = { ok: false, error: message, exitCode: code };
    if (err instanceof ConfigError) body.problems = err.problems;
    if (err instanceof Error && 'reason' in err) body.reason = (err as { reason: unknown }).reason;
    io.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
  } else {
    io.stderr.write(`jellyfin-failover: ${message}\n`);
    if (err instanceof UsageError) io.stderr.write('\n');
  }
  return code;
}

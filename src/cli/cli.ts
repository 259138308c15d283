import { ConfigError } from '../config/errors.js';
import {
  type LoadOptions,
  loadConfig,
  loadHealthSettings,
  redactedConfig,
  secretValues,
} from '../config/load.js';
import { createLogger } from '../log.js';
import { packageVersion } from '../version.js';
import { type CliArgs, parseCli, USAGE } from './args.js';
import { check } from './commands/check.js';
import { health } from './commands/health.js';
import { mergePreview } from './commands/merge.js';
import { runOperationCommand } from './commands/operation.js';
import { run } from './commands/run.js';
import { status } from './commands/status.js';
import type { CliIo, CommandContext } from './context.js';
import { EXIT, type ExitCode, exitCodeFor, UsageError } from './exit.js';

export type { CliIo } from './context.js';

/**
 * Parses the command line, loads the configuration and runs the command. Returns the exit code of SPEC section 6;
 * never throws. Bad usage or config are reported on stderr before anything is touched.
 */
export async function runCli(argv: string[], io: CliIo): Promise<ExitCode> {
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
  if (args.command === 'health') {
    try {
      const settings = loadHealthSettings(loadOptions(args, io));
      return await health(settings, io, args.json);
    } catch (err) {
      return report(err, io, args.json);
    }
  }
  let ctx: CommandContext;
  try {
    const config = loadConfig(loadOptions(args, io));
    const logger = createLogger({ level: config.logLevel, secrets: secretValues(config) });
    ctx = {
      args,
      config,
      logger,
      io,
      print(human, json) {
        io.stdout.write(args.json ? `${JSON.stringify(json, null, 2)}\n` : `${human}\n`);
      },
    };
    logger.debug({ command: args.command, config: redactedConfig(config) }, 'starting command');
  } catch (err) {
    return report(err, io, args.json);
  }
  try {
    return await dispatch(ctx, args.command);
  } catch (err) {
    ctx.logger.error({ err }, `${args.command} failed`);
    return report(err, io, args.json);
  }
}

/** Where the configuration comes from: the environment, and the .env file (required when named with --env-file). */
function loadOptions(args: CliArgs, io: CliIo): LoadOptions {
  return { env: io.env, envFile: args.envFile, envFileRequired: args.envFile !== '.env', cwd: io.cwd };
}

function dispatch(
  ctx: CommandContext,
  command: Exclude<CliArgs['command'], 'help' | 'version' | 'health'>,
): Promise<ExitCode> {
  switch (command) {
    case 'run':
      return run(ctx);
    case 'status':
      return status(ctx);
    case 'check':
      return check(ctx);
    case 'sync':
    case 'promote':
    case 'failback':
    case 'rollback':
      return runOperationCommand(ctx, command);
    case 'merge':
      return ctx.args.dryRun ? mergePreview(ctx) : runOperationCommand(ctx, 'sync');
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

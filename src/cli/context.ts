import type { App } from '../compose.js';
import { compose } from '../compose.js';
import type { Config } from '../config/load.js';
import type { Logger } from '../log.js';
import type { CliArgs } from './args.js';
import type { ExitCode } from './exit.js';

export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  cwd: string;
}

/** What a command has once the command line parsed and the configuration loaded. */
export interface CommandContext {
  args: CliArgs;
  config: Config;
  logger: Logger;
  io: CliIo;
  /** Print a result: JSON on stdout with --json, else the human text. */
  print(human: string, json: unknown): void;
}

/** Composes the app for one command and closes its connections afterwards. */
export async function withApp(ctx: CommandContext, body: (app: App) => Promise<ExitCode>): Promise<ExitCode> {
  const app = compose(ctx.config, ctx.logger);
  try {
    return await body(app);
  } finally {
    await app.close();
  }
}

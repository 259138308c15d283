import { composeService } from '../../compose.js';
import { runUntilSignalled } from '../../service/signals.js';
import { type CommandContext, withApp } from '../context.js';
import { EXIT, type ExitCode } from '../exit.js';

/** `run`: the service, until SIGTERM/SIGINT. Exit 1 when a second signal abandoned a running operation. */
export function run(ctx: CommandContext): Promise<ExitCode> {
  return withApp(ctx, async (app) => {
    const outcome = await runUntilSignalled(composeService(app), ctx.logger);
    if (outcome === 'abandoned') {
      // The operation is still running in this process; do not let it keep the process alive.
      setTimeout(() => process.exit(EXIT.failed), 2_000).unref();
      return EXIT.failed;
    }
    return EXIT.ok;
  });
}

import { CliEventPublisher } from '../../adapters/mqtt/event-publisher.js';
import { formatBytes } from '../../domain/format.js';
import type { OperationKind } from '../../domain/state.js';
import { type CommandContext, withApp } from '../context.js';
import { EXIT, type ExitCode } from '../exit.js';
import { ProgressPrinter } from '../progress.js';

/** `sync`, `promote`, `failback`, `rollback`: runs one operation with progress on stderr and events on MQTT. */
export function runOperationCommand(ctx: CommandContext, kind: OperationKind): Promise<ExitCode> {
  return withApp(ctx, async (app) => {
    const progress = new ProgressPrinter(ctx.io.stderr);
    const events: unknown[] = [];
    const publisher = new CliEventPublisher(ctx.config, ctx.logger.child({ module: 'mqtt' }));
    await publisher.start();
    const detach = app.observers.add({
      operation: (s) => {
        if (!ctx.args.json) progress.update(s);
      },
      event: (e) => {
        events.push(e);
        publisher.publish(e);
        if (!ctx.args.json) {
          progress.finish();
          ctx.io.stderr.write(`${e.event_type}: ${e.message}\n`);
        }
      },
    });
    try {
      const result = await app.operations.run(kind, { force: ctx.args.force, merge: ctx.args.merge });
      progress.finish();
      ctx.print(
        `${kind} succeeded in ${result.durationS} s: ${result.files} files, ${formatBytes(result.bytes)} copied, ` +
          `primary downtime ${result.primaryDowntimeS} s. ${result.state.primary} is primary.`,
        { ok: true, ...result, events },
      );
      return EXIT.ok;
    } finally {
      progress.finish();
      detach();
      await publisher.stop();
    }
  });
}

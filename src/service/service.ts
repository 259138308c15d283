import { EXIT, type ExitCode } from '../errors.js';
import type { Runtime } from '../runtime.js';

/** The long-running service (`jellyfin-failover run`). */
export async function runService(rt: Runtime): Promise<ExitCode> {
  const outcome = await rt.engine.recover();
  rt.logger.info({ outcome }, 'service started');
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  return EXIT.ok;
}

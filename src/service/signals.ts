import type { Log } from '../domain/log.js';
import type { FailoverService } from './service.js';

export type ServiceExit = 'clean' | 'abandoned';

/**
 * Runs the service until SIGTERM or SIGINT. The first signal lets a running operation finish; a second one stops
 * at once (the operation's journal is on disk; the next start recovers it). A setting that can never work (an
 * unreadable MQTT_CA_FILE) rejects, after cleaning up.
 */
export async function runUntilSignalled(service: FailoverService, log: Log): Promise<ServiceExit> {
  let signals = 0;
  let firstSignal: () => void = () => undefined;
  let secondSignal: () => void = () => undefined;
  const first = new Promise<void>((resolve) => {
    firstSignal = resolve;
  });
  const second = new Promise<void>((resolve) => {
    secondSignal = resolve;
  });
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    log.info({ signal }, signals === 1 ? 'stopping' : 'stopping now');
    if (signals === 1) firstSignal();
    else secondSignal();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    const starting = service.start();
    let stoppedEarly: boolean;
    try {
      stoppedEarly = await Promise.race([starting.then(() => false), first.then(() => true)]);
    } catch (err) {
      await service.stop().catch(() => undefined);
      throw err;
    }
    if (!stoppedEarly) await first;
    else await starting.catch(() => undefined);
    return await service.stop(second);
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}

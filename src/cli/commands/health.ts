import { Heartbeat } from '../../adapters/files/heartbeat.js';
import type { CliIo } from '../context.js';
import { EXIT, type ExitCode } from '../exit.js';

/**
 * `health`: exit 0 while a `run` service on this STATE_DIR is alive and beat recently (the Docker HEALTHCHECK).
 * Needs only STATE_DIR (and HEALTH_INTERVAL_S); reads STATE_DIR/service.json and touches neither the broker nor
 * the sites.
 */
export async function health(
  settings: { stateDir: string; intervalS: number },
  io: CliIo,
  json: boolean,
): Promise<ExitCode> {
  const maxAgeS = Math.max(30, settings.intervalS * 3);
  const h = await new Heartbeat(settings.stateDir).health(maxAgeS);
  const print = (human: string, body: unknown) =>
    io.stdout.write(json ? `${JSON.stringify(body, null, 2)}\n` : `${human}\n`);
  if (h.ok) {
    const mqtt = h.beat.mqttConnected ? 'connected to MQTT' : 'NOT connected to MQTT (retrying)';
    print(`healthy: service pid ${h.beat.pid} beat ${h.ageS} s ago, ${mqtt}`, {
      ok: true,
      ...h.beat,
      ageS: h.ageS,
    });
    return EXIT.ok;
  }
  print(`unhealthy: ${h.reason}`, { ok: false, reason: h.reason, beat: h.beat });
  return EXIT.failed;
}

/**
 * STATE_DIR/service.json: the running service says it is alive (pid, last beat, MQTT connected), so that
 * `jellyfin-failover health` (the image's HEALTHCHECK) can tell without touching the broker or the sites.
 */
import { join } from 'node:path';
import { z } from 'zod';
import { readOptional, safeJson, writeFileAtomic } from './atomic.js';
import { pidAlive } from './lock-file.js';

const beatSchema = z.object({
  pid: z.number().int(),
  startedAt: z.string(),
  at: z.string(),
  mqttConnected: z.boolean(),
});
export type Beat = z.infer<typeof beatSchema>;

export type Health =
  | { ok: true; beat: Beat; ageS: number }
  | { ok: false; reason: string; beat: Beat | null };

export class Heartbeat {
  private readonly path: string;
  private readonly startedAt = new Date().toISOString();

  constructor(stateDir: string) {
    this.path = join(stateDir, 'service.json');
  }

  async beat(mqttConnected: boolean): Promise<void> {
    const beat: Beat = {
      pid: process.pid,
      startedAt: this.startedAt,
      at: new Date().toISOString(),
      mqttConnected,
    };
    await writeFileAtomic(this.path, `${JSON.stringify(beat)}\n`);
  }

  /** Whether a service process on this STATE_DIR is alive and beat within `maxAgeS`. */
  async health(maxAgeS: number): Promise<Health> {
    const parsed = beatSchema.safeParse(safeJson((await readOptional(this.path)) ?? ''));
    if (!parsed.success)
      return { ok: false, reason: `no service has run on this STATE_DIR (${this.path})`, beat: null };
    const beat = parsed.data;
    if (!pidAlive(beat.pid))
      return { ok: false, reason: `the service (pid ${beat.pid}) is not running`, beat };
    const ageS = Math.round((Date.now() - Date.parse(beat.at)) / 1000);
    if (ageS > maxAgeS) return { ok: false, reason: `the service's last heartbeat is ${ageS} s old`, beat };
    return { ok: true, beat, ageS };
  }
}

import { z } from 'zod';
import type { JellyfinHealth, JellyfinInfo, JellyfinProbe } from '../../domain/ports.js';

const publicInfoSchema = z.object({
  Version: z.string().min(1),
  Id: z.string().min(1),
  ServerName: z.string(),
});

/**
 * Asks a Jellyfin server how it is, over its unauthenticated endpoints. Never throws: a server that cannot be
 * reached is `unreachable`, and an answer that is not understood is `unhealthy` (or no info).
 */
export class JellyfinHttp implements JellyfinProbe {
  constructor(
    private readonly baseUrl: string,
    private readonly timeoutMs = 5000,
  ) {}

  /** `GET /health`: `Healthy` -> healthy, `Degraded` -> starting, anything else -> unhealthy. */
  async health(): Promise<JellyfinHealth> {
    let status: number;
    let body: string;
    try {
      const response = await fetch(this.url('/health'), {
        signal: AbortSignal.timeout(this.timeoutMs),
        headers: { accept: 'text/plain' },
      });
      status = response.status;
      body = (await response.text()).trim();
    } catch {
      return 'unreachable';
    }
    if (body === 'Healthy' && status === 200) return 'healthy';
    if (body === 'Degraded') return 'starting';
    return 'unhealthy';
  }

  /** `GET /System/Info/Public`: version, server id and name, or null when the answer is missing or not understood. */
  async info(): Promise<JellyfinInfo | null> {
    try {
      const response = await fetch(this.url('/System/Info/Public'), {
        signal: AbortSignal.timeout(this.timeoutMs),
        headers: { accept: 'application/json' },
      });
      if (!response.ok) return null;
      const parsed = publicInfoSchema.safeParse(await response.json());
      if (!parsed.success) return null;
      return { version: parsed.data.Version, id: parsed.data.Id, serverName: parsed.data.ServerName };
    } catch {
      return null;
    }
  }

  private url(path: string): string {
    return `${this.baseUrl.replace(/\/+$/, '')}${path}`;
  }
}

import { z } from 'zod';
import type { JellyfinHealth, JellyfinInfo, JellyfinProbe } from '../../domain/ports.js';

/** `/System/Info/Public`: PascalCase from a running server, camelCase from 10.11's startup (setup) server. */
const publicInfoSchema = z.union([
  z
    .object({ Version: z.string().min(1), Id: z.string().min(1), ServerName: z.string() })
    .transform((v) => ({ version: v.Version, id: v.Id, serverName: v.ServerName })),
  z
    .object({ version: z.string().min(1), id: z.string().min(1), serverName: z.string() })
    .transform((v) => ({ version: v.version, id: v.id, serverName: v.serverName })),
]);

/** What 10.10 and older answer on every path while the database loads (503, text/html). */
const LOADING = /Jellyfin Server is loading/i;

/**
 * Asks a Jellyfin server how it is, over its unauthenticated endpoints. Never throws: a server that cannot be
 * reached is `unreachable`, and an answer that is not understood is `unhealthy` (or no info).
 */
export class JellyfinHttp implements JellyfinProbe {
  constructor(
    private readonly baseUrl: string,
    private readonly timeoutMs = 5000,
  ) {}

  /**
   * `GET /health`: `Healthy` -> healthy; `Degraded` (10.11's startup server) or a 503 "loading" page (10.10 while
   * its database loads) -> starting; anything else -> unhealthy; no connection -> unreachable.
   */
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
    if (status === 503 && LOADING.test(body)) return 'starting';
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
      return parsed.success ? parsed.data : null;
    } catch {
      return null;
    }
  }

  private url(path: string): string {
    return `${this.baseUrl.replace(/\/+$/, '')}${path}`;
  }
}

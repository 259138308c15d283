/**
 * Sets users' watch state on a running Jellyfin through its own HTTP API (routes of 10.10.7 and 10.11.11, see
 * ../shared/jellyfin-reference: `POST /UserItems/{itemId}/UserData`, `DELETE /UserPlayedItems/{itemId}`,
 * `DELETE /UserItems/{itemId}/Rating`), with an API key: an administrator without a user of its own, so every call
 * names the user. The server caches user data in memory, so this is the only safe way to change it while it runs.
 */
import { MergeApiError } from '../../domain/errors.js';
import type { FieldsChange } from '../../domain/merge.js';
import type { UserDataApi } from '../../domain/ports.js';

const TIMEOUT_MS = 15_000;

/** `yyyy-MM-dd HH:mm:ss.fffffff` (UTC, as watch-state.ts normalises it) as the ISO text Jellyfin parses. */
export function isoDate(normalized: string): string {
  const [date, time] = normalized.split(' ');
  return time ? `${date}T${time}Z` : normalized;
}

/** UpdateUserItemDataDto: only the fields given are changed. */
export function userDataDto(change: FieldsChange): Record<string, unknown> {
  const dto: Record<string, unknown> = {};
  if (change.played !== undefined) dto.Played = change.played;
  if (change.playCount !== undefined) dto.PlayCount = change.playCount;
  if (change.position !== undefined) dto.PlaybackPositionTicks = change.position;
  if (change.lastPlayed) dto.LastPlayedDate = isoDate(change.lastPlayed);
  if (change.favorite !== undefined) dto.IsFavorite = change.favorite;
  if (typeof change.rating === 'number') dto.Rating = change.rating;
  else if (typeof change.likes === 'boolean') dto.Likes = change.likes;
  return dto;
}

export class JellyfinUserData implements UserDataApi {
  constructor(
    private readonly baseUrl: string,
    private readonly apiKey: string,
    /** The site, for messages. */
    private readonly label: string,
  ) {}

  async check(): Promise<void> {
    const response = await this.request('GET', '/Users');
    if (response.status === 200) return;
    throw this.failure('GET /Users', response.status, await response.text());
  }

  async apply(user: string, itemId: string, change: FieldsChange): Promise<'applied' | 'missing'> {
    const query = `?userId=${encodeURIComponent(user)}`;
    const item = encodeURIComponent(itemId);
    const calls: Array<[string, string, Record<string, unknown> | undefined]> = [];
    // A date set back to none is Jellyfin's "mark unplayed" (count 0, position 0, no date); the rest follows it.
    if (change.lastPlayed === null) calls.push(['DELETE', `/UserPlayedItems/${item}${query}`, undefined]);
    if (change.rating === null || (change.likes === null && change.rating === undefined))
      calls.push(['DELETE', `/UserItems/${item}/Rating${query}`, undefined]);
    const dto = userDataDto(change);
    if (Object.keys(dto).length > 0) calls.push(['POST', `/UserItems/${item}/UserData${query}`, dto]);
    for (const [method, path, body] of calls) {
      const response = await this.request(method, path, body);
      if (response.status === 404) return 'missing';
      if (response.status !== 200 && response.status !== 204)
        throw this.failure(`${method} ${path.split('?')[0]}`, response.status, await response.text());
      await response.arrayBuffer();
    }
    return 'applied';
  }

  private async request(method: string, path: string, body?: unknown): Promise<Response> {
    try {
      return await fetch(`${this.baseUrl.replace(/\/+$/, '')}${path}`, {
        method,
        signal: AbortSignal.timeout(TIMEOUT_MS),
        headers: {
          authorization: `MediaBrowser Token="${this.apiKey}"`,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (err) {
      throw new MergeApiError(
        `${this.label}'s Jellyfin at ${this.baseUrl} does not answer (${(err as Error).message}); nothing more was sent.`,
        'unreachable',
        { cause: err },
      );
    }
  }

  private failure(call: string, status: number, body: string): MergeApiError {
    if (status === 401 || status === 403) {
      return new MergeApiError(
        `${this.label}'s Jellyfin refused JELLYFIN_API_KEY (${call}: HTTP ${status}). Create a key in its Dashboard > API Keys and set JELLYFIN_API_KEY to it.`,
        'unauthorized',
      );
    }
    return new MergeApiError(
      `${this.label}'s Jellyfin answered ${call} with HTTP ${status}${body.trim() ? `: ${body.trim().slice(0, 200)}` : ''}.`,
      'rejected',
    );
  }
}

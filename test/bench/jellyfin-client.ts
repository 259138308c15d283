/**
 * A small Jellyfin API client for tests: acts as a user or an app against a running stand-in (or a real Jellyfin)
 * through the HTTP API, one method per user action of test/fixtures/jellyfin-reference/writes/, plus reading users,
 * items and user data. Authenticates with an API key (an administrator without a user: per-user calls need a
 * `userId`) or a device's access token (acts as that device's user). Playback reports only change watch state
 * with a device token: an API key's session has no user, as in Jellyfin.
 */

import type { ConfigTreeResult, GeneratedUser } from './config-tree.js';

/** UserItemDataDto as Jellyfin writes it (PascalCase; null properties omitted). */
export interface UserItemData {
  Rating?: number;
  PlayedPercentage?: number;
  UnplayedItemCount?: number;
  PlaybackPositionTicks: number;
  PlayCount: number;
  IsFavorite: boolean;
  Likes?: boolean;
  LastPlayedDate?: string;
  Played: boolean;
  Key: string;
  ItemId: string;
}

/** UpdateUserItemDataDto: only the fields given are changed. */
export interface UserDataUpdate {
  PlaybackPositionTicks?: number;
  PlayCount?: number;
  IsFavorite?: boolean;
  Likes?: boolean;
  Played?: boolean;
  LastPlayedDate?: string;
  Rating?: number;
}

export interface UserDto {
  Name: string;
  Id: string;
  ServerId: string;
  LastActivityDate?: string;
  LastLoginDate?: string;
  Policy: { IsAdministrator: boolean; IsHidden: boolean; IsDisabled: boolean };
}

export interface ItemDto {
  Name: string;
  Id: string;
  Type: string;
  Path?: string;
  ProviderIds?: Record<string, string>;
  RunTimeTicks?: number;
  UserData?: UserItemData;
}

export interface ItemsResult {
  Items: ItemDto[];
  TotalRecordCount: number;
  StartIndex: number;
}

export interface ItemsQuery {
  userId?: string;
  recursive?: boolean;
  fields?: string[];
  isPlayed?: boolean;
  isFavorite?: boolean;
  filters?: string[];
  includeItemTypes?: string[];
}

export interface PlaybackReport {
  positionTicks?: number;
  audioStreamIndex?: number;
  subtitleStreamIndex?: number;
}

/** A raw answer, for tests of error cases. */
export interface RawResponse {
  status: number;
  contentType: string | null;
  text: string;
}

export class JellyfinHttpError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly body: string,
  ) {
    super(`${method} ${path}: HTTP ${status}${body ? ` ${body.slice(0, 300)}` : ''}`);
    this.name = 'JellyfinHttpError';
  }
}

export interface ClientDevice {
  client: string;
  device: string;
  deviceId: string;
  version: string;
}

export class JellyfinClient {
  /**
   * @param baseUrl e.g. http://127.0.0.1:18100
   * @param token an ApiKeys.AccessToken or a Devices.AccessToken
   * @param userId default `userId` for per-user calls (lower-case "N" or "D"); omit to act as the token's user
   */
  constructor(
    readonly baseUrl: string,
    readonly token: string,
    readonly userId?: string,
    readonly device: ClientDevice = {
      client: 'jf-bench',
      device: 'bench',
      deviceId: 'jf-bench',
      version: '1.0.0',
    },
  ) {}

  /** The request as a client sends it: `Authorization: MediaBrowser ..., Token="..."`; never throws on a status. */
  async request(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<RawResponse> {
    const d = this.device;
    const auth = `MediaBrowser Client="${d.client}", Device="${d.device}", DeviceId="${d.deviceId}", Version="${d.version}", Token="${this.token}"`;
    const res = await fetch(`${this.baseUrl.replace(/\/+$/, '')}${path}`, {
      method,
      headers: {
        Authorization: auth,
        Accept: 'application/json',
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    return { status: res.status, contentType: res.headers.get('content-type'), text: await res.text() };
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.request(method, path, body);
    if (res.status < 200 || res.status > 299) throw new JellyfinHttpError(method, path, res.status, res.text);
    return (res.text ? JSON.parse(res.text) : undefined) as T;
  }

  private query(params: Record<string, string | number | boolean | undefined>): string {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
    const s = q.toString();
    return s ? `?${s}` : '';
  }

  private user(userId?: string): string | undefined {
    return userId ?? this.userId;
  }

  // ---------------------------------------------------------------------------------------- reading

  /** GET /Users */
  users(): Promise<UserDto[]> {
    return this.call('GET', '/Users');
  }

  /** GET /Items?userId=&recursive=true&fields=ProviderIds,Path (with UserData on each item when there is a user) */
  items(q: ItemsQuery = {}): Promise<ItemsResult> {
    return this.call(
      'GET',
      `/Items${this.query({
        userId: this.user(q.userId),
        recursive: q.recursive ?? true,
        fields: (q.fields ?? ['ProviderIds', 'Path']).join(','),
        isPlayed: q.isPlayed,
        isFavorite: q.isFavorite,
        filters: q.filters?.join(','),
        includeItemTypes: q.includeItemTypes?.join(','),
      })}`,
    );
  }

  /** GET /UserItems/{itemId}/UserData?userId= */
  userData(itemId: string, userId?: string): Promise<UserItemData> {
    return this.call('GET', `/UserItems/${itemId}/UserData${this.query({ userId: this.user(userId) })}`);
  }

  // ---------------------------------------------------------------------------------------- user actions

  /**
   * POST /UserPlayedItems/{itemId}: with `datePlayed` (what jellyfin-web's button sends: now) PlayCount + 1 and the
   * date set; without it (multi-select, most apps) PlayCount at least 1 and the date kept.
   */
  markPlayed(
    itemId: string,
    opts: { datePlayed?: Date | string; userId?: string } = {},
  ): Promise<UserItemData> {
    const date = opts.datePlayed instanceof Date ? opts.datePlayed.toISOString() : opts.datePlayed;
    return this.call(
      'POST',
      `/UserPlayedItems/${itemId}${this.query({ userId: this.user(opts.userId), datePlayed: date })}`,
    );
  }

  /** DELETE /UserPlayedItems/{itemId} */
  markUnplayed(itemId: string, userId?: string): Promise<UserItemData> {
    return this.call('DELETE', `/UserPlayedItems/${itemId}${this.query({ userId: this.user(userId) })}`);
  }

  /** POST /UserFavoriteItems/{itemId} */
  favorite(itemId: string, userId?: string): Promise<UserItemData> {
    return this.call('POST', `/UserFavoriteItems/${itemId}${this.query({ userId: this.user(userId) })}`);
  }

  /** DELETE /UserFavoriteItems/{itemId} */
  unfavorite(itemId: string, userId?: string): Promise<UserItemData> {
    return this.call('DELETE', `/UserFavoriteItems/${itemId}${this.query({ userId: this.user(userId) })}`);
  }

  /** POST /UserItems/{itemId}/Rating?likes=true (Rating 10) */
  like(itemId: string, userId?: string): Promise<UserItemData> {
    return this.call(
      'POST',
      `/UserItems/${itemId}/Rating${this.query({ userId: this.user(userId), likes: true })}`,
    );
  }

  /** POST /UserItems/{itemId}/Rating?likes=false (Rating 1) */
  dislike(itemId: string, userId?: string): Promise<UserItemData> {
    return this.call(
      'POST',
      `/UserItems/${itemId}/Rating${this.query({ userId: this.user(userId), likes: false })}`,
    );
  }

  /** DELETE /UserItems/{itemId}/Rating (Rating NULL) */
  clearRating(itemId: string, userId?: string): Promise<UserItemData> {
    return this.call('DELETE', `/UserItems/${itemId}/Rating${this.query({ userId: this.user(userId) })}`);
  }

  /** POST /UserItems/{itemId}/UserData with an UpdateUserItemDataDto: only the fields given change. */
  setUserData(itemId: string, dto: UserDataUpdate, userId?: string): Promise<UserItemData> {
    return this.call(
      'POST',
      `/UserItems/${itemId}/UserData${this.query({ userId: this.user(userId) })}`,
      dto,
    );
  }

  // ---------------------------------------------------------------------------------------- playback

  private report(path: string, itemId: string, r: PlaybackReport & { failed?: boolean }): Promise<void> {
    const body: Record<string, unknown> = { ItemId: itemId, PlayMethod: 'DirectPlay', CanSeek: true };
    if (r.positionTicks !== undefined) body.PositionTicks = r.positionTicks;
    if (r.audioStreamIndex !== undefined) body.AudioStreamIndex = r.audioStreamIndex;
    if (r.subtitleStreamIndex !== undefined) body.SubtitleStreamIndex = r.subtitleStreamIndex;
    if (r.failed !== undefined) body.Failed = r.failed;
    return this.call('POST', path, body);
  }

  /** POST /Sessions/Playing: PlayCount + 1, LastPlayedDate now, Played false; "is playing" activity row. */
  playbackStart(itemId: string, r: PlaybackReport = {}): Promise<void> {
    return this.report('/Sessions/Playing', itemId, r);
  }

  /**
   * POST /Sessions/Playing/Progress at `positionTicks` (clients send one every ~10 s): the position (0 under 5 %,
   * played over 90 %) and the audio/subtitle tracks (default 1 / -1, as the reference write).
   */
  playbackProgress(
    itemId: string,
    positionTicks: number,
    r: Omit<PlaybackReport, 'positionTicks'> = {},
  ): Promise<void> {
    return this.report('/Sessions/Playing/Progress', itemId, {
      positionTicks,
      audioStreamIndex: r.audioStreamIndex ?? 1,
      subtitleStreamIndex: r.subtitleStreamIndex ?? -1,
    });
  }

  /**
   * POST /Sessions/Playing/Stopped at `positionTicks` (near the end: played; early: position 0, Played as it was);
   * without a position the item counts as played. "has finished playing" activity row either way.
   */
  playbackStop(itemId: string, positionTicks?: number): Promise<void> {
    return this.report(
      '/Sessions/Playing/Stopped',
      itemId,
      positionTicks === undefined ? {} : { positionTicks },
    );
  }

  // ---------------------------------------------------------------------------------------- bench only

  /**
   * NOT a Jellyfin route: the stand-in's bench-only POST /Standin/Library/RemoveItem/{itemId} does what a library
   * scan does when the item's file is gone (10.11: writes/10.11-library-removes-item.sql). Needs an API key.
   */
  removeItemAsLibraryScan(itemId: string): Promise<void> {
    return this.call('POST', `/Standin/Library/RemoveItem/${itemId}`);
  }
}

/** A client acting as one of a generated tree's users, with that user's device token. */
export function clientAsUser(
  baseUrl: string,
  tree: Pick<ConfigTreeResult, 'users'>,
  name?: string,
): JellyfinClient {
  const user: GeneratedUser | undefined = name ? tree.users.find((u) => u.name === name) : tree.users[0];
  if (!user)
    throw new Error(
      `the tree has no user ${JSON.stringify(name)}: ${tree.users.map((u) => u.name).join(', ')}`,
    );
  return new JellyfinClient(baseUrl, user.device.accessToken, undefined, {
    client: user.device.appName,
    device: user.device.deviceName,
    deviceId: user.device.deviceId,
    version: user.device.appVersion,
  });
}

/** A client with a tree's API key (an administrator): per-user calls use `userId` (default: the first user). */
export function clientAsAdmin(
  baseUrl: string,
  tree: Pick<ConfigTreeResult, 'apiKey' | 'users'>,
  userId?: string,
): JellyfinClient {
  return new JellyfinClient(baseUrl, tree.apiKey, userId ?? tree.users[0]?.id);
}

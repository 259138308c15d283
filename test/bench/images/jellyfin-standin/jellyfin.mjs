// What Jellyfin's UserDataManager, SessionManager and the activity loggers do with user data (10.10.7 and 10.11.11
// behave the same here; the stores hold the per-version SQL). The in-memory cache is the server's: each user's data
// per item is read from the database once, then served and saved from memory, so a row changed in the database under
// a running server is not seen and the next save writes the cached values back over it.

import { dateMs, guidN, jsonDate, nowCanonical } from './formats.mjs';
import { newUserItemData } from './store.mjs';

const MIN_RESUME_PCT = 5;
const MAX_RESUME_PCT = 90;
const MIN_RESUME_DURATION_S = 300;
const TICKS_PER_SECOND = 10_000_000;

export class Jellyfin {
  /**
   * @param {import('./store.mjs').OldStore | import('./store.mjs').NewStore} store
   * @param {{ serverId: string, log: (level: string, msg: string) => void }} opts
   */
  constructor(store, { serverId, log }) {
    this.store = store;
    this.serverId = serverId;
    this.log = log;
    /** `${internalUserId}-${itemId "N"}` -> UserItemData (UserDataManager._userData / _cache). */
    this.cache = new Map();
    /** `${client}|${deviceId}` -> session (SessionManager._activeConnections). */
    this.sessions = new Map();
    /** One user-data operation at a time (the server's save + cache update are not interleaved for one item). */
    this.lock = Promise.resolve();
  }

  serialized(work) {
    const run = this.lock.then(work);
    this.lock = run.catch(() => undefined);
    return run;
  }

  cacheKey(user, item) {
    return `${user.internalId}-${guidN(item.id)}`;
  }

  /** UserDataManager.GetUserData: the cached entry, else the database's (cached from then on), else a new one. */
  async getUserData(user, item) {
    const key = this.cacheKey(user, item);
    const cached = this.cache.get(key);
    if (cached) return cached;
    const data = (await this.store.readUserData(user, item)) ?? newUserItemData(item.keys[0]);
    if (!this.cache.has(key)) this.cache.set(key, data);
    return this.cache.get(key);
  }

  /** Several items at once (GET /Items): the same cache, one database read for the missing ones. */
  async getUserDataMany(user, items) {
    const missing = items.filter((i) => !this.cache.has(this.cacheKey(user, i)));
    if (missing.length > 0) {
      const read = await this.store.readUserDataMany(user, missing);
      for (const item of missing) {
        const key = this.cacheKey(user, item);
        if (!this.cache.has(key)) this.cache.set(key, read.get(item.id) ?? newUserItemData(item.keys[0]));
      }
    }
    return new Map(items.map((i) => [i.id, this.cache.get(this.cacheKey(user, i))]));
  }

  /** UserDataManager.SaveUserData: every user-data key of the item, then the cache holds `data` (Key = the last key). */
  async saveUserData(user, item, data) {
    await this.store.saveUserData(user, item, data);
    data.key = item.keys[item.keys.length - 1];
    this.cache.set(this.cacheKey(user, item), data);
  }

  /** UserItemDataDto as GetUserDataDto builds it (10.10 leaves ItemId empty); nulls are omitted by the JSON writer. */
  userDataDto(item, data) {
    const dto = {
      Rating: data.rating ?? undefined,
      PlayedPercentage: undefined,
      PlaybackPositionTicks: data.playbackPositionTicks,
      PlayCount: data.playCount,
      IsFavorite: data.isFavorite,
      Likes: data.rating === null ? undefined : data.rating >= 6.5,
      LastPlayedDate: jsonDate(data.lastPlayedDate),
      Played: data.played,
      Key: data.key,
      ItemId: this.store.family === 'new' ? guidN(item.id) : '00000000000000000000000000000000',
    };
    // BaseItem.FillUserDataDtoValues
    if (item.runTimeTicks > 0 && data.playbackPositionTicks / item.runTimeTicks > 0) {
      dto.PlayedPercentage = (100 * data.playbackPositionTicks) / item.runTimeTicks;
    }
    return dto;
  }

  // ------------------------------------------------------------------------------------------ user actions

  /** BaseItem.MarkPlayed(user, datePlayed, resetPosition: true). */
  markPlayed(user, item, datePlayed) {
    return this.serialized(async () => {
      const data = await this.getUserData(user, item);
      if (datePlayed) data.playCount++;
      data.playCount = Math.max(data.playCount, 1);
      data.playbackPositionTicks = 0;
      data.lastPlayedDate = datePlayed ?? data.lastPlayedDate ?? nowCanonical();
      data.played = true;
      await this.saveUserData(user, item, data);
      return data;
    });
  }

  /** BaseItem.MarkUnplayed. */
  markUnplayed(user, item) {
    return this.serialized(async () => {
      const data = await this.getUserData(user, item);
      data.playCount = 0;
      data.playbackPositionTicks = 0;
      data.lastPlayedDate = null;
      data.played = false;
      await this.saveUserData(user, item, data);
      return data;
    });
  }

  /** UserLibraryController.MarkFavorite. */
  markFavorite(user, item, isFavorite) {
    return this.serialized(async () => {
      const data = await this.getUserData(user, item);
      data.isFavorite = isFavorite;
      await this.saveUserData(user, item, data);
      return data;
    });
  }

  /** UserLibraryController.UpdateUserItemRating: Likes = true/false/null, i.e. Rating 10 / 1 / null. */
  updateRating(user, item, likes) {
    return this.serialized(async () => {
      const data = await this.getUserData(user, item);
      data.rating = likes === null ? null : likes ? 10 : 1;
      await this.saveUserData(user, item, data);
      return data;
    });
  }

  /** UserDataManager.SaveUserData(user, item, UpdateUserItemDataDto): only the fields given, in the server's order. */
  updateUserData(user, item, dto) {
    return this.serialized(async () => {
      const data = await this.getUserData(user, item);
      if (dto.PlaybackPositionTicks !== undefined) data.playbackPositionTicks = dto.PlaybackPositionTicks;
      if (dto.PlayCount !== undefined) data.playCount = dto.PlayCount;
      if (dto.IsFavorite !== undefined) data.isFavorite = dto.IsFavorite;
      if (dto.Likes !== undefined) data.rating = dto.Likes ? 10 : 1;
      if (dto.Played !== undefined) data.played = dto.Played;
      if (dto.LastPlayedDate !== undefined) data.lastPlayedDate = dto.LastPlayedDate;
      if (dto.Rating !== undefined) data.rating = dto.Rating;
      await this.saveUserData(user, item, data);
      return data;
    });
  }

  // ------------------------------------------------------------------------------------------ sessions

  /**
   * SessionManager.LogSessionActivity for a request from a device (or an API key acting for `user`): a new session
   * logs "SessionStarted"; Users.LastActivityDate is saved when the last one is more than 60 s old.
   */
  async logSessionActivity(auth, user, remoteIp) {
    // A device token brings its device; an API key request is the device its Authorization header names.
    const deviceId = auth.device?.deviceId ?? auth.header.DeviceId ?? `apikey-${auth.token}`;
    const client = auth.device?.appName ?? auth.header.Client ?? '';
    const sessionKey = `${client}|${deviceId}`;
    let session = this.sessions.get(sessionKey);
    const now = Date.now();
    if (!session) {
      session = {
        id: guidN(randomGuid()),
        deviceId,
        deviceName: auth.device?.deviceName ?? auth.header.Device ?? '',
        client,
        userId: user?.id ?? null,
        nowPlaying: null,
        lastActivity: now,
      };
      this.sessions.set(sessionKey, session);
      if (user) {
        await this.store.addActivity({
          name: `${user.name} is online from ${session.deviceName}`,
          type: 'SessionStarted',
          userId: user.id,
          shortOverview: `IP address: ${remoteIp}`,
        });
      }
    }
    session.lastActivity = now;
    if (user) {
      const last = user.lastActivityDate ? dateMs(user.lastActivityDate) : 0;
      if (now - last > 60_000) await this.store.touchUser(user.id);
    }
    return session;
  }

  /** AuthorizationContext: a device's DateLastActivity is saved when it is more than 3 minutes old. */
  async touchDevice(device) {
    const last = device.dateLastActivity ? dateMs(device.dateLastActivity) : 0;
    if (Date.now() - last > 180_000) await this.store.touchDevice(device.rowId);
  }

  /** UserDataManager.UpdatePlayState (MinResumePct 5, MaxResumePct 90, MinResumeDurationSeconds 300). */
  updatePlayState(item, data, reportedPositionTicks) {
    let playedToCompletion = false;
    const runtime = item.runTimeTicks ?? 0;
    let position = reportedPositionTicks ?? runtime;
    const hasRuntime = runtime > 0;
    // 10.11 also counts the last second as the end (positionTicks >= runtimeTicks - TicksPerSecond).
    const end = this.store.family === 'new' ? runtime - TICKS_PER_SECOND : runtime;
    if (position > 0 && hasRuntime) {
      const pctIn = (position / runtime) * 100;
      if (pctIn < MIN_RESUME_PCT) {
        position = 0;
      } else if (pctIn > MAX_RESUME_PCT || position >= end) {
        position = 0;
        data.played = playedToCompletion = true;
      } else if (runtime / TICKS_PER_SECOND < MIN_RESUME_DURATION_S) {
        position = 0;
        data.played = playedToCompletion = true;
      }
    } else if (!hasRuntime) {
      data.played = playedToCompletion = true;
      position = 0;
    }
    data.playbackPositionTicks = position;
    return playedToCompletion;
  }

  /** SessionManager.OnPlaybackStart: per user PlayCount++, LastPlayedDate now, Played false (a video resumes). */
  playbackStart(session, users, item, info) {
    return this.serialized(async () => {
      session.nowPlaying = item ? { item, info } : null;
      if (!item) return;
      for (const user of users) {
        const data = await this.getUserData(user, item);
        data.playCount++;
        data.lastPlayedDate = nowCanonical();
        data.played = false;
        await this.saveUserData(user, item, data);
      }
      // PlaybackStartLogger: the first user, "{0} is playing {1} on {2}".
      if (users[0]) {
        await this.store.addActivity({
          name: `${users[0].name} is playing ${item.name} on ${session.deviceName}`,
          type: 'VideoPlayback',
          userId: users[0].id,
          itemId: guidN(item.id),
        });
      }
    });
  }

  /** SessionManager.OnPlaybackProgress(user, item, info): play state and remembered audio/subtitle tracks. */
  playbackProgress(session, users, item, info) {
    return this.serialized(async () => {
      if (item) session.nowPlaying = { item, info };
      if (!item) return;
      for (const user of users) {
        const data = await this.getUserData(user, item);
        let changed = false;
        if (info.PositionTicks !== undefined && info.PositionTicks !== null) {
          this.updatePlayState(item, data, info.PositionTicks);
          changed = true;
        }
        // As in the server: a report without a position whose tracks changed is not saved.
        if (!this.updatePlaybackSettings(user, info, data)) changed = true;
        if (changed) await this.saveUserData(user, item, data);
      }
    });
  }

  updatePlaybackSettings(user, info, data) {
    let changed = false;
    const audio = info.AudioStreamIndex ?? null;
    const subtitle = info.SubtitleStreamIndex ?? null;
    if (user.rememberAudioSelections) {
      if (data.audioStreamIndex !== audio) {
        data.audioStreamIndex = audio;
        changed = true;
      }
    } else if (data.audioStreamIndex !== null) {
      data.audioStreamIndex = null;
      changed = true;
    }
    if (user.rememberSubtitleSelections) {
      if (data.subtitleStreamIndex !== subtitle) {
        data.subtitleStreamIndex = subtitle;
        changed = true;
      }
    } else if (data.subtitleStreamIndex !== null) {
      data.subtitleStreamIndex = null;
      changed = true;
    }
    return changed;
  }

  /** SessionManager.OnPlaybackStopped: the play state at the reported position (or "played" without one). */
  playbackStopped(session, users, item, info) {
    return this.serialized(async () => {
      session.nowPlaying = null;
      if (!item) return;
      for (const user of users) {
        if (info.Failed) continue;
        const data = await this.getUserData(user, item);
        if (info.PositionTicks !== undefined && info.PositionTicks !== null) {
          this.updatePlayState(item, data, info.PositionTicks);
        } else {
          data.playCount++;
          data.played = true;
          data.playbackPositionTicks = 0;
        }
        await this.saveUserData(user, item, data);
      }
      // PlaybackStopLogger: "{0} has finished playing {1} on {2}", also for a stop early in the item.
      if (users[0]) {
        await this.store.addActivity({
          name: `${users[0].name} has finished playing ${item.name} on ${session.deviceName}`,
          type: 'VideoPlaybackStopped',
          userId: users[0].id,
          itemId: guidN(item.id),
        });
      }
    });
  }

  /** Bench-only: the library scan finds a file gone (10.11 detaches its user data to the placeholder item). */
  removeItem(item) {
    return this.serialized(() => this.store.removeItem(item));
  }
}

function randomGuid() {
  let hex = '';
  for (let i = 0; i < 32; i++) hex += Math.floor(Math.random() * 16).toString(16);
  return hex;
}

// The authenticated part of the main server's HTTP API the bench uses: users, items with user data, the user-data
// writes and the playback session reports (routes and answers of Jellyfin 10.10.7 / 10.11.11, incl. the legacy
// /Users/{userId}/... forms). Plus one bench-only route, POST /Standin/Library/RemoveItem/{itemId}, which is NOT a
// Jellyfin route: it stands for a library scan that finds a file gone.

import { randomBytes } from 'node:crypto';
import { EMPTY_GUID, guidN, jsonDate, parseDbDate, parseGuid, parseRequestDate } from './formats.mjs';

const JSON_TYPE = 'application/json; charset=utf-8';
const PROBLEM_TYPE = 'application/problem+json; charset=utf-8';
const MAX_BODY = 1024 * 1024;

class HttpError extends Error {
  constructor(status, body, contentType) {
    super(`HTTP ${status}`);
    this.status = status;
    this.body = body;
    this.contentType = contentType;
  }
}

function traceId() {
  return `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-00`;
}

/** ASP.NET Core's ProblemDetails for a model-binding failure ([ApiController]). */
function badRequest(errors) {
  return new HttpError(
    400,
    JSON.stringify({
      type: 'https://tools.ietf.org/html/rfc9110#section-15.5.1',
      title: 'One or more validation errors occurred.',
      status: 400,
      errors,
      traceId: traceId(),
    }),
    PROBLEM_TYPE,
  );
}

/** NotFound() under [ApiController]: a ProblemDetails body. */
function notFound() {
  return new HttpError(
    404,
    JSON.stringify({
      type: 'https://tools.ietf.org/html/rfc9110#section-15.5.5',
      title: 'Not Found',
      status: 404,
      traceId: traceId(),
    }),
    PROBLEM_TYPE,
  );
}

function forbidden(text = 'Forbidden') {
  return new HttpError(403, text, 'text/plain; charset=utf-8');
}

/** The challenge of Jellyfin's CustomAuthenticationHandler: 401 with an empty body. */
const UNAUTHORIZED = new HttpError(401, '', undefined);

function send(res, status, contentType, body) {
  const headers = { 'Content-Length': Buffer.byteLength(body) };
  if (contentType) headers['Content-Type'] = contentType;
  res.writeHead(status, headers);
  res.end(body);
}

function sendJson(res, value) {
  send(res, 200, JSON_TYPE, JSON.stringify(value));
}

function noContent(res) {
  res.writeHead(204);
  res.end();
}

/** `MediaBrowser Client="...", Token="..."` (also the `Emby` scheme): the quoted parameters. */
function parseAuthorization(header) {
  const out = {};
  if (!header) return out;
  const m = /^\s*(MediaBrowser|Emby)\s+(.*)$/i.exec(header);
  if (!m) return out;
  for (const part of m[2].matchAll(/([A-Za-z]+)="([^"]*)"/g)) {
    const key = part[1];
    out[key[0].toUpperCase() + key.slice(1)] = decodeURIComponent(part[2]);
  }
  return out;
}

function queryValue(query, name) {
  const lower = name.toLowerCase();
  for (const [k, v] of query) if (k.toLowerCase() === lower) return v;
  return undefined;
}

function optionalGuid(value, name) {
  if (value === undefined || value === '') return null;
  const g = parseGuid(value);
  if (!g) throw badRequest({ [name]: [`The value '${value}' is not valid.`] });
  return g;
}

function requiredGuid(value, name) {
  const g = parseGuid(decodeURIComponent(value));
  if (!g) throw badRequest({ [name]: [`The value '${decodeURIComponent(value)}' is not valid.`] });
  return g;
}

function optionalBool(value, name) {
  if (value === undefined || value === '') return null;
  if (/^true$/i.test(value)) return true;
  if (/^false$/i.test(value)) return false;
  throw badRequest({ [name]: [`The value '${value}' is not valid.`] });
}

/** Case-insensitive property lookup, as Jellyfin's JSON options read request bodies. */
function prop(body, name) {
  const lower = name.toLowerCase();
  for (const [k, v] of Object.entries(body)) if (k.toLowerCase() === lower) return v;
  return undefined;
}

function typeName(fullType) {
  return fullType.slice(fullType.lastIndexOf('.') + 1);
}

export class MainApi {
  /**
   * @param {{ jellyfin: import('./jellyfin.mjs').Jellyfin, serverId: string, log: Function }} opts
   */
  constructor({ jellyfin, serverId, log }) {
    this.jf = jellyfin;
    this.store = jellyfin.store;
    this.serverId = serverId;
    this.log = log;
    const id = '([^/]+)';
    // [method, path pattern (matched case-insensitively, as ASP.NET routing does), handler, captured group names]
    this.routes = [
      ['GET', '/users', 'getUsers', []],
      ['GET', '/users/me', 'getMe', []],
      ['GET', `/users/${id}`, 'getUser', ['userId']],
      ['GET', '/items', 'getItems', []],
      ['GET', `/users/${id}/items`, 'getItems', ['userId']],
      ['GET', `/useritems/${id}/userdata`, 'getUserData', ['itemId']],
      ['GET', `/users/${id}/items/${id}/userdata`, 'getUserData', ['userId', 'itemId']],
      ['POST', `/useritems/${id}/userdata`, 'postUserData', ['itemId']],
      ['POST', `/users/${id}/items/${id}/userdata`, 'postUserData', ['userId', 'itemId']],
      ['POST', `/userplayeditems/${id}`, 'markPlayed', ['itemId']],
      ['POST', `/users/${id}/playeditems/${id}`, 'markPlayed', ['userId', 'itemId']],
      ['DELETE', `/userplayeditems/${id}`, 'markUnplayed', ['itemId']],
      ['DELETE', `/users/${id}/playeditems/${id}`, 'markUnplayed', ['userId', 'itemId']],
      ['POST', `/userfavoriteitems/${id}`, 'favorite', ['itemId']],
      ['POST', `/users/${id}/favoriteitems/${id}`, 'favorite', ['userId', 'itemId']],
      ['DELETE', `/userfavoriteitems/${id}`, 'unfavorite', ['itemId']],
      ['DELETE', `/users/${id}/favoriteitems/${id}`, 'unfavorite', ['userId', 'itemId']],
      ['POST', `/useritems/${id}/rating`, 'rate', ['itemId']],
      ['POST', `/users/${id}/items/${id}/rating`, 'rate', ['userId', 'itemId']],
      ['DELETE', `/useritems/${id}/rating`, 'clearRating', ['itemId']],
      ['DELETE', `/users/${id}/items/${id}/rating`, 'clearRating', ['userId', 'itemId']],
      ['POST', '/sessions/playing', 'reportStart', []],
      ['POST', '/sessions/playing/progress', 'reportProgress', []],
      ['POST', '/sessions/playing/stopped', 'reportStopped', []],
      ['POST', '/sessions/playing/ping', 'ping', []],
      ['POST', `/playingitems/${id}`, 'legacyStart', ['itemId']],
      ['POST', `/users/${id}/playingitems/${id}`, 'legacyStart', ['userId', 'itemId']],
      ['POST', `/playingitems/${id}/progress`, 'legacyProgress', ['itemId']],
      ['POST', `/users/${id}/playingitems/${id}/progress`, 'legacyProgress', ['userId', 'itemId']],
      ['DELETE', `/playingitems/${id}`, 'legacyStopped', ['itemId']],
      ['DELETE', `/users/${id}/playingitems/${id}`, 'legacyStopped', ['userId', 'itemId']],
      // Bench-only extension (not Jellyfin): a library scan removing an item, for tests of 10.11's detach.
      ['POST', `/standin/library/removeitem/${id}`, 'benchRemoveItem', ['itemId']],
    ].map(([method, pattern, handler, names]) => ({
      method,
      regex: new RegExp(`^${pattern}$`, 'i'),
      handler,
      names,
    }));
  }

  /** Handles the request if it is one of these routes; false if the path is not one of them. */
  async handle(req, res, url) {
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const matches = this.routes.filter((r) => r.regex.test(path));
    if (matches.length === 0) return false;
    const route = matches.find((r) => r.method === req.method);
    if (!route) {
      send(res, 405, undefined, '');
      return true;
    }
    try {
      const auth = await this.authenticate(req, url);
      if (!auth) throw UNAUTHORIZED;
      const groups = route.regex.exec(path) ?? [];
      const params = {};
      route.names.forEach((name, i) => {
        params[name] = groups[i + 1];
      });
      const ctx = { req, res, url, auth, params, query: url.searchParams, remoteIp: remoteIp(req) };
      await this[route.handler](ctx);
    } catch (err) {
      if (err instanceof HttpError) {
        if (!res.headersSent) send(res, err.status, err.contentType, err.body);
      } else {
        this.log('ERR', `${req.method} ${url.pathname}: ${err?.stack ?? err}`);
        if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'Error processing request.');
      }
    }
    return true;
  }

  /** AuthorizationContext: the token from the Authorization header, X-Emby-Token, X-MediaBrowser-Token, ?ApiKey=, ?api_key=. */
  async authenticate(req, url) {
    const header = parseAuthorization(req.headers.authorization ?? req.headers['x-emby-authorization']);
    const token =
      header.Token ??
      req.headers['x-emby-token'] ??
      req.headers['x-mediabrowser-token'] ??
      queryValue(url.searchParams, 'ApiKey') ??
      queryValue(url.searchParams, 'api_key');
    if (!token) return null;
    const found = await this.store.token(String(token));
    if (!found) return null;
    if (found.kind === 'apikey') return { kind: 'apikey', token, header, userId: EMPTY_GUID, isAdmin: true };
    const user = await this.store.user(found.device.userId);
    if (!user) return null;
    await this.jf.touchDevice(found.device);
    return { kind: 'device', token, header, device: found.device, userId: user.id, isAdmin: user.isAdmin };
  }

  /** RequestHelpers.GetUserId: the given user (another user's only for administrators), else the caller's. */
  async resolveUser(ctx, givenUserId) {
    const userId = givenUserId && givenUserId !== EMPTY_GUID ? givenUserId : ctx.auth.userId;
    if (userId !== ctx.auth.userId && !ctx.auth.isAdmin) throw forbidden();
    const user = userId === EMPTY_GUID ? null : await this.store.user(userId);
    if (!user) throw notFound();
    return user;
  }

  userIdFrom(ctx) {
    if (ctx.params.userId !== undefined) return requiredGuid(ctx.params.userId, 'userId');
    return optionalGuid(queryValue(ctx.query, 'userId'), 'userId');
  }

  async userAndItem(ctx) {
    const itemId = requiredGuid(ctx.params.itemId, 'itemId');
    const user = await this.resolveUser(ctx, this.userIdFrom(ctx));
    const item = await this.store.item(itemId);
    if (!item) throw notFound();
    return { user, item };
  }

  async readBody(req) {
    const chunks = [];
    let size = 0;
    for await (const chunk of req) {
      size += chunk.length;
      if (size > MAX_BODY) throw badRequest({ '': ['The request body is too large.'] });
      chunks.push(chunk);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  async jsonBody(req, name) {
    const text = await this.readBody(req);
    if (!text.trim()) throw badRequest({ '': ['A non-empty request body is required.'] });
    try {
      const value = JSON.parse(text);
      if (value === null || typeof value !== 'object' || Array.isArray(value))
        throw new Error('not an object');
      return value;
    } catch (err) {
      throw badRequest({
        $: [`The JSON value could not be converted: ${err.message}`],
        [name]: [`The ${name} field is required.`],
      });
    }
  }

  // ------------------------------------------------------------------------------------------ users

  userDto(u) {
    const dto = {
      Name: u.name,
      ServerId: this.serverId,
      Id: guidN(u.id),
      HasPassword: u.hasPassword,
      HasConfiguredPassword: u.hasPassword,
      HasConfiguredEasyPassword: false,
      EnableAutoLogin: u.enableAutoLogin,
      LastLoginDate: jsonDate(u.lastLoginDate),
      LastActivityDate: jsonDate(u.lastActivityDate),
      Configuration: {
        PlayDefaultAudioTrack: true,
        SubtitleLanguagePreference: '',
        DisplayMissingEpisodes: false,
        GroupedFolders: [],
        SubtitleMode: 'Default',
        DisplayCollectionsView: false,
        EnableLocalPassword: false,
        OrderedViews: [],
        LatestItemsExcludes: [],
        MyMediaExcludes: [],
        HidePlayedInLatest: true,
        RememberAudioSelections: u.rememberAudioSelections,
        RememberSubtitleSelections: u.rememberSubtitleSelections,
        EnableNextEpisodeAutoPlay: true,
      },
      Policy: {
        IsAdministrator: u.isAdmin,
        IsHidden: u.isHidden,
        IsDisabled: u.isDisabled,
        EnableUserPreferenceAccess: true,
        EnableRemoteAccess: true,
        EnableMediaPlayback: true,
        EnableAllFolders: true,
        AuthenticationProviderId: 'Jellyfin.Server.Implementations.Users.DefaultAuthenticationProvider',
        PasswordResetProviderId: 'Jellyfin.Server.Implementations.Users.DefaultPasswordResetProvider',
      },
    };
    return dto;
  }

  async getUsers(ctx) {
    sendJson(
      ctx.res,
      (await this.store.users()).map((u) => this.userDto(u)),
    );
  }

  async getMe(ctx) {
    if (ctx.auth.kind !== 'device') throw badRequest({ '': ['Current user not found.'] });
    const user = await this.store.user(ctx.auth.userId);
    if (!user) throw notFound();
    sendJson(ctx.res, this.userDto(user));
  }

  async getUser(ctx) {
    const user = await this.store.user(requiredGuid(ctx.params.userId, 'userId'));
    if (!user) throw notFound();
    sendJson(ctx.res, this.userDto(user));
  }

  // ------------------------------------------------------------------------------------------ items

  itemDto(item, fields, userData) {
    const dto = {
      Name: item.name,
      ServerId: this.serverId,
      Id: guidN(item.id),
      DateCreated: fields.has('datecreated') ? jsonDate(item.dateCreated) : undefined,
      Path: fields.has('path') ? (item.path ?? undefined) : undefined,
      ProviderIds: fields.has('providerids') ? item.providers : undefined,
      RunTimeTicks: item.runTimeTicks ?? undefined,
      ProductionYear: item.productionYear ?? undefined,
      IsFolder: item.isFolder,
      Type: typeName(item.type),
      UserData: userData ? this.jf.userDataDto(item, userData) : undefined,
      ImageTags: {},
      BackdropImageTags: [],
      LocationType: 'FileSystem',
      MediaType: item.isFolder ? 'Unknown' : 'Video',
    };
    return dto;
  }

  async getItems(ctx) {
    const q = ctx.query;
    const given = this.userIdFrom(ctx);
    const userId = given ?? (ctx.auth.kind === 'device' ? ctx.auth.userId : null);
    const user = userId ? await this.resolveUser(ctx, userId) : null;
    const recursive = optionalBool(queryValue(q, 'recursive'), 'recursive') ?? false;
    const isPlayed = optionalBool(queryValue(q, 'isPlayed'), 'isPlayed');
    const isFavorite = optionalBool(queryValue(q, 'isFavorite'), 'isFavorite');
    const fields = new Set(
      String(queryValue(q, 'fields') ?? '')
        .split(',')
        .map((f) => f.trim().toLowerCase())
        .filter(Boolean),
    );
    const filters = new Set(
      String(queryValue(q, 'filters') ?? '')
        .split(',')
        .map((f) => f.trim().toLowerCase())
        .filter(Boolean),
    );
    const types = String(queryValue(q, 'includeItemTypes') ?? '')
      .split(',')
      .map((t) => t.trim().toLowerCase())
      .filter(Boolean);
    const ids = String(queryValue(q, 'ids') ?? '')
      .split(',')
      .map((t) => t.trim())
      .filter(Boolean)
      .map((t) => optionalGuid(t, 'ids'));
    let items = recursive || ids.length > 0 ? await this.store.items() : [];
    if (types.length > 0) items = items.filter((i) => types.includes(typeName(i.type).toLowerCase()));
    if (ids.length > 0) items = items.filter((i) => ids.includes(i.id));
    const data = user ? await this.jf.getUserDataMany(user, items) : new Map();
    const keep = (item) => {
      const d = data.get(item.id);
      if (!user) return true;
      if (isPlayed !== null && d.played !== isPlayed) return false;
      if (isFavorite !== null && d.isFavorite !== isFavorite) return false;
      if (filters.has('isplayed') && !d.played) return false;
      if (filters.has('isunplayed') && d.played) return false;
      if (filters.has('isfavorite') && !d.isFavorite) return false;
      if (filters.has('isresumable') && !(d.playbackPositionTicks > 0)) return false;
      if (filters.has('likes') && !(d.rating !== null && d.rating >= 6.5)) return false;
      if (filters.has('dislikes') && !(d.rating !== null && d.rating < 6.5)) return false;
      if (filters.has('isfavoriteorlikes') && !(d.isFavorite || (d.rating !== null && d.rating >= 6.5)))
        return false;
      return true;
    };
    const all = items.filter(keep);
    const start = Number(queryValue(q, 'startIndex') ?? 0) || 0;
    const limitRaw = queryValue(q, 'limit');
    const page =
      limitRaw === undefined ? all.slice(start) : all.slice(start, start + (Number(limitRaw) || 0));
    sendJson(ctx.res, {
      Items: page.map((i) => this.itemDto(i, fields, user ? data.get(i.id) : null)),
      TotalRecordCount: all.length,
      StartIndex: start,
    });
  }

  // ------------------------------------------------------------------------------------------ user data

  async getUserData(ctx) {
    const { user, item } = await this.userAndItem(ctx);
    sendJson(ctx.res, this.jf.userDataDto(item, await this.jf.getUserData(user, item)));
  }

  async postUserData(ctx) {
    const { user, item } = await this.userAndItem(ctx);
    const body = await this.jsonBody(ctx.req, 'userDataDto');
    const dto = {};
    const number = (name, integer) => {
      const v = prop(body, name);
      if (v === undefined || v === null) return;
      if (typeof v !== 'number' || (integer && !Number.isInteger(v)))
        throw badRequest({
          [`$.${name}`]: [
            `The JSON value could not be converted to ${integer ? 'System.Int64' : 'System.Double'}.`,
          ],
        });
      dto[name] = v;
    };
    const flag = (name) => {
      const v = prop(body, name);
      if (v === undefined || v === null) return;
      if (typeof v !== 'boolean')
        throw badRequest({ [`$.${name}`]: ['The JSON value could not be converted to System.Boolean.'] });
      dto[name] = v;
    };
    number('PlaybackPositionTicks', true);
    number('PlayCount', true);
    flag('IsFavorite');
    flag('Likes');
    flag('Played');
    number('Rating', false);
    if (dto.Rating !== undefined && (dto.Rating < 0 || dto.Rating > 10))
      throw new HttpError(400, 'A 0 to 10 rating is required for UserItemData.', 'text/plain; charset=utf-8');
    const date = prop(body, 'LastPlayedDate');
    if (date !== undefined && date !== null) {
      const parsed = typeof date === 'string' ? (parseDbDate(date) ?? parseRequestDate(date)) : null;
      if (!parsed)
        throw badRequest({
          '$.LastPlayedDate': ['The JSON value could not be converted to System.DateTime.'],
        });
      dto.LastPlayedDate = parsed;
    }
    const data = await this.jf.updateUserData(user, item, dto);
    sendJson(ctx.res, this.jf.userDataDto(item, data));
  }

  async markPlayed(ctx) {
    const rawDate = queryValue(ctx.query, 'datePlayed');
    const datePlayed = rawDate === undefined || rawDate === '' ? null : parseRequestDate(rawDate);
    if (rawDate !== undefined && rawDate !== '' && !datePlayed)
      throw badRequest({ datePlayed: [`The value '${rawDate}' is not valid.`] });
    const { user, item } = await this.userAndItem(ctx);
    await this.jf.logSessionActivity(ctx.auth, user, ctx.remoteIp);
    const data = await this.jf.markPlayed(user, item, datePlayed);
    sendJson(ctx.res, this.jf.userDataDto(item, data));
  }

  async markUnplayed(ctx) {
    const { user, item } = await this.userAndItem(ctx);
    await this.jf.logSessionActivity(ctx.auth, user, ctx.remoteIp);
    const data = await this.jf.markUnplayed(user, item);
    sendJson(ctx.res, this.jf.userDataDto(item, data));
  }

  async favorite(ctx) {
    const { user, item } = await this.userAndItem(ctx);
    sendJson(ctx.res, this.jf.userDataDto(item, await this.jf.markFavorite(user, item, true)));
  }

  async unfavorite(ctx) {
    const { user, item } = await this.userAndItem(ctx);
    sendJson(ctx.res, this.jf.userDataDto(item, await this.jf.markFavorite(user, item, false)));
  }

  async rate(ctx) {
    const likes = optionalBool(queryValue(ctx.query, 'likes'), 'likes');
    const { user, item } = await this.userAndItem(ctx);
    sendJson(ctx.res, this.jf.userDataDto(item, await this.jf.updateRating(user, item, likes)));
  }

  async clearRating(ctx) {
    const { user, item } = await this.userAndItem(ctx);
    sendJson(ctx.res, this.jf.userDataDto(item, await this.jf.updateRating(user, item, null)));
  }

  // ------------------------------------------------------------------------------------------ playback sessions

  /** The session of the caller's device and the users it plays for (none for an API key). */
  async session(ctx) {
    const user = ctx.auth.kind === 'device' ? await this.store.user(ctx.auth.userId) : null;
    const session = await this.jf.logSessionActivity(ctx.auth, user, ctx.remoteIp);
    return { session, users: user ? [user] : [] };
  }

  async playbackInfo(ctx) {
    const body = await this.jsonBody(ctx.req, 'playbackInfo');
    const rawItem = prop(body, 'ItemId');
    let itemId = null;
    if (rawItem !== undefined && rawItem !== null && rawItem !== '') {
      itemId = typeof rawItem === 'string' ? parseGuid(rawItem) : null;
      if (!itemId)
        throw badRequest({ '$.ItemId': ['The JSON value could not be converted to System.Guid.'] });
    }
    const info = {};
    for (const name of ['PositionTicks', 'AudioStreamIndex', 'SubtitleStreamIndex']) {
      const v = prop(body, name);
      if (v === undefined || v === null) continue;
      if (typeof v !== 'number' || !Number.isInteger(v))
        throw badRequest({ [`$.${name}`]: ['The JSON value could not be converted to System.Int64.'] });
      info[name] = v;
    }
    info.Failed = prop(body, 'Failed') === true;
    const item = itemId && itemId !== EMPTY_GUID ? await this.store.item(itemId) : null;
    return { info, item };
  }

  async reportStart(ctx) {
    const { info, item } = await this.playbackInfo(ctx);
    const { session, users } = await this.session(ctx);
    await this.jf.playbackStart(session, users, item, info);
    noContent(ctx.res);
  }

  async reportProgress(ctx) {
    const { info, item } = await this.playbackInfo(ctx);
    const { session, users } = await this.session(ctx);
    await this.jf.playbackProgress(session, users, item, info);
    noContent(ctx.res);
  }

  async reportStopped(ctx) {
    const { info, item } = await this.playbackInfo(ctx);
    if (info.PositionTicks !== undefined && info.PositionTicks < 0)
      throw new HttpError(
        400,
        "The PlaybackStopInfo's PositionTicks was negative.",
        'text/plain; charset=utf-8',
      );
    const { session, users } = await this.session(ctx);
    await this.jf.playbackStopped(session, users, item, info);
    noContent(ctx.res);
  }

  async ping(ctx) {
    noContent(ctx.res);
  }

  /** The legacy /PlayingItems/{itemId} forms: the same reports, the numbers from the query. */
  async legacyInfo(ctx) {
    const itemId = requiredGuid(ctx.params.itemId, 'itemId');
    if (ctx.params.userId !== undefined) requiredGuid(ctx.params.userId, 'userId');
    const info = {};
    for (const name of ['positionTicks', 'audioStreamIndex', 'subtitleStreamIndex']) {
      const v = queryValue(ctx.query, name);
      if (v === undefined || v === '') continue;
      if (!/^-?\d+$/.test(v)) throw badRequest({ [name]: [`The value '${v}' is not valid.`] });
      info[name[0].toUpperCase() + name.slice(1)] = Number(v);
    }
    return { info, item: await this.store.item(itemId) };
  }

  async legacyStart(ctx) {
    const { info, item } = await this.legacyInfo(ctx);
    const { session, users } = await this.session(ctx);
    await this.jf.playbackStart(session, users, item, info);
    noContent(ctx.res);
  }

  async legacyProgress(ctx) {
    const { info, item } = await this.legacyInfo(ctx);
    const { session, users } = await this.session(ctx);
    await this.jf.playbackProgress(session, users, item, info);
    noContent(ctx.res);
  }

  async legacyStopped(ctx) {
    const { info, item } = await this.legacyInfo(ctx);
    const { session, users } = await this.session(ctx);
    await this.jf.playbackStopped(session, users, item, info);
    noContent(ctx.res);
  }

  // ------------------------------------------------------------------------------------------ bench only

  /** NOT a Jellyfin route: what a library scan does when an item's file is gone. Needs an API key. */
  async benchRemoveItem(ctx) {
    if (ctx.auth.kind !== 'apikey') throw forbidden('The bench-only library routes need an API key.');
    const itemId = requiredGuid(ctx.params.itemId, 'itemId');
    const item = await this.store.item(itemId);
    if (!item) throw notFound();
    await this.jf.removeItem(item);
    this.log('INF', `[bench-only] library scan removed ${item.name} (${guidN(item.id)})`);
    noContent(ctx.res);
  }
}

function remoteIp(req) {
  const a = req.socket.remoteAddress ?? '';
  return a.startsWith('::ffff:') ? a.slice(7) : a;
}

// Jellyfin stand-in for the integration bench: behaves like the Jellyfin server of the version it claims where the
// bench looks. Its databases are the real ones (test/fixtures/jellyfin-reference: schema, value formats, the exact
// writes of each user action), it starts up in the version's phases, writes what an idle server writes, can simulate
// users watching, and serves the user-data API (see api.mjs) with the server's in-memory user-data cache.
// Plain Node 20, node: builtins only; SQLite through the sqlite3 CLI (sqlite.mjs).
//
// Environment:
//   JF_VERSION (10.11.3): 10.8.x-10.10.x (jellyfin.db + library.db) or 10.11.x / 12.x (jellyfin.db, library.db.old)
//   JF_LAYOUT (linuxserver | official), JF_PORT (8096), JF_BIND (127.0.0.1), JF_CONFIG_ROOT (/config)
//   JF_STARTUP_DELAY_MS (400): total startup time; its phases (see startup below) are shares of it. A value beyond
//     ~24 days never becomes healthy; so does a file /config/.standin-never-healthy-on-port holding this JF_PORT.
//   JF_SERVER_NAME (else <ServerName> of system.xml, else the hostname)
//   JF_IDLE_WRITE_MS (2000; 0 = off): what an idle server with clients writes (activity, devices, users, optimise)
//   JF_PLAYBACK_WRITE_MS (0 = off; JF_WRITE_INTERVAL_MS is the old name): users watching, one report per period
//   PUID / PGID: like linuxserver images, run as that uid/gid (dirs are created and chowned first)
//   JF_REFERENCE_DIR (/standin/reference): the reference schema and seed files

import { chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MainApi } from './api.mjs';
import { Jellyfin } from './jellyfin.mjs';
import { createStore, FatalStartupError, versionFamily } from './store.mjs';

const MAX_TIMER_MS = 2 ** 31 - 1;

function log(level, msg) {
  const t = new Date().toISOString().replace('T', ' ').slice(0, 23);
  process.stdout.write(`[${t} +00:00] [${level}] ${msg}\n`);
}

function fail(msg) {
  log('ERR', msg);
  process.exit(2);
}

function intFromEnv(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) fail(`${name}=${raw} is not a non-negative number`);
  return Math.floor(n);
}

const config = {
  port: intFromEnv('JF_PORT', 8096),
  bind: process.env.JF_BIND || '127.0.0.1',
  version: process.env.JF_VERSION || '10.11.3',
  layout: process.env.JF_LAYOUT || 'linuxserver',
  startupDelayMs: intFromEnv('JF_STARTUP_DELAY_MS', 400),
  idleWriteMs: intFromEnv('JF_IDLE_WRITE_MS', 2000),
  playbackWriteMs: intFromEnv('JF_PLAYBACK_WRITE_MS', intFromEnv('JF_WRITE_INTERVAL_MS', 0)),
  root: process.env.JF_CONFIG_ROOT || '/config',
  referenceDir: process.env.JF_REFERENCE_DIR || join(dirname(fileURLToPath(import.meta.url)), 'reference'),
  puid: process.env.PUID === undefined || process.env.PUID === '' ? null : intFromEnv('PUID', 0),
  pgid: process.env.PGID === undefined || process.env.PGID === '' ? null : intFromEnv('PGID', 0),
};
const family = versionFamily(config.version);
if (!family)
  fail(
    `JF_VERSION=${config.version} is not a version the stand-in knows: use 10.8.x-10.10.x, 10.11.x or 12.x`,
  );

// Fault injection for tests: a file /config/.standin-never-healthy-on-port holding this stand-in's JF_PORT keeps it
// from ever finishing its startup. Put in master's tree, it reaches the standby with a sync and only the standby
// (listening on that port) never becomes healthy; a restored tree without the file starts normally.
const neverHealthyFile = join(config.root, '.standin-never-healthy-on-port');
const neverHealthy =
  config.startupDelayMs > MAX_TIMER_MS ||
  (existsSync(neverHealthyFile) && readFileSync(neverHealthyFile, 'utf8').trim() === String(config.port));

/**
 * Jellyfin's directories inside /config (mirrors src/domain/layout.ts). linuxserver/jellyfin runs with
 * JELLYFIN_DATA_DIR=/config/data and JELLYFIN_CONFIG_DIR=/config; jellyfin/jellyfin with JELLYFIN_DATA_DIR=/config
 * and JELLYFIN_CONFIG_DIR=/config/config. Databases and device.txt are in <data dir>/data, branding.xml and
 * system.xml in the config dir.
 */
function layoutDirs(layout, root) {
  switch (layout) {
    case 'linuxserver':
      return { programData: join(root, 'data'), configDir: root };
    case 'official':
      return { programData: root, configDir: join(root, 'config') };
    default:
      return fail(`JF_LAYOUT=${layout} is not one of linuxserver, official`);
  }
}

const dirs = layoutDirs(config.layout, config.root);
const dataDir = join(dirs.programData, 'data');
const paths = {
  deviceId: join(dataDir, 'device.txt'),
  branding: join(dirs.configDir, 'branding.xml'),
  system: join(dirs.configDir, 'system.xml'),
};

// Directories Jellyfin creates at start. With PUID/PGID, linuxserver's init makes /config itself (not what is in
// it) and the directories it creates belong to abc (PUID:PGID), then drops to that user.
const owner =
  config.puid !== null || config.pgid !== null ? [config.puid ?? 0, config.pgid ?? config.puid ?? 0] : null;
mkdirSync(config.root, { recursive: true });
if (owner) chownSync(config.root, owner[0], owner[1]);
for (const dir of [
  dirs.configDir,
  dirs.programData,
  dataDir,
  join(config.root, 'log'),
  join(config.root, 'cache'),
]) {
  if (existsSync(dir)) continue;
  mkdirSync(dir, { recursive: true });
  if (owner) chownSync(dir, owner[0], owner[1]);
}
if (owner) {
  const [uid, gid] = owner;
  process.setgroups([gid]);
  process.setgid(gid);
  process.setuid(uid);
  log('INF', `Running as uid ${uid}, gid ${gid} (PUID/PGID)`);
}

function readText(path) {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

function xmlUnescape(text) {
  return text
    .replace(/&#x([0-9a-f]+);/gi, (_, hex) => String.fromCodePoint(Number.parseInt(hex, 16)))
    .replace(/&#([0-9]+);/g, (_, dec) => String.fromCodePoint(Number.parseInt(dec, 10)))
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}

/** The text of `<tag>` in a flat Jellyfin XML config: null when absent, '' when empty or self-closing. */
function xmlElement(xml, tag) {
  if (xml === null) return null;
  const full = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`).exec(xml);
  if (full) return xmlUnescape(full[1] ?? '');
  if (new RegExp(`<${tag}\\s*/>`).test(xml)) return '';
  return null;
}

/** Jellyfin's server id: a GUID ("N" format) kept in <data dir>/data/device.txt, created on first start. */
function serverId() {
  const existing = readText(paths.deviceId)?.trim();
  if (existing && /^[0-9a-f]{32}$/i.test(existing)) return existing.toLowerCase();
  let id = '';
  for (let i = 0; i < 32; i++) id += Math.floor(Math.random() * 16).toString(16);
  writeFileSync(paths.deviceId, id);
  return id;
}

// Jellyfin reads branding.xml once and serves it from memory until restarted; so does the stand-in.
const brandingXml = readText(paths.branding);
const branding = {
  LoginDisclaimer: xmlElement(brandingXml, 'LoginDisclaimer') ?? undefined,
  CustomCss: xmlElement(brandingXml, 'CustomCss') ?? undefined,
  SplashscreenEnabled: xmlElement(brandingXml, 'SplashscreenEnabled') === 'true',
};
const systemXml = readText(paths.system);
const serverName = process.env.JF_SERVER_NAME || xmlElement(systemXml, 'ServerName') || hostname();
const wizardCompleted =
  systemXml === null ? true : xmlElement(systemXml, 'IsStartupWizardCompleted') === 'true';
const id = serverId();

const store = createStore({ dataDir, version: config.version, referenceDir: config.referenceDir, log });
const jellyfin = new Jellyfin(store, { serverId: id, log });
const api = new MainApi({ jellyfin, serverId: id, log });

log(
  'INF',
  `Jellyfin stand-in ${config.version} (${config.layout} layout, ${family === 'old' ? '10.8-10.10' : '10.11+'} databases in ${dataDir})`,
);

// ---------------------------------------------------------------------------------------------- HTTP

const TEXT = 'text/plain; charset=utf-8';
const JSON_TYPE = 'application/json; charset=utf-8';
const LOADING = 'Jellyfin Server is loading. Please try again shortly.';

function send(res, status, contentType, body, headers = {}) {
  const h = { 'Content-Length': Buffer.byteLength(body), ...headers };
  if (contentType) h['Content-Type'] = contentType;
  res.writeHead(status, h);
  res.end(body);
}

function publicInfo() {
  return {
    LocalAddress: `http://${config.bind}:${config.port}`,
    ServerName: serverName,
    Version: config.version,
    ProductName: 'Jellyfin Server',
    OperatingSystem: '',
    Id: id,
    StartupWizardCompleted: wizardCompleted,
  };
}

/**
 * 10.11+ SetupServer while the core starts: /health Degraded (Unhealthy after a failed start), a camelCase
 * /System/Info/Public (WriteAsJsonAsync web defaults) with startupWizardCompleted false, a 503 page for the rest.
 */
function setupHandler(req, res) {
  const path = new URL(req.url ?? '/', 'http://x').pathname.replace(/\/+$/, '').toLowerCase();
  if (path === '/health') {
    if (state.failed) send(res, 503, TEXT, 'Unhealthy');
    else send(res, 200, TEXT, 'Degraded');
    return;
  }
  if (path === '/system/info/public') {
    const info = publicInfo();
    send(
      res,
      200,
      JSON_TYPE,
      JSON.stringify({
        localAddress: info.LocalAddress,
        serverName: info.ServerName,
        version: info.Version,
        productName: info.ProductName,
        operatingSystem: info.OperatingSystem,
        id: info.Id,
        startupWizardCompleted: false,
      }),
    );
    return;
  }
  const page = `<!DOCTYPE html><html><head><title>Jellyfin Startup</title></head><body><h1>Jellyfin Server still starting. Please wait.</h1>${state.failed ? `<p>${state.failed}</p>` : ''}</body></html>`;
  send(res, 503, 'text/html', page, { 'Retry-After': '005' });
}

/** The main server: before CoreStartupHasCompleted everything but /System/Ping gets the 503 loading message. */
function mainHandler(req, res) {
  const url = new URL(req.url ?? '/', 'http://x');
  const path = url.pathname.replace(/\/+$/, '').toLowerCase();
  if (!state.ready && path !== '/system/ping') {
    send(res, 503, 'text/html', LOADING);
    return;
  }
  const method = req.method === 'HEAD' ? 'GET' : req.method;
  switch (`${method} ${path}`) {
    case 'GET /health':
      send(res, 200, TEXT, 'Healthy');
      return;
    case 'GET /system/info/public':
      send(res, 200, JSON_TYPE, JSON.stringify(publicInfo()));
      return;
    case 'GET /system/ping':
    case 'POST /system/ping':
      send(res, 200, JSON_TYPE, JSON.stringify('Jellyfin Server'));
      return;
    case 'GET /branding/configuration':
      send(res, 200, JSON_TYPE, JSON.stringify(branding));
      return;
    case 'GET /branding/css':
    case 'GET /branding/css.css':
      send(res, 200, 'text/css; charset=utf-8', branding.CustomCss ?? '');
      return;
    default:
      break;
  }
  api.handle(req, res, url).then(
    (handled) => {
      if (!handled) send(res, 404, undefined, '');
    },
    (err) => {
      log('ERR', `${req.method} ${url.pathname}: ${err?.stack ?? err}`);
      if (!res.headersSent) send(res, 500, TEXT, 'Error processing request.');
    },
  );
}

const state = { phase: 'init', ready: false, failed: null, stopping: false, server: null };

function listen(handler, name) {
  return new Promise((resolve, reject) => {
    const server = createServer(handler);
    server.keepAliveTimeout = 2000;
    server.once('error', reject);
    server.listen(config.port, config.bind, () => {
      server.off('error', reject);
      server.on('error', (err) => log('ERR', `${name} server: ${err.message}`));
      state.server = server;
      log('INF', `${name} listening on http://${config.bind}:${config.port}`);
      resolve(server);
    });
  });
}

function closeServer() {
  const server = state.server;
  state.server = null;
  if (!server) return Promise.resolve();
  const closed = new Promise((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  return closed;
}

const startedAt = Date.now();
// A delay beyond what a timer can wait means "never healthy": the phases before that take the default shares.
const phaseDelayMs = config.startupDelayMs > MAX_TIMER_MS ? 400 : config.startupDelayMs;
const sleepUntil = (share) =>
  new Promise((resolve) => {
    const wait = startedAt + Math.round(phaseDelayMs * share) - Date.now();
    if (wait > 0) setTimeout(resolve, wait);
    else setImmediate(resolve);
  });
const forever = () => new Promise(() => undefined);

/** Opening the databases; a SIGTERM during it waits for it before closing them. */
let initPromise = null;
function initDatabases() {
  initPromise ??= store.init();
  return initPromise;
}

/**
 * 10.8-10.10: nothing listens while the databases are opened (library.db is VACUUMed), then the web server answers
 * 503 "loading" until the core has started, then Healthy.
 * 10.11+: the setup server answers at once (Degraded) while the databases are opened and migrated, stops, a short
 * gap with nothing listening, the main server's brief 503 window, then Healthy.
 * Shares of JF_STARTUP_DELAY_MS: old 30 % init / 70 % loading; new 55 % setup / 15 % gap / 30 % loading.
 */
async function startup() {
  try {
    if (family === 'old') {
      state.phase = 'database-init';
      await initDatabases();
      await sleepUntil(0.3);
      if (state.stopping) return;
      state.phase = 'loading';
      await listen(mainHandler, 'Web');
      if (neverHealthy) {
        log('INF', 'Never finishing startup (fault injection): staying at 503 loading');
        return forever();
      }
      await sleepUntil(1);
    } else {
      state.phase = 'setup';
      await listen(setupHandler, 'Setup');
      await initDatabases();
      if (neverHealthy) {
        log('INF', 'Never finishing startup (fault injection): the setup server stays Degraded');
        return forever();
      }
      await sleepUntil(0.55);
      if (state.stopping) return;
      await closeServer();
      state.phase = 'gap';
      await sleepUntil(0.7);
      if (state.stopping) return;
      state.phase = 'loading';
      await listen(mainHandler, 'Web');
      await sleepUntil(1);
    }
    if (state.stopping) return;
    state.phase = 'ready';
    state.ready = true;
    log('INF', `Startup complete after ${Date.now() - startedAt} ms: Healthy`);
    startBackgroundWrites();
  } catch (err) {
    if (err instanceof FatalStartupError) {
      log('FTL', err.message);
      if (family === 'new' && state.server) {
        // 10.11's SetupServer.SoftStop(): it keeps answering, Unhealthy, with the error on its page.
        state.failed = err.message;
        return;
      }
      await store.close().catch(() => undefined);
      process.exit(1);
    }
    log('FTL', `Startup failed: ${err?.stack ?? err}`);
    await closeServer();
    await store.close().catch(() => undefined);
    process.exit(1);
  }
}

// ---------------------------------------------------------------------------------------------- background writes

const timers = [];
let background = Promise.resolve();

/** Runs background work one piece at a time; a failure is logged, not fatal. */
function backgroundWork(name, work) {
  background = background.then(async () => {
    if (state.stopping) return;
    try {
      await work();
    } catch (err) {
      log('ERR', `${name}: ${err?.message ?? err}`);
    }
  });
}

let rngState = (Date.now() ^ config.port) >>> 0;
function rand() {
  rngState = (rngState + 0x6d2b79f5) >>> 0;
  let t = rngState;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (list) => list[Math.floor(rand() * list.length)];

function clientIp() {
  return `192.168.1.${20 + Math.floor(rand() * 30)}`;
}

/**
 * An idle server with clients: sessions start and end, users log in, clients report activity; now and then the
 * "optimise database" task runs. None of it touches watch state.
 */
let idleTick = 0;
async function idleWrite() {
  const tick = idleTick++;
  const devices = await store.devices();
  const users = await store.users();
  if (devices.length === 0 || users.length === 0) return;
  const device = pick(devices);
  const user = users.find((u) => u.id === device.userId) ?? pick(users);
  switch (tick % 4) {
    case 0:
      await store.touchUser(user.id);
      await store.touchDevice(device.rowId);
      await store.addActivity({
        name: `${user.name} is online from ${device.deviceName}`,
        type: 'SessionStarted',
        userId: user.id,
        shortOverview: `IP address: ${clientIp()}`,
      });
      break;
    case 1:
      await store.touchUser(user.id);
      break;
    case 2:
      await store.addActivity({
        name: `${user.name} has disconnected from ${device.deviceName}`,
        type: 'SessionEnded',
        userId: user.id,
        shortOverview: `IP address: ${clientIp()}`,
      });
      break;
    default:
      await store.touchUser(user.id, { login: true });
      await store.addActivity({
        name: `${user.name} successfully authenticated`,
        type: 'AuthenticationSucceeded',
        userId: user.id,
        shortOverview: `IP address: ${clientIp()}`,
      });
  }
  if (tick % 25 === 24) {
    const started = Date.now();
    await store.optimise();
    log('INF', `Optimize database task: jellyfin.db optimized in ${Date.now() - started} ms`);
  }
}

/**
 * Users watching: up to two users with a device each play items one after the other, one report per period:
 * start, progress at 10/30/50/70 % (audio 1, subtitles off), stop at 95 % (played). Through the same code as the
 * HTTP session reports, cache included.
 */
const watchers = [];
let playbackTick = 0;
async function playbackWrite() {
  if (watchers.length === 0) {
    const items = (await store.items()).filter((i) => i.runTimeTicks > 0);
    const users = await store.users();
    const seen = new Set();
    for (const device of await store.devices()) {
      const user = users.find((u) => u.id === device.userId);
      if (!user || seen.has(user.id) || items.length === 0) continue;
      seen.add(user.id);
      watchers.push({ device, user, items, next: Math.floor(rand() * items.length), step: 0, item: null });
      if (watchers.length === 2) break;
    }
    if (watchers.length === 0) {
      log('WRN', 'Simulated playback: no user with a device and no item with a runtime; nothing to play');
      clearTimers();
      return;
    }
  }
  const w = watchers[playbackTick++ % watchers.length];
  const auth = { kind: 'device', token: '', header: {}, device: w.device };
  const user = (await store.user(w.user.id)) ?? w.user;
  const session = await jellyfin.logSessionActivity(auth, user, clientIp());
  if (w.step === 0) {
    w.item = w.items[w.next++ % w.items.length];
    await jellyfin.playbackStart(session, [user], w.item, {});
  } else if (w.step <= 4) {
    const position = Math.round(w.item.runTimeTicks * (0.1 + 0.2 * (w.step - 1)));
    await jellyfin.playbackProgress(session, [user], w.item, {
      PositionTicks: position,
      AudioStreamIndex: 1,
      SubtitleStreamIndex: -1,
    });
  } else {
    await jellyfin.playbackStopped(session, [user], w.item, {
      PositionTicks: Math.round(w.item.runTimeTicks * 0.95),
    });
  }
  w.step = (w.step + 1) % 6;
}

function startBackgroundWrites() {
  if (config.idleWriteMs > 0)
    timers.push(setInterval(() => backgroundWork('idle write', idleWrite), config.idleWriteMs));
  if (config.playbackWriteMs > 0)
    timers.push(
      setInterval(() => backgroundWork('simulated playback', playbackWrite), config.playbackWriteMs),
    );
}

function clearTimers() {
  for (const t of timers.splice(0)) clearInterval(t);
}

// ---------------------------------------------------------------------------------------------- shutdown

/** SIGTERM: stop HTTP, let running writes finish, checkpoint the -wal files into the databases, close, exit 0. */
async function shutdown(signal) {
  if (state.stopping) return;
  state.stopping = true;
  log('INF', `Received ${signal}, shutting down`);
  clearTimers();
  await closeServer();
  await background;
  await jellyfin.lock;
  await initPromise?.catch(() => undefined);
  try {
    if (store.jf) await store.shutdown();
  } catch (err) {
    log('ERR', `closing the databases: ${err?.message ?? err}`);
  }
  log('INF', `Databases closed; jellyfin.db-wal present: ${existsSync(join(dataDir, 'jellyfin.db-wal'))}`);
  log('INF', 'Stand-in stopped');
  process.exit(0);
}

for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => void shutdown(signal));

void startup();

// Jellyfin stand-in for the integration bench. It answers the few endpoints jellyfin-failover uses and keeps
// a real SQLite database busy the way Jellyfin does (WAL mode, small write transactions), so sync, stop and
// verify steps are exercised against real files. Plain Node 20, node: builtins only; the database is driven
// through the sqlite3 CLI as a long-running child fed on stdin (Node 20 has no SQLite binding).
//
// Environment:
//   JF_PORT (8096), JF_BIND (127.0.0.1), JF_VERSION (10.11.3), JF_LAYOUT (linuxserver | official),
//   JF_STARTUP_DELAY_MS (1500; /health says Degraded until then; a value beyond ~24 days means never healthy),
//   JF_SERVER_NAME (else <ServerName> from system.xml, else the hostname),
//   JF_WRITE_INTERVAL_MS (500; 0 disables the simulated watch progress),
//   JF_CONFIG_ROOT (/config; only to run the stand-in outside a container).
//   A file /config/.standin-never-healthy-on-port with this JF_PORT in it: never healthy (fault injection).

import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';

const MAX_TIMER_MS = 2 ** 31 - 1;
const READY_MARKER = 'jf-standin:schema-ready';

function log(level, msg) {
  const t = new Date().toISOString().slice(11, 19);
  process.stdout.write(`[${t}] [${level}] ${msg}\n`);
}

function intFromEnv(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) {
    log('ERR', `${name}=${raw} is not a non-negative number`);
    process.exit(2);
  }
  return Math.floor(n);
}

const config = {
  port: intFromEnv('JF_PORT', 8096),
  bind: process.env.JF_BIND || '127.0.0.1',
  version: process.env.JF_VERSION || '10.11.3',
  layout: process.env.JF_LAYOUT || 'linuxserver',
  startupDelayMs: intFromEnv('JF_STARTUP_DELAY_MS', 1500),
  writeIntervalMs: intFromEnv('JF_WRITE_INTERVAL_MS', 500),
  root: process.env.JF_CONFIG_ROOT || '/config',
};

// Fault injection for tests: a file /config/.standin-never-healthy-on-port holding this stand-in's JF_PORT keeps
// it Degraded forever. Put in master's tree, it reaches the standby with a sync and only the standby (listening
// on that port) never becomes healthy; a restored tree without the file starts normally.
const neverHealthyFile = join(config.root, '.standin-never-healthy-on-port');
if (existsSync(neverHealthyFile) && readFileSync(neverHealthyFile, 'utf8').trim() === String(config.port)) {
  config.startupDelayMs = 2_000_000_000;
}

/**
 * Jellyfin's directories inside /config. linuxserver/jellyfin runs with JELLYFIN_DATA_DIR=/config/data and
 * JELLYFIN_CONFIG_DIR=/config; jellyfin/jellyfin with JELLYFIN_DATA_DIR=/config and
 * JELLYFIN_CONFIG_DIR=/config/config. Jellyfin keeps jellyfin.db and device.txt in <data dir>/data and
 * branding.xml / system.xml in the config dir. Mirrors src/domain/layout.ts.
 */
function layoutDirs(layout, root) {
  switch (layout) {
    case 'linuxserver':
      return { programData: join(root, 'data'), configDir: root };
    case 'official':
      return { programData: root, configDir: join(root, 'config') };
    default:
      log('ERR', `JF_LAYOUT=${layout} is not one of linuxserver, official`);
      process.exit(2);
  }
}

const dirs = layoutDirs(config.layout, config.root);
const paths = {
  database: join(dirs.programData, 'data', 'jellyfin.db'),
  deviceId: join(dirs.programData, 'data', 'device.txt'),
  branding: join(dirs.configDir, 'branding.xml'),
  system: join(dirs.configDir, 'system.xml'),
};

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
  const id = randomBytes(16).toString('hex');
  mkdirSync(dirname(paths.deviceId), { recursive: true });
  writeFileSync(paths.deviceId, id);
  return id;
}

// Jellyfin reads branding.xml once and serves it from memory until restarted; so does the stand-in.
const brandingXml = readText(paths.branding);
const branding = {
  LoginDisclaimer: xmlElement(brandingXml, 'LoginDisclaimer'),
  CustomCss: xmlElement(brandingXml, 'CustomCss'),
  SplashscreenEnabled: xmlElement(brandingXml, 'SplashscreenEnabled') === 'true',
};
const systemXml = readText(paths.system);
const serverName = process.env.JF_SERVER_NAME || xmlElement(systemXml, 'ServerName') || hostname();
const id = serverId();

// ---------------------------------------------------------------------------------------------- database

const SCHEMA = `
PRAGMA journal_mode=WAL;
PRAGMA busy_timeout=5000;
CREATE TABLE IF NOT EXISTS Users(Id TEXT PRIMARY KEY, Username TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS BaseItems(Id TEXT PRIMARY KEY, Name TEXT, Path TEXT);
CREATE TABLE IF NOT EXISTS UserData(UserId TEXT NOT NULL, ItemId TEXT NOT NULL, PlaybackPositionTicks INTEGER NOT NULL DEFAULT 0,
  PlayCount INTEGER NOT NULL DEFAULT 0, LastPlayedDate TEXT, PRIMARY KEY(UserId, ItemId));
CREATE TABLE IF NOT EXISTS ActivityLogs(Id INTEGER PRIMARY KEY AUTOINCREMENT, Name TEXT NOT NULL, Type TEXT NOT NULL,
  UserId TEXT, ItemId TEXT, DateCreated TEXT NOT NULL);
`;

function sqlString(value) {
  return `'${String(value).replace(/'/g, "''")}'`;
}

function seedSql() {
  const user = randomUUID().replace(/-/g, '');
  const items = Array.from({ length: 20 }, (_, i) => {
    const itemId = randomUUID().replace(/-/g, '');
    return `(${sqlString(itemId)}, ${sqlString(`Stand-in Movie ${i + 1}`)}, ${sqlString(`/media/movies/standin-${i + 1}.mkv`)})`;
  });
  // Only a fresh database gets a user and items; a generated config tree brings its own.
  return `
INSERT INTO Users(Id, Username) SELECT ${sqlString(user)}, 'standin' WHERE NOT EXISTS (SELECT 1 FROM Users);
INSERT INTO BaseItems(Id, Name, Path) SELECT * FROM (VALUES ${items.join(', ')}) WHERE NOT EXISTS (SELECT 1 FROM BaseItems);
`;
}

/** One simulated playback report: progress on a random user/item pair plus an activity log row. */
function progressSql() {
  const now = new Date().toISOString();
  return `BEGIN IMMEDIATE;
INSERT INTO UserData(UserId, ItemId, PlaybackPositionTicks, PlayCount, LastPlayedDate)
  SELECT u.Id, i.Id, 600000000, 0, ${sqlString(now)}
  FROM (SELECT Id FROM Users ORDER BY random() LIMIT 1) AS u, (SELECT Id FROM BaseItems ORDER BY random() LIMIT 1) AS i
  WHERE true
  ON CONFLICT(UserId, ItemId) DO UPDATE SET PlaybackPositionTicks = PlaybackPositionTicks + 600000000,
    PlayCount = PlayCount + (PlaybackPositionTicks > 60000000000), LastPlayedDate = excluded.LastPlayedDate;
INSERT INTO ActivityLogs(Name, Type, UserId, ItemId, DateCreated)
  SELECT 'Playback progress', 'VideoPlayback', u.Id, NULL, ${sqlString(now)} FROM (SELECT Id FROM Users ORDER BY random() LIMIT 1) AS u;
COMMIT;
`;
}

mkdirSync(dirname(paths.database), { recursive: true });
const sqlite = spawn('sqlite3', ['-batch', '-noheader', '-list', paths.database], {
  stdio: ['pipe', 'pipe', 'pipe'],
});
let sqliteExited = false;
const sqliteExit = new Promise((resolve) => {
  sqlite.on('exit', (code, signal) => {
    sqliteExited = true;
    resolve({ code, signal });
  });
});
sqlite.on('error', (err) => {
  log('ERR', `cannot run sqlite3: ${err.message}`);
  process.exit(1);
});
sqlite.stdin.on('error', (err) => log('WRN', `sqlite3 stdin: ${err.message}`));
createInterface({ input: sqlite.stderr }).on('line', (line) => log('ERR', `sqlite3: ${line}`));

let resolveSchemaReady;
const schemaReady = new Promise((resolve) => {
  resolveSchemaReady = resolve;
});
createInterface({ input: sqlite.stdout }).on('line', (line) => {
  if (line === READY_MARKER) resolveSchemaReady();
});

function sendSql(sql) {
  if (!sqliteExited && sqlite.stdin.writable) sqlite.stdin.write(sql);
}

sendSql(`${SCHEMA}${seedSql()}SELECT '${READY_MARKER}';\n`);
log('INF', `Jellyfin stand-in ${config.version} (${config.layout} layout), database ${paths.database}`);

// ---------------------------------------------------------------------------------------------- HTTP

const startedAt = Date.now();
let healthy = false;
let stopping = false;

function send(res, status, contentType, body) {
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function sendJson(res, value) {
  send(res, 200, 'application/json; charset=utf-8', JSON.stringify(value));
}

const server = createServer((req, res) => {
  const path = (req.url ?? '/').split('?')[0].replace(/\/+$/, '').toLowerCase();
  const method = req.method ?? 'GET';
  if (method !== 'GET' && method !== 'HEAD' && !(method === 'POST' && path === '/system/ping')) {
    send(res, 405, 'text/plain; charset=utf-8', 'Method Not Allowed');
    return;
  }
  switch (path) {
    case '/health':
      send(res, 200, 'text/plain; charset=utf-8', healthy && !stopping ? 'Healthy' : 'Degraded');
      return;
    case '/system/info/public':
      sendJson(res, {
        LocalAddress: `http://${config.bind}:${config.port}`,
        ServerName: serverName,
        Version: config.version,
        ProductName: 'Jellyfin Server',
        OperatingSystem: '',
        Id: id,
        StartupWizardCompleted: true,
      });
      return;
    case '/system/ping':
      sendJson(res, 'Jellyfin Server');
      return;
    case '/branding/configuration':
      sendJson(res, branding);
      return;
    default:
      send(res, 404, 'text/plain; charset=utf-8', 'Not Found');
  }
});

server.on('error', (err) => {
  log('ERR', `cannot listen on ${config.bind}:${config.port}: ${err.message}`);
  void shutdown(1);
});
server.listen(config.port, config.bind, () => {
  log('INF', `Listening on http://${config.bind}:${config.port} as "${serverName}" (id ${id})`);
});

let writeTimer = null;
let startupTimer = null;

function becomeHealthy() {
  if (stopping) return;
  healthy = true;
  log('INF', `Startup complete after ${Date.now() - startedAt} ms: Healthy`);
  if (config.writeIntervalMs > 0) {
    writeTimer = setInterval(() => sendSql(progressSql()), config.writeIntervalMs);
  }
}

void schemaReady.then(() => {
  if (stopping) return;
  log('INF', 'Database ready');
  const remaining = config.startupDelayMs - (Date.now() - startedAt);
  if (config.startupDelayMs > MAX_TIMER_MS) {
    log('INF', `JF_STARTUP_DELAY_MS=${config.startupDelayMs}: staying Degraded`);
  } else if (remaining <= 0) {
    becomeHealthy();
  } else {
    startupTimer = setTimeout(becomeHealthy, remaining);
  }
});

void sqliteExit.then(({ code, signal }) => {
  if (!stopping) {
    log('ERR', `sqlite3 exited unexpectedly (code ${code}, signal ${signal})`);
    void shutdown(1);
  }
});

// ---------------------------------------------------------------------------------------------- shutdown

/** Stop writing, stop HTTP, checkpoint and truncate the WAL, close the database, exit. */
async function shutdown(exitCode) {
  if (stopping) return;
  stopping = true;
  if (startupTimer) clearTimeout(startupTimer);
  if (writeTimer) clearInterval(writeTimer);
  const httpClosed = new Promise((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  await httpClosed;
  if (!sqliteExited) {
    sendSql('PRAGMA wal_checkpoint(TRUNCATE);\n.quit\n');
    sqlite.stdin.end();
    const killer = setTimeout(() => {
      log('WRN', 'sqlite3 did not exit within 8 s; killing it');
      sqlite.kill('SIGKILL');
    }, 8000);
    const { code } = await sqliteExit;
    clearTimeout(killer);
    log(
      'INF',
      `Database closed (sqlite3 exit code ${code}); wal present: ${existsSync(`${paths.database}-wal`)}`,
    );
  }
  log('INF', 'Stand-in stopped');
  process.exit(exitCode);
}

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    log('INF', `Received ${signal}, shutting down`);
    void shutdown(0);
  });
}

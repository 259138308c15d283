/**
 * The engine's ports in memory: two hosts' files, two containers, a copier, traffic, the state store and the lock.
 * Fakes are right here because these tests are about the engine's own logic (undo order, refusals, progress,
 * crash recovery from every point) and must run in milliseconds; the real adapters keep their integration tests
 * against dockerd, sshd, rsync and sqlite3 (test/**\/*.int.test.ts).
 *
 * A crash is simulated as the real one happens: at a chosen point every port call stops answering (the process
 * is gone), and a new engine over the same world recovers from the journal the old one left.
 */
import { Engine } from '../../src/domain/engine/engine.js';
import { OperationGate } from '../../src/domain/engine/gate.js';
import type { EngineSettings } from '../../src/domain/engine/plan.js';
import { RefusedError } from '../../src/domain/errors.js';
import { type FailoverEvent, ObserverHub, type OperationStatus } from '../../src/domain/events.js';
import type { Journal } from '../../src/domain/journal.js';
import { type Layout, layoutPaths } from '../../src/domain/layout.js';
import { SILENT_LOG } from '../../src/domain/log.js';
import type { MergeRecord, WatchBase } from '../../src/domain/merge.js';
import { Operations } from '../../src/domain/operations/index.js';
import { OWNED_SUFFIXES, SQLITE_PATTERNS } from '../../src/domain/paths.js';
import type {
  ContainerControl,
  ContainerInfo,
  Copier,
  CopyRequest,
  DatabasePaths,
  JellyfinProbe,
  LockHolder,
  OperationLock,
  Site,
  SiteDatabasesPort,
  SiteFilesPort,
  SnapshotReport,
  StateStore,
  TrafficSwitch,
  TransferStats,
} from '../../src/domain/ports.js';
import { SITE_NAMES, type SiteName } from '../../src/domain/sites.js';
import { initialState, type PersistentState } from '../../src/domain/state.js';
import type { VersionFamily } from '../../src/domain/version.js';
import { type WatchState, WatchStateUnavailable, watchState } from '../../src/domain/watch-state.js';

/** The switch a crash throws: once set, every port call hangs, as if the process had been killed. */
export class World {
  crashed = false;
  /** Port calls made since the current step started. */
  callsInStep = 0;
  step = '';
  /** When set: the process dies at the `calls`-th port call of `step` (0: right after entering it). */
  crashAt: { step: string; calls: number } | null = null;
  readonly log: string[] = [];

  /** Every port call goes through here; after a crash it never returns. */
  async call<T>(what: string, body: () => T | Promise<T>): Promise<T> {
    if (this.crashed) return new Promise<T>(() => undefined);
    if (this.crashAt && this.crashAt.step === this.step && this.callsInStep >= this.crashAt.calls) {
      this.crashed = true;
      return new Promise<T>(() => undefined);
    }
    this.callsInStep += 1;
    this.log.push(`${this.step}: ${what}`);
    return body();
  }

  enterStep(step: string): void {
    this.step = step;
    this.callsInStep = 0;
  }
}

type Entry = { kind: 'file'; content: string } | { kind: 'dir' };

/** One host's filesystem: absolute paths to files and directories. */
export class MemoryFs {
  readonly entries = new Map<string, Entry>();

  write(path: string, content: string): void {
    const parts = path.split('/').filter(Boolean);
    for (let i = 1; i < parts.length; i++)
      this.entries.set(`/${parts.slice(0, i).join('/')}`, { kind: 'dir' });
    this.entries.set(path, { kind: 'file', content });
  }

  read(path: string): string | null {
    const e = this.entries.get(path);
    return e?.kind === 'file' ? e.content : null;
  }

  exists(path: string): boolean {
    return this.entries.has(path);
  }

  /** Paths under `dir` (not `dir` itself), relative with a leading `/`, files only. */
  files(dir: string): Map<string, string> {
    const out = new Map<string, string>();
    for (const [path, e] of this.entries) {
      if (e.kind === 'file' && path.startsWith(`${dir}/`)) out.set(path.slice(dir.length), e.content);
    }
    return out;
  }

  removeTree(dir: string): void {
    for (const path of [...this.entries.keys()])
      if (path === dir || path.startsWith(`${dir}/`)) this.entries.delete(path);
  }

  moveTree(from: string, to: string): void {
    for (const [path, e] of [...this.entries]) {
      if (path === from || path.startsWith(`${from}/`)) {
        this.entries.delete(path);
        this.entries.set(`${to}${path.slice(from.length)}`, e);
      }
    }
  }

  /** A digest of a tree's files, to compare before and after. */
  digest(dir: string): Record<string, string> {
    return Object.fromEntries([...this.files(dir)].sort(([a], [b]) => a.localeCompare(b)));
  }
}

class MemoryFiles implements SiteFilesPort {
  constructor(
    readonly label: string,
    private readonly fs: MemoryFs,
    private readonly world: World,
    readonly host: {
      reachable: boolean;
      freeBytes: number;
      commands: Set<string>;
      readOnlyDirs?: Set<string>;
    },
  ) {}

  private call<T>(what: string, body: () => T): Promise<T> {
    if (!this.host.reachable)
      return this.world.call(what, () => Promise.reject(new Error(`${this.label} is unreachable`)));
    return this.world.call(`${this.label} ${what}`, body);
  }

  reachable(): Promise<boolean> {
    return this.world.call(`${this.label} reachable`, () => this.host.reachable);
  }

  unreachableReason(): Promise<string | null> {
    return this.world.call(`${this.label} reachable`, () =>
      this.host.reachable ? null : 'connection refused',
    );
  }

  exists(path: string): Promise<boolean> {
    return this.call(`exists ${path}`, () => this.fs.exists(path));
  }

  isDir(path: string): Promise<boolean> {
    return this.call(`isDir ${path}`, () => this.fs.entries.get(path)?.kind === 'dir');
  }

  hasCommand(name: string): Promise<boolean> {
    return this.call(`hasCommand ${name}`, () => this.host.commands.has(name));
  }

  detectLayout(configDir: string): Promise<Layout | null> {
    return this.call('detectLayout', () => {
      for (const layout of ['linuxserver', 'official'] as const) {
        if (this.fs.exists(`${configDir}/${layoutPaths(layout).database}`)) return layout;
      }
      return null;
    });
  }

  treeStats(dir: string, skipTopDirs: readonly string[]): Promise<{ files: number; bytes: number }> {
    return this.call(`countFiles ${dir}`, () => {
      let files = 0;
      let bytes = 0;
      for (const [rel, content] of this.fs.files(dir)) {
        if (skipTopDirs.some((d) => rel.startsWith(`/${d}/`))) continue;
        files++;
        bytes += content.length;
      }
      return { files, bytes };
    });
  }

  freeBytes(): Promise<number> {
    return this.call('freeBytes', () => this.host.freeBytes);
  }

  mkdir(path: string): Promise<void> {
    return this.call(`mkdir ${path}`, () => {
      const parent = path.slice(0, path.lastIndexOf('/'));
      if (this.host.readOnlyDirs?.has(parent))
        throw new Error(`mkdir: cannot create directory '${path}': Permission denied`);
      this.fs.write(`${path}/.keep`, '');
      this.fs.entries.delete(`${path}/.keep`);
    });
  }

  removeOwnedTree(path: string): Promise<void> {
    return this.call(`rm ${path}`, () => {
      if (!OWNED_SUFFIXES.some((s) => path.endsWith(s))) throw new Error(`refusing to remove ${path}`);
      this.fs.removeTree(path);
    });
  }

  rename(from: string, to: string): Promise<void> {
    return this.call(`mv ${from} ${to}`, () => {
      if (this.fs.exists(to)) throw new Error(`${to} already exists`);
      if (!this.fs.exists(from)) throw new Error(`${from} does not exist`);
      this.fs.moveTree(from, to);
    });
  }

  readText(path: string): Promise<string | null> {
    return this.call(`read ${path}`, () => this.fs.read(path));
  }

  writeTextAtomic(path: string, text: string): Promise<void> {
    return this.call(`write ${path}`, () => this.fs.write(path, text));
  }

  listDatabases(root: string): Promise<string[]> {
    return this.call(`list databases ${root}`, () =>
      [...this.fs.files(root).keys()].filter((rel) => rel.endsWith('.db')).map((rel) => rel.slice(1)),
    );
  }

  breakDatabaseLinks(): Promise<number> {
    return this.call('break database links', () => 0);
  }
}

class MemoryDatabases implements SiteDatabasesPort {
  constructor(
    private readonly fs: MemoryFs,
    private readonly world: World,
    private readonly label: string,
    private readonly host: { snapshots: boolean },
  ) {}

  quickCheck(database: string): Promise<string | null> {
    return this.world.call(`${this.label} quick_check`, () => {
      const content = this.fs.read(database);
      if (content === null) return 'unable to open database file';
      return content.includes('CORRUPT') ? 'database disk image is malformed' : 'ok';
    });
  }

  /** Watch state is the database file's `watch:user:key:value` lines; anything else is Jellyfin's housekeeping. */
  watchState(paths: DatabasePaths, family: VersionFamily): Promise<WatchState> {
    return this.world.call(`${this.label} watch state`, () => {
      const content = this.fs.read(paths.database);
      if (content === null) throw new WatchStateUnavailable(`unable to open ${paths.database}`);
      if (content.includes('UNKNOWN-SCHEMA')) throw new WatchStateUnavailable('no such table: UserData');
      const rows = content
        .split('\n')
        .filter((l) => l.startsWith('watch:'))
        .map((l) => {
          const [, user = '', key = '', value = ''] = l.split(':');
          return {
            user,
            key,
            itemId: null,
            played: value.includes('played'),
            playCount: 0,
            position: 0,
            lastPlayed: value,
            favorite: false,
            rating: null,
            likes: null,
          };
        });
      return watchState(family, [{ id: 'alice', name: 'alice' }], rows);
    });
  }

  snapshotMethod(): Promise<{ ok: true; how: string } | { ok: false; why: string }> {
    return this.world.call(`${this.label} snapshot method`, () =>
      this.host.snapshots
        ? { ok: true as const, how: 'sqlite3 in memory' }
        : { ok: false as const, why: 'no sqlite3' },
    );
  }

  snapshot(root: string, databases: readonly string[], intoDir: string): Promise<SnapshotReport[]> {
    return this.world.call(`${this.label} snapshot`, () =>
      databases.map((rel) => {
        const content = this.fs.read(`${root}/${rel}`) ?? '';
        this.fs.write(`${intoDir}/${rel}`, content);
        return { database: rel, bytes: content.length, tables: 1, rows: content.split('\n').length };
      }),
    );
  }

  changeToken(): Promise<string | null> {
    return Promise.resolve(null);
  }

  itemNames(): Promise<Map<string, string>> {
    return Promise.resolve(new Map());
  }

  readsOnHost(): Promise<boolean> {
    return Promise.resolve(true);
  }
}

export class FakeContainer implements ContainerControl {
  /** `unknown`: restarting (a crash loop under a restart policy) or paused. */
  status: 'running' | 'exited' | 'unknown' = 'running';
  restartPolicy = 'unless-stopped';
  /** Never becomes healthy after a start (a broken copy). */
  neverHealthy = false;
  starts = 0;
  version = '10.11.3';

  constructor(
    readonly name: string,
    private readonly world: World,
    private readonly host: { reachable: boolean },
  ) {}

  private call<T>(what: string, body: () => T): Promise<T> {
    if (!this.host.reachable)
      return this.world.call(what, () => Promise.reject(new Error(`${this.name}: Docker unreachable`)));
    return this.world.call(`${this.name} ${what}`, body);
  }

  inspect(): Promise<ContainerInfo> {
    return this.call('inspect', () => ({
      status: this.status,
      restartPolicy: this.restartPolicy,
      imageVersion: this.version,
      image: `jellyfin/jellyfin:${this.version}`,
      startedAt: null,
      runsAs: { uid: '1000', gid: '1000', from: 'user' },
      mediaMounts: ['/media'],
    }));
  }

  stop(): Promise<void> {
    return this.call('stop', () => {
      this.status = 'exited';
    });
  }

  start(): Promise<void> {
    return this.call('start', () => {
      this.status = 'running';
      this.starts += 1;
    });
  }

  setRestartPolicy(name: string): Promise<void> {
    return this.call(`restart policy ${name}`, () => {
      this.restartPolicy = name;
    });
  }

  exec(): Promise<never> {
    return Promise.reject(new Error('not used by the engine'));
  }
}

class FakeJellyfin implements JellyfinProbe {
  constructor(
    private readonly container: FakeContainer,
    private readonly world: World,
    private readonly host: { reachable: boolean },
  ) {}

  health() {
    return this.world.call(`${this.container.name} health`, () => {
      if (!this.host.reachable || this.container.status !== 'running') return 'unreachable' as const;
      return this.container.neverHealthy ? ('starting' as const) : ('healthy' as const);
    });
  }

  info() {
    return this.world.call(`${this.container.name} info`, () =>
      this.host.reachable && this.container.status === 'running'
        ? { version: this.container.version, id: 'id', serverName: this.container.name }
        : null,
    );
  }
}

function globToRegExp(glob: string): RegExp {
  return new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*')}$`);
}

const SQLITE = SQLITE_PATTERNS.map(globToRegExp);

/** rsync's selection semantics, on relative paths (`/data/data/jellyfin.db`). */
function selected(rel: string, req: CopyRequest): boolean {
  const base = rel.slice(rel.lastIndexOf('/') + 1);
  const isDb = SQLITE.some((re) => re.test(base));
  const excluded = req.excludes.some((p) =>
    p.endsWith('/') ? rel.startsWith(p) : p.startsWith('/') ? rel === p : globToRegExp(p).test(base),
  );
  switch (req.select) {
    case 'everything':
      return !excluded;
    case 'files':
      return !excluded && !isDb;
    case 'databases':
      return !excluded && isDb;
    case 'main-databases':
      return !excluded && rel.endsWith('.db');
    case 'carried':
      return excluded && !isDb && req.excludes.some((p) => p.endsWith('/') && rel.startsWith(p));
  }
}

class MemoryCopier implements Copier {
  /** Fails the next copy whose selection is this one (a killed rsync). */
  failNext: CopyRequest['select'] | null = null;

  constructor(
    private readonly fss: Record<SiteName, MemoryFs>,
    private readonly world: World,
  ) {}

  copy(req: CopyRequest): Promise<TransferStats> {
    return this.world.call(
      `copy ${req.select} ${req.from}->${req.to}${req.dryRun ? ' (dry run)' : ''}`,
      () => {
        if (this.failNext === req.select && !req.dryRun) {
          this.failNext = null;
          throw new Error('rsync was killed (signal)');
        }
        const source = this.fss[req.from].files(req.fromPath);
        const dest = this.fss[req.to];
        let bytes = 0;
        let files = 0;
        for (const [rel, content] of source) {
          if (!selected(rel, req)) continue;
          if (dest.read(`${req.toPath}${rel}`) === content) continue;
          bytes += content.length;
          files += 1;
          if (!req.dryRun) dest.write(`${req.toPath}${rel}`, content);
        }
        if (req.delete && !req.dryRun) {
          for (const rel of dest.files(req.toPath).keys()) {
            if (selected(rel, req) && !source.has(rel)) dest.entries.delete(`${req.toPath}${rel}`);
          }
        }
        req.onProgress?.({ percent: 100, bytes });
        return { bytes, files };
      },
    );
  }
}

class FakeTraffic implements TrafficSwitch {
  primary: SiteName = 'master';
  fail = false;
  switches: SiteName[] = [];

  constructor(private readonly world: World) {}

  switchTo(primary: SiteName): Promise<void> {
    return this.world.call(`traffic -> ${primary}`, () => {
      if (this.fail) throw new Error(`the proxy does not answer from ${primary}`);
      this.primary = primary;
      this.switches.push(primary);
    });
  }
}

class MemoryStore implements StateStore {
  state: PersistentState = initialState();
  journal: Journal | null = null;
  /** Bases of copies, newest first (two kept, as STATE_DIR keeps). */
  bases: WatchBase[] = [];
  merge: MergeRecord | null = null;

  constructor(private readonly world: World) {}

  saveBase(base: WatchBase): Promise<void> {
    return this.world.call('save base', () => {
      this.bases = [structuredClone(base), ...this.bases].slice(0, 2);
    });
  }

  loadBase(digest: string): Promise<WatchBase | null> {
    return this.world.call('load base', () =>
      structuredClone(this.bases.find((b) => b.digest === digest) ?? null),
    );
  }

  loadMerge(): Promise<MergeRecord | null> {
    return this.world.call('load merge', () => structuredClone(this.merge));
  }

  saveMerge(record: MergeRecord): Promise<void> {
    return this.world.call('save merge', () => {
      this.merge = structuredClone(record);
    });
  }

  load(): Promise<PersistentState> {
    return this.world.call('load state', () => structuredClone(this.state));
  }

  save(state: PersistentState): Promise<void> {
    return this.world.call('save state', () => {
      this.state = structuredClone(state);
    });
  }

  readJournal(): Promise<Journal | null> {
    return this.world.call('read journal', () => structuredClone(this.journal));
  }

  async writeJournal(journal: Journal): Promise<void> {
    // The engine records the step before running it: that is where a crash "at a step" starts counting.
    if (!this.world.crashed && journal.step !== this.world.step && !journal.committed)
      this.world.enterStep(journal.step);
    return this.world.call('write journal', () => {
      this.journal = structuredClone(journal);
    });
  }

  clearJournal(): Promise<void> {
    return this.world.call('clear journal', () => {
      this.journal = null;
    });
  }
}

/** The lock of one process; `dead()` makes its holder a dead process, as after SIGKILL. */
class MemoryLock implements OperationLock {
  held: LockHolder | null = null;
  private holderAlive = true;

  async acquire(owner: string) {
    let staleOwner: string | null = null;
    if (this.held && this.holderAlive)
      throw new RefusedError(`Another operation is running (${this.held.owner})`, 'busy');
    if (this.held) staleOwner = `${this.held.owner} (pid ${this.held.pid})`;
    this.held = { pid: process.pid, owner, at: new Date().toISOString() };
    this.holderAlive = true;
    return {
      staleOwner,
      release: async () => {
        this.held = null;
      },
    };
  }

  async holder(): Promise<LockHolder | null> {
    return this.held && this.holderAlive ? this.held : null;
  }

  dead(): void {
    this.holderAlive = false;
  }
}

export const CONFIG_DIRS: Record<SiteName, string> = {
  master: '/srv/master/config',
  slave: '/srv/slave/config',
};
export const DB = `/${layoutPaths('linuxserver').database}`;

export interface Bench {
  world: World;
  fs: Record<SiteName, MemoryFs>;
  hosts: Record<
    SiteName,
    {
      reachable: boolean;
      freeBytes: number;
      commands: Set<string>;
      snapshots: boolean;
      readOnlyDirs?: Set<string>;
    }
  >;
  containers: Record<SiteName, FakeContainer>;
  copier: MemoryCopier;
  traffic: FakeTraffic;
  store: MemoryStore;
  lock: MemoryLock;
  events: FailoverEvent[];
  statuses: OperationStatus[];
  operations: Operations;
  engine: Engine;
  /** A new process on the same world: a fresh engine and gate (after a crash). */
  restart(): void;
}

export const SETTINGS: EngineSettings = {
  excludes: ['/cache/', '/log/'],
  precopy: true,
  syncMode: 'stopped',
  stopTimeoutS: 1,
  startTimeoutS: 0.05,
  slaveBanner: 'standby server',
  layout: 'auto',
  healthPollMs: 1,
};

/** A Jellyfin config tree: settings, metadata, a database with users' watch state and housekeeping rows. */
export function seedTree(fs: MemoryFs, dir: string, label: string, files = 20): void {
  fs.write(`${dir}/system.xml`, `<ServerName>${label}</ServerName>`);
  fs.write(`${dir}/branding.xml`, '<BrandingOptions></BrandingOptions>');
  for (let i = 0; i < files; i++) fs.write(`${dir}/data/metadata/${i}/poster.jpg`, `${label}-poster-${i}`);
  fs.write(`${dir}${DB}`, `watch:alice:1:played\nactivity:${label}`);
  fs.write(`${dir}/cache/images/x.webp`, `${label}-cache`);
  fs.write(`${dir}/log/log_1.log`, `${label}-log`);
}

export function createBench(settings: Partial<EngineSettings> = {}): Bench {
  const world = new World();
  const fs = { master: new MemoryFs(), slave: new MemoryFs() };
  const hosts = {
    master: {
      reachable: true,
      freeBytes: 10 ** 12,
      commands: new Set(['rsync', 'sqlite3']),
      snapshots: true,
    },
    slave: { reachable: true, freeBytes: 10 ** 12, commands: new Set(['rsync', 'sqlite3']), snapshots: true },
  };
  seedTree(fs.master, CONFIG_DIRS.master, 'master');
  seedTree(fs.slave, CONFIG_DIRS.slave, 'slave-old');
  const containers = {
    master: new FakeContainer('jellyfin-master', world, hosts.master),
    slave: new FakeContainer('jellyfin-slave', world, hosts.slave),
  };
  const sites = {} as Record<SiteName, Site>;
  for (const name of SITE_NAMES) {
    sites[name] = {
      name,
      configDir: CONFIG_DIRS[name],
      isLocal: name === 'slave',
      files: new MemoryFiles(name, fs[name], world, hosts[name]),
      databases: new MemoryDatabases(fs[name], world, name, hosts[name]),
      container: containers[name],
      jellyfin: new FakeJellyfin(containers[name], world, hosts[name]),
      userData: null,
    };
  }
  const copier = new MemoryCopier(fs, world);
  const traffic = new FakeTraffic(world);
  const store = new MemoryStore(world);
  const lock = new MemoryLock();
  const events: FailoverEvent[] = [];
  const statuses: OperationStatus[] = [];
  const bench = { world, fs, hosts, containers, copier, traffic, store, lock, events, statuses } as Bench;
  const build = () => {
    const observers = new ObserverHub();
    observers.add({ event: (e) => events.push(e), operation: (s) => statuses.push(s) });
    const engine = new Engine({
      sites,
      store,
      copier,
      traffic,
      settings: { ...SETTINGS, ...settings },
      log: SILENT_LOG,
      observer: observers,
    });
    bench.engine = engine;
    bench.operations = new Operations({
      engine,
      settings: { ...SETTINGS, ...settings },
      gate: new OperationGate(lock),
      sites,
      observer: observers,
      stopTimeoutS: 1,
      log: SILENT_LOG,
    });
  };
  build();
  bench.restart = () => {
    world.crashed = false;
    world.crashAt = null;
    world.enterStep('');
    lock.dead();
    build();
  };
  return bench;
}

/** Everything an operation may change, to compare before and after. */
export function worldFacts(b: Bench) {
  return {
    master: b.fs.master.digest(CONFIG_DIRS.master),
    slave: b.fs.slave.digest(CONFIG_DIRS.slave),
    leftovers: SITE_NAMES.flatMap((s) =>
      ['.jf-failover-staging', '.jf-failover-discard'].filter((suffix) =>
        b.fs[s].exists(`${CONFIG_DIRS[s]}${suffix}`),
      ),
    ),
    containers: {
      master: { status: b.containers.master.status, restartPolicy: b.containers.master.restartPolicy },
      slave: { status: b.containers.slave.status, restartPolicy: b.containers.slave.restartPolicy },
    },
    traffic: b.traffic.primary,
    primary: b.store.state.primary,
  };
}

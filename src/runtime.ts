/**
 * The composition root: config -> logger -> adapters -> domain. Plain constructor arguments; nothing here
 * connects until an adapter is first used.
 */

import { FetchingDatabaseReader } from './adapters/database-reader.js';
import { createDocker, DockerContainer } from './adapters/docker/container.js';
import { SiteFiles } from './adapters/files/site-files.js';
import { FileStateStore } from './adapters/files/state-store.js';
import { createShell } from './adapters/host/index.js';
import { JellyfinHttp } from './adapters/jellyfin/http.js';
import { RsyncCopier } from './adapters/rsync.js';
import { createSwagTrafficSwitch } from './adapters/swag/index.js';
import { NoTrafficSwitch } from './adapters/traffic-none.js';
import type { Config } from './config/load.js';
import type { SiteName } from './config/schema.js';
import { Engine, type EngineSettings } from './domain/engine.js';
import type { EngineObserver, FailoverEvent, OperationStatus } from './domain/events.js';
import { BUILTIN_EXCLUDES } from './domain/layout.js';
import type { HostShell, Site, TrafficSwitch } from './domain/ports.js';
import type { Logger } from './log.js';

/** Fans engine notifications out to whoever listens (MQTT bridge, CLI progress, log). */
export class ObserverHub implements EngineObserver {
  private readonly listeners = new Set<EngineObserver>();

  add(listener: EngineObserver): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  event(event: FailoverEvent): void {
    for (const l of this.listeners) l.event(event);
  }

  operation(status: OperationStatus): void {
    for (const l of this.listeners) l.operation(status);
  }
}

export interface Runtime {
  config: Config;
  logger: Logger;
  sites: Record<SiteName, Site>;
  shells: Record<SiteName, HostShell>;
  store: FileStateStore;
  engine: Engine;
  observers: ObserverHub;
  close(): Promise<void>;
}

export interface RuntimeOverrides {
  traffic?: TrafficSwitch;
  healthPollMs?: number;
}

export function createRuntime(config: Config, logger: Logger, overrides: RuntimeOverrides = {}): Runtime {
  const shells = {} as Record<SiteName, HostShell>;
  const sites = {} as Record<SiteName, Site>;
  for (const name of ['master', 'slave'] as const) {
    const sc = config.sites[name];
    const shell = createShell(sc, config.ssh, logger);
    shells[name] = shell;
    sites[name] = {
      name,
      configDir: sc.configDir,
      isLocal: sc.ssh === null,
      files: new SiteFiles(shell),
      container: new DockerContainer(createDocker(sc, config.ssh), sc.container),
      jellyfin: new JellyfinHttp(sc.url),
    };
  }
  const store = new FileStateStore(config.stateDir);
  const observers = new ObserverHub();
  const settings: EngineSettings = {
    excludes: [...BUILTIN_EXCLUDES, ...config.sync.excludes],
    precopy: config.sync.precopy,
    stopTimeoutS: config.stopTimeoutS,
    startTimeoutS: config.startTimeoutS,
    slaveBanner: config.slaveBanner,
    layout: config.layout,
    healthPollMs: overrides.healthPollMs ?? 1000,
  };
  const copier = new RsyncCopier(
    {
      master: { shell: shells.master, ssh: config.sites.master.ssh },
      slave: { shell: shells.slave, ssh: config.sites.slave.ssh },
    },
    config.ssh,
  );
  const traffic =
    overrides.traffic ??
    (config.swag
      ? createSwagTrafficSwitch(
          config,
          config.swag,
          shells[config.swag.site],
          logger.child({ module: 'swag' }),
        )
      : new NoTrafficSwitch(logger.child({ module: 'traffic' })));
  const databases = new FetchingDatabaseReader(
    { master: { ssh: config.sites.master.ssh }, slave: { ssh: config.sites.slave.ssh } },
    config.ssh,
    logger.child({ module: 'databases' }),
  );
  const engine = new Engine({
    sites,
    store,
    copier,
    databases,
    traffic,
    settings,
    logger: logger.child({ module: 'engine' }),
    observer: observers,
  });
  return {
    config,
    logger,
    sites,
    shells,
    store,
    engine,
    observers,
    async close() {
      await Promise.all(Object.values(shells).map((s) => s.close()));
    },
  };
}

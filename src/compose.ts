/**
 * The composition root: config -> logger -> adapters -> domain -> (for `run`) the MQTT bridge, by plain
 * constructor arguments. One SSH connection per remote host and one Docker client per endpoint, shared by
 * everything that needs them. Nothing here connects: adapters connect on first use, the service in `start()`.
 */
import type Dockerode from 'dockerode';
import { DockerContainer } from './adapters/docker/container.js';
import { createDocker } from './adapters/docker/endpoint.js';
import { HelperContainer } from './adapters/docker/helper.js';
import { Heartbeat } from './adapters/files/heartbeat.js';
import { FileLock } from './adapters/files/lock-file.js';
import { SiteFiles } from './adapters/files/site-files.js';
import { FileStateStore } from './adapters/files/state-store.js';
import { LocalShell } from './adapters/host/local.js';
import { JellyfinHttp } from './adapters/jellyfin/http.js';
import { JellyfinUserData } from './adapters/jellyfin/user-data.js';
import { MqttConnection } from './adapters/mqtt/client.js';
import { AVAILABILITY_OFFLINE, buildDiscovery, serviceTopics } from './adapters/mqtt/discovery.js';
import { RsyncCopier } from './adapters/rsync/copier.js';
import { SiteDatabases } from './adapters/sqlite/site-databases.js';
import { SshConnection } from './adapters/ssh/connection.js';
import { sshLabel } from './adapters/ssh/settings.js';
import { SshShell } from './adapters/ssh/shell.js';
import { SwagTrafficSwitch, upstreamServerOf } from './adapters/swag/index.js';
import { NoTrafficSwitch } from './adapters/traffic-none.js';
import type { Config, SiteConfig } from './config/load.js';
import { Engine } from './domain/engine/engine.js';
import { OperationGate } from './domain/engine/gate.js';
import type { EngineSettings } from './domain/engine/plan.js';
import { ObserverHub } from './domain/events.js';
import { BUILTIN_EXCLUDES } from './domain/layout.js';
import { previewMerge } from './domain/merging.js';
import { siteVersion } from './domain/observe.js';
import { Operations } from './domain/operations/index.js';
import type { HostShell, Site, TrafficSwitch } from './domain/ports.js';
import { other, SITE_NAMES, type SiteName } from './domain/sites.js';
import type { Logger } from './log.js';
import { MqttBridge } from './service/bridge.js';
import { HealthMonitor } from './service/monitor.js';
import { StatePublisher } from './service/publisher.js';
import { FailoverService } from './service/service.js';
import { packageVersion } from './version.js';

export interface App {
  config: Config;
  logger: Logger;
  /** What the engine and the operations run with (from the config). */
  settings: EngineSettings;
  sites: Record<SiteName, Site>;
  shells: Record<SiteName, HostShell>;
  dockers: Record<SiteName, Dockerode>;
  store: FileStateStore;
  gate: OperationGate;
  engine: Engine;
  operations: Operations;
  observers: ObserverHub;
  traffic: TrafficSwitch;
  /** Closes every connection the adapters opened. */
  close(): Promise<void>;
}

export interface ComposeOverrides {
  traffic?: TrafficSwitch;
  healthPollMs?: number;
}

export function engineSettings(config: Config, overrides: ComposeOverrides = {}): EngineSettings {
  return {
    excludes: [...BUILTIN_EXCLUDES, ...config.sync.excludes],
    precopy: config.sync.precopy,
    syncMode: config.sync.mode,
    stopTimeoutS: config.stopTimeoutS,
    startTimeoutS: config.startTimeoutS,
    slaveBanner: config.slaveBanner,
    layout: config.layout,
    healthPollMs: overrides.healthPollMs ?? 250,
  };
}

/** The service's own published image: it has sqlite3, for online snapshots on a host without it. */
export function defaultSnapshotImage(): string {
  return `ghcr.io/jellyfin-failover/jellyfin-failover:${packageVersion()}`;
}

export function compose(config: Config, logger: Logger, overrides: ComposeOverrides = {}): App {
  const local = new LocalShell();
  const localFiles = new SiteFiles(local);
  const connections = new Map<string, SshConnection>();
  const dockerClients = new Map<string, Dockerode>();

  const connectionOf = (sc: SiteConfig): SshConnection | null => {
    if (sc.ssh === null) return null;
    const { keyFile, knownHostsFile } = config.ssh;
    if (!keyFile || !knownHostsFile) {
      // The config loader requires both when a site is remote; this guards configs built by hand.
      throw new Error(
        `${sc.name.toUpperCase()}_SSH is set but SSH_KEY_FILE or SSH_KNOWN_HOSTS_FILE is missing`,
      );
    }
    const label = sshLabel(sc.ssh);
    let connection = connections.get(label);
    if (!connection) {
      connection = new SshConnection(
        { target: sc.ssh, keyFile, knownHostsFile },
        logger.child({ site: sc.name, module: 'ssh' }),
      );
      connections.set(label, connection);
    }
    return connection;
  };

  const dockerOf = (sc: SiteConfig, ssh: SshConnection | null): Dockerode => {
    const e = sc.docker;
    const key =
      e.kind === 'socket'
        ? `unix:${e.path}`
        : e.kind === 'tcp'
          ? `tcp:${e.host}:${e.port}`
          : `ssh:${ssh?.label}`;
    let client = dockerClients.get(key);
    if (!client) {
      client = createDocker(e, ssh, `${sc.name.toUpperCase()}_DOCKER`);
      dockerClients.set(key, client);
    }
    return client;
  };

  const snapshotImage = config.sync.snapshotImage ?? defaultSnapshotImage();
  const shells = {} as Record<SiteName, HostShell>;
  const remotes: Record<SiteName, SshShell | null> = { master: null, slave: null };
  const dockers = {} as Record<SiteName, Dockerode>;
  const sites = {} as Record<SiteName, Site>;
  for (const name of SITE_NAMES) {
    const sc = config.sites[name];
    const ssh = connectionOf(sc);
    const remote = ssh ? new SshShell(ssh, logger.child({ site: name, module: 'ssh' })) : null;
    remotes[name] = remote;
    const shell = remote ?? local;
    const files = new SiteFiles(shell, logger.child({ site: name, module: 'files' }));
    shells[name] = shell;
    dockers[name] = dockerOf(sc, ssh);
    sites[name] = {
      name,
      configDir: sc.configDir,
      isLocal: sc.ssh === null,
      files,
      databases: new SiteDatabases(
        { shell, files },
        sc.ssh ? { shell: local, files: localFiles } : null,
        sc.ssh ? { target: sc.ssh, ssh: config.ssh } : null,
        logger.child({ site: name, module: 'databases' }),
        new HelperContainer(dockers[name], snapshotImage, `${name.toUpperCase()}_DOCKER`),
      ),
      container: new DockerContainer(dockers[name], sc.container),
      jellyfin: new JellyfinHttp(sc.url),
      userData: config.jellyfinApiKey ? new JellyfinUserData(sc.url, config.jellyfinApiKey, name) : null,
    };
  }

  const store = new FileStateStore(config.stateDir);
  const gate = new OperationGate(new FileLock(config.stateDir));
  const observers = new ObserverHub();
  const traffic = overrides.traffic ?? trafficSwitch(config, shells, dockers, logger);
  const copier = new RsyncCopier(
    {
      master: { shell: shells.master, ssh: config.sites.master.ssh, remote: remotes.master },
      slave: { shell: shells.slave, ssh: config.sites.slave.ssh, remote: remotes.slave },
    },
    config.ssh,
  );
  const settings = engineSettings(config, overrides);
  const engine = new Engine({
    sites,
    store,
    copier,
    traffic,
    settings,
    log: logger.child({ module: 'engine' }),
    observer: observers,
  });
  const operations = new Operations({
    engine,
    settings,
    gate,
    sites,
    observer: observers,
    stopTimeoutS: config.stopTimeoutS,
    log: logger.child({ module: 'operations' }),
  });
  return {
    config,
    logger,
    settings,
    sites,
    shells,
    dockers,
    store,
    gate,
    engine,
    operations,
    observers,
    traffic,
    async close() {
      await Promise.all([...connections.values()].map((c) => c.close()));
    },
  };
}

function trafficSwitch(
  config: Config,
  shells: Record<SiteName, HostShell>,
  dockers: Record<SiteName, Dockerode>,
  logger: Logger,
): TrafficSwitch {
  const swag = config.swag;
  if (!swag) return new NoTrafficSwitch(logger.child({ module: 'traffic' }));
  return new SwagTrafficSwitch({
    shell: shells[swag.site],
    container: new DockerContainer(dockers[swag.site], swag.container),
    upstreamFile: swag.upstreamFile,
    servers: {
      master: upstreamServerOf(config.sites.master.url, 'MASTER_URL'),
      slave: upstreamServerOf(config.sites.slave.url, 'SLAVE_URL'),
    },
    checkUrl: swag.checkUrl,
    logger: logger.child({ module: 'swag' }),
  });
}

export interface ServiceOptions {
  swVersion: string;
  supportUrl: string;
  /** Below this, the standby's free space is listed as a problem. */
  lowSpaceBytes: number;
  /** While an operation runs, `B/state` is republished this often (SPEC: step and percent every <= 2 s). */
  progressEveryMs: number;
  /** Coalesces bursts of changes (rsync progress) into one state publish. */
  stateThrottleMs: number;
  /** Per-probe timeout of the health monitor. */
  probeTimeoutMs: number;
}

export const SUPPORT_URL = 'https://github.com/jellyfin-failover/jellyfin-failover#readme';

export function defaultServiceOptions(): ServiceOptions {
  return {
    swVersion: packageVersion(),
    supportUrl: SUPPORT_URL,
    lowSpaceBytes: 1024 ** 3,
    progressEveryMs: 1_000,
    stateThrottleMs: 250,
    probeTimeoutMs: 10_000,
  };
}

/** The service of `jellyfin-failover run` on top of an app: MQTT connection, bridge, monitor, publisher. */
export function composeService(app: App, options: ServiceOptions = defaultServiceOptions()): FailoverService {
  const { config, logger } = app;
  const topics = serviceTopics(config.topicRoot);
  const mqtt = new MqttConnection(
    {
      url: config.mqtt.url,
      ...(config.mqtt.username !== undefined ? { username: config.mqtt.username } : {}),
      ...(config.mqtt.password !== undefined ? { password: config.mqtt.password } : {}),
      ...(config.mqtt.caFile !== undefined ? { caFile: config.mqtt.caFile } : {}),
      clientIdPrefix: `jellyfin-failover_${config.failoverId}`,
      will: { topic: topics.availability, payload: AVAILABILITY_OFFLINE },
    },
    logger.child({ module: 'mqtt' }),
  );
  const discovery = buildDiscovery({
    failoverId: config.failoverId,
    baseTopic: config.topicRoot,
    discoveryPrefix: config.discoveryPrefix,
    swVersion: options.swVersion,
    supportUrl: options.supportUrl,
    merge: config.jellyfinApiKey !== null,
  });
  const bridge = new MqttBridge(
    mqtt,
    discovery,
    config.topicRoot,
    config.discoveryPrefix,
    logger.child({ module: 'bridge' }),
  );
  // The three parts report to each other; each is handed the others' methods, bound late.
  let service: FailoverService | null = null;
  let publisher: StatePublisher | null = null;
  const monitor = new HealthMonitor(
    {
      sites: app.sites,
      dockers: app.dockers,
      state: () => publisher?.state ?? null,
      logger: logger.child({ module: 'monitor' }),
      settings: {
        intervalMs: config.health.intervalS * 1000,
        failures: config.health.failures,
        probeTimeoutMs: options.probeTimeoutMs,
        layout: config.layout,
        startTimeoutS: config.startTimeoutS,
      },
      operationRunning: () => publisher?.operationRunning() ?? false,
      mergePreview: async (standby, state, version) => {
        const primary = app.sites[other(standby)];
        const result = await previewMerge({
          store: app.store,
          primary,
          standby: app.sites[standby],
          recorded: state.standbyFingerprint,
          layout: config.layout,
          versions: { primary: await siteVersion(primary), standby: version },
        });
        return result.ok
          ? { changes: result.preview.changes.length, conflicts: result.preview.conflicts.length }
          : null;
      },
    },
    {
      changed: () => publisher?.schedule(),
      transition: (site, t, view) => service?.siteChanged(site, t, view),
      diverged: (site, message, merge) => service?.standbyDiverged(site, message, merge),
    },
  );
  publisher = new StatePublisher({
    store: app.store,
    gate: app.gate,
    engine: app.engine,
    monitor,
    log: logger.child({ module: 'state' }),
    options: {
      stateDir: config.stateDir,
      progressEveryMs: options.progressEveryMs,
      throttleMs: options.stateThrottleMs,
      lowSpaceBytes: options.lowSpaceBytes,
    },
    problems: () => service?.serviceProblems() ?? [],
    publish: (text) => bridge.publishState(text),
    operationEnded: () => service?.operationEnded(),
  });
  service = new FailoverService({
    config,
    log: logger.child({ module: 'service' }),
    bridge,
    publisher,
    monitor,
    operations: app.operations,
    gate: app.gate,
    observers: app.observers,
    sites: app.sites,
    traffic: app.traffic,
    heartbeat: new Heartbeat(config.stateDir),
    status: () => app.engine.status(),
  });
  return service;
}

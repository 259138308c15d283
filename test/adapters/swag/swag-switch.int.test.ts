import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DockerContainer } from '../../../src/adapters/docker/container.js';
import { LocalShell } from '../../../src/adapters/host/local.js';
import { SwagTrafficSwitch } from '../../../src/adapters/swag/swag-switch.js';
import { answeringBackend, buildUpstreamInclude } from '../../../src/adapters/swag/upstream.js';
import { type App, compose } from '../../../src/compose.js';
import { loadConfig } from '../../../src/config/load.js';
import type { FailoverEvent } from '../../../src/domain/events.js';
import type { SiteName } from '../../../src/domain/sites.js';
import { freePort } from '../../bench/mosquitto.js';
import { BENCH_POLICIES, createTwoSites, type TwoSites } from '../../bench/sites.js';
import { startSshd } from '../../bench/sshd.js';
import { removeContainer, startSwag, waitForHealth } from '../../bench/standin.js';
import { startService } from '../../support/mqtt-probe.js';

// SPEC section 5 against real nginx (the SWAG stand-in): the shipped proxy-conf sample, the include the service
// writes, `nginx -t` / `nginx -s reload` through Docker, and the backend that answers through the proxy. The tests
// run in order and share one pair of sites: each starts from the routing the previous one left.

const bench = inject('bench');
const SAMPLE = fileURLToPath(
  new URL('../../../swag/jellyfin-failover.subdomain.conf.sample', import.meta.url),
);
const INCLUDE_IN_CONTAINER = '/config/nginx/jellyfin-failover-upstream.conf';

/** Stand-in for SWAG's /config/nginx/proxy.conf: the directives that matter for routing and websockets. */
const PROXY_CONF = `proxy_next_upstream error timeout invalid_header http_500 http_502 http_503;
proxy_connect_timeout 5;
proxy_read_timeout 30;
proxy_http_version 1.1;
proxy_set_header Connection $connection_upgrade;
proxy_set_header Host $host;
proxy_set_header Upgrade $http_upgrade;
proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
proxy_set_header X-Forwarded-Proto $scheme;
proxy_set_header X-Real-IP $remote_addr;
`;

/** What SWAG's nginx.conf defines in http{} and its proxy.conf relies on. */
const HTTP_CONF = `map $http_upgrade $connection_upgrade {
    default upgrade;
    '' close;
}
`;

/** The shipped sample, served on a plain-http loopback port instead of 443 with SWAG's certificates. */
async function sampleOnLoopback(port: number): Promise<string> {
  const sample = await readFile(SAMPLE, 'utf8');
  const conf = sample
    .replace(/^ *listen 443 ssl;\n *listen \[::\]:443 ssl;\n/m, `    listen 127.0.0.1:${port};\n`)
    .replace(/^ *include \/config\/nginx\/ssl\.conf;\n/m, '');
  expect(conf).not.toMatch(/443|ssl\.conf/);
  expect(conf).toContain(`include ${INCLUDE_IN_CONTAINER};`);
  expect(conf).toContain('proxy_pass http://jellyfin_failover;');
  return conf;
}

interface ProxyAnswer {
  status: number;
  backendHeader: string | null;
  backend: string | null;
}

async function throughProxy(url: string): Promise<ProxyAnswer> {
  const res = await fetch(`${url}/System/Info/Public`, { signal: AbortSignal.timeout(10_000) });
  await res.arrayBuffer();
  const backendHeader = res.headers.get('x-jellyfin-backend');
  return { status: res.status, backendHeader, backend: answeringBackend(backendHeader) };
}

describe('SWAG traffic switching through real nginx', () => {
  let sites: TwoSites;
  let rt: App;
  let swagName: string;
  let swagDir: string;
  let upstreamFile: string;
  let proxyUrl: string;
  const events: FailoverEvent[] = [];

  const server = (site: SiteName) => `127.0.0.1:${sites.ports[site]}`;
  const include = (primary: SiteName) =>
    buildUpstreamInclude({
      primary,
      standby: primary === 'master' ? 'slave' : 'master',
      servers: { master: server('master'), slave: server('slave') },
    });
  /** A switch outside the engine, on the local shell and Docker socket, with its own servers and timing. */
  const directSwitch = (servers: Record<SiteName, string>, verifyTimeoutMs = 20_000) =>
    new SwagTrafficSwitch({
      shell: new LocalShell(),
      container: new DockerContainer(sites.docker, swagName),
      upstreamFile,
      servers,
      checkUrl: proxyUrl,
      logger: sites.logger,
      verifyTimeoutMs,
    });

  async function expectRoutedTo(site: SiteName): Promise<void> {
    expect(await readFile(upstreamFile, 'utf8')).toBe(include(site));
    const answer = await throughProxy(proxyUrl);
    expect(answer.status).toBe(200);
    expect(answer.backend).toBe(server(site));
  }

  beforeAll(async () => {
    const proxyPort = await freePort();
    proxyUrl = `http://127.0.0.1:${proxyPort}`;
    swagName = `jft-swag-${randomBytes(3).toString('hex')}`;
    swagDir = await mkdtemp(join(bench.workDir, 'swag-'));
    upstreamFile = join(swagDir, 'nginx', 'jellyfin-failover-upstream.conf');
    // Both sites local here, so the engine's operations stay quick; SWAG over SSH has a test of its own below.
    sites = await createTwoSites({
      name: 'swag',
      remote: 'none',
      extraEnv: {
        SWAG_CONTAINER: swagName,
        SWAG_SITE: 'master',
        SWAG_UPSTREAM_FILE: upstreamFile,
        SWAG_CHECK_URL: proxyUrl,
      },
    });

    // The one-time setup of swag/README.md: the sample as a proxy conf, and a first include with master primary.
    const siteConfs = join(swagDir, 'nginx', 'site-confs');
    await mkdir(siteConfs, { recursive: true });
    await writeFile(join(siteConfs, '00-swag-http.conf'), HTTP_CONF);
    await writeFile(join(siteConfs, 'jellyfin-failover.subdomain.conf'), await sampleOnLoopback(proxyPort));
    await writeFile(join(swagDir, 'nginx', 'proxy.conf'), PROXY_CONF);
    await writeFile(upstreamFile, include('master'));
    await startSwag(sites.docker, { name: swagName, image: bench.swagImage, configDir: swagDir });
    const deadline = Date.now() + 20_000;
    for (;;) {
      const answer = await throughProxy(proxyUrl).catch(() => null);
      if (answer?.backend === server('master')) break;
      if (Date.now() > deadline) throw new Error(`SWAG did not come up on ${proxyUrl}`);
      await new Promise((r) => setTimeout(r, 200));
    }

    rt = compose(sites.config, sites.logger, { healthPollMs: 200 });
    rt.observers.add({ event: (e) => events.push(e), operation: () => undefined });
  });

  afterAll(async () => {
    await rt?.close();
    if (sites) {
      await removeContainer(sites.docker, swagName);
      await sites.cleanup();
    }
    if (swagDir) await rm(swagDir, { recursive: true, force: true });
  });

  it('the service writes the first include at start when it is missing, tested and reloaded', async () => {
    await rm(upstreamFile);
    const running = await startService(sites);
    try {
      await expectRoutedTo('master');
    } finally {
      await running.stop();
    }
  });

  it('with master stopped and no command given, nginx falls back to the backup server, slave', async () => {
    const master = sites.docker.getContainer(sites.containers.master);
    await master.stop({ t: 5 });
    try {
      const answer = await throughProxy(proxyUrl);
      expect(answer.status).toBe(200);
      // nginx tried master first, then answered from slave: "master, slave".
      expect(answer.backendHeader).toBe(`${server('master')}, ${server('slave')}`);
      expect(answer.backend).toBe(server('slave'));
      // The service wrote nothing: the include still names master primary.
      expect(await readFile(upstreamFile, 'utf8')).toBe(include('master'));
    } finally {
      await master.start();
      await waitForHealth(sites.urls.master, 'Healthy', 30_000);
    }
    expect((await throughProxy(proxyUrl)).backend).toBe(server('master'));
  });

  it('with SWAG on a site reached over SSH, the include is written and nginx run through that site', async () => {
    const sshd = await startSshd();
    const config = loadConfig({
      env: {
        ...sites.env,
        SWAG_SITE: 'slave',
        SLAVE_SSH: sshd.sshTarget,
        SLAVE_DOCKER: 'ssh',
        SSH_KEY_FILE: sshd.clientKeyFile,
        SSH_KNOWN_HOSTS_FILE: sshd.knownHostsFile,
      },
    });
    // The composition root's switch: include written through slave's shell, nginx run through slave's Docker.
    const app = compose(config, sites.logger);
    try {
      expect(app.traffic).toBeInstanceOf(SwagTrafficSwitch);
      await app.traffic.switchTo('slave', 'master');
      await expectRoutedTo('slave');
      await app.traffic.switchTo('master', 'slave');
      await expectRoutedTo('master');
    } finally {
      await app.close();
      await sshd.stop();
    }
  });

  it('an include nginx refuses is not loaded: the previous include is restored byte for byte', async () => {
    const before = await readFile(upstreamFile, 'utf8');
    // SLAVE_URL naming a host the SWAG container cannot resolve: nginx -t fails on the new include.
    const unresolvable = directSwitch({ master: server('master'), slave: 'jellyfin-slave.invalid:8096' });

    const failure = await unresolvable.switchTo('slave', 'master').then(
      () => null,
      (err: unknown) => err,
    );

    expect(failure).toMatchObject({ name: 'SwagSwitchError', step: 'test' });
    expect(String((failure as Error).message)).toMatch(/host not found in upstream.*jellyfin-slave\.invalid/);
    expect(await readFile(upstreamFile, 'utf8')).toBe(before);
    expect((await readdir(join(swagDir, 'nginx'))).filter((f) => f.includes('tmp'))).toEqual([]);
    await expectRoutedTo('master');
  });

  it('a promote whose new routing nginx refuses rolls back, and traffic stays on master', async () => {
    const broken = join(swagDir, 'nginx', 'site-confs', 'zz-broken.conf');
    await writeFile(broken, 'server { listen 127.0.0.1:1 }\n'); // missing ';': any nginx -t now fails
    events.length = 0;
    try {
      await expect(rt.operations.run('promote', { force: false })).rejects.toMatchObject({
        name: 'OperationError',
        step: 'switch-traffic',
        message: expect.stringMatching(/nginx -t/),
      });
    } finally {
      await rm(broken);
    }
    const state = await rt.store.load();
    expect(state.primary).toBe('master');
    const types = events.map((e) => e.event_type);
    expect(types).toContain('rolled_back');
    expect(types).not.toContain('promoted');
    expect(types).not.toContain('rollback_failed');
    expect((await rt.sites.master.container.inspect()).status).toBe('running');
    await waitForHealth(sites.urls.master, 'Healthy', 30_000);
    await expectRoutedTo('master');
  });

  it('a promote whose new primary never answers through the proxy rolls back cleanly: master first, then traffic', async () => {
    // slave's upstream address answers nothing, so the switch's check through the proxy fails; the rollback must
    // start master again before switching traffic back (the check of that switch needs master answering).
    const failing = compose(sites.config, sites.logger, {
      healthPollMs: 200,
      traffic: directSwitch({ master: server('master'), slave: '127.0.0.1:1' }, 3000),
    });
    const seen: FailoverEvent[] = [];
    failing.observers.add({ event: (e) => seen.push(e), operation: () => undefined });
    try {
      await expect(failing.operations.run('promote', { force: false })).rejects.toMatchObject({
        name: 'OperationError',
        step: 'switch-traffic',
        message: expect.stringMatching(/Everything it changed was put back/),
      });
    } finally {
      await failing.close();
    }
    const types = seen.map((e) => e.event_type);
    expect(types).toContain('rolled_back');
    expect(types).not.toContain('rollback_failed');
    expect((await failing.store.load()).primary).toBe('master');
    const master = await rt.sites.master.container.inspect();
    expect(master.status).toBe('running');
    expect(master.restartPolicy).toBe(BENCH_POLICIES.master);
    await waitForHealth(sites.urls.master, 'Healthy', 30_000);
    expect((await throughProxy(proxyUrl)).backend).toBe(server('master'));
    // put the real standby address back for the next tests
    await directSwitch({ master: server('master'), slave: server('slave') }).switchTo('master', 'slave');
    await expectRoutedTo('master');
  });

  it('promote sends the traffic to slave', async () => {
    const result = await rt.operations.run('promote', { force: false });
    expect(result.state.primary).toBe('slave');
    await expectRoutedTo('slave');
    // Master is fenced (stopped), so nothing but slave can answer now.
    expect((await rt.sites.master.container.inspect()).status).toBe('exited');
  });

  it('failback sends the traffic back to master', async () => {
    const result = await rt.operations.run('failback', { force: false });
    expect(result.state.primary).toBe('master');
    await expectRoutedTo('master');
  });

  it('rollback restores the routing from before the last operation', async () => {
    const result = await rt.operations.run('rollback', { force: false });
    expect(result.state.primary).toBe('slave');
    await expectRoutedTo('slave');
  });

  it('a switch whose new primary does not answer through the proxy counts as failed; switching back restores the routing', async () => {
    // Master stopped: after a switch to it, nginx can only answer from the backup, slave.
    const master = rt.sites.master.container;
    await master.stop(5);
    expect(await readFile(upstreamFile, 'utf8')).toBe(include('slave'));
    const swag = directSwitch({ master: server('master'), slave: server('slave') }, 2_000);

    const failure = await swag.switchTo('master', 'slave').then(
      () => null,
      (err: unknown) => err,
    );

    expect(failure).toMatchObject({ name: 'SwagSwitchError', step: 'verify' });
    // nginx tried master first, then (after max_fails) skipped it: either way slave answered.
    expect(String((failure as Error).message)).toContain(
      `HTTP 200 from ${server('slave')} (slave, the standby)`,
    );
    // What the engine's rollback does next: switch back to the previous primary.
    await swag.switchTo('slave', 'master');
    await expectRoutedTo('slave');
  });
});

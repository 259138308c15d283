import { createHash } from 'node:crypto';
import { existsSync, lstatSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

/**
 * The bench's two container images, assembled from host binaries and their shared libraries and loaded with
 * `docker import` (no registry is reachable). Each tag carries a hash of everything that goes into the image,
 * so an unchanged image is reused at once and any change to a binary, a library or this script rebuilds it.
 */

const STANDIN_REPO = 'jf-bench/jellyfin-standin';
const SWAG_REPO = 'jf-bench/swag-standin';
const SNAPSHOT_HELPER_REPO = 'jf-bench/snapshot-helper';
const STANDIN_SOURCE = fileURLToPath(new URL('./images/jellyfin-standin/standin.mjs', import.meta.url));
const THIS_SCRIPT = fileURLToPath(import.meta.url);
const PATH_ENV = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** A file generated into the image (not copied from the host). */
interface GeneratedFile {
  path: string;
  content: string;
  mode: number;
}

interface ImageSpec {
  repo: string;
  /** Host executables copied to the same path, with every library `ldd` lists for them. */
  binaries: string[];
  /** Extra host files copied to the same path. */
  hostFiles: string[];
  /** Host files copied to another path in the image: [host path, image path]. */
  copies: Array<[string, string]>;
  generated: GeneratedFile[];
  /** Empty directories with their mode. */
  dirs: Array<[string, number]>;
  /** Symlinks inside the image: [link path, target]. */
  links: Array<[string, string]>;
  /** `docker import --change` instructions. */
  changes: string[];
}

const PASSWD = [
  'root:x:0:0:root:/root:/bin/sh',
  'www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin',
  'abc:x:911:911:linuxserver abc:/config:/bin/false',
  'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin',
  '',
].join('\n');

const GROUP = ['root:x:0:', 'www-data:x:33:', 'abc:x:911:', 'nogroup:x:65534:', ''].join('\n');

/**
 * nginx main config of the SWAG stand-in. Like linuxserver/swag, everything site-specific lives under the
 * bind-mounted `/config/nginx`: site confs in `site-confs/*.conf` (http context), which include whatever
 * upstream or proxy confs the test writes.
 */
const NGINX_CONF = `# jf-bench SWAG stand-in: site confs live in the bind-mounted /config, as in linuxserver/swag.
user www-data;
worker_processes 1;
pid /run/nginx.pid;
error_log stderr;

events {
  worker_connections 256;
}

http {
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  access_log /var/log/nginx/access.log;
  sendfile on;
  keepalive_timeout 30;
  server_tokens off;
  include /config/nginx/site-confs/*.conf;
}
`;

/** Root filesystem skeleton shared by both images: merged /usr like the Debian host, plus /etc and /tmp. */
function baseSpec(): Pick<ImageSpec, 'generated' | 'dirs' | 'links'> {
  const links: Array<[string, string]> = [];
  for (const top of ['bin', 'sbin', 'lib', 'lib64']) {
    const host = `/${top}`;
    if (existsSync(host) && lstatSync(host).isSymbolicLink()) links.push([host, `usr/${top}`]);
  }
  return {
    generated: [
      { path: '/etc/passwd', content: PASSWD, mode: 0o644 },
      { path: '/etc/group', content: GROUP, mode: 0o644 },
      { path: '/etc/nsswitch.conf', content: 'passwd: files\ngroup: files\nhosts: files dns\n', mode: 0o644 },
    ],
    dirs: [
      ['/tmp', 0o1777],
      ['/root', 0o700],
      ['/config', 0o755],
      ['/usr/bin', 0o755],
      ['/usr/sbin', 0o755],
      ['/usr/lib', 0o755],
      ['/usr/lib64', 0o755],
      ['/etc', 0o755],
      ['/run', 0o755],
      ['/var/tmp', 0o1777],
    ],
    links,
  };
}

function standinSpec(): ImageSpec {
  const base = baseSpec();
  // The stand-in's modules beside standin.mjs, and the reference schema and seeds it creates missing databases from.
  const modules = ['standin.mjs', 'api.mjs', 'jellyfin.mjs', 'store.mjs', 'sqlite.mjs', 'formats.mjs'];
  const reference = [
    'README.md',
    'schema-10.10.sql',
    'schema-10.11.sql',
    'writes/seed-10.10.sql',
    'writes/seed-10.11.sql',
  ];
  const copies: Array<[string, string]> = [
    [STANDIN_SOURCE, '/standin/standin.mjs'],
    ...modules
      .filter((m) => m !== 'standin.mjs')
      .map((m): [string, string] => [
        fileURLToPath(new URL(`./images/jellyfin-standin/${m}`, import.meta.url)),
        `/standin/${m}`,
      ]),
    ...reference.map((f): [string, string] => [
      fileURLToPath(new URL(`../fixtures/jellyfin-reference/${f}`, import.meta.url)),
      `/standin/reference/${f}`,
    ]),
  ];
  return {
    repo: STANDIN_REPO,
    binaries: ['/usr/bin/node', '/usr/bin/sqlite3', '/usr/bin/dash'],
    hostFiles: [],
    copies,
    generated: base.generated,
    dirs: base.dirs,
    links: [...base.links, ['/usr/bin/sh', 'dash']],
    changes: [
      `ENV PATH=${PATH_ENV}`,
      'WORKDIR /',
      'LABEL org.opencontainers.image.title=jellyfin-standin',
      'LABEL org.opencontainers.image.version=10.11.3',
      'CMD ["node", "/standin/standin.mjs"]',
    ],
  };
}

function swagSpec(): ImageSpec {
  const base = baseSpec();
  return {
    repo: SWAG_REPO,
    binaries: ['/usr/sbin/nginx', '/usr/bin/dash'],
    hostFiles: ['/etc/nginx/mime.types'],
    copies: [],
    generated: [...base.generated, { path: '/etc/nginx/nginx.conf', content: NGINX_CONF, mode: 0o644 }],
    dirs: [
      ...base.dirs,
      ['/var/lib/nginx', 0o755],
      ['/var/log/nginx', 0o755],
      ['/config/nginx/site-confs', 0o755],
    ],
    links: [...base.links, ['/usr/bin/sh', 'dash']],
    changes: [
      `ENV PATH=${PATH_ENV}`,
      'WORKDIR /',
      'LABEL org.opencontainers.image.title=swag-standin',
      `CMD ["nginx", "-g", "daemon off;"]`,
    ],
  };
}

/** The shared libraries (and the dynamic loader) `ldd` names for an executable, as absolute host paths. */
async function sharedLibraries(binary: string): Promise<string[]> {
  const { stdout } = await execa('ldd', [binary]);
  const libs: string[] = [];
  for (const line of stdout.split('\n')) {
    const arrow = /=>\s+(\/\S+)/.exec(line);
    const bare = /^\s*(\/\S+)\s+\(0x/.exec(line);
    const path = arrow?.[1] ?? bare?.[1];
    if (path) libs.push(path);
  }
  return libs;
}

/** Every host file an image copies, mapped to its path in the image. */
async function collectHostFiles(spec: ImageSpec): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const binary of spec.binaries) {
    if (!existsSync(binary)) {
      throw new Error(
        `Building ${spec.repo}: ${binary} is missing on this host (install its Debian package).`,
      );
    }
    files.set(binary, binary);
    for (const lib of await sharedLibraries(binary)) files.set(lib, lib);
  }
  for (const file of spec.hostFiles) files.set(file, file);
  for (const [host, image] of spec.copies) files.set(image, host);
  return files;
}

/** Content hash of an image's inputs: every copied file, every generated file, the layout and this script. */
async function contentHash(spec: ImageSpec, files: Map<string, string>): Promise<string> {
  const hash = createHash('sha256');
  hash.update(await readFile(THIS_SCRIPT));
  const entries = [...files.entries()].sort(([a], [b]) => a.localeCompare(b));
  for (const [imagePath, hostPath] of entries) {
    hash.update(`\0file ${imagePath}\0`);
    hash.update(await readFile(hostPath));
  }
  hash.update(
    JSON.stringify({ generated: spec.generated, dirs: spec.dirs, links: spec.links, changes: spec.changes }),
  );
  return hash.digest('hex').slice(0, 16);
}

function dockerCli(): string {
  for (const candidate of ['/usr/local/bin/docker', '/usr/bin/docker'])
    if (existsSync(candidate)) return candidate;
  return 'docker';
}

async function imageExists(docker: string, tag: string): Promise<boolean> {
  const r = await execa(docker, ['image', 'inspect', '--format', '{{.Id}}', tag], { reject: false });
  return r.exitCode === 0;
}

/**
 * Untags builds of the same repository that are older than an hour, so rebuilds do not pile up while a test
 * run that started before an edit can still use its image. Docker refuses (and we ignore) the removal of an
 * image a container still uses.
 */
async function removeSupersededTags(docker: string, repo: string, keep: string, log: (msg: string) => void) {
  const listed = await execa(docker, ['image', 'ls', repo, '--format', '{{.Repository}}:{{.Tag}}'], {
    reject: false,
  });
  for (const old of listed.stdout.split('\n').filter((t) => t && t !== keep && !t.endsWith(':<none>'))) {
    const created = await execa(docker, ['image', 'inspect', '--format', '{{.Created}}', old], {
      reject: false,
    });
    const ageMs = Date.now() - Date.parse(created.stdout.trim());
    if (!(ageMs > 3_600_000)) continue; // young, or unreadable: keep
    const removed = await execa(docker, ['image', 'rm', old], { reject: false });
    if (removed.exitCode === 0) log(`removed superseded image ${old}`);
  }
}

/** Lays the root filesystem out under `root`. Symlinked top dirs (/lib -> usr/lib) are created first. */
async function stageRootfs(root: string, spec: ImageSpec, files: Map<string, string>): Promise<void> {
  for (const [dir, mode] of spec.dirs) {
    await mkdir(join(root, dir), { recursive: true });
    await chmod(join(root, dir), mode);
  }
  for (const [link, target] of spec.links) {
    await mkdir(dirname(join(root, link)), { recursive: true });
    await symlink(target, join(root, link));
  }
  for (const [imagePath, hostPath] of files) {
    const dest = join(root, imagePath);
    await mkdir(dirname(dest), { recursive: true });
    await copyFile(hostPath, dest);
    await chmod(dest, (await stat(hostPath)).mode & 0o7777);
  }
  for (const file of spec.generated) {
    const dest = join(root, file.path);
    await mkdir(dirname(dest), { recursive: true });
    await writeFile(dest, file.content);
    await chmod(dest, file.mode);
  }
}

async function buildImage(docker: string, spec: ImageSpec, log: (msg: string) => void): Promise<string> {
  const started = Date.now();
  const files = await collectHostFiles(spec);
  const tag = `${spec.repo}:${await contentHash(spec, files)}`;
  if (await imageExists(docker, tag)) {
    log(`image ${tag} is up to date (${Date.now() - started} ms)`);
    return tag;
  }
  const stage = await mkdtemp(join(tmpdir(), 'jf-bench-rootfs-'));
  try {
    const root = join(stage, 'rootfs');
    await stageRootfs(root, spec, files);
    const tarball = join(stage, 'rootfs.tar');
    await execa('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', root, '-cf', tarball, '.']);
    // `docker import --change` accepts CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, USER, VOLUME, WORKDIR only.
    const changes = spec.changes.flatMap((c) => ['--change', c]);
    const imported = await execa(docker, ['import', ...changes, tarball, tag], { reject: false });
    if (imported.exitCode !== 0) {
      throw new Error(`docker import of ${tag} failed: ${imported.stderr || imported.stdout}`);
    }
    log(`built image ${tag} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    await removeSupersededTags(docker, spec.repo, tag, log);
    return tag;
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

/**
 * The helper image an online sync runs on a source site without sqlite3 (SNAPSHOT_IMAGE): in production the
 * service's own image; on the bench the same tools (sh, sqlite3, coreutils) without building the whole image.
 */
function snapshotHelperSpec(): ImageSpec {
  const base = baseSpec();
  const tools = ['mkdir', 'rm', 'chown', 'chmod', 'wc', 'tr', 'dirname', 'sed', 'head', 'cat', 'ls', 'sleep'];
  return {
    repo: SNAPSHOT_HELPER_REPO,
    binaries: ['/usr/bin/sqlite3', '/usr/bin/dash', ...tools.map((t) => `/usr/bin/${t}`)],
    hostFiles: [],
    copies: [],
    generated: base.generated,
    dirs: base.dirs,
    links: [...base.links, ['/usr/bin/sh', 'dash']],
    changes: [`ENV PATH=${PATH_ENV}`, 'WORKDIR /', 'LABEL org.opencontainers.image.title=snapshot-helper'],
  };
}

/**
 * Builds the Jellyfin stand-in, SWAG stand-in and snapshot helper images, or reuses them when an image with the
 * same content hash is already loaded.
 */
export async function buildBenchImages(
  log: (msg: string) => void = () => undefined,
): Promise<{ standinImage: string; swagImage: string; snapshotImage: string }> {
  const docker = dockerCli();
  const standinImage = await buildImage(docker, standinSpec(), log);
  const swagImage = await buildImage(docker, swagSpec(), log);
  const snapshotImage = await buildImage(docker, snapshotHelperSpec(), log);
  return { standinImage, swagImage, snapshotImage };
}

import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { REPO_ROOT } from './base-image.js';
import { type Docker, failureText } from './image-docker.js';

export const SERVICE_REPO = 'jf-test/jellyfin-failover';
/** Where Debian keeps the CAs a machine adds to its bundle (here: the HTTPS proxy's). */
const LOCAL_CA_DIR = '/usr/local/share/ca-certificates';
/** A build arg travels in one environment string, which Linux caps at 128 KiB. */
const MAX_CA_PEM = 100 * 1024;

export interface ServiceImage {
  tag: string;
  commit: string;
  version: string;
  seconds: number;
  sizeBytes: number;
  /** The CA PEM handed to the build stages (never to the final image). */
  buildCaPem: string;
}

/**
 * The CAs to hand the build stages for `npm ci` behind a re-signing HTTPS proxy: those this machine adds to
 * Debian's bundle. Without any, a throwaway CA stands in, so the "never in the final image" check always has a
 * certificate to look for.
 */
async function buildCaPem(work: string): Promise<string> {
  const pems: string[] = [];
  if (existsSync(LOCAL_CA_DIR)) {
    for (const entry of (await readdir(LOCAL_CA_DIR, { recursive: true })).sort()) {
      if (entry.endsWith('.crt')) pems.push((await readFile(join(LOCAL_CA_DIR, entry), 'utf8')).trim());
    }
  }
  if (pems.length === 0) {
    const pem = join(work, 'probe-ca.pem');
    await execa('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      join(work, 'probe-ca.key'),
      '-subj',
      '/CN=jellyfin-failover build CA probe',
      '-days',
      '1',
      '-out',
      pem,
    ]);
    pems.push((await readFile(pem, 'utf8')).trim());
  }
  const joined = `${pems.join('\n')}\n`;
  if (joined.length > MAX_CA_PEM) {
    throw new Error(
      `The CAs in ${LOCAL_CA_DIR} make ${joined.length} bytes of PEM, more than a build arg can carry.`,
    );
  }
  return joined;
}

/**
 * Untags builds of the service image older than an hour (Docker refuses, and we ignore, what a container still
 * uses), so test runs do not pile images up while a run that started earlier keeps its own.
 */
async function removeOldBuilds(docker: Docker, keep: string): Promise<void> {
  const listed = await docker(['image', 'ls', SERVICE_REPO, '--format', '{{.Repository}}:{{.Tag}}']);
  for (const tag of String(listed.stdout).split('\n')) {
    if (!tag || tag === keep || tag.endsWith(':<none>')) continue;
    const created = await docker(['image', 'inspect', '--format', '{{.Created}}', tag]);
    const ageMs = Date.now() - Date.parse(String(created.stdout).trim());
    if (ageMs > 3_600_000) await docker(['image', 'rm', tag]);
  }
}

/**
 * Builds the service image from a clean checkout of HEAD (`git archive`: uncommitted and untracked files stay
 * out), with the classic builder on host networking (dockerd runs with --bridge=none here), the proxy CA passed
 * to the build stages as BUILD_CA_PEM and the version from package.json.
 */
export async function buildServiceImage(docker: Docker, log: (msg: string) => void): Promise<ServiceImage> {
  const work = await mkdtemp(join(tmpdir(), 'jf-image-context-'));
  try {
    const commit = (await execa('git', ['-C', REPO_ROOT, 'rev-parse', 'HEAD'])).stdout.trim();
    const context = join(work, 'context');
    await execa('mkdir', [context]);
    await execa('git', ['-C', REPO_ROOT, 'archive', '--format=tar', '-o', join(work, 'head.tar'), commit]);
    await execa('tar', ['-xf', join(work, 'head.tar'), '-C', context]);
    const { version } = JSON.parse(await readFile(join(context, 'package.json'), 'utf8')) as {
      version: string;
    };
    const caPem = await buildCaPem(work);
    const tag = `${SERVICE_REPO}:${commit.slice(0, 12)}`;
    const started = Date.now();
    const built = await docker(
      [
        'build',
        '--network',
        'host',
        '--build-arg',
        `BUILD_CA_PEM=${caPem}`,
        '--build-arg',
        `VERSION=${version}`,
        '--label',
        `org.opencontainers.image.revision=${commit}`,
        '-t',
        tag,
        context,
      ],
      { timeout: 20 * 60_000, all: true },
    );
    const seconds = (Date.now() - started) / 1000;
    if (built.exitCode !== 0) throw new Error(`docker build of ${tag} failed:\n${failureText(built)}`);
    const size = await docker(['image', 'inspect', '--format', '{{.Size}}', tag]);
    const sizeBytes = Number(String(size.stdout).trim());
    log(
      `built ${tag} (HEAD ${commit.slice(0, 12)}) in ${seconds.toFixed(1)} s, ${(sizeBytes / 1e6).toFixed(0)} MB`,
    );
    await removeOldBuilds(docker, tag);
    return { tag, commit, version, seconds, sizeBytes, buildCaPem: caPem };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

import { execa } from 'execa';

/** Debian packages the integration bench needs, with a binary that proves each is installed. */
export const BENCH_PACKAGES: ReadonlyArray<{ pkg: string; binary: string }> = [
  { pkg: 'docker.io', binary: 'dockerd' },
  { pkg: 'openssh-server', binary: 'sshd' },
  { pkg: 'openssh-client', binary: 'ssh' },
  { pkg: 'rsync', binary: 'rsync' },
  { pkg: 'mosquitto', binary: 'mosquitto' },
  { pkg: 'mosquitto-clients', binary: 'mosquitto_sub' },
  { pkg: 'nginx', binary: 'nginx' },
  { pkg: 'sqlite3', binary: 'sqlite3' },
  { pkg: 'acl', binary: 'getfacl' },
  { pkg: 'attr', binary: 'getfattr' },
  { pkg: 'iproute2', binary: 'ip' },
  { pkg: 'procps', binary: 'pkill' },
  { pkg: 'debootstrap', binary: 'debootstrap' },
];

const SBIN_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export async function hasBinary(binary: string): Promise<boolean> {
  const r = await execa('sh', ['-c', 'command -v "$1"', 'sh', binary], {
    reject: false,
    env: { PATH: `${process.env.PATH ?? ''}:${SBIN_PATH}` },
  });
  return r.exitCode === 0;
}

/**
 * Installs what is missing when running as root (apt-get), otherwise fails naming exactly what to install.
 */
export async function ensurePackages(log: (msg: string) => void): Promise<void> {
  const missing: string[] = [];
  for (const { pkg, binary } of BENCH_PACKAGES) if (!(await hasBinary(binary))) missing.push(pkg);
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    throw new Error(
      `The integration bench needs these Debian packages: ${missing.join(' ')}.\n` +
        `Install them with: sudo apt-get update && sudo apt-get install -y ${missing.join(' ')}\n` +
        'or run the tests as root, which installs them.',
    );
  }
  log(`installing Debian packages: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  await execa('apt-get', ['update'], { env, stdio: 'inherit' });
  await execa('apt-get', ['install', '-y', '--no-install-recommends', ...missing], { env, stdio: 'inherit' });
  // Debian starts services from postinst where it can; the bench runs its own instances.
  for (const svc of ['mosquitto', 'nginx', 'ssh']) {
    await execa('sh', ['-c', `service ${svc} stop || true`], { reject: false, env });
  }
}

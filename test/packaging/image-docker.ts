import { existsSync } from 'node:fs';
import { execa, type Options, type Result } from 'execa';

/** PATH with the sbin directories, which a test runner's environment may lack (debootstrap, chroot). */
export const SBIN_PATH = `/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:${process.env.PATH ?? ''}`;

export type DockerResult = Result<{ reject: false }>;

/** Runs the docker CLI against one engine; never throws on a non-zero exit (callers check `exitCode`). */
export type Docker = (args: string[], options?: Options) => Promise<DockerResult>;

function dockerBinary(): string {
  for (const candidate of ['/usr/local/bin/docker', '/usr/bin/docker'])
    if (existsSync(candidate)) return candidate;
  return 'docker';
}

/**
 * The docker CLI bound to `host` (`unix:///var/run/docker.sock`; default: the CLI's own, i.e. DOCKER_HOST or the
 * local socket), with the classic builder: the CLI here has no buildx plugin, and dockerd is Debian's 20.10.
 */
export function createDocker(host?: string): Docker {
  const bin = dockerBinary();
  const prefix = host ? ['-H', host] : [];
  return async (args, options = {}) =>
    (await execa(bin, [...prefix, ...args], {
      ...options,
      reject: false,
      env: { DOCKER_BUILDKIT: '0', ...options.env },
    })) as DockerResult;
}

/** The output of a failed docker call, for error messages. */
export function failureText(result: DockerResult): string {
  return `${result.command}\nexit ${result.exitCode}\n${String(result.stderr ?? '')}\n${String(result.stdout ?? '')}`.slice(
    -6000,
  );
}

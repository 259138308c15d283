/**
 * rsync command lines: the filters for what the domain asks a copy to take (a CopySelection), the ssh command rsync
 * runs (-e), and which host runs rsync. Pure functions, unit tested (test/adapters/rsync/argv.test.ts).
 */
import type { SshTarget } from '../../config/schema.js';
import { DATABASE_PATTERNS, SQLITE_PATTERNS } from '../../domain/paths.js';
import type { CopySelection, TransferProgress, TransferStats } from '../../domain/ports.js';

export interface SshOptions {
  keyFile?: string;
  knownHostsFile?: string;
}

/** rsync filter arguments for a selection of the source tree, outside `excludes` (patterns anchored at the root). */
export function selectionFilters(select: CopySelection, excludes: readonly string[]): string[] {
  const excluded = excludes.map((p) => `--exclude=${p}`);
  const sqlite = (verb: 'include' | 'exclude') => SQLITE_PATTERNS.map((p) => `--${verb}=${p}`);
  switch (select) {
    case 'everything':
      return excluded;
    case 'files':
      return [...excluded, ...sqlite('exclude')];
    case 'databases':
      // Directories are protected on the receiver (a `P` rule for every directory): with --delete rsync would
      // otherwise delete each directory that holds no database (the files pass already mirrored them).
      return [...excluded, '--filter=P */', '--include=*/', ...sqlite('include'), '--exclude=*'];
    case 'main-databases':
      return [
        ...excluded,
        '--filter=P */',
        '--include=*/',
        ...DATABASE_PATTERNS.map((p) => `--include=${p}`),
        '--exclude=*',
      ];
    case 'carried': {
      const include = excludes.flatMap((p) =>
        p.endsWith('/') ? [`--include=${p}`, `--include=${p}***`] : [`--include=${p}`],
      );
      return [...sqlite('exclude'), ...include, '--include=*/', '--exclude=*', '--prune-empty-dirs'];
    }
  }
}

/** The ssh command rsync runs (-e): key only, batch mode, the pinned known_hosts. */
export function rshCommand(target: SshTarget, ssh: SshOptions): string {
  const parts = ['ssh', '-p', String(target.port), '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes'];
  parts.push('-o', 'ConnectTimeout=15', '-o', 'ServerAliveInterval=5', '-o', 'ServerAliveCountMax=3');
  parts.push('-o', 'PasswordAuthentication=no', '-o', 'KbdInteractiveAuthentication=no');
  if (ssh.keyFile) parts.push('-i', ssh.keyFile, '-o', 'IdentitiesOnly=yes', '-o', 'IdentityAgent=none');
  if (ssh.knownHostsFile)
    parts.push('-o', `UserKnownHostsFile=${ssh.knownHostsFile}`, '-o', 'GlobalKnownHostsFile=/dev/null');
  // rsync splits -e on spaces and honours quotes; refuse what it could not keep literal.
  return parts
    .map((p) => {
      if (/['"\\\n]/.test(p))
        throw new Error(`path ${p} contains a quote or backslash, which rsync -e cannot pass`);
      return /\s/.test(p) ? `'${p}'` : p;
    })
    .join(' ');
}

export function remoteSpec(target: SshTarget, path: string): string {
  const host = target.host.includes(':') ? `[${target.host}]` : target.host;
  return `${target.user}@${host}:${path}`;
}

/** The options every copy uses. */
export function baseRsyncArgs(options: {
  delete: boolean;
  dryRun?: boolean;
  linkDest?: string;
  copyDest?: string;
}): string[] {
  // --no-inc-recursive: the whole file list before the first transfer, so -H finds every hard-linked set before
  // copying one of its files (rsync's advice) and --info=progress2 knows the total from the start.
  const argv = ['rsync', '-aAXH', '--numeric-ids', '--protect-args', '--no-inc-recursive', '--stats'];
  // rsync's quick check compares whole seconds by default: a file of the same size written in the same second
  // (e.g. device.txt of two servers started together) counts as unchanged and, with --link-dest, the
  // destination's different content is linked in. Compare nanoseconds.
  argv.push('--modify-window=-1');
  argv.push('--info=progress2', '--outbuf=L');
  if (options.delete) argv.push('--delete');
  if (options.dryRun) argv.push('--dry-run');
  if (options.linkDest) argv.push(`--link-dest=${options.linkDest}`);
  if (options.copyDest) argv.push(`--copy-dest=${options.copyDest}`);
  return argv;
}

/** Parses `--info=progress2` lines: `  1,234,567  45%  12.34MB/s  0:00:05 (xfr#12, to-chk=3/100)`. */
export function parseProgress(line: string): TransferProgress | null {
  const m = /^\s*([\d,]+)\s+(\d{1,3})%/.exec(line);
  if (!m?.[1] || !m[2]) return null;
  return { bytes: Number(m[1].replace(/,/g, '')), percent: Number(m[2]) };
}

/** Parses rsync `--stats`. */
export function parseStats(output: string): TransferStats {
  const num = (re: RegExp): number => {
    const m = re.exec(output);
    return m?.[1] ? Number(m[1].replace(/,/g, '')) : 0;
  };
  return {
    files: num(/Number of regular files transferred:\s*([\d,]+)/),
    bytes: num(/Total transferred file size:\s*([\d,]+)/),
  };
}

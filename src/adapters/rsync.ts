import type { SiteName, SshTarget } from '../config/schema.js';
import type { Copier, HostShell, TransferProgress, TransferStats } from '../domain/ports.js';
import { CommandError } from '../errors.js';

/** A tree on a site: the path, and how to reach the host that holds it. */
export interface TreeRef {
  path: string;
  shell: HostShell;
  /** null when the tree is on the host the service runs on. */
  ssh: SshTarget | null;
}

export interface CopyRequest {
  from: TreeRef;
  to: TreeRef;
  /** rsync filter arguments, e.g. ['--exclude=/cache/']. */
  filters: string[];
  /** A tree on the destination host: unchanged files are hard-linked from it instead of copied. */
  linkDest?: string;
  /** Delete files in the destination that the source does not have (within the filters). */
  delete: boolean;
  dryRun?: boolean;
  onProgress?: (p: TransferProgress) => void;
  signal?: AbortSignal;
}

export interface SshOptions {
  keyFile?: string;
  knownHostsFile?: string;
}

/** What rsync's exit codes mean for a user (rsync(1), EXIT VALUES). */
export function describeRsyncExit(code: number, stderr: string): string {
  if (/No space left on device/i.test(stderr))
    return 'the destination disk is full (No space left on device)';
  if (/Host key verification failed/i.test(stderr))
    return 'the SSH host key is not the pinned one (Host key verification failed): check SSH_KNOWN_HOSTS_FILE';
  if (/Permission denied \(publickey/i.test(stderr))
    return 'SSH refused the key (Permission denied): check SSH_KEY_FILE and authorized_keys on the site';
  switch (code) {
    case 1:
      return 'rsync syntax or usage error (a bug: please report it with the log)';
    case 2:
      return 'rsync protocol incompatibility between the two hosts';
    case 3:
      return 'a source or destination directory is missing or unreadable';
    case 5:
      return 'rsync could not start on the other host (is rsync installed there?)';
    case 10:
    case 12:
      return 'the connection to the other host broke during the copy (socket or protocol stream error)';
    case 11:
      return 'a file could not be read or written (I/O error)';
    case 20:
      return 'rsync was killed (signal)';
    case 23:
      return 'some files could not be copied (partial transfer: permissions, ACL or xattr support, or I/O)';
    case 24:
      return 'source files vanished during the copy (something is still writing to the source)';
    case 30:
      return 'the copy timed out waiting for data';
    case 35:
      return 'timed out waiting for the rsync daemon';
    case 255:
      return 'the SSH connection failed or dropped';
    default:
      return `rsync failed with exit code ${code}`;
  }
}

export class RsyncError extends CommandError {
  override readonly name: string = 'RsyncError';
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

function remoteSpec(target: SshTarget, path: string): string {
  const host = target.host.includes(':') ? `[${target.host}]` : target.host;
  return `${target.user}@${host}:${path}`;
}

/** The rsync argv for a copy, and the shell of the host it runs on (SPEC: the host that holds one end). */
export function buildRsync(req: CopyRequest, ssh: SshOptions): { shell: HostShell; argv: string[] } {
  const argv = ['rsync', '-aAXH', '--numeric-ids', '--protect-args', '--no-inc-recursive', '--stats'];
  // rsync's quick check compares whole seconds by default: a file of the same size written in the same second
  // (e.g. device.txt of two servers started together) counts as unchanged and, with --link-dest, the
  // destination's different content is linked in. Compare nanoseconds.
  argv.push('--modify-window=-1');
  argv.push('--info=progress2', '--outbuf=L');
  if (req.delete) argv.push('--delete');
  if (req.dryRun) argv.push('--dry-run');
  if (req.linkDest) argv.push(`--link-dest=${req.linkDest}`);
  argv.push(...req.filters);
  const src = `${req.from.path.replace(/\/+$/, '')}/`;
  const dst = `${req.to.path.replace(/\/+$/, '')}/`;
  const fromLocal = req.from.ssh === null;
  const toLocal = req.to.ssh === null;
  if (fromLocal && toLocal) return { shell: req.from.shell, argv: [...argv, src, dst] };
  if (fromLocal && req.to.ssh) {
    return {
      shell: req.from.shell,
      argv: [...argv, '-e', rshCommand(req.to.ssh, ssh), src, remoteSpec(req.to.ssh, dst)],
    };
  }
  if (toLocal && req.from.ssh) {
    return {
      shell: req.to.shell,
      argv: [...argv, '-e', rshCommand(req.from.ssh, ssh), remoteSpec(req.from.ssh, src), dst],
    };
  }
  // Neither end is this host: run on the source host, which reaches the destination with its own SSH setup.
  if (!req.to.ssh) throw new Error('unreachable: destination without SSH target');
  const rsh = 'ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o ConnectTimeout=15';
  return {
    shell: req.from.shell,
    argv: [...argv, '-e', `${rsh} -p ${req.to.ssh.port}`, src, remoteSpec(req.to.ssh, dst)],
  };
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

/** Runs rsync for one copy, reporting progress; maps failures to a message that names the cause. */
export async function runRsync(req: CopyRequest, ssh: SshOptions): Promise<TransferStats> {
  const { shell, argv } = buildRsync(req, ssh);
  let pending = '';
  const onStdout = (chunk: string) => {
    pending += chunk;
    const parts = pending.split(/[\r\n]/);
    pending = parts.pop() ?? '';
    for (const part of parts) {
      const p = parseProgress(part);
      if (p) req.onProgress?.(p);
    }
  };
  const r = await shell.exec(argv, { onStdout, ...(req.signal ? { signal: req.signal } : {}) });
  if (r.exitCode !== 0) {
    const why = describeRsyncExit(r.exitCode, r.stderr);
    const tail = r.stderr.trim().split('\n').slice(-3).join(' | ');
    throw new RsyncError(
      `copy ${req.from.path} -> ${req.to.path} failed on ${shell.label}: ${why}${tail ? ` [${tail}]` : ''}`,
      'rsync',
      r.exitCode,
      r.stderr,
    );
  }
  return parseStats(r.stdout);
}

/** The Copier port over rsync: knows each site's shell and SSH target. */
export class RsyncCopier implements Copier {
  constructor(
    private readonly sites: Record<SiteName, { shell: HostShell; ssh: SshTarget | null }>,
    private readonly ssh: SshOptions,
  ) {}

  copy(request: Parameters<Copier['copy']>[0]): Promise<TransferStats> {
    const from = this.sites[request.from];
    const to = this.sites[request.to];
    const sameHost = request.from === request.to;
    // Within one site (carrying cache/logs into staging) rsync runs on that host with two local paths.
    const fromRef: TreeRef = { path: request.fromPath, shell: from.shell, ssh: sameHost ? null : from.ssh };
    const toRef: TreeRef = { path: request.toPath, shell: to.shell, ssh: sameHost ? null : to.ssh };
    return runRsync(
      {
        from: fromRef,
        to: toRef,
        filters: request.filters,
        delete: request.delete,
        ...(request.linkDest ? { linkDest: request.linkDest } : {}),
        ...(request.dryRun ? { dryRun: true } : {}),
        ...(request.onProgress ? { onProgress: request.onProgress } : {}),
      },
      this.ssh,
    );
  }
}

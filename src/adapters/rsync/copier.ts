/**
 * The Copier port over rsync. rsync runs on a host that holds one end of the copy: this host when a site is local
 * (pushing to or pulling from the other over SSH), the site's host for a copy within one site.
 */
import type { SshTarget } from '../../config/schema.js';
import type { Copier, CopyRequest, HostShell, TransferStats } from '../../domain/ports.js';
import type { SiteName } from '../../domain/sites.js';
import type { SshShell } from '../ssh/shell.js';
import {
  baseRsyncArgs,
  parseProgress,
  parseStats,
  remoteSpec,
  rshCommand,
  type SshOptions,
  selectionFilters,
} from './argv.js';
import { describeRsyncExit, RsyncError } from './exit-codes.js';
import { relayRsync, relaySourceArgv } from './relay.js';

export { RsyncError } from './exit-codes.js';

export interface CopierSite {
  shell: HostShell;
  /** null when the site is the host the service runs on. */
  ssh: SshTarget | null;
  /** The site's SSH shell, for the relay between two remote sites; null for the local site. */
  remote: SshShell | null;
}

export type RsyncPlan =
  | { kind: 'direct'; shell: HostShell; argv: string[] }
  /** Both ends remote: rsync on the source, the protocol relayed through this host (relay.ts). */
  | { kind: 'relay'; source: SshShell; destination: SshShell; argv: string[] };

/** Where rsync runs for a copy, and its full argv. */
export function planRsync(req: CopyRequest, sites: Record<SiteName, CopierSite>, ssh: SshOptions): RsyncPlan {
  const plan = planDirect(req, sites, ssh);
  if (plan) return { kind: 'direct', ...plan };
  const from = sites[req.from];
  const to = sites[req.to];
  if (!from.remote || !to.remote) throw new Error('a copy between two remote sites needs both SSH shells');
  const options = [...baseRsyncArgs(req), ...selectionFilters(req.select, req.excludes)];
  return {
    kind: 'relay',
    source: from.remote,
    destination: to.remote,
    argv: relaySourceArgv(options, slash(req.fromPath), slash(req.toPath)),
  };
}

function slash(path: string): string {
  return `${path.replace(/\/+$/, '')}/`;
}

function planDirect(
  req: CopyRequest,
  sites: Record<SiteName, CopierSite>,
  ssh: SshOptions,
): { shell: HostShell; argv: string[] } | null {
  const argv = [...baseRsyncArgs(req), ...selectionFilters(req.select, req.excludes)];
  const src = `${req.fromPath.replace(/\/+$/, '')}/`;
  const dst = `${req.toPath.replace(/\/+$/, '')}/`;
  const from = sites[req.from];
  const to = sites[req.to];
  // Within one site (carrying cache/logs into staging) rsync runs on that host with two local paths.
  if (req.from === req.to) return { shell: from.shell, argv: [...argv, src, dst] };
  if (from.ssh === null && to.ssh === null) return { shell: from.shell, argv: [...argv, src, dst] };
  if (from.ssh === null && to.ssh) {
    return {
      shell: from.shell,
      argv: [...argv, '-e', rshCommand(to.ssh, ssh), src, remoteSpec(to.ssh, dst)],
    };
  }
  if (to.ssh === null && from.ssh) {
    return {
      shell: to.shell,
      argv: [...argv, '-e', rshCommand(from.ssh, ssh), remoteSpec(from.ssh, src), dst],
    };
  }
  // Neither end is this host: the relay carries the copy (planRsync).
  return null;
}

export class RsyncCopier implements Copier {
  constructor(
    private readonly sites: Record<SiteName, CopierSite>,
    private readonly ssh: SshOptions,
  ) {}

  async copy(req: CopyRequest): Promise<TransferStats> {
    const plan = planRsync(req, this.sites, this.ssh);
    const what = `${req.fromPath} -> ${req.toPath}`;
    if (plan.kind === 'relay')
      return relayRsync(plan.source, plan.destination, plan.argv, what, req.onProgress);
    return runRsync(plan.shell, plan.argv, what, req.onProgress);
  }
}

/** Runs rsync, reporting progress; maps a failure to a message that names the cause. */
export async function runRsync(
  shell: HostShell,
  argv: readonly string[],
  what: string,
  onProgress?: CopyRequest['onProgress'],
): Promise<TransferStats> {
  let pending = '';
  const onStdout = (chunk: string) => {
    pending += chunk;
    const parts = pending.split(/[\r\n]/);
    pending = parts.pop() ?? '';
    for (const part of parts) {
      const p = parseProgress(part);
      if (p) onProgress?.(p);
    }
  };
  const r = await shell.exec(argv, { onStdout });
  if (r.exitCode !== 0) {
    const why = describeRsyncExit(r.exitCode, r.stderr);
    const tail = r.stderr.trim().split('\n').slice(-3).join(' | ');
    throw new RsyncError(
      `copy ${what} failed on ${shell.label}: ${why}${tail ? ` [${tail}]` : ''}`,
      'rsync',
      r.exitCode,
      r.stderr,
    );
  }
  return parseStats(r.stdout);
}
